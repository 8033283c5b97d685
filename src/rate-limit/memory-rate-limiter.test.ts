import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRateLimiter } from './memory-rate-limiter.js';

test('admits up to the limit in a window, then refuses with the time to reset', () => {
  const limiter = new MemoryRateLimiter(60_000);
  const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
  for (let index = 0; index < 3; index++) {
    const decision = limiter.consume('k', 3, 1, start + 1000);
    assert.equal(decision.allowed, true);
    assert.equal(decision.remaining, 2 - index);
  }
  const refused = limiter.consume('k', 3, 1, start + 1000);
  assert.equal(refused.allowed, false);
  assert.equal(refused.remaining, 0);
  assert.equal(refused.resetMs, 59_000);
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

test('costs larger than one (tokens) and pruning', () => {
  const limiter = new MemoryRateLimiter(60_000);
  const now = 1_800_000_000_000;
  assert.equal(limiter.consume('t', 100, 60, now).allowed, true);
  assert.equal(limiter.consume('t', 100, 60, now).allowed, false);
  assert.equal(limiter.consume('t', 100, 40, now).allowed, true);
  limiter.prune(now + 10 * 60_000);
  assert.equal(limiter.consume('t', 100, 100, now + 10 * 60_000).allowed, true);
});
