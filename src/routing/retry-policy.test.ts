import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError, invalidRequest, upstreamError } from '../errors/gateway-error.js';
import { retryDelay, RetryBudget, withRetries } from './retry-policy.js';

const retryable = () => upstreamError(500, 'openai', 'boom');

test('retries retryable failures up to the limit, then gives up with the last error', async () => {
  let calls = 0;
  await assert.rejects(
    withRetries(async () => {
      calls++;
      throw retryable();
    }, { retries: 2, baseDelayMs: 1 }, new RetryBudget(), new AbortController().signal),
    (error: unknown) => error instanceof GatewayError && error.code === 'upstream_error',
  );
  assert.equal(calls, 3);
});

test('never retries a client error', async () => {
  let calls = 0;
  await assert.rejects(
    withRetries(async () => {
      calls++;
      throw invalidRequest('bad');
    }, { retries: 2, baseDelayMs: 1 }, new RetryBudget(), new AbortController().signal),
  );
  assert.equal(calls, 1);
});

test('succeeds after a transient failure', async () => {
  let calls = 0;
  const value = await withRetries(async () => {
    calls++;
    if (calls === 1) throw retryable();
    return 'ok';
  }, { retries: 2, baseDelayMs: 1 }, new RetryBudget(), new AbortController().signal);
  assert.equal(value, 'ok');
  assert.equal(calls, 2);
});

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

test('an aborted client stops the retries', async () => {
  const controller = new AbortController();
  let calls = 0;
  await assert.rejects(
    withRetries(async () => {
      calls++;
      controller.abort();
      throw retryable();
    }, { retries: 2, baseDelayMs: 1 }, new RetryBudget(), controller.signal),
  );
  assert.equal(calls, 1);
});
