// Property test of the Anthropic fast path's cache copy: any answer Anthropic may send is either not
// stored, or stored in a chat form that a cache hit turns back into the same message (the client
// cannot tell a hit from the provider's answer). And the usage read from it is always sound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertUsage } from '../../test/providers/openai-shape.js';
import { anthropicMessage } from '../../test/providers/wire-arbitraries.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionResponse } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import { upstreamTokenCount } from '../providers/token-count.js';
import { toAnthropicMessage } from './from-chat.js';
import { messagesProtocol } from './native-messages.js';

const ROUTE = { provider: { name: 'anthropic' }, upstreamModel: 'claude-sonnet-4-5', model: 'claude-sonnet-4-5', entry: undefined } as unknown as Route;

/** Answers as Anthropic sends them: the blocks, stop reasons and cache counts that decide whether a copy is kept. */
const wellFormed = fc.record({
  id: fc.constant('msg_01'),
  type: fc.constant('message'),
  role: fc.constant('assistant'),
  model: fc.constant('claude-sonnet-4-5-20250929'),
  content: fc.array(
    fc.oneof(
      fc.record({ type: fc.constant('text'), text: fc.constantFrom('Hi.', '', 'Paris.') }),
      fc.record({ type: fc.constant('text'), text: fc.constant('Paris.'), citations: fc.constantFrom(null, [], [{ type: 'char_location' }]) }),
      fc.record({ type: fc.constant('tool_use'), id: fc.constantFrom('toolu_01', 'toolu_02'), name: fc.constantFrom('get_weather', 'json_response'), input: fc.constantFrom({}, { city: 'Paris' }) }),
      fc.record({ type: fc.constantFrom('thinking', 'server_tool_use'), thinking: fc.constant('Hmm.'), signature: fc.constant('sig') }),
    ),
    { maxLength: 3 },
  ),
  stop_reason: fc.constantFrom('end_turn', 'max_tokens', 'tool_use', 'refusal', 'stop_sequence', 'pause_turn', null),
  stop_sequence: fc.constant(null),
  usage: fc.record({ input_tokens: fc.nat(100), output_tokens: fc.nat(100), cache_creation_input_tokens: fc.constantFrom(0, 0, 5, null), cache_read_input_tokens: fc.constantFrom(0, 3, null) }),
});

/** Those, and answers with content, stop reason and usage of every kind, well-formed or not. */
const answer = fc.oneof(wellFormed, anthropicMessage.map((message) => ({ ...message, id: 'msg_01', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929' })));

describe('the Anthropic fast path and the chat-form cache, property-based', () => {
  it('any answer → not stored, or stored so that a hit is the same message; its usage is sound either way', () => {
    fc.assert(
      fc.property(answer, (original) => {
        let read: ReturnType<ReturnType<typeof messagesProtocol>['readJson']>;
        try {
          read = messagesProtocol({}, {}, 'req-1').readJson(structuredClone(original), ROUTE);
        } catch (error) {
          assert.ok(error instanceof GatewayError && error.status === 502, String(error));
          return;
        }
        if (read.usage !== undefined) assertUsage(read.usage, 'usage');
        if (read.chatBody === undefined) return;
        const hit = toAnthropicMessage(JSON.parse(read.chatBody) as ChatCompletionResponse, 'req-1');
        // Compared as the client reads them: JSON, with `stop_sequence` (null whenever stored) and the cache counts as numbers.
        const expected = JSON.parse(JSON.stringify(original)) as Record<string, unknown>;
        const usage = expected.usage as Record<string, unknown>;
        expected.usage = {
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          cache_creation_input_tokens: 0,
          // A count that is no count (-1) reads as 0 in the chat form; Anthropic never sends one.
          cache_read_input_tokens: upstreamTokenCount(usage.cache_read_input_tokens),
        };
        expected.stop_sequence = null;
        // `citations` null or empty and none are the same answer (a stored one has none): left off.
        for (const block of expected.content as Array<Record<string, unknown>>) {
          if (block.citations === null || (Array.isArray(block.citations) && block.citations.length === 0)) delete block.citations;
        }
        assert.deepEqual(JSON.parse(JSON.stringify(hit)), expected);
      }),
      { numRuns: 500, seed: 20261128 },
    );
  });
});
