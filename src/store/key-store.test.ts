import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUDGET_PERIODS, parseModels, periodEnd, periodStart } from './key-store.js';

describe('parseModels: a key allowlist read from its column', () => {
  test('NULL is every model; a JSON list is its strings', () => {
    assert.equal(parseModels(null), null);
    assert.deepEqual(parseModels('["gpt-4o-mini","claude-sonnet-4-5"]'), ['gpt-4o-mini', 'claude-sonnet-4-5']);
    assert.deepEqual(parseModels('["gpt-4o-mini",7,null]'), ['gpt-4o-mini']);
  });

  test('a damaged value (not JSON, or JSON but no list) allows no model, never every one', () => {
    for (const raw of ['["gpt-4o-mini"', 'gpt-4o-mini', '{"models":["gpt-4o"]}', '"gpt-4o"', 'null', '']) {
      assert.deepEqual(parseModels(raw), [], JSON.stringify(raw));
    }
  });
});

test('periodStart is where the period periodEnd ends begins, in UTC, weeks from Monday', () => {
  for (const period of BUDGET_PERIODS) {
    for (let at = Date.UTC(2024, 0, 1); at < Date.UTC(2025, 0, 1); at += 7 * 3_600_000 + 123_457) {
      const start = periodStart(period, at);
      assert.ok(start <= at && at < periodEnd(period, at), `${period} ${new Date(at).toISOString()}`);
      assert.equal(periodEnd(period, start), periodEnd(period, at));
      assert.equal(periodStart(period, start - 1) < start, true);
    }
  }
  assert.equal(periodStart('weekly', Date.UTC(2025, 5, 1, 12)), Date.UTC(2025, 4, 26), 'a Sunday: the Monday before');
  assert.equal(periodStart('monthly', Date.UTC(2024, 1, 29, 23)), Date.UTC(2024, 1, 1));
});
