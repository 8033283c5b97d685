// Chat answers → Anthropic messages and events, on recorded payloads: Gemini's streams (a whole
// functionCall in one chunk) through the Gemini codec, then through the writer; OpenAI-style
// fragments; reasoning; a chat.completion with tool calls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, makeTarget, sseEvents } from '../../test/providers/codec-harness.js';
import { readGeminiFixture } from '../../test/support/fake-gemini.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionResponse } from '../openai/types.js';
import type { AnthropicStreamEvent } from '../providers/anthropic/anthropic-wire.js';
import { convertGeminiStream } from '../providers/gemini/convert-stream.js';
import { AnthropicStreamWriter, anthropicErrorType, encodeErrorEvent, parseToolInput, toAnthropicMessage, usageOf, matchedStopOf } from './from-chat.js';

/** Every frame the writer made, as [event name, data]; the name must match the data's type. */
function events(text: string): AnthropicStreamEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.length > 0)
    .map((frame) => {
      const [head, data] = frame.split('\n');
      const event = JSON.parse((data ?? '').slice('data: '.length)) as AnthropicStreamEvent;
      assert.equal(head, `event: ${event.type}`);
      return event;
    });
}

function write(chunks: ChatCompletionChunk[]): AnthropicStreamEvent[] {
  const writer = new AnthropicStreamWriter('req1', 'model-x');
  return events(chunks.map((chunk) => writer.push(chunk)).join('') + writer.end());
}

/** Each tool_use block's input_json_delta fragments, joined. */
function toolInputs(list: AnthropicStreamEvent[]): Map<number, string> {
  const inputs = new Map<number, string>();
  for (const event of list) {
    if (event.type === 'content_block_start' && event.content_block.type === 'tool_use') inputs.set(event.index, '');
    if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') inputs.set(event.index, (inputs.get(event.index) ?? '') + event.delta.partial_json);
  }
  return inputs;
}

/** Fails on a delta or stop for a block that is not the open one (Anthropic's blocks run one after another). */
function assertSequential(list: AnthropicStreamEvent[]): void {
  let open: number | undefined;
  for (const event of list) {
    if (event.type === 'content_block_start') {
      assert.equal(open, undefined, `block ${event.index} opened inside another`);
      open = event.index;
    } else if (event.type === 'content_block_delta' || event.type === 'content_block_stop') {
      assert.equal(event.index, open, `${event.type} for block ${event.index}, which is not open`);
      if (event.type === 'content_block_stop') open = undefined;
    }
  }
}

function chunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null): ChatCompletionChunk {
  return { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }] };
}

async function gemini(name: string): Promise<ChatCompletionChunk[]> {
  return collect(convertGeminiStream(sseEvents(readGeminiFixture(`gemini-${name}.chunks.txt`)), makeTarget('gemini', { stream: true, includeUsage: true })));
}

describe('AnthropicStreamWriter', () => {
  it('Gemini sends a whole functionCall in one chunk: its arguments arrive as one complete input_json_delta', async () => {
    const list = write(await gemini('tools'));
    assert.deepEqual(
      list.map((event) => event.type),
      ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    assert.deepEqual([...toolInputs(list).values()].map((text) => JSON.parse(text) as unknown), [{ location: 'Paris', unit: 'celsius', days: null }]);
    const delta = list.find((event) => event.type === 'message_delta');
    assert.deepEqual(delta, {
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      // Gemini's 61 thoughts tokens, inside its output as Claude counts thinking.
      usage: { output_tokens: 89, input_tokens: 95, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens_details: { thinking_tokens: 61 } },
    });
  });

  it('Gemini parallel calls: two tool_use blocks, each input complete', async () => {
    const inputs = toolInputs(write(await gemini('parallel-tools')));
    assert.deepEqual([...inputs.values()].map((text) => JSON.parse(text) as unknown), [
      { location: 'Paris', unit: 'celsius', days: null },
      { location: 'Tokyo', unit: 'celsius', days: null },
    ]);
  });

  it('OpenAI fragments are forwarded one by one; a call without arguments gets {}', () => {
    const args = '{"city":"Paris","days":[1,2]}';
    const pieces = args.match(/.{1,4}/g) ?? [];
    const list = write([
      chunk({ role: 'assistant', content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } }] }),
      ...pieces.map((piece) => chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
      chunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } }] }),
      chunk({}, 'tool_calls'),
      { ...chunk({}), choices: [], usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, prompt_tokens_details: { cached_tokens: 8 } } },
    ]);
    const fragments = list.filter((event) => event.type === 'content_block_delta' && event.delta.type === 'input_json_delta');
    assert.equal(fragments.length, pieces.length + 1);
    assert.deepEqual(toolInputs(list), new Map([[1, args], [2, '{}']]));
    const start = list.find((event) => event.type === 'content_block_start' && event.index === 1);
    assert.deepEqual(start, { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'weather', input: {} } });
    const delta = list.find((event) => event.type === 'message_delta');
    assert.deepEqual(delta?.type === 'message_delta' ? delta.usage : undefined, { output_tokens: 5, input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 8 });
  });

  it('interleaved parallel calls: the open call streams live, the other is held and sent whole once the first is complete', () => {
    const writer = new AnthropicStreamWriter('req1', 'model-x');
    const frames = [
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '{"x":' } }, { index: 1, id: 'call_b', type: 'function', function: { name: 'b', arguments: '{"y":' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '2}' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '}' } }] }),
      chunk({}, 'tool_calls'),
    ].map((entry) => writer.push(entry));
    // Call b's fragments wait (nothing to send), call a's go out as they come; b follows a's last.
    assert.equal(frames[1], '');
    assert.deepEqual(events(frames[2] ?? '').map((event) => event.type), ['content_block_delta']);
    assert.deepEqual(events(frames[3] ?? '').map((event) => event.type), ['content_block_delta', 'content_block_stop', 'content_block_start', 'content_block_delta']);
    const list = events(frames.join('') + writer.end());
    assert.deepEqual(
      list.map((event) => `${event.type}${'index' in event ? event.index : ''}`),
      ['message_start', 'ping', 'content_block_start0', 'content_block_delta0', 'content_block_delta0', 'content_block_delta0', 'content_block_stop0', 'content_block_start1', 'content_block_delta1', 'content_block_stop1', 'message_delta', 'message_stop'],
    );
    assert.deepEqual(toolInputs(list), new Map([[0, '{"x":1}'], [1, '{"y":2}']]));
    const starts = list.flatMap((event) => (event.type === 'content_block_start' ? [event.content_block] : []));
    assert.deepEqual(starts, [{ type: 'tool_use', id: 'call_a', name: 'a', input: {} }, { type: 'tool_use', id: 'call_b', name: 'b', input: {} }]);
  });

  it('a call never completed holds the rest to the end; text between its fragments follows it, nothing lost', () => {
    const list = write([
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '{"x":' } }] }),
      chunk({ content: 'and ' }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'b', arguments: '{}' } }] }),
      chunk({ content: 'more' }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"cut' } }] }),
      chunk({}, 'length'),
    ]);
    assertSequential(list);
    assert.deepEqual(
      list.filter((event) => event.type === 'content_block_start').map((event) => (event.type === 'content_block_start' ? event.content_block.type : '')),
      ['tool_use', 'text', 'tool_use', 'text'],
    );
    assert.deepEqual(toolInputs(list), new Map([[0, '{"x":"cut'], [2, '{}']]));
    const texts = list.flatMap((event) => (event.type === 'content_block_delta' && event.delta.type === 'text_delta' ? [event.delta.text] : []));
    assert.deepEqual(texts, ['and ', 'more']);
  });

  it('one index reused for a second call (a new id after complete arguments) is a second block; more arguments after complete ones end the stream', () => {
    const list = write([
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '{"q":1}' } }] }),
      chunk({ tool_calls: [{ index: 0, id: 'call_b', type: 'function', function: { name: 'b', arguments: '{"q":2}' } }] }),
    ]);
    assert.deepEqual(toolInputs(list), new Map([[0, '{"q":1}'], [1, '{"q":2}']]));
    const writer = new AnthropicStreamWriter('req1', 'model-x');
    writer.push(chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '{}' } }] }));
    writer.push(chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'b', arguments: '{}' } }] }));
    // Whitespace after a closed call's complete arguments changes nothing: dropped, no event.
    assert.equal(writer.push(chunk({ tool_calls: [{ index: 0, function: { arguments: ' \n' } }] })), '');
    assert.throws(() => writer.push(chunk({ tool_calls: [{ index: 0, function: { arguments: ',"late":1}' } }] })), /after they were complete/);
  });

  it('reasoning_content becomes a thinking block before the text', () => {
    const list = write([chunk({ role: 'assistant', reasoning_content: 'Let me think.' } as never), chunk({ content: 'Done.' }), chunk({}, 'stop')]);
    const starts = list.filter((event) => event.type === 'content_block_start').map((event) => (event.type === 'content_block_start' ? event.content_block.type : ''));
    assert.deepEqual(starts, ['thinking', 'text']);
    assert.ok(list.some((event) => event.type === 'content_block_delta' && event.delta.type === 'thinking_delta' && event.delta.thinking === 'Let me think.'));
  });

  it('finish reasons: length → max_tokens, content_filter → refusal; an empty stream still closes properly', () => {
    const stops = (['length', 'content_filter', 'stop'] as const).map((finish) => {
      const event = write([chunk({ content: 'a' }, finish)]).find((entry) => entry.type === 'message_delta');
      return event?.type === 'message_delta' ? event.delta.stop_reason : undefined;
    });
    assert.deepEqual(stops, ['max_tokens', 'refusal', 'end_turn']);
    const writer = new AnthropicStreamWriter('req1', 'model-x');
    assert.deepEqual(events(writer.end()).map((event) => event.type), ['message_start', 'ping', 'message_delta', 'message_stop']);
  });

  it("an OpenAI refusal streams as text with stop_reason 'refusal'", () => {
    const list = write([chunk({ role: 'assistant', content: null, refusal: '' } as never), chunk({ refusal: "I'm sorry, " } as never), chunk({ refusal: "I can't help with that." } as never), chunk({}, 'stop')]);
    const text = list.map((event) => (event.type === 'content_block_delta' && event.delta.type === 'text_delta' ? event.delta.text : '')).join('');
    assert.equal(text, "I'm sorry, I can't help with that.");
    assert.equal(list.filter((event) => event.type === 'content_block_start').length, 1);
    const closing = list.find((event) => event.type === 'message_delta');
    assert.equal(closing?.type === 'message_delta' ? closing.delta.stop_reason : undefined, 'refusal');
  });
});

describe('toAnthropicMessage and errors', () => {
  it("a refusal (content null) is the message's text, with stop_reason 'refusal'", () => {
    const chat: ChatCompletionResponse = {
      id: 'chatcmpl-r',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: "I'm sorry, I can't assist with that request." }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 9, completion_tokens: 10, total_tokens: 19 },
    };
    const message = toAnthropicMessage(chat, 'req1');
    assert.deepEqual(message.content, [{ type: 'text', text: "I'm sorry, I can't assist with that request." }]);
    assert.equal(message.stop_reason, 'refusal');
  });

  it('a chat.completion with text and tool calls', () => {
    const chat: ChatCompletionResponse = {
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Sure.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
    };
    assert.deepEqual(toAnthropicMessage(chat, 'req1'), {
      id: 'msg_abc',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o',
      content: [
        { type: 'text', text: 'Sure.' },
        { type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  });

  it('tool arguments that are not a JSON object are kept, not lost', () => {
    assert.deepEqual(parseToolInput(''), {});
    assert.deepEqual(parseToolInput('{"a":1}'), { a: 1 });
    assert.deepEqual(parseToolInput('not json'), { _raw: 'not json' });
    assert.deepEqual(usageOf(undefined), { input_tokens: 0, output_tokens: 0 });
  });

  it("usage: cache reads and writes (OpenRouter's cache_write_tokens) leave input_tokens, as Anthropic counts them", () => {
    // OpenRouter's documented usage: 194 prompt tokens of which 100 written to the cache.
    const usage = { prompt_tokens: 194, completion_tokens: 2, total_tokens: 196, prompt_tokens_details: { cached_tokens: 50, cache_write_tokens: 100 } };
    assert.deepEqual(usageOf(usage), { input_tokens: 44, output_tokens: 2, cache_creation_input_tokens: 100, cache_read_input_tokens: 50 });
  });

  it("usage: a reasoning model's reasoning_tokens are Claude's output_tokens_details.thinking_tokens", () => {
    const usage = { prompt_tokens: 10, completion_tokens: 300, total_tokens: 310, completion_tokens_details: { reasoning_tokens: 256 } };
    assert.deepEqual(usageOf(usage), { input_tokens: 10, output_tokens: 300, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens_details: { thinking_tokens: 256 } });
    assert.equal(usageOf({ prompt_tokens: 10, completion_tokens: 3, total_tokens: 13, completion_tokens_details: { reasoning_tokens: 0 } }).output_tokens_details, undefined);
  });

  it("usage: OpenRouter's searches (server_tool_use_details, its chat schema's field) are Claude's server_tool_use, as LiteLLM's field is", () => {
    const openrouter = { prompt_tokens: 1210, completion_tokens: 188, total_tokens: 1398, cost: 0.0256, server_tool_use_details: { tool_calls_requested: 3, tool_calls_executed: 3, web_search_requests: 2 } };
    assert.deepEqual(usageOf(openrouter as never).server_tool_use, { web_search_requests: 2, web_fetch_requests: 0 });
    assert.deepEqual(usageOf({ prompt_tokens: 10, completion_tokens: 3, total_tokens: 13, server_tool_use: { web_search_requests: 1 } }).server_tool_use, { web_search_requests: 1, web_fetch_requests: 0 });
    assert.equal(usageOf({ ...openrouter, server_tool_use_details: { tool_calls_requested: 1, web_search_requests: 0 } } as never).server_tool_use, undefined);
  });

  // Found by from-chat.property.test.ts: a pass-through host's usage is unchecked.
  it('usage with a count missing, null or no count gives 0s, never NaN (null in JSON) or a missing output_tokens', () => {
    const odd = { completion_tokens: 3, prompt_tokens_details: { cached_tokens: null, cache_write_tokens: -5 } } as never;
    assert.deepEqual(usageOf(odd), { input_tokens: 0, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    assert.deepEqual(usageOf({ prompt_tokens: 10, completion_tokens: null } as never), { input_tokens: 10, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  it('an answer without a model names the requested one; a streamed call whose id is no string gets a made-up id', () => {
    const chat = { id: 'chatcmpl-1', object: 'chat.completion', created: 1, choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }] } as never;
    assert.equal(toAnthropicMessage(chat, 'req1', 'claude-via-proxy').model, 'claude-via-proxy');
    const start = write([chunk({ tool_calls: [{ index: 0, id: [{}], function: { name: 7, arguments: '{}' } }] } as never)]).find((event) => event.type === 'content_block_start');
    assert.deepEqual(start?.type === 'content_block_start' ? start.content_block : undefined, { type: 'tool_use', id: 'toolu_req1_0', name: '', input: {} });
  });

  it('statuses map to Anthropic error types; the error event is framed as Anthropic frames it', () => {
    assert.deepEqual(
      [400, 401, 403, 404, 413, 429, 500, 502, 503, 504, 529].map(anthropicErrorType),
      ['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'request_too_large', 'rate_limit_error', 'api_error', 'api_error', 'overloaded_error', 'timeout_error', 'overloaded_error'],
    );
    // The README's list: a 4xx it does not name (a CONNECT, a slow or too-long request, a compressed body, too many headers) is the client's request.
    assert.deepEqual([405, 408, 414, 415, 431].map(anthropicErrorType), Array(5).fill('invalid_request_error'));
    const frame = encodeErrorEvent(new GatewayError({ status: 502, type: 'api_error', code: 'upstream_stream_error', message: 'broke' }));
    assert.equal(frame, 'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"broke"}}\n\n');
  });
});

describe("Claude's signed thinking in a translated answer", () => {
  const signed = { type: 'thinking' as const, thinking: 'Two plus two.', signature: 'EqQBCgIYAhIM' };

  it('a whole answer gives the blocks back signed, not the unsigned reasoning text', () => {
    const chat = {
      id: 'chatcmpl-t',
      object: 'chat.completion',
      created: 1,
      model: 'claude-sonnet-4-5',
      choices: [{ index: 0, message: { role: 'assistant', content: 'It is 4.', reasoning_content: 'Two plus two.', thinking_blocks: [signed, { type: 'redacted_thinking', data: 'EmwK' }] }, finish_reason: 'stop', logprobs: null }],
    } as ChatCompletionResponse;
    assert.deepEqual(toAnthropicMessage(chat, 'req').content, [signed, { type: 'redacted_thinking', data: 'EmwK' }, { type: 'text', text: 'It is 4.' }]);
  });

  it("a whole answer puts each block back after the tool call it came after (Claude refuses a replayed turn whose thinking moved)", () => {
    const second = { type: 'thinking' as const, thinking: 'Now the database.', signature: 'EqQBCgIYAhIN' };
    const chat = {
      id: 'chatcmpl-i',
      object: 'chat.completion',
      created: 1,
      model: 'claude-sonnet-4-5',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me look.',
            thinking_blocks: [signed, { ...second, after_tool_call_id: 'toolu_1' }],
            tool_calls: [
              { id: 'toolu_1', type: 'function', function: { name: 'calculator', arguments: '{"x":1}' } },
              { id: 'toolu_2', type: 'function', function: { name: 'database_query', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
          logprobs: null,
        },
      ],
    } as ChatCompletionResponse;
    assert.deepEqual(
      toAnthropicMessage(chat, 'req').content.map((block) => ('id' in block ? block.id : 'thinking' in block ? block.thinking : block.type)),
      ['Two plus two.', 'text', 'toolu_1', 'Now the database.', 'toolu_2'],
    );
  });

  it('a stream signs the thinking block it streamed before closing it', () => {
    const list = write([
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Two plus ' }),
      chunk({ reasoning_content: 'two.' }),
      chunk({ thinking_blocks: [signed] }),
      chunk({ content: 'It is 4.' }),
      chunk({}, 'stop'),
    ]);
    assertSequential(list);
    const signature = list.find((event) => event.type === 'content_block_delta' && event.delta.type === 'signature_delta');
    assert.deepEqual(signature, { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } });
    const order = list.filter((event) => event.type === 'content_block_delta' || event.type === 'content_block_stop').map((event) => (event.type === 'content_block_delta' ? event.delta.type : `stop ${event.index}`));
    assert.deepEqual(order, ['thinking_delta', 'thinking_delta', 'signature_delta', 'stop 0', 'text_delta', 'stop 1']);
  });

  it('a thinking block held behind an unfinished tool call keeps its signature, and a redacted block held there is sent in its place', () => {
    const list = write([
      chunk({ role: 'assistant', content: '' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":' } }] }),
      chunk({ reasoning_content: 'Two plus two.' }),
      chunk({ thinking_blocks: [signed] }),
      chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: 'EmwK' }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
    assertSequential(list);
    const order = list.filter((event) => event.type === 'content_block_start' || event.type === 'content_block_delta').map((event) => (event.type === 'content_block_start' ? event.content_block.type : event.delta.type));
    assert.deepEqual(order, ['tool_use', 'input_json_delta', 'input_json_delta', 'thinking', 'thinking_delta', 'signature_delta', 'redacted_thinking']);
    const signature = list.find((event) => event.type === 'content_block_delta' && event.delta.type === 'signature_delta');
    assert.deepEqual(signature, { type: 'content_block_delta', index: 1, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } });
    const redacted = list.find((event) => event.type === 'content_block_start' && event.content_block.type === 'redacted_thinking');
    assert.deepEqual(redacted, { type: 'content_block_start', index: 2, content_block: { type: 'redacted_thinking', data: 'EmwK' } });
  });
});

describe("a host's finish_reason 'stop' on an answer with tool calls (OpenAI's gpt-4o with a forced tool, Google's OpenAI-compatible stream)", () => {
  const call = { id: 'call_1', type: 'function' as const, function: { name: 'weather', arguments: '{"city":"Paris"}' } };

  it("a stream's tool_use blocks end with stop_reason tool_use, which Anthropic clients run their tools on", () => {
    const list = write([
      chunk({ role: 'assistant', content: null }),
      chunk({ tool_calls: [{ index: 0, ...call }] }),
      chunk({}, 'stop'),
    ]);
    const delta = list.find((event) => event.type === 'message_delta');
    assert.equal(delta?.type === 'message_delta' ? delta.delta.stop_reason : undefined, 'tool_use');
  });

  it('a whole answer likewise; without tool calls stop stays end_turn, and length stays max_tokens', () => {
    const answer = (message: Record<string, unknown>, finish: string) =>
      ({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finish, logprobs: null }] }) as unknown as ChatCompletionResponse;
    assert.equal(toAnthropicMessage(answer({ tool_calls: [call] }, 'stop'), 'req').stop_reason, 'tool_use');
    assert.equal(toAnthropicMessage(answer({ content: 'Hi.' }, 'stop'), 'req').stop_reason, 'end_turn');
    assert.equal(toAnthropicMessage(answer({ tool_calls: [call] }, 'length'), 'req').stop_reason, 'max_tokens');
  });
});

describe('matchedStopOf', () => {
  it("reads the stop string a host names (vLLM's stop_reason, SGLang's matched_stop) on a stop, nothing else", () => {
    assert.equal(matchedStopOf({ finish_reason: 'stop', stop_reason: '###' }), '###');
    assert.equal(matchedStopOf({ finish_reason: 'stop', matched_stop: 'END' }), 'END');
    // A stop token's id, no stop at all, another finish: nothing to name.
    assert.equal(matchedStopOf({ finish_reason: 'stop', stop_reason: 128009 }), undefined);
    assert.equal(matchedStopOf({ finish_reason: 'stop', stop_reason: null }), undefined);
    assert.equal(matchedStopOf({ finish_reason: 'length', stop_reason: '###' }), undefined);
    assert.equal(matchedStopOf({ finish_reason: 'stop' }), undefined);
  });
});
