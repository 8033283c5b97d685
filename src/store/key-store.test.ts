import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseModels } from './key-store.js';

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
