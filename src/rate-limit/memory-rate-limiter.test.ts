import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSettlements, checkWaits, TIMING_CASES, WINDOW_MS, WINDOW_START } from '../../test/support/rate-limit-timing.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';

test('admits up to the limit in a window, then refuses with the time until one more fits', () => {
  const limiter = new MemoryRateLimiter(60_000);
  const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  const resets = [];
  for (let index = 0; index < 3; index++) {
    const decision = limiter.consume('k', 3, 1, start + 1000);
    assert.equal(decision.allowed, true);
    assert.equal(decision.remaining, 2 - index);
    resets.push(decision.resetMs);
  }
  const refused = limiter.consume('k', 3, 1, start + 1000);
  assert.equal(refused.allowed, false);
  assert.equal(refused.remaining, 0);
  // Not the window's end (59 s): the 3 still weigh 2 + 1 > 3 until a third of the next window has passed.
  assert.equal(refused.resetMs, 79_000);
  // An admitted request's reset is when one more than its remaining fits (3 with 1 counted: once the
  // window is empty; 2 with 2 counted: half into the next), and with none left, the refusal's.
  assert.deepEqual(resets, [119_000, 89_000, 79_000]);
  // Other keys are independent.
  assert.equal(limiter.consume('other', 3, 1, start + 1000).allowed, true);
});

test('the previous window still counts in proportion to its overlap', () => {
  const limiter = new MemoryRateLimiter(60_000);
  const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  for (let index = 0; index < 10; index++) limiter.consume('k', 10, 1, start + 59_000);
  // A quarter into the next window, 75% of the 10 from before still count (7.5): 2 more fit, not 10.
  let admitted = 0;
  for (let index = 0; index < 10; index++) if (limiter.consume('k', 10, 1, start + 60_000 + 15_000).allowed) admitted++;
  assert.equal(admitted, 2);
  // Two windows later nothing from before counts.
  let later = 0;
  for (let index = 0; index < 12; index++) if (limiter.consume('k', 10, 1, start + 180_000).allowed) later++;
  assert.equal(later, 10);
});

test('a full window just before the boundary admits nothing more just after it', () => {
  // The weighted previous count was rounded down: 60 from just before weighed 59.99…, counted as 59,
  // and one request more got through at every window boundary.
  const limiter = new MemoryRateLimiter(60_000);
  const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  for (let index = 0; index < 60; index++) assert.equal(limiter.consume('k', 60, 1, start + 59_999).allowed, true);
  assert.equal(limiter.consume('k', 60, 1, start + 59_999).allowed, false);
  const after = limiter.consume('k', 60, 1, start + 60_001);
  assert.equal(after.allowed, false);
  assert.equal(after.remaining, 0);
  // Half a window on, half of the 60 still counts: 30 fit.
  let admitted = 0;
  for (let index = 0; index < 40; index++) if (limiter.consume('k', 60, 1, start + 90_000).allowed) admitted++;
  assert.equal(admitted, 30);
});

test('a settlement after a refusal in the next window reaches the window its reservation was in', () => {
  // The refusal used to move the counter into the new window, so giving back the 300 reserved
  // before it was lost at 0 there, and the full reservation kept weighing as the previous window.
  const limiter = new MemoryRateLimiter(WINDOW_MS);
  const reserved = limiter.consume('tpm', 300, 300, WINDOW_START + 59_000);
  assert.equal(reserved.allowed, true);
  assert.equal(limiter.consume('tpm', 300, 100, WINDOW_START + WINDOW_MS + 1_000).allowed, false);
  limiter.adjust('tpm', -250, reserved);
  const after = limiter.consume('tpm', 300, 100, WINDOW_START + WINDOW_MS + 3_000);
  assert.equal(after.allowed, true);
  assert.equal(after.remaining, 152);
});

test('a settlement lands in its reservation\'s window: this one, the previous one once another call rolled the counter, or none', async () => {
  await checkSettlements(new MemoryRateLimiter(WINDOW_MS), 'settle:');
});

test('costs larger than one (tokens) and pruning', () => {
  const limiter = new MemoryRateLimiter(60_000);
  const now = 1_800_000_000_000;
  assert.equal(limiter.consume('t', 100, 60, now).allowed, true);
  assert.equal(limiter.consume('t', 100, 60, now).allowed, false);
  assert.equal(limiter.consume('t', 100, 40, now).allowed, true);
  limiter.prune(now + 10 * 60_000);
  assert.equal(limiter.consume('t', 100, 100, now + 10 * 60_000).allowed, true);
});

test('Retry-After is exact to the second and the ms: on time is admitted, a second early refused', async () => {
  const waits = await checkWaits(new MemoryRateLimiter(WINDOW_MS), 'case:');
  assert.deepEqual(waits, TIMING_CASES.map((timing) => timing.waitMs));
});

test('the reported sequence: a client that waits as told gets through, twice', () => {
  // LLM_PROXY_RPM=3: four requests 22 s into a minute. The fourth was told 38 s (the minute's end),
  // and after waiting them, 60 s: the three still weighed nearly three just past the boundary.
  const limiter = new MemoryRateLimiter(WINDOW_MS);
  let now = WINDOW_START + 22_000;
  for (let index = 0; index < 3; index++) assert.equal(limiter.consume('rpm', 3, 1, now).allowed, true);
  const refused = limiter.consume('rpm', 3, 1, now);
  assert.equal(refused.allowed, false);
  assert.equal(Math.ceil(refused.resetMs / 1000), 58);
  now += 58_000;
  const admitted = limiter.consume('rpm', 3, 1, now);
  assert.equal(admitted.allowed, true);
  assert.equal(admitted.remaining, 0);
  // The next one fits once the three before weigh 1: two thirds into the window, 40 s after the 20 s mark.
  const again = limiter.consume('rpm', 3, 1, now);
  assert.equal(again.allowed, false);
  assert.equal(again.resetMs, admitted.resetMs);
  assert.equal(Math.ceil(again.resetMs / 1000), 20);
  assert.equal(limiter.consume('rpm', 3, 1, now + 19_000).allowed, false);
  assert.equal(limiter.consume('rpm', 3, 1, now + 20_000).allowed, true);
});

test('seed raises a counter to the counts given, in their window, never lowers it', () => {
  const limiter = new MemoryRateLimiter(60_000);
  const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  const used = (key: string, now: number) => 100 - limiter.consume(key, 100, 0, now).remaining;
  limiter.seed('new', start, 30, 0);
  assert.equal(used('new', start + 1000), 30);
  // Counted 50 here already: kept; the previous minute is raised to the 40 given (weighing half at 30 s).
  limiter.consume('higher', 100, 50, start + 1000);
  limiter.seed('higher', start, 30, 40);
  assert.equal(used('higher', start + 30_000), 70);
  // The seeded window is a minute behind this counter's: its count is this counter's previous.
  limiter.consume('ahead', 100, 10, start + 60_000);
  limiter.seed('ahead', start, 60, 0);
  assert.equal(used('ahead', start + 90_000), 40);
  // This counter is a minute behind: it moves on, its count becoming the previous one.
  limiter.consume('behind', 100, 20, start - 60_000);
  limiter.seed('behind', start, 10, 0);
  assert.equal(used('behind', start + 30_000), 20);
});
