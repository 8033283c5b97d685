import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatOpenAiDuration } from './openai-duration.js';

test('reset times read as OpenAI sends them (Go durations)', () => {
  for (const [ms, expected] of [
    [0, '0s'],
    [20, '20ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_020, '1.02s'],
    [2_383, '2.383s'],
    [59_500, '59.5s'],
    [60_000, '1m0s'],
    [90_500, '1m30.5s'],
    [360_000, '6m0s'],
    [3_600_000, '1h0m0s'],
    [3_661_001, '1h1m1.001s'],
  ] as const) {
    assert.equal(formatOpenAiDuration(ms), expected, String(ms));
  }
});

test('fractions of a millisecond round up, so a client that waits as told is not early', () => {
  assert.equal(formatOpenAiDuration(0.2), '1ms');
  assert.equal(formatOpenAiDuration(999.1), '1s');
  assert.equal(formatOpenAiDuration(59_999.5), '1m0s');
});

test('nothing to wait (negative, or not a number) is 0s', () => {
  for (const ms of [-5, Number.NaN]) assert.equal(formatOpenAiDuration(ms), '0s');
});
