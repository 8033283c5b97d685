// Routing and resilience through real HTTP: model groups over two fake providers, weighted
// balancing, failover, fallbacks, honest streaming failover, circuit breaking, Retry-After
// cool-downs, time-to-first-token and per-group connect timeouts, context-window fallbacks and
// /health/providers.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, postChat as chat, startGateway, type Gateway } from '../support/gateway-harness.js';
import { startStalledListener, type StalledListener } from '../support/stalled-listener.js';

describe('routing and resilience', () => {
  let one: FakeOpenAi;
  let two: FakeOpenAi;
  let big: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    [one, two, big] = await Promise.all([
      startFakeOpenAi({ apiKey: undefined, reply: 'one' }),
      startFakeOpenAi({ apiKey: undefined, reply: 'two' }),
      startFakeOpenAi({ apiKey: undefined, reply: 'big' }),
    ]);
    const file = join(mkdtempSync(join(tmpdir(), 'llm-proxy-routing-')), 'config.yaml');
    writeFileSync(
      file,
      `providers:
  one: { type: openai-compatible, base_url: "${one.url}/v1", discover: false }
  two: { type: openai-compatible, base_url: "${two.url}/v1", discover: false }
  big: { type: openai-compatible, base_url: "${big.url}/v1", discover: false }
model_catalog:
  small-window: { context_length: 8000, max_output_tokens: 4000 }
  large-window: { context_length: 200000, max_output_tokens: 8000 }
  h1: { input_cost: 0.001, output_cost: 0.001 }
  h2: { input_cost: 0.01, output_cost: 0.01 }
models:
  - name: balanced
    deployments: [{ provider: one, model: m1, weight: 3 }, { provider: two, model: m2, weight: 1 }]
  - name: primary
    strategy: least-busy
    deployments: [{ provider: one, model: p1 }, { provider: two, model: p2 }]
  - name: streamer
    retries: 2
    deployments: [{ provider: one, model: s1 }, { provider: two, model: s2 }]
  - name: midstream
    deployments: [{ provider: one, model: ms1 }, { provider: two, model: ms2 }]
  - name: lonely
    retries: 1
    deployments: [{ provider: one, model: lonely-1 }]
    fallbacks: [rescue]
  - name: rescue
    deployments: [{ provider: two, model: rescue-2 }]
  - name: small-window
    deployments: [{ provider: one, model: small-window }]
    fallbacks: [also-small, large-window]
  - name: also-small
    deployments: [{ provider: two, model: small-window }]
  - name: large-window
    deployments: [{ provider: big, model: large-window }]
  - name: hasty
    timeouts: { ttfb_s: 0.3 }
    deployments: [{ provider: one, model: h1 }, { provider: two, model: h2 }]
    strategy: lowest-cost
  - name: breaker
    deployments: [{ provider: one, model: b1 }, { provider: two, model: b2 }]
  - name: cutoff
    deployments: [{ provider: one, model: cut1 }]
  - name: cut-by-event
    deployments: [{ provider: one, model: cut-event }]
  - name: cut-short
    deployments: [{ provider: one, model: cut-short }]
  - name: mixed-output
    deployments: [{ provider: big, model: large-window }, { provider: one, model: small-window }]
  - name: roomy
    retries: 0
    deployments: [{ provider: big, model: large-window }]
    fallbacks: [also-small, rescue]
routing: { failure_threshold: 3, cooldown_s: 0.5 }
`,
    );
    gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([one.close(), two.close(), big.close()]);
  });
  afterEach(() => {
    for (const fake of [one, two, big]) fake.reset();
  });

  test('weighted-random spreads load by weight (3:1)', async () => {
    for (let index = 0; index < 200; index++) assert.equal((await chat(gateway, 'balanced')).status, 200);
    const share = one.requests.length / 200;
    // 3:1 is 0.75 with a standard deviation of ~0.031 over 200 picks: ±0.15 is ~4.9 of them (the
    // old ±0.10, 3.3 of them, failed about once in a thousand runs), and an even split (0.5) or a
    // reversed one (0.25) is still far outside.
    assert.ok(share > 0.6 && share < 0.9, `share on the weight-3 deployment: ${share}`);
    assert.equal(one.requests.length + two.requests.length, 200);
  });

  test('a failing deployment is invisible when another can serve; the route header shows the attempts', async () => {
    one.enqueue({ kind: 'status', status: 503 });
    const response = await chat(gateway, 'primary');
    assert.equal(response.status, 200);
    const route = response.headers.get('x-llm-proxy-route') ?? '';
    // Least-busy with both idle picks either; if it picked the failing one, it moved on at once.
    assert.ok(route === 'two/p2=200' || route === 'one/p1=upstream_error, two/p2=200', route);
    if (route === 'two/p2=200') {
      one.reset();
      two.enqueue({ kind: 'status', status: 503 });
      const again = await chat(gateway, 'primary');
      assert.equal(again.status, 200);
      assert.match(again.headers.get('x-llm-proxy-route') ?? '', /^(one\/p1=200|two\/p2=upstream_error, one\/p1=200)$/);
    }
  });

  test('exhausted retries fall back to the next model, which says it answered', async () => {
    for (let index = 0; index < 2; index++) one.enqueue({ kind: 'status', status: 500 });
    const response = await chat(gateway, 'lonely');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { model: string; choices: Array<{ message: { content: string } }> };
    assert.equal(body.model, 'rescue-2');
    assert.match(body.choices[0]?.message.content ?? '', /^two/);
    assert.equal(response.headers.get('x-llm-proxy-route'), 'one/lonely-1=upstream_error, one/lonely-1=upstream_error, two/rescue-2=200');
  });

  test("a group allows the smallest output limit of its deployments, whichever the balancer would pick", async () => {
    // large-window allows 8,000 output tokens, small-window 4,000: 6,000 would fail on the second.
    for (let index = 0; index < 4; index++) {
      const refused = await chat(gateway, 'mixed-output', { max_tokens: 6000 });
      assert.equal(refused.status, 400);
      const body = (await refused.json()) as { error: { param: string; message: string } };
      assert.equal(body.error.param, 'max_tokens');
      assert.match(body.error.message, /6000 is above the 4000 output tokens that mixed-output allows/);
    }
    assert.equal(one.requests.length + big.requests.length, 0);
    assert.equal((await chat(gateway, 'mixed-output', { max_tokens: 4000 })).status, 200);
  });

  test('a fallback whose deployments allow fewer output tokens than asked is skipped, not tried, and said so', async () => {
    big.enqueue({ kind: 'status', status: 500 });
    const response = await chat(gateway, 'roomy', { max_tokens: 6000 });
    assert.equal(response.status, 200);
    // also-small allows 4,000: its upstream would refuse 6,000 with a 400, which would end the request.
    assert.equal(response.headers.get('x-llm-proxy-route'), 'big/large-window=upstream_error, also-small=output_limit, two/rescue-2=200');
    assert.deepEqual(two.requests.map((request) => request.body?.model), ['rescue-2']);
    // Within its limit, it is the next try as configured.
    big.enqueue({ kind: 'status', status: 500 });
    const fits = await chat(gateway, 'roomy', { max_completion_tokens: 3000 });
    assert.equal(fits.headers.get('x-llm-proxy-route'), 'big/large-window=upstream_error, two/small-window=200');
  });

  test('400s are not retried and do not fall back', async () => {
    one.enqueue({ kind: 'status', status: 422, body: JSON.stringify({ error: { message: 'bad field', type: 'invalid_request_error', param: null, code: null } }) });
    const response = await chat(gateway, 'lonely');
    assert.equal(response.status, 400);
    assert.equal(one.requests.length, 1);
    assert.equal(two.requests.length, 0);
  });

  test('a context-window overflow moves to a model with a larger window, skipping same-size ones', async () => {
    one.enqueue({
      kind: 'status',
      status: 400,
      body: JSON.stringify({ error: { message: "This model's maximum context length is 8000 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }),
    });
    const response = await chat(gateway, 'small-window');
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { model: string }).model, 'large-window');
    assert.equal(two.requests.length, 0, 'a fallback with the same window is skipped');
    assert.equal(big.requests.length, 1);
  });

  test('a stream that fails before its first content fails over invisibly', async () => {
    // The role chunk arrives, then the connection drops: nothing has reached the client yet.
    one.enqueue({ kind: 'reset-after', chunks: 1 });
    two.enqueue({ kind: 'reset-after', chunks: 1 });
    const response = await chat(gateway, 'streamer', { stream: true });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.doesNotMatch(text, /"error"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
    assert.equal(one.requests.length + two.requests.length, 3, 'both failed once, the retry was served');
    assert.match(response.headers.get('x-llm-proxy-route') ?? '', /^[^=]+=upstream_stream_error, [^=]+=upstream_stream_error, [^=]+=200$/);
  });

  test('after the first content there is no failover: the stream ends with an error event', async () => {
    one.enqueue({ kind: 'reset-after', chunks: 3 });
    two.enqueue({ kind: 'reset-after', chunks: 3 });
    const response = await chat(gateway, 'midstream', { stream: true });
    const text = await response.text();
    assert.match(text, /data: \{"error":\{[^\n]*"code":"upstream_stream_error"/);
    assert.doesNotMatch(text, /\[DONE\]/);
    assert.equal(one.requests.length + two.requests.length, 1);
  });

  test('a stream is in flight until it ends, not only until its first content: least-busy sends the next calls elsewhere', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    one.enqueue({ kind: 'gated-stream', chunks: 3, release: gate });
    two.enqueue({ kind: 'gated-stream', chunks: 3, release: gate });
    const response = await chat(gateway, 'primary', { stream: true });
    assert.equal(response.status, 200);
    const served = (response.headers.get('x-llm-proxy-route') ?? '').split('=')[0] as string;
    const [busy, idle] = served === 'one/p1' ? [one, two] : [two, one];
    idle.reset();
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    try {
      const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { inFlight: number }> }>;
      assert.equal(providers[served.split('/')[0] as string]?.deployments[served]?.inFlight, 1, 'the open stream is in flight');
      for (let index = 0; index < 4; index++) assert.equal((await chat(gateway, 'primary')).status, 200);
      assert.equal(idle.requests.length, 4, 'every call went to the idle deployment');
      assert.equal(busy.requests.length, 1);
    } finally {
      release();
      while (!(await reader.read()).done);
    }
    const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { inFlight: number }> }>;
    assert.equal(providers[served.split('/')[0] as string]?.deployments[served]?.inFlight, 0, 'released when the stream ended');
  });

  test('a stream that breaks off after its first content counts against its deployment: three open its circuit', async () => {
    for (let index = 0; index < 3; index++) {
      one.enqueue({ kind: 'reset-after', chunks: 3 });
      const text = await (await chat(gateway, 'cutoff', { stream: true })).text();
      assert.match(text, /"code":"upstream_stream_error"/);
    }
    const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { circuit: string; failures: number; requests: number; inFlight: number }> }>;
    const cut = providers.one?.deployments['one/cut1'];
    assert.equal(cut?.circuit, 'open', JSON.stringify(cut));
    assert.equal(cut?.failures, 3);
    assert.equal(cut?.requests, 3, 'each stream counted once');
    assert.equal(cut?.inFlight, 0);
  });

  for (const [name, fault, model] of [
    ['an upstream error event', { kind: 'error-event', chunks: 3, message: 'overloaded' }, 'cut-event'],
    ['a clean close before the answer is complete', { kind: 'truncate', chunks: 3 }, 'cut-short'],
  ] as const) {
    test(`a stream that fails after its first content by ${name} counts against its deployment`, async () => {
      const group = model === 'cut-event' ? 'cut-by-event' : 'cut-short';
      for (let index = 0; index < 3; index++) {
        one.enqueue(fault);
        const text = await (await chat(gateway, group, { stream: true })).text();
        assert.match(text, /"code":"upstream_stream_error"/);
      }
      const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { circuit: string; failures: number; requests: number; inFlight: number }> }>;
      const cut = providers.one?.deployments[`one/${model}`];
      assert.equal(cut?.failures, 3, JSON.stringify(cut));
      assert.equal(cut?.requests, 3, 'each stream counted once');
      assert.equal(cut?.circuit, 'open');
      assert.equal(cut?.inFlight, 0);
    });
  }

  test('a client that leaves a stream midway counts neither for nor against the deployment', async () => {
    const before = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { failures: number }> }>;
    const failures = before.one?.deployments['one/cut1']?.failures ?? 0;
    const gate = new Promise<void>(() => undefined);
    one.enqueue({ kind: 'gated-stream', chunks: 3, release: gate });
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders(),
      body: JSON.stringify({ model: 'cutoff', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      signal: controller.signal,
    });
    await (response.body as ReadableStream<Uint8Array>).getReader().read();
    controller.abort();
    await one.waitForAbort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { failures: number; inFlight: number }> }>;
    assert.equal(after.one?.deployments['one/cut1']?.failures, failures);
    assert.equal(after.one?.deployments['one/cut1']?.inFlight, 0);
  });

  test('a stall past the time-to-first-token limit fails over', async () => {
    // lowest-cost puts h1 first; it stalls far past the group's 0.3 s limit.
    const stallMs = 5_000;
    one.enqueue({ kind: 'delay-headers', ms: stallMs });
    const started = Date.now();
    const response = await chat(gateway, 'hasty', { stream: true });
    assert.equal(response.status, 200);
    await response.text();
    assert.ok(Date.now() - started < stallMs, 'the second deployment answered without waiting out the first');
    assert.equal(response.headers.get('x-llm-proxy-route'), 'one/h1=upstream_timeout, two/h2=200');
    // Cut off, not left to answer: a stalled call that ran on would still hold a connection.
    assert.equal((await one.waitForAbort()).body?.model, 'h1');
  });

  test('circuit breaker: opens after consecutive failures, skips the deployment, half-opens after the cool-down', async () => {
    // b1 fails three times (each request still served by b2), which opens its circuit.
    let failures = 0;
    for (let index = 0; index < 20 && failures < 3; index++) {
      one.enqueue({ kind: 'status', status: 500 });
      const response = await chat(gateway, 'breaker');
      assert.equal(response.status, 200);
      if ((response.headers.get('x-llm-proxy-route') ?? '').includes('one/b1=upstream_error')) failures++;
      one.reset();
    }
    assert.equal(failures, 3);
    const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { status: string; deployments: Record<string, { circuit: string }> }>;
    assert.equal(providers.one?.deployments['one/b1']?.circuit, 'open');
    assert.equal(providers.one?.status, 'degraded');
    const health = (await (await fetch(`${gateway.url}/health`)).json()) as { status: string };
    assert.equal(health.status, 'degraded');

    for (let index = 0; index < 5; index++) assert.equal((await chat(gateway, 'breaker')).status, 200);
    assert.equal(one.requests.filter((request) => request.body?.model === 'b1').length, 0, 'no traffic while open');

    await new Promise((resolve) => setTimeout(resolve, 600));
    for (let index = 0; index < 10; index++) await chat(gateway, 'breaker');
    assert.ok(one.requests.some((request) => request.body?.model === 'b1'), 'probed after the cool-down');
    const after = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { circuit: string }> }>;
    assert.equal(after.one?.deployments['one/b1']?.circuit, 'closed', JSON.stringify(after.one));
  });

  test('background probes send a one-token call to each deployment of each model group and feed its health', async () => {
    const probed = await gateway.app.services.probe.probeAll();
    const pings = [...one.requests, ...two.requests, ...big.requests].filter((request) => {
      const messages = request.body?.messages as Array<{ content: string }> | undefined;
      return messages?.[0]?.content === 'ping';
    });
    assert.equal(probed, 20);
    assert.ok(pings.length >= 15, `pings: ${pings.length}`);
    assert.ok(pings.every((request) => request.body?.max_tokens === 1));
    assert.ok(big.requests.some((request) => request.body?.model === 'large-window'));
  });

  test("a 429's Retry-After cools only that deployment; when none is left the client gets 429 with Retry-After", async () => {
    one.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '2' } });
    two.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    const response = await chat(gateway, 'hasty');
    assert.equal(response.status, 429);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'upstream_rate_limited');
    assert.ok(Number(response.headers.get('retry-after')) >= 1);
    // Both are cooling now: refused without calling either.
    const again = await chat(gateway, 'hasty');
    assert.equal(again.status, 429);
    assert.equal(one.requests.length + two.requests.length, 2);
  });
});

describe('per-group connect timeouts', () => {
  let stalled: StalledListener;
  let one: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    [stalled, one] = await Promise.all([startStalledListener(), startFakeOpenAi({ apiKey: undefined, reply: 'one' })]);
    const file = join(mkdtempSync(join(tmpdir(), 'llm-proxy-connect-')), 'config.yaml');
    writeFileSync(
      file,
      `providers:
  stalled: { type: openai-compatible, base_url: "${stalled.url}/v1", discover: false }
  one: { type: openai-compatible, base_url: "${one.url}/v1", discover: false }
model_catalog:
  c1: { input_cost: 0.001, output_cost: 0.001 }
  c2: { input_cost: 0.01, output_cost: 0.01 }
models:
  - name: quick-connect
    retries: 0
    timeouts: { connect_s: 0.2 }
    deployments: [{ provider: stalled, model: q1 }]
  - name: default-connect
    retries: 0
    deployments: [{ provider: stalled, model: d1 }]
  - name: connect-failover
    retries: 0
    strategy: lowest-cost
    timeouts: { connect_s: 0.2 }
    deployments: [{ provider: stalled, model: c1 }, { provider: one, model: c2 }]
routing: { connect_timeout_s: 2.5, failure_threshold: 100 }
`,
    );
    gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([stalled.close(), one.close()]);
  });

  // undici runs connect timers on a ~0.5 s tick (lib/util/timers.js), so 0.2 s fires at ~1 s
  // and the 2.5 s default at ~3 s: the bounds below leave a margin either side.
  test("a group's connect_s bounds the connect: 504 upstream_timeout in its time, not the global one", async () => {
    for (const stream of [false, true]) {
      const started = Date.now();
      const response = await chat(gateway, 'quick-connect', { stream });
      const elapsed = Date.now() - started;
      assert.equal(response.status, 504, `stream: ${stream}`);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'upstream_timeout');
      assert.match(body.error.message, /connecting/);
      assert.ok(elapsed < 2000, `stream: ${stream}, ${elapsed} ms`);
    }
  });

  test('a group without connect_s keeps routing.connect_timeout_s, on the main Agent', async () => {
    const upstream = gateway.app.services.upstream;
    const group = gateway.app.services.router.plan('default-connect');
    assert.equal(group?.timeouts.connectMs, undefined, 'no override: the call takes the main Agent');
    assert.notEqual(upstream.agentFor(200), upstream.agent, 'the quick groups have an Agent of their own');
    const started = Date.now();
    const response = await chat(gateway, 'default-connect');
    const elapsed = Date.now() - started;
    assert.equal(response.status, 504);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
    assert.ok(elapsed >= 2400, `waited out the global 2.5 s, took ${elapsed} ms`);
  });

  test('a connect timeout fails over to the next deployment like any other failure', async () => {
    const started = Date.now();
    const response = await chat(gateway, 'connect-failover');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-llm-proxy-route'), 'stalled/c1=upstream_timeout, one/c2=200');
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
    assert.equal(one.requests.length, 1);
  });
});
