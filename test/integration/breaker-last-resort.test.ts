// Circuit breakers when there is nowhere else to go: a model group whose every deployment is open
// after failures still calls one of them (the one whose cool-down ends first), once, instead of
// answering 503 without calling anyone; a provider's 429 Retry-After is still honoured as 429.
// Real HTTP on 127.0.0.1: fake OpenAI upstreams that reset connections or fail, then recover.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { startGateway, type Gateway } from '../support/gateway-harness.js';
import { assertError, call, chat, chatCalls, configFile, JSON_AUTH, post, sleep, withStack } from '../support/reliability-support.js';

async function circuitOf(url: string, provider: string, deployment: string): Promise<string | undefined> {
  const providers = (await (await fetch(`${url}/health/providers`)).json()) as Record<string, { deployments?: Record<string, { circuit: string }> }>;
  return providers[provider]?.deployments?.[deployment]?.circuit;
}

// A long cool-down, so every request below falls inside it: nothing here waits for the half-open probe.
// Three attempts a request (the default is two), so one failing request opens the circuit.
const BREAKER_YAML = 'routing:\n  retries: 2\n  failure_threshold: 3\n  cooldown_s: 60\n';

describe('circuit breakers with no other deployment to go to', () => {
  test('a single deployment whose circuit opened on resets and 500s is still called, and serves as soon as the upstream recovers', async () => {
    await withStack({ yaml: BREAKER_YAML }, async ({ fake, url }) => {
      // One request, 1 + 2 retries, all failing: three consecutive failures open the circuit.
      fake.enqueue({ kind: 'reset' });
      fake.enqueue({ kind: 'status', status: 500 });
      fake.enqueue({ kind: 'reset' });
      const failed = await post(url, chat());
      assertError(failed, { status: 502, code: 'upstream_unreachable' });
      assert.equal(chatCalls(fake), 3);
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'open');

      // Still failing: the request goes through the open circuit once (no retries) and gets the upstream's error, not 503.
      fake.enqueue({ kind: 'reset' });
      const stillDown = await post(url, chat());
      assertError(stillDown, { status: 502, code: 'upstream_unreachable' });
      assert.equal(chatCalls(fake), 4, 'one attempt through the open circuit');
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'open');

      // Recovered, well inside the 60 s cool-down: the next request reaches it and succeeds, and the circuit closes.
      const recovered = await post(url, chat());
      assert.equal(recovered.status, 200, recovered.body);
      assert.equal((JSON.parse(recovered.body) as { object: string }).object, 'chat.completion');
      assert.equal(recovered.headers['x-llm-proxy-route'], 'openai/gpt-4=200');
      assert.equal(chatCalls(fake), 5);
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'closed');
    });
  });

  test('the same holds for streams and embeddings (they share the executor)', async () => {
    await withStack({ yaml: BREAKER_YAML }, async ({ fake, url }) => {
      // The role chunk, then a reset: a failure before any content.
      for (let index = 0; index < 3; index++) fake.enqueue({ kind: 'reset-after', chunks: 1 });
      const failed = await post(url, chat({ stream: true }));
      assertError(failed, { status: 502, code: 'upstream_stream_error' });
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'open');
      const streamed = await post(url, chat({ stream: true }));
      assert.equal(streamed.status, 200, streamed.body);
      assert.match(streamed.body, /data: \[DONE\]\n\n$/);

      const embed = () =>
        call(url, { path: '/v1/embeddings', headers: JSON_AUTH, body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello' }) });
      for (let index = 0; index < 3; index++) fake.enqueue({ kind: 'status', status: 500 });
      const embedFailed = await embed();
      assertError(embedFailed, { status: 502, code: 'upstream_error' });
      assert.equal(await circuitOf(url, 'openai', 'openai/text-embedding-3-small'), 'open');
      const embedded = await embed();
      assert.equal(embedded.status, 200, embedded.body);
      assert.equal((JSON.parse(embedded.body) as { data: unknown[] }).data.length, 1);
      assert.equal(await circuitOf(url, 'openai', 'openai/text-embedding-3-small'), 'closed');
    });
  });

  test('while the half-open probe is out, last-resort calls neither free its slot (a 400) nor reopen the circuit (a 500): the probe out decides', async () => {
    await withStack({ yaml: 'routing:\n  retries: 2\n  failure_threshold: 3\n  cooldown_s: 0.2\n' }, async ({ fake, url }) => {
      for (let index = 0; index < 3; index++) fake.enqueue({ kind: 'status', status: 500 });
      assertError(await post(url, chat()), { status: 502, code: 'upstream_error' });
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'open');
      await sleep(300);
      // The probe: its answer is held for a while.
      fake.enqueue({ kind: 'delay-headers', ms: 1500 });
      const probe = post(url, chat());
      for (let waited = 0; chatCalls(fake) < 4 && waited < 2000; waited += 10) await sleep(10);
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'half-open');
      // Nowhere else to go: the last resort, refused for the client's own request.
      fake.enqueue({ kind: 'status', status: 400 });
      assert.equal((await post(url, chat())).status, 400);
      // Another last resort fails: the probe out still decides, the circuit stays half-open.
      fake.enqueue({ kind: 'status', status: 500 });
      assertError(await post(url, chat()), { status: 502, code: 'upstream_error' });
      assert.equal(chatCalls(fake), 6);
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'half-open', 'a second probe failed and reopened the circuit');
      const probed = await probe;
      assert.equal(probed.status, 200, probed.body);
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'closed');
    });
  });

  test("a provider's 429 Retry-After still answers 429 with Retry-After while it lasts, even through an open circuit", async () => {
    await withStack({ yaml: BREAKER_YAML }, async ({ fake, url }) => {
      for (let index = 0; index < 3; index++) fake.enqueue({ kind: 'status', status: 503 });
      assertError(await post(url, chat()), { status: 502, code: 'upstream_error' });
      assert.equal(await circuitOf(url, 'openai', 'openai/gpt-4'), 'open');
      // The attempt through the open circuit is told to wait a minute.
      fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '60' } });
      const limited = await post(url, chat());
      assertError(limited, { status: 429, code: 'upstream_rate_limited', type: 'rate_limit_error' });
      assert.equal(limited.headers['retry-after'], '60');
      assert.equal(chatCalls(fake), 4);
      // During that minute the provider is not called: 429 with Retry-After, not 503, not a call.
      const again = await post(url, chat());
      assertError(again, { status: 429, code: 'upstream_rate_limited' });
      const retryAfter = Number(again.headers['retry-after']);
      assert.ok(retryAfter >= 58 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal(chatCalls(fake), 4);
    });
  });

  test("a provider's absurd Retry-After is capped at 5 minutes (RELIABILITY 4b#2)", async () => {
    await withStack({ yaml: BREAKER_YAML }, async ({ fake, url }) => {
      fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '99999999999' } });
      const limited = await post(url, chat());
      assertError(limited, { status: 429, code: 'upstream_rate_limited' });
      assert.equal(limited.headers['retry-after'], '300');
      const again = await post(url, chat());
      assertError(again, { status: 429, code: 'upstream_rate_limited' });
      const retryAfter = Number(again.headers['retry-after']);
      assert.ok(retryAfter >= 298 && retryAfter <= 300, `Retry-After ${retryAfter}`);
      const health = await fetch(`${url}/health/providers`).then((response) => response.json() as Promise<unknown>);
      assert.ok(!JSON.stringify(health).includes('99999999'), 'the uncapped cool-down shows in /health/providers');
    });
  });

  test('two deployments: an open one is skipped while the other serves; when both are open, the one that opened first is tried', async () => {
    const [one, two] = await Promise.all([startFakeOpenAi({ apiKey: undefined, reply: 'one' }), startFakeOpenAi({ apiKey: undefined, reply: 'two' })]);
    let gateway: Gateway | undefined;
    try {
      const file = configFile(`providers:
  one: { type: openai-compatible, base_url: "${one.url}/v1", discover: false }
  two: { type: openai-compatible, base_url: "${two.url}/v1", discover: false }
models:
  - name: pair
    deployments: [{ provider: one, model: a }, { provider: two, model: b }]
routing: { failure_threshold: 2, cooldown_s: 60 }
`);
      gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
      const url = gateway.url;
      const pair = () => post(url, JSON.stringify({ model: 'pair', messages: [{ role: 'user', content: 'hi' }] }));

      // a fails every time; b serves each request a fails on, until a's circuit opens.
      for (let index = 0; index < 40; index++) one.enqueue({ kind: 'status', status: 500 });
      for (let index = 0; index < 40 && (await circuitOf(url, 'one', 'one/a')) !== 'open'; index++) {
        const response = await pair();
        assert.equal(response.status, 200, response.body);
      }
      assert.equal(await circuitOf(url, 'one', 'one/a'), 'open');
      const callsToA = one.requests.length;
      for (let index = 0; index < 10; index++) {
        const response = await pair();
        assert.equal(response.status, 200, response.body);
        assert.match(String(response.headers['x-llm-proxy-route']), /^(one\/a=circuit_open, )?two\/b=200$/);
      }
      assert.equal(one.requests.length, callsToA, 'no traffic to the open deployment while another serves');

      // Now b fails too: its circuit opens within one request (a is skipped, b tried twice).
      one.reset();
      for (let index = 0; index < 3; index++) two.enqueue({ kind: 'status', status: 500 });
      assertError(await pair(), { status: 502, code: 'upstream_error' });
      assert.equal(await circuitOf(url, 'two', 'two/b'), 'open');
      two.reset();

      // Both open, both recovered: a, whose cool-down ends first, is called once and serves.
      const rescued = await pair();
      assert.equal(rescued.status, 200, rescued.body);
      assert.equal(rescued.headers['x-llm-proxy-route'], 'two/b=circuit_open, one/a=200');
      assert.equal(one.requests.length, 1);
      assert.equal(two.requests.length, 0);
      assert.equal(await circuitOf(url, 'one', 'one/a'), 'closed');
      // a is closed again and b still open: a serves, b gets nothing.
      for (let index = 0; index < 5; index++) assert.equal((await pair()).status, 200);
      assert.equal(two.requests.length, 0);
    } finally {
      await gateway?.close();
      await Promise.all([one.close(), two.close()]);
    }
  });
});
