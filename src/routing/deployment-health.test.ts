import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeploymentHealth, HealthRegistry, NO_PROBE, type CircuitState } from './deployment-health.js';

const options = { failureThreshold: 3, errorRateThreshold: 0.5, minimumRequests: 10, cooldownMs: 1000, maxCooldownMs: 4000 };

function tracked() {
  const transitions: Array<[CircuitState, CircuitState]> = [];
  const health = new DeploymentHealth('openai/gpt-4o', options, (_id, from, to) => transitions.push([from, to]));
  return { health, transitions };
}

/** admit() said yes. */
const admitted = (health: DeploymentHealth, now: number): boolean => health.admit(now) !== undefined;

function fail(health: DeploymentHealth, now: number): void {
  const probe = health.admit(now);
  assert.notEqual(probe, undefined);
  health.start();
  health.failed('HTTP 500', now, false, probe);
}

test('opens after consecutive failures, half-opens after the cool-down, closes on a good probe', () => {
  const { health, transitions } = tracked();
  for (let index = 0; index < 3; index++) fail(health, 0);
  assert.equal(health.circuit, 'open');
  assert.equal(admitted(health, 500), false);
  assert.equal(admitted(health, 1000), true, 'one probe after the cool-down');
  assert.equal(health.circuit, 'half-open');
  assert.equal(admitted(health, 1000), false, 'only one probe at a time');
  health.start();
  health.succeeded(20);
  assert.equal(health.circuit, 'closed');
  assert.deepEqual(transitions, [['closed', 'open'], ['open', 'half-open'], ['half-open', 'closed']]);
});

test('a failed probe reopens with a doubled cool-down, capped', () => {
  const { health } = tracked();
  for (let index = 0; index < 3; index++) fail(health, 0);
  fail(health, 1000); // probe fails: cool-down 2000
  assert.equal(admitted(health, 2999), false);
  fail(health, 3000); // probe fails: cool-down 4000
  assert.equal(admitted(health, 6999), false);
  fail(health, 7000); // capped at 4000
  assert.equal(admitted(health, 10_999), false);
  assert.equal(admitted(health, 11_000), true);
});

test('an error rate over the threshold opens it without consecutive failures', () => {
  const { health } = tracked();
  // Alternating failures never reach 3 in a row; over 11 requests the rate passes 50%.
  for (let index = 0; index < 11; index++) {
    assert.equal(admitted(health, 0), true);
    health.start();
    if (index % 2 === 0) health.failed('HTTP 502', 0);
    else health.succeeded(10);
  }
  assert.equal(health.circuit, 'open');
});

test('an attempt let through an open circuit: a failure leaves the cool-down as it was, a success closes it', () => {
  const { health, transitions } = tracked();
  for (let index = 0; index < 3; index++) fail(health, 0);
  assert.equal(admitted(health, 100), false);
  health.start();
  health.failed('HTTP 500', 100);
  assert.equal(health.circuit, 'open');
  assert.equal(health.availableAt(), 1000, 'not extended, not doubled');
  health.start();
  health.succeeded(15);
  assert.equal(health.circuit, 'closed');
  assert.equal(admitted(health, 200), true);
  assert.deepEqual(transitions, [['closed', 'open'], ['open', 'closed']]);
});

test("a 429's Retry-After cools the deployment without opening its circuit", () => {
  const { health } = tracked();
  health.coolDown(5000);
  assert.equal(admitted(health, 4999), false);
  assert.equal(health.cooling(4999), true);
  assert.equal(health.circuit, 'closed');
  assert.equal(admitted(health, 5000), true);
  assert.equal(health.snapshot(4000).status, 'cooling');
});

test('the snapshot reports latency, error rate and the last error', () => {
  const { health } = tracked();
  health.start();
  health.succeeded(100);
  health.start();
  health.succeeded(200);
  fail(health, 10);
  const snapshot = health.snapshot(20);
  assert.equal(snapshot.latencyMs, 120);
  assert.equal(snapshot.requests, 3);
  assert.equal(snapshot.failures, 1);
  assert.equal(snapshot.lastError, 'HTTP 500');
  assert.equal(snapshot.status, 'degraded');
});

test('the registry keeps at most its limit of idle deployments, least recently used first out; open, cooling and busy ones stay', () => {
  const registry = new HealthRegistry(options, () => undefined, 50);
  const open = registry.get('openai/open');
  for (let index = 0; index < 3; index++) fail(open, Date.now());
  assert.equal(open.circuit, 'open');
  const cooling = registry.get('openai/cooling');
  cooling.coolDown(Date.now() + 60_000);
  const busy = registry.get('openai/busy');
  busy.start();
  const used = registry.get('openai/used');
  // Names a client makes up, one request each.
  for (let index = 0; index < 10_000; index++) {
    registry.get(`openai/made-up-${index}`);
    // In use all along: one request every ten new names keeps it among the recent ones.
    if (index % 10 === 0) registry.get('openai/used');
  }
  const ids = registry.forProvider('openai').map((health) => health.id);
  assert.equal(ids.length, 50);
  for (const kept of ['openai/open', 'openai/cooling', 'openai/busy', 'openai/used']) assert.ok(ids.includes(kept), `${kept} was forgotten`);
  assert.equal(registry.get('openai/open'), open, 'the same record, circuit still open');
  assert.equal(registry.get('openai/used'), used);
  assert.equal(registry.get('openai/busy'), busy);
});

test('passing over a deployment after admit() keeps the in-flight count of running attempts', () => {
  const { health } = tracked();
  assert.equal(admitted(health, 0), true);
  health.start(); // another request's attempt, still running
  assert.equal(health.admit(0), NO_PROBE);
  health.passedOver(NO_PROBE); // this request got no retry budget: it never started
  assert.equal(health.inFlight, 1);
});

test('a stream counts at its end: in flight until then, and a break-off after its first content is a failure, once', () => {
  const { health } = tracked();
  for (let index = 0; index < 3; index++) {
    assert.equal(admitted(health, 0), true);
    health.start();
    health.succeeded(10, true);
    assert.equal(health.inFlight, 1, 'still streaming');
    health.brokeOff('upstream_stream_error', 0);
  }
  assert.equal(health.circuit, 'open', 'three break-offs in a row');
  assert.equal(health.requests, 3);
  assert.equal(health.failures, 3);
  assert.equal(health.inFlight, 0);
  const ended = tracked().health;
  ended.start();
  ended.succeeded(10, true);
  ended.finished();
  assert.equal(ended.inFlight, 0);
  assert.equal(ended.snapshot(0).errorRate, 0);
});

/** Opened at 0 by three failures: half-open from 1000. */
function opened(): ReturnType<typeof tracked> {
  const opened = tracked();
  for (let index = 0; index < 3; index++) fail(opened.health, 0);
  return opened;
}

test('a call let through an open circuit as the last resort holds no probe slot: its ending frees none, so one probe at a time', () => {
  const { health } = opened();
  const probe = health.admit(1000);
  assert.ok(probe !== undefined && probe !== NO_PROBE, 'the probe');
  health.start(1000);
  // The last resort, which went through the open circuit without admit(); its client left.
  health.start(1000);
  health.released(NO_PROBE);
  assert.equal(health.probeInFlight(), true);
  assert.equal(health.admit(1000), undefined, 'no second probe while the first is out');
  // Another one failed: counted, but only the probe reopens a half-open circuit.
  health.start(1000);
  health.failed('HTTP 500', 1000, false, NO_PROBE);
  assert.equal(health.circuit, 'half-open');
  assert.equal(health.admit(1000), undefined);
  // The probe's own ending frees its slot.
  health.released(probe);
  assert.equal(health.inFlight, 0);
  assert.notEqual(health.admit(1000), undefined, 'the next probe');
});

test('a probe ticket from an earlier half-open period frees nothing: the newer probe keeps its slot', () => {
  const { health } = opened();
  const first = health.admit(1000);
  assert.ok(first !== undefined && first !== NO_PROBE);
  health.start(1000);
  // While the first probe is out, a last-resort call succeeds (the circuit closes), then it opens again.
  health.start(1000);
  health.succeeded(10);
  for (let index = 0; index < 3; index++) fail(health, 1100);
  const second = health.admit(2100);
  assert.ok(second !== undefined && second !== NO_PROBE && second !== first);
  health.start(2100);
  // The first probe's client leaves, or its answer fails: neither touches the second probe.
  health.released(first);
  assert.equal(health.probeInFlight(), true);
  assert.equal(health.admit(2100), undefined);
  health.start(2100);
  health.failed('HTTP 500', 2100, false, first);
  assert.equal(health.circuit, 'half-open', 'the first probe is no longer the probe');
  health.passedOver(first);
  assert.equal(health.admit(2100), undefined);
  health.failed('HTTP 500', 2100, false, second);
  assert.equal(health.circuit, 'open', 'the probe out now decides');
});
