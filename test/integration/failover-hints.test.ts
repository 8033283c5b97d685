// What the failover loop tells clients and breakers when deployments say "later": a combined 502
// whose every failure carried a wait gets the shortest as Retry-After; a rate-limit error event in a
// stream cools its deployment like a 429 instead of counting against its circuit; and the last resort
// (every circuit open) does not send a second call to a deployment whose one half-open probe is in flight;
// a health probe's time stays out of the latency figure, and lowest-latency ranks a call by the figure
// of its own kind (a stream by time to first content, a whole answer by its whole time).
// Real HTTP on 127.0.0.1: two fake OpenAI-format upstreams in front of one gateway.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { postChat as chat, startGateway, type Gateway } from '../support/gateway-harness.js';
import { configFile, sleep } from '../support/reliability-support.js';

interface DeploymentView {
  status: string;
  latencyMs: number | null;
  firstContentMs: number | null;
  circuit: string;
  failures: number;
  inFlight: number;
}

async function deployment(gateway: Gateway, id: string): Promise<DeploymentView | undefined> {
  const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments?: Record<string, DeploymentView> }>;
  return providers[id.split('/')[0] as string]?.deployments?.[id];
}

const callsFor = (fake: FakeOpenAi, model: string) => fake.requests.filter((request) => request.body?.model === model).length;

describe('failover: waits the providers asked for', () => {
  let one: FakeOpenAi;
  let two: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    [one, two] = await Promise.all([startFakeOpenAi({ apiKey: undefined, reply: 'one two three' }), startFakeOpenAi({ apiKey: undefined, reply: 'one two three' })]);
    const pair = (name: string, first: string, second: string) =>
      `  - name: ${name}\n    deployments: [{ provider: one, model: ${first} }, { provider: two, model: ${second} }]\n`;
    const solo = (name: string, provider: string, model: string) => `  - name: ${name}\n    retries: 0\n    deployments: [{ provider: ${provider}, model: ${model} }]\n`;
    const file = configFile(
      `providers:
  one: { type: openai-compatible, base_url: "${one.url}/v1", discover: false }
  two: { type: openai-compatible, base_url: "${two.url}/v1", discover: false }
models:
${pair('limited-and-down', 'ld1', 'ld2')}${pair('both-down', 'bd1', 'bd2')}${pair('one-unhinted', 'uh1', 'uh2')}${pair('probed', 'pr1', 'pr2')}${solo('probed-one', 'one', 'pr1')}${solo('probed-two', 'two', 'pr2')}${solo('limited-stream', 'one', 'ls1')}${solo('measured', 'two', 'lat1')}${pair('limited-start', 'st1', 'st2')}  - name: by-latency
    strategy: lowest-latency
    deployments: [{ provider: one, model: q }, { provider: two, model: s }]
routing: { failure_threshold: 3, cooldown_s: 1 }
`,
    );
    gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([one.close(), two.close()]);
  });
  afterEach(() => {
    one.reset();
    two.reset();
  });

  test('a 502 after every deployment failed with a stated wait (a 429, a 503 with Retry-After) carries the shortest as Retry-After', async () => {
    one.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    two.enqueue({ kind: 'status', status: 503, headers: { 'retry-after': '20' } });
    const mixed = await chat(gateway, 'limited-and-down');
    assert.equal(mixed.status, 502, await mixed.clone().text());
    assert.equal(mixed.headers.get('retry-after'), '3');

    one.enqueue({ kind: 'status', status: 503, headers: { 'retry-after': '2' } });
    two.enqueue({ kind: 'status', status: 503, headers: { 'retry-after': '5' } });
    const down = await chat(gateway, 'both-down');
    assert.equal(down.status, 502, await down.clone().text());
    assert.equal(down.headers.get('retry-after'), '2');
  });

  test('a failure that stated no wait leaves the combined 502 without Retry-After', async () => {
    one.enqueue({ kind: 'status', status: 503, headers: { 'retry-after': '2' } });
    two.enqueue({ kind: 'status', status: 500 });
    const response = await chat(gateway, 'one-unhinted');
    assert.equal(response.status, 502);
    assert.equal(response.headers.get('retry-after'), null);
  });

  test('a rate-limit error event after the first content cools its deployment and does not count against its circuit', async () => {
    one.enqueue({ kind: 'error-event', chunks: 3, message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' });
    const text = await (await chat(gateway, 'limited-stream', { stream: true })).text();
    assert.match(text, /data: \{"error":/);
    assert.doesNotMatch(text, /\[DONE\]/);
    const health = await deployment(gateway, 'one/ls1');
    assert.equal(health?.failures, 0, JSON.stringify(health));
    assert.equal(health?.status, 'cooling');
    assert.equal(health?.inFlight, 0);
  });

  test('a rate-limit error event before the first content cools its deployment; the other one serves', async () => {
    // The role chunk, then the event: nothing has reached the client.
    one.enqueue({ kind: 'error-event', chunks: 1, message: 'Rate limit reached', type: 'rate_limit_exceeded' });
    two.enqueue({ kind: 'error-event', chunks: 1, message: 'Rate limit reached', type: 'rate_limit_exceeded' });
    const response = await chat(gateway, 'limited-start', { stream: true });
    const text = await response.text();
    // Both rate limited: the client is told to wait, as for two 429s.
    assert.equal(response.status, 429, text);
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
    for (const id of ['one/st1', 'two/st2']) {
      const health = await deployment(gateway, id);
      assert.equal(health?.failures, 0, JSON.stringify(health));
      assert.equal(health?.status, 'cooling');
    }
  });

  test('with every circuit open, the last resort is not a deployment whose half-open probe is in flight', async () => {
    // pr1 opens now, pr2 half a second later (a refused key opens a circuit at once); cool-down 1 s.
    one.enqueue({ kind: 'status', status: 401 });
    assert.equal((await chat(gateway, 'probed-one')).status, 502);
    await sleep(500);
    two.enqueue({ kind: 'status', status: 401 });
    assert.equal((await chat(gateway, 'probed-two')).status, 502);
    await sleep(600);
    // pr1's cool-down is over: the next call is its one half-open probe, held for a while; pr2 is still open.
    const opened = callsFor(one, 'pr1');
    one.enqueue({ kind: 'delay-headers', ms: 600 });
    const probe = chat(gateway, 'probed');
    await sleep(100);
    const second = await chat(gateway, 'probed');
    assert.equal(second.status, 200, await second.clone().text());
    assert.match(second.headers.get('x-llm-proxy-route') ?? '', /(^|, )two\/pr2=200$/);
    assert.equal((await probe).status, 200);
    assert.equal(callsFor(one, 'pr1') - opened, 1, 'one probe, no second call beside it');
  });

  test("a health probe's one-token call does not move the latency figure lowest-latency routes by", async () => {
    two.enqueue({ kind: 'delay-headers', ms: 400 });
    assert.equal((await chat(gateway, 'measured')).status, 200);
    const measured = (await deployment(gateway, 'two/lat1'))?.latencyMs ?? 0;
    assert.ok(measured >= 400, `measured ${measured}`);
    // Every configured deployment gets an instant one-token call; its time is no request's.
    await gateway.app.services.probe.probeAll();
    await gateway.app.services.probe.probeAll();
    assert.equal((await deployment(gateway, 'two/lat1'))?.latencyMs, measured);
  });

  test("lowest-latency: a whole answer goes to the deployment whose whole answers are faster, whatever its streams' first content said", async () => {
    /** Which deployment served: the route header's last entry. */
    const servedBy = async (response: Response): Promise<string> => {
      await response.text();
      assert.equal(response.status, 200);
      return (response.headers.get('x-llm-proxy-route') ?? '').split(', ').at(-1)?.split('=')[0] ?? '';
    };
    // one/q: its streams' first content at once, its whole answers in 600 ms (long answers);
    // two/s: 300 ms to a stream's first content, 250 ms for a whole answer.
    one.enqueue({ kind: 'delay-headers', ms: 0 });
    two.enqueue({ kind: 'delay-headers', ms: 300 });
    for (let index = 0; index < 3; index++) {
      one.enqueue({ kind: 'delay-headers', ms: 600 });
      two.enqueue({ kind: 'delay-headers', ms: 250 });
    }
    // Two streams, then two whole answers: each deployment measured once in each kind (unmeasured first).
    const streamed = [await servedBy(await chat(gateway, 'by-latency', { stream: true })), await servedBy(await chat(gateway, 'by-latency', { stream: true }))];
    assert.deepEqual(streamed.sort(), ['one/q', 'two/s']);
    const answered = [await servedBy(await chat(gateway, 'by-latency')), await servedBy(await chat(gateway, 'by-latency'))];
    assert.deepEqual(answered.sort(), ['one/q', 'two/s'], 'the first whole answers measure each deployment');
    assert.equal(await servedBy(await chat(gateway, 'by-latency')), 'two/s', 'whole answers: 250 ms beats 600 ms');
    assert.equal(await servedBy(await chat(gateway, 'by-latency', { stream: true })), 'one/q', 'streams: first content at once beats 300 ms');
    const quick = await deployment(gateway, 'one/q');
    assert.ok((quick?.latencyMs ?? 0) >= 600 && (quick?.firstContentMs ?? Infinity) < 300, JSON.stringify(quick));
  });
});
