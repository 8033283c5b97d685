// The wait the request limiters report (Retry-After, X-RateLimit-Reset), checked the same way for
// the memory and the Redis limiter on a clock the test sets: a refused request asked again after
// the reported wait is admitted, and a second (and a ms) earlier it is still refused.
import assert from 'node:assert/strict';
import type { RateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';

export const WINDOW_MS = 60_000;
/** The start of some window (a fixed one, so that a failure repeats). */
export const WINDOW_START = 1_800_000_000_000 - (1_800_000_000_000 % WINDOW_MS);

export interface TimingCase {
  name: string;
  limit: number;
  /** Units counted in the window before the one asked in. */
  previous: number;
  /** Units counted in the window asked in, before the request. */
  current: number;
  /** How far into its window the request comes, in ms. */
  elapsed: number;
  cost: number;
  /** The exact wait, worked out by hand. */
  waitMs: number;
}

export const TIMING_CASES: readonly TimingCase[] = [
  // The report: LLM_PROXY_RPM=3, four requests 22 s into a minute; Retry-After said 38 (the minute's end).
  { name: 'limit reached in this window', limit: 3, previous: 0, current: 3, elapsed: 22_000, cost: 1, waitMs: 58_000 },
  // ...and after those 38 s, just past the boundary, it said 60 (the 3 before still weigh nearly 3).
  { name: 'a full previous window, just past the boundary', limit: 3, previous: 3, current: 0, elapsed: 100, cost: 1, waitMs: 19_900 },
  { name: 'previous and current windows, waits in this one', limit: 3, previous: 3, current: 1, elapsed: 22_000, cost: 1, waitMs: 18_000 },
  { name: 'a wait that is not whole seconds', limit: 10, previous: 7, current: 2, elapsed: 12_345, cost: 3, waitMs: 4_798 },
  { name: 'tokens: waits into the next window', limit: 10, previous: 5, current: 8, elapsed: 30_000, cost: 3, waitMs: 37_500 },
  { name: 'a cost of the whole limit waits for an empty window', limit: 100, previous: 0, current: 40, elapsed: 59_500, cost: 100, waitMs: 60_500 },
  // The failed-authentication standing check asks with cost 0 once an address is over its limit.
  { name: 'cost 0 over the limit', limit: 2, previous: 0, current: 3, elapsed: 10_000, cost: 0, waitMs: 70_000 },
];

/** Counts the case's units (as token settlement does, by adjust) and asks; returns when it asked and the refusal's wait. */
async function refuse(limiter: RateLimiter, key: string, timing: TimingCase): Promise<{ now: number; resetMs: number }> {
  const next = WINDOW_START + WINDOW_MS;
  await limiter.consume(key, timing.limit, 0, WINDOW_START);
  await limiter.adjust(key, timing.previous, WINDOW_START);
  await limiter.consume(key, timing.limit, 0, next);
  await limiter.adjust(key, timing.current, next);
  const now = next + timing.elapsed;
  const decision = await limiter.consume(key, timing.limit, timing.cost, now);
  assert.equal(decision.allowed, false, timing.name);
  return { now, resetMs: decision.resetMs };
}

async function admitted(limiter: RateLimiter, key: string, timing: TimingCase, at: number): Promise<boolean> {
  return (await limiter.consume(key, timing.limit, timing.cost, at)).allowed;
}

/** Checks every case on `limiter` (fresh keys under `prefix`); returns the waits reported, in case order. */
export async function checkWaits(limiter: RateLimiter, prefix: string): Promise<number[]> {
  const waits: number[] = [];
  for (const [index, timing] of TIMING_CASES.entries()) {
    const name = timing.name;
    // Two keys in the same state: an admitted probe changes the count, so each key ends with one.
    const early = await refuse(limiter, `${prefix}${index}:ms`, timing);
    assert.equal(early.resetMs, timing.waitMs, name);
    const seconds = Math.ceil(early.resetMs / 1000);
    assert.ok(seconds >= 1, name);
    assert.equal(await admitted(limiter, `${prefix}${index}:ms`, timing, early.now + (seconds - 1) * 1000), false, `${name}: a second early`);
    assert.equal(await admitted(limiter, `${prefix}${index}:ms`, timing, early.now + early.resetMs - 1), false, `${name}: a ms early`);
    assert.equal(await admitted(limiter, `${prefix}${index}:ms`, timing, early.now + early.resetMs), true, `${name}: on time`);
    const onTime = await refuse(limiter, `${prefix}${index}:s`, timing);
    assert.equal(onTime.resetMs, early.resetMs, name);
    assert.equal(await admitted(limiter, `${prefix}${index}:s`, timing, onTime.now + seconds * 1000), true, `${name}: after Retry-After`);
    waits.push(early.resetMs);
  }
  return waits;
}

/** A fixed mixed sequence of checks and corrections over five windows; returns every decision, for comparing backends. */
export async function replaySequence(limiter: RateLimiter, key: string): Promise<Array<[boolean, number, number]>> {
  const decisions: Array<[boolean, number, number]> = [];
  let seed = 7;
  // A small linear congruential generator: the same "random" sequence on every run and backend.
  const next = (range: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % range;
  };
  // First a settlement that comes after a refusal in the next window (the memory limiter once sent it there).
  const scripted: Array<[number, number]> = [[WINDOW_START + 59_000, 12], [WINDOW_START + WINDOW_MS + 1_000, 4]];
  for (const [at, cost] of scripted) {
    const decision = await limiter.consume(key, 12, cost, at);
    decisions.push([decision.allowed, decision.remaining, decision.resetMs]);
  }
  await limiter.adjust(key, -9, WINDOW_START + WINDOW_MS + 2_000);
  let now = WINDOW_START + WINDOW_MS + 3_000;
  while (now < WINDOW_START + 5 * WINDOW_MS) {
    now += next(4_000);
    if (next(5) === 0) await limiter.adjust(key, next(7) - 3, now);
    else {
      const decision = await limiter.consume(key, 12, next(5), now);
      decisions.push([decision.allowed, decision.remaining, decision.resetMs]);
    }
  }
  return decisions;
}
