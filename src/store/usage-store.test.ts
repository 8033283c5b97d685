import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toUsageRow, utcDay, type IdentifiedUsageRecord } from './usage-store.js';

function record(createdAt: number): IdentifiedUsageRecord {
  return {
    id: 'u', requestId: 'r', keyId: 'k', endpoint: 'chat.completions', model: 'gpt-4', promptTokens: 1, completionTokens: 1, cachedTokens: 0,
    latencyMs: 1, status: 'ok', httpStatus: 200, stream: false, cacheHit: false, estimated: false, createdAt,
  };
}

test('the row day is the UTC day of created_at across day boundaries, in any order', () => {
  const midnight = Date.UTC(2026, 10, 27);
  const times = [
    midnight - 1, midnight, midnight + 1, midnight - 1, midnight + 86_399_999, midnight + 86_400_000, midnight,
    Date.UTC(1969, 11, 31, 23, 59, 59, 999), -1, 0, Date.UTC(1969, 11, 31, 12), 1.6, midnight - 0.4, midnight - 0.6,
  ];
  for (const createdAt of times) {
    const row = toUsageRow(record(createdAt));
    assert.equal(row.day, utcDay(row.created_at), `day of ${createdAt}`);
    assert.equal(row.created_at, Math.round(createdAt));
  }
});
