// When a native Messages body may compact, for its budget hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compactionTrigger, DEFAULT_COMPACTION_TRIGGER } from './compaction-bound.js';

describe('compactionTrigger', () => {
  test('none without a compact edit or an on-demand compaction', () => {
    assert.equal(compactionTrigger(undefined), undefined);
    assert.equal(compactionTrigger({ messages: [] }), undefined);
    assert.equal(compactionTrigger({ context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] } }), undefined);
  });

  test('a compact edit at its trigger (150,000 unless given; the lowest of several); an on-demand compaction at once', () => {
    assert.equal(compactionTrigger({ context_management: { edits: [{ type: 'compact_20260112' }] } }), DEFAULT_COMPACTION_TRIGGER);
    const two = { context_management: { edits: [{ type: 'compact_20260112', trigger: { type: 'input_tokens', value: 80_000 } }, { type: 'compact_20260112', trigger: { type: 'input_tokens', value: 60_000 } }] } };
    assert.equal(compactionTrigger(two), 60_000);
    assert.equal(compactionTrigger({ context_management: { edits: [{ type: 'compact_20260112', trigger: { value: 'soon' } }] } }), DEFAULT_COMPACTION_TRIGGER);
    assert.equal(compactionTrigger({ compaction: { type: 'summarize' } }), 0);
  });
});
