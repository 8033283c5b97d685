import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeploymentHealth, HealthRegistry, type CircuitState } from './deployment-health.js';

const options = { failureThreshold: 3, errorRateThreshold: 0.5, minimumRequests: 10, cooldownMs: 1000, maxCooldownMs: 4000 };

function tracked() {
  const transitions: Array<[CircuitState, CircuitState]> = [];
  const health = new DeploymentHealth('openai/gpt-4o', options, (_id, from, to) => transitions.push([from, to]));
  return { health, transitions };
}

function fail(health: DeploymentHealth, now: number): void {
  assert.equal(health.available(now), true);
  health.start();
  health.failed('HTTP 500', now);
}

test('opens after consecutive failures, half-opens after the cool-down, closes on a good probe', () => {
  const { health, transitions } = tracked();
  for (let index = 0; index < 3; index++) fail(health, 0);
  assert.equal(health.circuit, 'open');
  assert.equal(health.available(500), false);
  assert.equal(health.available(1000), true, 'one probe after the cool-down');
  assert.equal(health.circuit, 'half-open');
  assert.equal(health.available(1000), false, 'only one probe at a time');
  health.start();
  health.succeeded(20);
  assert.equal(health.circuit, 'closed');
  assert.deepEqual(transitions, [['closed', 'open'], ['open', 'half-open'], ['half-open', 'closed']]);
});

test('a failed probe reopens with a doubled cool-down, capped', () => {
  const { health } = tracked();
  for (let index = 0; index < 3; index++) fail(health, 0);
  fail(health, 1000); // probe fails: cool-down 2000
  assert.equal(health.available(2999), false);
  fail(health, 3000); // probe fails: cool-down 4000
  assert.equal(health.available(6999), false);
  fail(health, 7000); // capped at 4000
  assert.equal(health.available(10_999), false);
  assert.equal(health.available(11_000), true);
});

test('an error rate over the threshold opens it without consecutive failures', () => {
  const { health } = tracked();
  // Alternating failures never reach 3 in a row; over 11 requests the rate passes 50%.
  for (let index = 0; index < 11; index++) {
    assert.equal(health.available(0), true);
    health.start();
    if (index % 2 === 0) health.failed('HTTP 502', 0);
    else health.succeeded(10);
  }
  assert.equal(health.circuit, 'open');
});

test('an attempt let through an open circuit: a failure leaves the cool-down as it was, a success closes it', () => {
  const { health, transitions } = tracked();
  for (let index = 0; index < 3; index++) fail(health, 0);
  assert.equal(health.available(100), false);
  health.start();
  health.failed('HTTP 500', 100);
  assert.equal(health.circuit, 'open');
  assert.equal(health.availableAt(), 1000, 'not extended, not doubled');
  health.start();
  health.succeeded(15);
  assert.equal(health.circuit, 'closed');
  assert.equal(health.available(200), true);
  assert.deepEqual(transitions, [['closed', 'open'], ['open', 'closed']]);
});

test("a 429's Retry-After cools the deployment without opening its circuit", () => {
  const { health } = tracked();
  health.coolDown(5000);
  assert.equal(health.available(4999), false);
  assert.equal(health.cooling(4999), true);
  assert.equal(health.circuit, 'closed');
  assert.equal(health.available(5000), true);
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

test('passing over a deployment after available() keeps the in-flight count of running attempts', () => {
  const { health } = tracked();
  assert.equal(health.available(0), true);
  health.start(); // another request's attempt, still running
  assert.equal(health.available(0), true);
  health.passedOver(); // this request got no retry budget: it never started
  assert.equal(health.inFlight, 1);
});

test('a stream counts at its end: in flight until then, and a break-off after its first content is a failure, once', () => {
  const { health } = tracked();
  for (let index = 0; index < 3; index++) {
    assert.equal(health.available(0), true);
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
