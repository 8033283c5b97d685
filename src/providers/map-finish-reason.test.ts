import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapFinishReason, PROMPT_BLOCKED_FINISH_REASON } from './map-finish-reason.js';

const none = { hasToolCalls: false };
const calls = { hasToolCalls: true };

describe('mapFinishReason', () => {
  it('maps every documented Anthropic stop reason', () => {
    const table: Array<[string, boolean, string]> = [
      ['end_turn', false, 'stop'],
      ['stop_sequence', false, 'stop'],
      ['pause_turn', false, 'stop'],
      ['max_tokens', false, 'length'],
      ['model_context_window_exceeded', false, 'length'],
      ['tool_use', true, 'tool_calls'],
      ['refusal', false, 'content_filter'],
    ];
    for (const [reason, hasToolCalls, expected] of table) {
      assert.equal(mapFinishReason('anthropic', reason, { hasToolCalls }), expected, reason);
    }
  });

  it('maps every documented Gemini finish reason', () => {
    const table: Array<[string, string]> = [
      ['STOP', 'stop'],
      ['MAX_TOKENS', 'length'],
      ['SAFETY', 'content_filter'],
      ['RECITATION', 'content_filter'],
      ['BLOCKLIST', 'content_filter'],
      ['PROHIBITED_CONTENT', 'content_filter'],
      ['SPII', 'content_filter'],
      ['IMAGE_SAFETY', 'content_filter'],
      ['LANGUAGE', 'stop'],
      ['OTHER', 'stop'],
      ['MALFORMED_FUNCTION_CALL', 'stop'],
      ['FINISH_REASON_UNSPECIFIED', 'stop'],
    ];
    for (const [reason, expected] of table) assert.equal(mapFinishReason('gemini', reason, none), expected, reason);
  });

  it('reports tool_calls when calls are present and the provider said stop (Gemini has no call reason)', () => {
    assert.equal(mapFinishReason('gemini', 'STOP', calls), 'tool_calls');
    assert.equal(mapFinishReason('gemini', 'MAX_TOKENS', calls), 'length');
    assert.equal(mapFinishReason('gemini', 'SAFETY', calls), 'content_filter');
  });

  it('reports stop for tool_use without client-visible calls (the JSON-mode tool)', () => {
    assert.equal(mapFinishReason('anthropic', 'tool_use', none), 'stop');
  });

  it('uses function_call for legacy clients', () => {
    assert.equal(mapFinishReason('anthropic', 'tool_use', { hasToolCalls: true, legacyFunctions: true }), 'function_call');
    assert.equal(mapFinishReason('gemini', 'STOP', { hasToolCalls: true, legacyFunctions: true }), 'function_call');
    assert.equal(mapFinishReason('gemini', 'STOP', { hasToolCalls: false, legacyFunctions: true }), 'stop');
  });

  it('treats unknown, missing and inherited names as stop', () => {
    assert.equal(mapFinishReason('anthropic', 'something_new', none), 'stop');
    assert.equal(mapFinishReason('anthropic', null, none), 'stop');
    assert.equal(mapFinishReason('gemini', undefined, none), 'stop');
    assert.equal(mapFinishReason('gemini', 'toString', none), 'stop');
    assert.equal(mapFinishReason('anthropic', '__proto__', none), 'stop');
  });

  it('reports a blocked prompt as content_filter', () => {
    assert.equal(PROMPT_BLOCKED_FINISH_REASON, 'content_filter');
  });
});
