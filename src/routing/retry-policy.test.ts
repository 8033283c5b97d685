import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upstreamError } from '../errors/gateway-error.js';
import { retryDelay, RetryBudget } from './retry-policy.js';

const retryable = () => upstreamError(500, 'openai', 'boom');

test('backoff is jittered exponential and Retry-After wins unless it is too long', () => {
  const options = { retries: 2, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(retryDelay(retryable(), 1, options, () => 0.999), 99);
  assert.equal(retryDelay(retryable(), 3, options, () => 0.999), 399);
  assert.equal(retryDelay(retryable(), 10, options, () => 0.5), 500);
  assert.equal(retryDelay(upstreamError(429, 'openai', 'slow down', 2000), 1, options), 2000);
  assert.equal(retryDelay(upstreamError(429, 'openai', 'slow down', 60_000), 1, options), undefined);
});

test('the budget caps concurrent retries at 20% of in-flight, never fewer than 3', () => {
  const budget = new RetryBudget();
  budget.inFlight = 5;
  assert.equal(budget.tryAcquire(), true);
  assert.equal(budget.tryAcquire(), true);
  assert.equal(budget.tryAcquire(), true);
  assert.equal(budget.tryAcquire(), false);
  budget.inFlight = 100;
  for (let index = 0; index < 17; index++) assert.equal(budget.tryAcquire(), true);
  assert.equal(budget.tryAcquire(), false);
  budget.release();
  assert.equal(budget.tryAcquire(), true);
});
