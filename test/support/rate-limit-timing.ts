// The wait the request limiters report (Retry-After, X-RateLimit-Reset), checked the same way for
// the memory and the Redis limiter on a clock the test sets: a refused request asked again after
// the reported wait is admitted, and a second (and a ms) earlier it is still refused.
import assert from 'node:assert/strict';
import type { RateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';

export const WINDOW_MS = 60_000;

/** On the real clock: waits for the next minute unless `needMs` of this one are left (Redis's clock is this machine's). */
export async function minuteWithRoom(needMs: number): Promise<void> {
  const intoMinute = Date.now() % WINDOW_MS;
  if (intoMinute > WINDOW_MS - needMs) await new Promise((resolve) => setTimeout(resolve, WINDOW_MS - intoMinute + 100));
}
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

/** An OpenAI reset duration header (`20ms`, `59.5s`, `6m0s`) in milliseconds; fails the test on any other form. */
export function durationMs(value: string | null): number {
  const match = /^(?:(\d+)ms|(?:(\d+)m)?(\d+(?:\.\d{1,3})?)s)$/.exec(value ?? '');
  assert.ok(match !== null, `not an OpenAI duration: ${value}`);
  if (match[1] !== undefined) return Number(match[1]);
  return Number(match[2] ?? 0) * 60_000 + Math.round(Number(match[3]) * 1000);
}

/** Counts the case's units (as token settlement does, by adjust) and asks; returns when it asked and the refusal's wait. */
async function refuse(limiter: RateLimiter, key: string, timing: TimingCase): Promise<{ now: number; resetMs: number }> {
  const next = WINDOW_START + WINDOW_MS;
  const first = await limiter.consume(key, timing.limit, 0, WINDOW_START);
  await limiter.adjust(key, timing.previous, first);
  const second = await limiter.consume(key, timing.limit, 0, next);
  await limiter.adjust(key, timing.current, second);
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
  // The windows of admitted checks, newest last: settlements name one (this one, the last, or older, which is ignored).
  const reserved: number[] = [];
  const check = async (cost: number, at: number) => {
    const decision = await limiter.consume(key, 12, cost, at);
    decisions.push([decision.allowed, decision.remaining, decision.resetMs]);
    if (decision.allowed) reserved.push(decision.windowStart);
  };
  // First a settlement that comes after a refusal in the next window (the memory limiter once sent it there).
  await check(12, WINDOW_START + 59_000);
  await check(4, WINDOW_START + WINDOW_MS + 1_000);
  await limiter.adjust(key, -9, { windowStart: WINDOW_START });
  let now = WINDOW_START + WINDOW_MS + 3_000;
  while (now < WINDOW_START + 5 * WINDOW_MS) {
    now += next(4_000);
    if (next(5) === 0) {
      const delta = next(7) - 3;
      await limiter.adjust(key, delta, { windowStart: reserved[reserved.length - 1 - next(Math.min(reserved.length, 30))] ?? WINDOW_START });
    } else await check(next(5), now);
  }
  return decisions;
}

/**
 * Token settlement across window boundaries (the report: tpm_limit 2000, a 20 s stream reserved
 * ~1,524 tokens at :48 and used 15; a small call at :02 rolled the counter, so the stream's refund
 * at :08 went to the new minute, lost at 0, and the old minute still weighed the whole reservation).
 * Checked the same on every backend: each refund lands in the window its reservation was counted in.
 */
export async function checkSettlements(limiter: RateLimiter, prefix: string): Promise<void> {
  const next = WINDOW_START + WINDOW_MS;

  // The reported sequence.
  const stream = await limiter.consume(`${prefix}boundary`, 2_000, 1_524, WINDOW_START + 48_000);
  assert.equal(stream.allowed, true);
  assert.equal(stream.windowStart, WINDOW_START);
  const small = await limiter.consume(`${prefix}boundary`, 2_000, 30, next + 2_000);
  assert.equal(small.allowed, true);
  assert.equal(small.windowStart, next);
  await limiter.adjust(`${prefix}boundary`, 15 - 30, small);
  await limiter.adjust(`${prefix}boundary`, 15 - 1_524, stream);
  // 15 before weigh 15 × 51/60 = 12.75, 15 now: 2000 − 27.75 − 1024 leaves 948 (it said 702 and refused).
  const large = await limiter.consume(`${prefix}boundary`, 2_000, 1_024, next + 9_000);
  assert.equal(large.allowed, true, 'the refund after the boundary reached the previous window');
  assert.equal(large.remaining, 948);

  // A refund in the window of its reservation.
  const same = await limiter.consume(`${prefix}same`, 2_000, 1_524, WINDOW_START + 10_000);
  await limiter.adjust(`${prefix}same`, 15 - 1_524, same);
  assert.equal((await limiter.consume(`${prefix}same`, 2_000, 1_024, WINDOW_START + 40_000)).remaining, 2_000 - 15 - 1_024);

  // Two windows later the reservation no longer counts: its refund is dropped, not taken from the current window.
  const old = await limiter.consume(`${prefix}old`, 2_000, 1_524, WINDOW_START + 48_000);
  assert.equal((await limiter.consume(`${prefix}old`, 2_000, 500, next + WINDOW_MS + 2_000)).remaining, 1_500);
  await limiter.adjust(`${prefix}old`, 15 - 1_524, old);
  assert.equal((await limiter.consume(`${prefix}old`, 2_000, 0, next + WINDOW_MS + 3_000)).remaining, 1_500);

  // A call that used more than it reserved, settled after the boundary: the excess weighs with the previous window.
  const over = await limiter.consume(`${prefix}over`, 2_000, 600, WINDOW_START + 30_000);
  assert.equal((await limiter.consume(`${prefix}over`, 2_000, 0, next + 30_000)).remaining, 1_700);
  await limiter.adjust(`${prefix}over`, 400, over);
  assert.equal((await limiter.consume(`${prefix}over`, 2_000, 0, next + 30_000)).remaining, 1_500);
}
