import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upstreamError, upstreamUnreachable } from '../errors/gateway-error.js';
import type { ProviderInstance } from '../providers/provider.js';
import { CallAbort } from '../upstream/call-signal.js';
import type { DeploymentAttempt, FailoverResult } from './chat-call-types.js';
import { DeploymentFailover } from './deployment-failover.js';
import { HealthRegistry } from './deployment-health.js';
import type { ModelGroup, ModelRouter } from './model-router.js';
import { RetryBudget } from './retry-policy.js';

const breaker = { failureThreshold: 3, errorRateThreshold: 0.5, minimumRequests: 10, cooldownMs: 60_000, maxCooldownMs: 60_000 };

class Failover extends DeploymentFailover {
  call<T>(group: ModelGroup, attempt: DeploymentAttempt<T>): Promise<FailoverResult<T>> {
    return this.run(group, new CallAbort(), attempt, { allowed: undefined });
  }
}

function group(name: string, ...ids: string[]): ModelGroup {
  const provider = { name: 'one' } as ProviderInstance;
  return {
    name,
    deployments: ids.map((id) => ({ id: `one/${id}`, route: { provider, upstreamModel: id, model: name, entry: undefined }, weight: 1 })),
    strategy: 'weighted-random',
    fallbacks: [],
    retries: 0,
    timeouts: {},
    configured: true,
  };
}

const ok: DeploymentAttempt<string> = async () => 'ok';
const down: DeploymentAttempt<string> = async () => {
  throw upstreamError(500, 'one', 'boom');
};

test("a group's deployment forgotten by the registry (past its limit) keeps one breaker: the one /health/providers shows", async () => {
  const health = new HealthRegistry(breaker, () => undefined, 3);
  const failover = new Failover({} as ModelRouter, health, new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true });
  const configured = group('g', 'm1');
  assert.equal((await failover.call(configured, ok)).result, 'ok');
  // Clients name other deployments (`one/<anything>` routes): the group's idle one is the least recently used.
  for (let index = 0; index < 5; index++) await failover.call(group(`one/x${index}`, `x${index}`), ok);
  for (let index = 0; index < 3; index++) await assert.rejects(failover.call(configured, down));
  const tracked = health.forProvider('one').find((entry) => entry.id === 'one/m1');
  assert.equal(tracked?.circuit, 'open', 'the registry holds the breaker the group opened');
  assert.equal(health.get('one/m1').circuit, 'open', 'a plain `one/m1` call sees the same breaker');
});

test('a fallback that names a group already in the chain (an alias of it, or of the model asked for) is not tried again', async () => {
  const asked = group('a', 'a1');
  const other = group('b', 'b1');
  asked.fallbacks = ['b', 'b-alias', 'a-alias'];
  const groups: Record<string, ModelGroup> = { a: asked, b: other, 'b-alias': other, 'a-alias': asked };
  const router = { plan: (name: string) => groups[name], version: 1 } as unknown as ModelRouter;
  const failover = new Failover(router, new HealthRegistry(breaker, () => undefined), new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true });
  const called: string[] = [];
  await assert.rejects(
    failover.call(asked, async (route) => {
      called.push(route.upstreamModel);
      throw upstreamError(500, 'one', 'boom');
    }),
  );
  assert.deepEqual(called, ['a1', 'b1']);
});

test('a 503 whose Retry-After is longer than a retry waits cools its deployment: the next calls go elsewhere until then', async () => {
  const health = new HealthRegistry(breaker, () => undefined);
  // A constant random keeps the configured order: m1 first.
  const failover = new Failover({} as ModelRouter, health, new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true, random: () => 0.5 });
  const busy = group('g', 'm1', 'm2');
  const called: string[] = [];
  const attempt: DeploymentAttempt<string> = async (route) => {
    called.push(route.upstreamModel);
    if (route.upstreamModel === 'm1') throw upstreamError(503, 'one', 'down for maintenance', 60_000);
    return 'ok';
  };
  for (let index = 0; index < 3; index++) assert.equal((await failover.call(busy, attempt)).result, 'ok');
  assert.deepEqual(called, ['m1', 'm2', 'm2', 'm2']);
  assert.ok(health.get('one/m1').cooling(Date.now() + 59_000), 'cooling for the hinted minute');
  assert.ok(!health.get('one/m1').cooling(Date.now() + 61_000));
});

test('a 503 with a short Retry-After (one a retry waits for) does not cool its deployment', async () => {
  const health = new HealthRegistry(breaker, () => undefined);
  const failover = new Failover({} as ModelRouter, health, new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true, random: () => 0.5 });
  await failover.call(group('g', 'm1', 'm2'), async (route) => {
    if (route.upstreamModel === 'm1') throw upstreamError(503, 'one', 'busy', 2_000);
    return 'ok';
  });
  assert.equal(health.get('one/m1').cooling(Date.now()), false);
});

test("when every circuit is open, the one call goes to the asked group's deployment whose cool-down ends first, not its first", async () => {
  const health = new HealthRegistry(breaker, () => undefined);
  const asked = group('a', 'a1', 'a2');
  const fallback = group('b', 'b1');
  asked.fallbacks = ['b'];
  const router = { plan: (name: string) => (name === 'b' ? fallback : undefined), version: 1 } as unknown as ModelRouter;
  // A constant random keeps the configured order: a1 first.
  const failover = new Failover(router, health, new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true, random: () => 0.5 });
  const now = Date.now();
  // b1 opened first, then a2, then a1. The model asked for is preferred to a fallback; within it, a2 is the closest to its probe.
  for (const [id, at] of [['one/b1', now - 30_000], ['one/a2', now - 20_000], ['one/a1', now - 10_000]] as const) {
    for (let index = 0; index < 3; index++) health.get(id).failed('boom', at);
  }
  const called: string[] = [];
  await failover.call(asked, async (route) => {
    called.push(route.upstreamModel);
    return 'ok';
  });
  assert.deepEqual(called, ['a2']);
});

/** m1 then m2 (a constant random keeps the configured order), two retries, short backoff. */
function callRetryingPair(attempt: DeploymentAttempt<string>): Promise<FailoverResult<string>> {
  const failover = new Failover({} as ModelRouter, new HealthRegistry(breaker, () => undefined), new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true, random: () => 0.05 });
  const pair = group('g', 'm1', 'm2');
  pair.retries = 2;
  return failover.call(pair, attempt);
}

test("a retry goes by the error of the deployment it goes back to, not the last error of another one", async () => {
  const called: string[] = [];
  const result = await callRetryingPair(async (route) => {
    called.push(route.upstreamModel);
    // m1 is briefly down (retryable); m2 refuses the proxy's key (not retryable, and not m1's business).
    if (route.upstreamModel === 'm2') throw upstreamError(401, 'one', 'bad key');
    if (called.length === 1) throw upstreamError(503, 'one', 'busy');
    return 'ok';
  });
  assert.equal(result.result, 'ok');
  assert.deepEqual(called, ['m1', 'm2', 'm1']);
});

test('a deployment not worth a retry is passed over on the way back, and the next one still gets its retry', async () => {
  const called: string[] = [];
  const result = await callRetryingPair(async (route) => {
    called.push(route.upstreamModel);
    // m1's address is refused by the SSRF guard (no retry there can help); m2 is briefly down.
    if (route.upstreamModel === 'm1') throw upstreamUnreachable('one', new Error('refused address')).with({ retryable: false });
    if (called.length === 2) throw upstreamError(503, 'one', 'busy');
    return 'ok';
  });
  assert.equal(result.result, 'ok');
  assert.deepEqual(called, ['m1', 'm2', 'm2']);
});

test('a last-resort call to a half-open deployment whose probe is out gives back no probe slot when it ends without a verdict: one probe at a time', async () => {
  const health = new HealthRegistry(breaker, () => undefined);
  const failover = new Failover({} as ModelRouter, health, new RetryBudget(), { ttfbMs: 1000, contextWindowFallbacks: true });
  const only = group('g', 'm1');
  // Opened a cool-down ago: the next call is the half-open circuit's probe.
  for (let index = 0; index < 3; index++) health.get('one/m1').failed('boom', Date.now() - breaker.cooldownMs - 1000);
  let answerProbe: ((value: string) => void) | undefined;
  const probe = failover.call(only, () => new Promise<string>((resolve) => (answerProbe = resolve)));
  const deployment = health.get('one/m1');
  assert.equal(deployment.probeInFlight(), true);
  // Nothing else can serve: the next request goes to it as the last resort, and the client caused a 400.
  await assert.rejects(
    failover.call(only, async () => {
      throw upstreamError(400, 'one', 'bad request');
    }),
  );
  assert.equal(deployment.probeInFlight(), true, 'the first probe is still out: its slot stays taken');
  // Another last resort fails: only the probe decides a half-open circuit.
  await assert.rejects(failover.call(only, down));
  assert.equal(deployment.circuit, 'half-open');
  assert.equal(deployment.probeInFlight(), true);
  answerProbe?.('ok');
  assert.equal((await probe).result, 'ok');
  assert.equal(deployment.circuit, 'closed');
  assert.equal(deployment.inFlight, 0);
});
