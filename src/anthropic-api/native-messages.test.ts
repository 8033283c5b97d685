// The Anthropic fast path keeps a chat-form copy of each answer for the response cache; a hit is
// rebuilt from it with toAnthropicMessage. Only answers that come back unchanged may be stored.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionResponse } from '../openai/types.js';
import type { AnthropicMessage } from '../providers/anthropic/anthropic-wire.js';
import type { Route } from '../routing/model-router.js';
import { isGatewayError } from '../errors/gateway-error.js';
import { toAnthropicMessage } from './from-chat.js';
import { messagesProtocol } from './native-messages.js';

const ROUTE = { provider: { name: 'anthropic' }, upstreamModel: 'claude-sonnet-4-5', model: 'claude-sonnet-4-5', entry: undefined } as unknown as Route;

function message(overrides: Partial<AnthropicMessage>): AnthropicMessage {
  return {
    id: 'msg_01XYZ',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [{ type: 'text', text: 'Hello there.' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 3 },
    ...overrides,
  };
}

const toolUse = (name: string) => ({ type: 'tool_use' as const, id: 'toolu_01', name, input: { city: 'Paris' } });

/** What the fast path stores for this answer, and what a cache hit would then answer. */
function replayed(original: AnthropicMessage): { chatBody: string | undefined; hit: AnthropicMessage | undefined } {
  const { chatBody } = messagesProtocol({}, {}, 'req-1').readJson(original, ROUTE);
  return { chatBody, hit: chatBody === undefined ? undefined : toAnthropicMessage(JSON.parse(chatBody) as ChatCompletionResponse, 'req-1') };
}

describe('native /v1/messages answers and the chat-form cache', () => {
  test('a stored answer comes back as the same message', () => {
    for (const original of [
      message({}),
      message({ content: [{ type: 'text', text: 'Let me look.' }, toolUse('get_weather')], stop_reason: 'tool_use' }),
      message({ content: [toolUse('get_weather'), { ...toolUse('get_time'), id: 'toolu_02' }], stop_reason: 'tool_use' }),
      message({ stop_reason: 'max_tokens' }),
      message({ content: [], stop_reason: 'refusal' }),
    ]) {
      const { chatBody, hit } = replayed(original);
      assert.ok(chatBody !== undefined, `not stored: ${JSON.stringify(original.content)} ${original.stop_reason}`);
      assert.deepEqual(hit, original);
    }
  });

  test('answers a hit would change are not stored', () => {
    const cases: Array<[string, AnthropicMessage]> = [
      // The client's own tool may be called json_response on Anthropic; the chat form reads it as JSON-mode text.
      ['a tool named json_response', message({ content: [{ type: 'text', text: 'Here:' }, toolUse('json_response')], stop_reason: 'tool_use' })],
      ['a stop sequence', message({ stop_reason: 'stop_sequence', stop_sequence: 'THREE' })],
      ['a paused turn', message({ stop_reason: 'pause_turn' })],
      ['cache writes in the usage', message({ usage: { input_tokens: 10, output_tokens: 4, cache_creation_input_tokens: 4, cache_read_input_tokens: 3 } })],
      ['two text blocks', message({ content: [{ type: 'text', text: 'One. ' }, { type: 'text', text: 'Two.' }] })],
      ['text after a tool call', message({ content: [toolUse('get_weather'), { type: 'text', text: 'Done.' }], stop_reason: 'tool_use' })],
      ['an empty text block', message({ content: [{ type: 'text', text: '' }] })],
      ['citations', message({ content: [{ type: 'text', text: 'Paris.', citations: [{ type: 'char_location', cited_text: 'Paris', document_index: 0 }] }] })],
      ['a thinking block', message({ content: [{ type: 'thinking', thinking: 'Hmm.', signature: 'sig' }, { type: 'text', text: 'Hi.' }] })],
      ['tool calls with end_turn', message({ content: [toolUse('get_weather')], stop_reason: 'end_turn' })],
    ];
    for (const [name, original] of cases) {
      assert.equal(replayed(original).chatBody, undefined, `${name}: stored`);
    }
  });

  test('the usage is read from every answer, stored or not', () => {
    const { usage } = messagesProtocol({}, {}, 'req-1').readJson(message({ stop_reason: 'stop_sequence', stop_sequence: 'X', usage: { input_tokens: 10, output_tokens: 4, cache_creation_input_tokens: 4, cache_read_input_tokens: 3 } }), ROUTE);
    assert.deepEqual(usage, { prompt_tokens: 17, completion_tokens: 4, total_tokens: 21, prompt_tokens_details: { cached_tokens: 3, cache_write_tokens: 4 } });
  });
});

describe('native /v1/messages stream events', () => {
  const readEvent = (event: { event?: string; data: string }): string =>
    messagesProtocol({}, {}, 'req-1').readEvent(event, { usage: undefined, finished: false, contentStarted: true, chunks: 0, model: undefined }, ROUTE);

  test('an event type this proxy does not know keeps the name the upstream sent, its data unchanged', () => {
    const data = '{"type":"future_event","detail":{"a":[1,2]}}';
    assert.equal(readEvent({ event: 'future_event', data }), `event: future_event\ndata: ${data}\n\n`);
    assert.equal(readEvent({ event: 'server.tool-use_2', data: '{"type":"other"}' }), 'event: server.tool-use_2\ndata: {"type":"other"}\n\n');
    // No event field: the data's type names it; neither: SSE's default.
    assert.equal(readEvent({ data }), `event: future_event\ndata: ${data}\n\n`);
    assert.equal(readEvent({ data: '{"x":1}' }), 'event: message\ndata: {"x":1}\n\n');
  });

  test('a name that is no plain token never reaches the frame: CR or LF in the data type cannot split it', () => {
    // Without an event field the data's `type` was the name, as it came: the frame below became three events, one an `event: error`.
    const injected = JSON.stringify({ type: 'x\n\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"forged"}}' });
    assert.equal(readEvent({ data: injected }), '');
    assert.equal(readEvent({ data: JSON.stringify({ type: 'a\rb' }) }), '');
    // An odd upstream name: the data's type if it is a token, else the event is dropped.
    assert.equal(readEvent({ event: 'odd name', data: '{"type":"content_block_stop","index":0}' }), 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n');
    assert.equal(readEvent({ event: 'odd name', data: '{"x":1}' }), '');
    assert.equal(readEvent({ event: 'ünïcode', data: '{"type":"a b"}' }), '');
  });

  test("an `event: error` is the stream's error whatever type its data names", () => {
    const cases: Array<[string, string | null]> = [
      ['{"type":"error","error":{"type":"overloaded_error","message":"busy"}}', 'upstream_error'],
      ['{"type":"overloaded_error","error":{"type":"overloaded_error","message":"busy"}}', 'upstream_error'],
      ['{"type":"api_error","error":{"type":"api_error","message":"boom"}}', 'upstream_error'],
      ['{"type":"message_delta","delta":{}}', 'upstream_stream_error'],
      ['{"error":{"message":"no type"}}', 'upstream_stream_error'],
    ];
    for (const [data, code] of cases) {
      assert.throws(
        () => readEvent({ event: 'error', data }),
        (error: unknown) => isGatewayError(error) && error.code === code,
        data,
      );
    }
  });
});
