import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryUsageRecorder, type UsageRecord } from './usage-recorder.js';

function record(index: number): UsageRecord {
  return {
    requestId: `r${index}`, keyId: 'k', endpoint: 'chat.completions', model: 'm', promptTokens: 1, completionTokens: 1, cachedTokens: 0,
    latencyMs: 1, status: 'ok', httpStatus: 200, stream: false, cacheHit: false, estimated: false, createdAt: index,
  };
}

test('keeps the newest records in order, bounded, and tells the listener of each', () => {
  const heard: string[] = [];
  const recorder = new MemoryUsageRecorder(3, (item) => heard.push(item.requestId));
  for (let index = 1; index <= 5; index++) recorder.record(record(index));
  assert.deepEqual(recorder.recent().map((item) => item.requestId), ['r3', 'r4', 'r5']);
  assert.deepEqual(heard, ['r1', 'r2', 'r3', 'r4', 'r5']);
});
