// Claude's usage fields that change what a call is billed: compaction iterations (left out of the
// top-level counts), fast mode and US-only inference. Recorded payloads, as Anthropic's docs show them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { messagesProtocol } from '../anthropic-api/native-messages.js';
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { CompletionUsage } from '../openai/types.js';
import { convertAnthropicUsage } from '../providers/anthropic/convert-response.js';
import type { Route } from '../routing/model-router.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import { checkUsage } from '../usage/usage-check.js';
import { usageCost } from './usage-record.js';

const catalog = ModelCatalog.builtin();
const opus = catalog.entries.find((entry) => entry.id === 'claude-opus-4-8');
const AT = Date.parse('2026-11-29T00:00:00Z');
const near = (actual: number | undefined, expected: number): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${String(actual)} != ${expected}`);
};

/** The compaction docs' example answer: the top-level counts are the message iteration's only. */
const COMPACTED = {
  input_tokens: 23_000,
  output_tokens: 1_000,
  iterations: [
    { type: 'compaction', input_tokens: 180_000, output_tokens: 3_500, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    { type: 'message', input_tokens: 23_000, output_tokens: 1_000, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  ],
};

describe('Claude compaction iterations', () => {
  test('a compaction entry is kept apart from the top-level counts, with its cache reads and writes', () => {
    const usage = convertAnthropicUsage({
      ...COMPACTED,
      iterations: [
        { type: 'compaction', input_tokens: 170_000, output_tokens: 3_500, cache_read_input_tokens: 10_000, cache_creation_input_tokens: 0 },
        { type: 'message', input_tokens: 23_000, output_tokens: 1_000 },
        { type: 'compaction', input_tokens: 1_000, output_tokens: 500, cache_creation_input_tokens: 200, cache_creation: { ephemeral_1h_input_tokens: 200 } },
      ],
    });
    assert.equal(usage.prompt_tokens, 23_000);
    assert.equal(usage.completion_tokens, 1_000);
    assert.deepEqual(usage.compaction, { prompt_tokens: 181_200, completion_tokens: 4_000, cached_tokens: 10_000, cache_write_tokens: 200, cache_write_1h_tokens: 200 });
  });

  test('without a compaction entry there is nothing more to bill', () => {
    assert.equal(convertAnthropicUsage({ input_tokens: 5, output_tokens: 1, iterations: [{ type: 'message', input_tokens: 5, output_tokens: 1 }] }).compaction, undefined);
    assert.equal(convertAnthropicUsage({ input_tokens: 5, output_tokens: 1 }).compaction, undefined);
  });

  test('a whole answer bills its compaction at the model rates, beside the top-level counts', () => {
    const usage = convertAnthropicUsage(COMPACTED);
    // Opus 4.8: $5 / $25 per MTok. (23,000 + 180,000) in, (1,000 + 3,500) out.
    near(usageCost(catalog, opus, usage, AT), (203_000 * 5 + 4_500 * 25) / 1e6);
  });

  test('a stream bills the iterations its last message_delta reports', () => {
    const stats: { usage: CompletionUsage | undefined; finished: boolean; contentStarted: boolean; chunks: number } = { usage: undefined, finished: false, contentStarted: false, chunks: 0 };
    const protocol = messagesProtocol({}, {}, 'req-1');
    const route = { provider: { name: 'anthropic' }, upstreamModel: 'claude-opus-4-8', entry: opus } as unknown as Route;
    protocol.readEvent({ event: 'message_start', data: JSON.stringify({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: 'claude-opus-4-8', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 23_000, output_tokens: 1 } } }) }, stats, route);
    protocol.readEvent({ event: 'message_delta', data: JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1_000, iterations: COMPACTED.iterations } }) }, stats, route);
    assert.deepEqual(stats.usage?.compaction, { prompt_tokens: 180_000, completion_tokens: 3_500, cached_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0 });
    near(usageCost(catalog, opus, stats.usage as CompletionUsage, AT), (203_000 * 5 + 4_500 * 25) / 1e6);
  });

  test('a usage whose counts fail the check keeps its compaction', () => {
    const usage = convertAnthropicUsage(COMPACTED);
    const checked = checkUsage({ ...usage, completion_tokens: -1 }, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2_000 } as ChatCompletionRequest, opus, () => 7, undefined);
    assert.deepEqual(checked?.usage.compaction, usage.compaction);
  });
});
