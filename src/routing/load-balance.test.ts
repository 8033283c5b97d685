import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProviderInstance } from '../providers/provider.js';
import { DEFAULT_BREAKER, DeploymentHealth } from './deployment-health.js';
import { orderCandidates, seededRandom, type Candidate } from './load-balance.js';

function candidate(id: string, weight: number, unitCost?: number): Candidate {
  const provider = { name: id } as ProviderInstance;
  return {
    route: { provider, upstreamModel: id, model: 'group', entry: undefined },
    weight,
    health: new DeploymentHealth(id, DEFAULT_BREAKER, () => undefined),
    unitCost,
  };
}

function firstPicks(candidates: Candidate[], strategy: Parameters<typeof orderCandidates>[1], runs: number, seed = 42): Map<string, number> {
  const random = seededRandom(seed);
  const counts = new Map<string, number>();
  for (let run = 0; run < runs; run++) {
    const first = orderCandidates(candidates, strategy, random)[0]?.health.id ?? '';
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  return counts;
}

test('weighted-random picks in proportion to weight (3:1 over 20k runs, within 2%)', () => {
  const counts = firstPicks([candidate('a', 3), candidate('b', 1)], 'weighted-random', 20_000);
  const share = (counts.get('a') ?? 0) / 20_000;
  assert.ok(Math.abs(share - 0.75) < 0.02, `share of a: ${share}`);
});

test('every order contains every deployment once', () => {
  const all = [candidate('a', 1), candidate('b', 2), candidate('c', 3)];
  for (const strategy of ['weighted-random', 'least-busy', 'lowest-latency', 'lowest-cost'] as const) {
    const order = orderCandidates(all, strategy, seededRandom(1)).map((item) => item.health.id).sort();
    assert.deepEqual(order, ['a', 'b', 'c']);
  }
});

test('least-busy prefers the fewest requests in flight, ties shared', () => {
  const a = candidate('a', 1);
  const b = candidate('b', 1);
  a.health.start();
  a.health.start();
  b.health.start();
  assert.equal(orderCandidates([a, b], 'least-busy', seededRandom(3))[0]?.health.id, 'b');
  b.health.start();
  const counts = firstPicks([a, b], 'least-busy', 10_000);
  assert.ok(Math.abs((counts.get('a') ?? 0) / 10_000 - 0.5) < 0.03);
});

test('lowest-latency measures unmeasured deployments first, then prefers the fastest', () => {
  const fast = candidate('fast', 1);
  const slow = candidate('slow', 1);
  const fresh = candidate('fresh', 1);
  for (const [health, ms] of [[fast.health, 50], [slow.health, 400]] as const) {
    health.start(Date.now());
    health.succeeded(ms);
  }
  assert.deepEqual(orderCandidates([slow, fast, fresh], 'lowest-latency', seededRandom(5)).map((item) => item.health.id), ['fresh', 'fast', 'slow']);
});

test("lowest-latency re-measures a deployment left untried for a minute of the group's traffic: one call goes to it, then the fastest again", () => {
  const fast = candidate('fast', 1);
  const slow = candidate('slow', 1);
  const start = 1_000_000;
  for (const [health, ms] of [[fast.health, 50], [slow.health, 400]] as const) {
    health.start(start);
    health.succeeded(ms);
  }
  const first = () => orderCandidates([fast, slow], 'lowest-latency', seededRandom(5))[0]?.health.id;
  // The fast one serves every call meanwhile.
  for (let now = start; now <= start + 60_000; now += 10_000) {
    assert.equal(first(), 'fast');
    fast.health.start(now);
    fast.health.succeeded(50);
  }
  fast.health.start(start + 61_000);
  fast.health.succeeded(50);
  assert.equal(first(), 'slow', 'its figure is a minute behind the group: measured again');
  slow.health.start(start + 61_000);
  assert.equal(first(), 'fast', 'one call at a time re-measures it');
  slow.health.succeeded(40);
  assert.ok((slow.health.latency.answer.ewmaMs ?? 400) < 400, 'its figure moved towards what it does now');
});

test('lowest-latency keeps the fastest first in a quiet group: figures age with traffic, not with the clock', () => {
  const fast = candidate('fast', 1);
  const slow = candidate('slow', 1);
  for (const [health, ms] of [[fast.health, 50], [slow.health, 400]] as const) {
    health.start(1_000);
    health.succeeded(ms);
  }
  // Hours later, nothing tried since: still the fastest first.
  assert.equal(orderCandidates([slow, fast], 'lowest-latency', seededRandom(5))[0]?.health.id, 'fast');
});

test('lowest-latency ranks a whole answer by whole answers\' times and a stream by streams\' first content', () => {
  // quick: streams start at once but its whole answers are slow; steady: the other way round.
  const quick = candidate('quick', 1);
  const steady = candidate('steady', 1);
  for (const [health, stream, answer] of [[quick.health, 20, 600], [steady.health, 300, 250]] as const) {
    health.start(1_000, 'stream');
    health.succeeded(stream, true);
    health.finished();
    health.start(1_000, 'answer');
    health.succeeded(answer);
  }
  const first = (kind: 'answer' | 'stream') => orderCandidates([quick, steady], 'lowest-latency', seededRandom(5), kind)[0]?.health.id;
  assert.equal(first('answer'), 'steady');
  assert.equal(first('stream'), 'quick');
  assert.deepEqual([quick.health.snapshot(0).latencyMs, quick.health.snapshot(0).firstContentMs], [600, 20]);
});

test('lowest-latency measures a deployment known only by its streams before ranking it for a whole answer', () => {
  const streamed = candidate('streamed', 1);
  const answered = candidate('answered', 1);
  streamed.health.start(1_000, 'stream');
  streamed.health.succeeded(10, true);
  streamed.health.finished();
  answered.health.start(1_000);
  answered.health.succeeded(400);
  assert.equal(orderCandidates([answered, streamed], 'lowest-latency', seededRandom(5), 'answer')[0]?.health.id, 'streamed');
  assert.equal(orderCandidates([answered, streamed], 'lowest-latency', seededRandom(5), 'stream')[0]?.health.id, 'answered');
});

test('lowest-cost prefers the cheapest known price, unknown last', () => {
  const order = orderCandidates([candidate('pricey', 1, 0.09), candidate('unknown', 1), candidate('cheap', 1, 0.001)], 'lowest-cost', seededRandom(9));
  assert.deepEqual(order.map((item) => item.health.id), ['cheap', 'pricey', 'unknown']);
});
