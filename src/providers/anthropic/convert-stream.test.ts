import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChunkDelta, CompletionUsage, FinishReason } from '../../openai/types.js';
import { CREATED, choicesOf, collect, collectUntilError, makeTarget, reassemble, sseEvents } from '../../../test/providers/codec-harness.js';
import { readAnthropicFixture, readAnthropicJson } from '../../../test/support/fake-anthropic.js';
import type { ChatTarget } from '../provider.js';
import { parseAnthropicResponse } from './convert-response.js';
import { convertAnthropicStream } from './convert-stream.js';

function stream(name: string, overrides: Partial<ChatTarget> = {}): AsyncIterable<ChatCompletionChunk> {
  return convertAnthropicStream(sseEvents(readAnthropicFixture(`anthropic-${name}.chunks.txt`)), makeTarget('anthropic', { stream: true, ...overrides }));
}

function chunkMaker(id: string, includeUsage = false) {
  return (delta: ChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created: CREATED,
    model: 'claude-sonnet-4-5',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    ...(includeUsage ? { usage: null } : {}),
  });
}

function usageChunk(id: string, usage: CompletionUsage): ChatCompletionChunk {
  return { id, object: 'chat.completion.chunk', created: CREATED, model: 'claude-sonnet-4-5', choices: [], usage };
}

const CASES = ['text', 'multi-turn', 'image', 'image-url', 'tools', 'parallel-tools', 'tool-result', 'legacy-functions', 'json-mode', 'stop', 'max-tokens'];

describe('convertAnthropicStream on the fixtures', () => {
  it('text: role first, content deltas, finish; ping ignored', async () => {
    const c = chunkMaker('msg_01XFDUDYJgAACzvnptvVoYEL');
    assert.deepEqual(await collect(stream('text')), [
      c({ role: 'assistant', content: '' }),
      c({ content: 'Hello! How c' }),
      c({ content: 'an I help yo' }),
      c({ content: 'u today?' }),
      c({}, 'stop'),
    ]);
  });

  it('text with include_usage: usage null on every chunk, then a usage chunk with no choices', async () => {
    const id = 'msg_01XFDUDYJgAACzvnptvVoYEL';
    const c = chunkMaker(id, true);
    assert.deepEqual(await collect(stream('text', { includeUsage: true })), [
      c({ role: 'assistant', content: '' }),
      c({ content: 'Hello! How c' }),
      c({ content: 'an I help yo' }),
      c({ content: 'u today?' }),
      c({}, 'stop'),
      usageChunk(id, { prompt_tokens: 8, completion_tokens: 12, total_tokens: 20, prompt_tokens_details: { cached_tokens: 0 } }),
    ]);
  });

  it('multi-turn usage counts cached input', async () => {
    const chunks = await collect(stream('multi-turn', { includeUsage: true }));
    assert.deepEqual(chunks[chunks.length - 1]?.usage, { prompt_tokens: 1045, completion_tokens: 5, total_tokens: 1050, prompt_tokens_details: { cached_tokens: 1024 } });
  });

  it('tools: text, then a call with id and name first and argument fragments after', async () => {
    const c = chunkMaker('msg_01Aq9w938a90dw8q');
    const args = (index: number, fragment: string): ChunkDelta => ({ tool_calls: [{ index, function: { arguments: fragment } }] });
    assert.deepEqual(await collect(stream('tools')), [
      c({ role: 'assistant', content: '' }),
      c({ content: "I'll check t" }),
      c({ content: 'he current w' }),
      c({ content: 'eather in Pa' }),
      c({ content: 'ris for you.' }),
      c({ tool_calls: [{ index: 0, id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      c(args(0, '{"location":"Pa')),
      c(args(0, 'ris","unit":"ce')),
      c(args(0, 'lsius","days":n')),
      c(args(0, 'ull}')),
      c({}, 'tool_calls'),
    ]);
  });

  it('parallel-tools: indexes 0 and 1', async () => {
    const c = chunkMaker('msg_01Q8Faay6S7QPTvEUUQARt7h');
    const args = (index: number, fragment: string): ChunkDelta => ({ tool_calls: [{ index, function: { arguments: fragment } }] });
    assert.deepEqual(await collect(stream('parallel-tools')), [
      c({ role: 'assistant', content: '' }),
      c({ tool_calls: [{ index: 0, id: 'toolu_01Lcq2WmSZrDuA2jrSfDAqAF', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      c(args(0, '{"location":"Pa')),
      c(args(0, 'ris","unit":"ce')),
      c(args(0, 'lsius","days":n')),
      c(args(0, 'ull}')),
      c({ tool_calls: [{ index: 1, id: 'toolu_01VNzT4mLvKXbtzqUD8zfKk4', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      c(args(1, '{"location":"To')),
      c(args(1, 'kyo","unit":"ce')),
      c(args(1, 'lsius","days":n')),
      c(args(1, 'ull}')),
      c({}, 'tool_calls'),
    ]);
  });

  it('legacy-functions: delta.function_call and finish_reason function_call', async () => {
    const c = chunkMaker('msg_01NRLTGSHwZc3ZUsnhyrDEz8');
    assert.deepEqual(await collect(stream('legacy-functions', { legacyFunctions: true })), [
      c({ role: 'assistant', content: '' }),
      c({ function_call: { name: 'get_weather', arguments: '' } }),
      c({ function_call: { arguments: '{"location":"Ro' } }),
      c({ function_call: { arguments: 'me"}' } }),
      c({}, 'function_call'),
    ]);
  });

  it('json-mode: the forced tool input streams as content and finishes with stop', async () => {
    const c = chunkMaker('msg_01PZTquvVN5TRg3BXHaHnRyB');
    assert.deepEqual(await collect(stream('json-mode')), [
      c({ role: 'assistant', content: '' }),
      c({ content: '{"name":"Tokyo"' }),
      c({ content: ',"population":1' }),
      c({ content: '3960000}' }),
      c({}, 'stop'),
    ]);
  });

  for (const name of CASES) {
    it(`${name}: the stream reassembles to the non-streamed answer`, async () => {
      const legacyFunctions = name === 'legacy-functions';
      const chunks = await collect(stream(name, { legacyFunctions }));
      const response = parseAnthropicResponse(readAnthropicJson(`anthropic-${name}.response.json`), makeTarget('anthropic', { legacyFunctions }));
      assert.deepEqual(reassemble(chunks), choicesOf(response));
      assert.ok(chunks.every((chunk) => chunk.id === response.id && chunk.created === CREATED && !('usage' in chunk)));
    });
  }
});

describe('a web search stream', () => {
  it('streams the cited text, then its url_citation annotations, as the answer has them; usage keeps the searches', async () => {
    const chunks = await collect(stream('web-search', { includeUsage: true }));
    const response = parseAnthropicResponse(readAnthropicJson('anthropic-web-search.response.json'), makeTarget('anthropic'));
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta ?? {});
    assert.equal(deltas.map((delta) => delta.content ?? '').join(''), response.choices[0]?.message.content);
    assert.deepEqual(deltas.flatMap((delta) => delta.annotations ?? []), response.choices[0]?.message.annotations);
    assert.ok(deltas.every((delta) => delta.tool_calls === undefined), 'the search is not a client tool call');
    assert.deepEqual(chunks.at(-1)?.usage?.server_tool_use, { web_search_requests: 2 });
  });
});

describe('convertAnthropicStream failures', () => {
  it('turns an overloaded error event into a retryable 502 after the chunks sent so far', async () => {
    const { items, error } = await collectUntilError(stream('stream-overloaded'));
    assert.deepEqual(
      items.map((chunk) => chunk.choices[0]?.delta),
      [{ role: 'assistant', content: '' }, { content: 'Hello! How c' }, { content: 'an I help yo' }],
    );
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 502);
    assert.equal(error.code, 'upstream_error');
    assert.equal(error.retryable, true);
    assert.match(error.message, /overloaded_error: Overloaded/);
  });

  it('turns a rate_limit_error event into a 429, a billing_error into a 502 for the operator and an unknown one into a stream error', async () => {
    const events = (type: string) =>
      `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: readAnthropicJson('anthropic-text.response.json') })}\n\nevent: error\ndata: {"type":"error","error":{"type":"${type}","message":"slow down"}}\n\n`;
    const rate = await collectUntilError(convertAnthropicStream(sseEvents(events('rate_limit_error')), makeTarget('anthropic')));
    assert.ok(rate.error instanceof GatewayError);
    assert.equal(rate.error.status, 429);
    assert.equal(rate.error.type, 'rate_limit_error');
    const billing = await collectUntilError(convertAnthropicStream(sseEvents(events('billing_error')), makeTarget('anthropic')));
    assert.ok(billing.error instanceof GatewayError);
    assert.equal(billing.error.code, 'upstream_billing_error');
    assert.equal(billing.error.status, 502);
    const other = await collectUntilError(convertAnthropicStream(sseEvents(events('brand_new_error')), makeTarget('anthropic')));
    assert.ok(other.error instanceof GatewayError);
    assert.equal(other.error.code, 'upstream_stream_error');
  });

  it('refuses a stream that ends without message_stop', async () => {
    const { items, error } = await collectUntilError(stream('stream-truncated'));
    assert.equal(items.length, 4);
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'upstream_stream_error');
    assert.match(error.message, /before message_stop/);
  });

  it('refuses an empty stream, content before message_start and events that are not JSON', async () => {
    for (const text of ['', 'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n', 'event: ping\ndata: {not json\n\n']) {
      const { error } = await collectUntilError(convertAnthropicStream(sseEvents(text), makeTarget('anthropic')));
      assert.ok(error instanceof GatewayError, text);
      assert.equal(error.code, 'upstream_stream_error');
    }
  });

  it('skips event types it does not know', async () => {
    const text = readAnthropicFixture('anthropic-text.chunks.txt').replace('event: ping', 'event: something_new\ndata: {"type":"something_new"}\n\nevent: ping');
    const chunks = await collect(convertAnthropicStream(sseEvents(text), makeTarget('anthropic')));
    assert.equal(reassemble(chunks)[0]?.content, 'Hello! How can I help you today?');
  });
});

describe('extended thinking in answers', () => {
  const message = (content: unknown[]) => ({
    id: 'msg_think',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5',
    content,
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 40 },
  });

  it('a whole answer carries the thinking as reasoning_content and the signed blocks as thinking_blocks', () => {
    const answer = parseAnthropicResponse(
      message([
        { type: 'thinking', thinking: 'Two plus two ', signature: 'sig-1' },
        { type: 'redacted_thinking', data: 'EmwKAhgB' },
        { type: 'text', text: 'It is 4.' },
      ]),
      makeTarget('anthropic'),
    );
    const reply = answer.choices[0]?.message;
    assert.equal(reply?.content, 'It is 4.');
    assert.equal(reply?.reasoning_content, 'Two plus two ');
    assert.deepEqual(reply?.thinking_blocks, [
      { type: 'thinking', thinking: 'Two plus two ', signature: 'sig-1' },
      { type: 'redacted_thinking', data: 'EmwKAhgB' },
    ]);
    assert.equal(parseAnthropicResponse(message([{ type: 'text', text: 'No thinking.' }]), makeTarget('anthropic')).choices[0]?.message.thinking_blocks, undefined);
  });

  it('a stream sends thinking as reasoning_content deltas, then the signed block when it stops', async () => {
    const events = [
      ['message_start', { type: 'message_start', message: { ...message([]), stop_reason: null } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Two plus ' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'two.' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'It is 4.' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 40, output_tokens_details: { thinking_tokens: 31 } } }],
      ['message_stop', { type: 'message_stop' }],
    ]
      .map(([name, data]) => `event: ${String(name)}\ndata: ${JSON.stringify(data)}\n\n`)
      .join('');
    const chunks = await collect(convertAnthropicStream(sseEvents(events), makeTarget('anthropic', { stream: true, includeUsage: true })));
    // The thinking count of the closing message_delta is the usage chunk's reasoning_tokens.
    assert.deepEqual(chunks[chunks.length - 1]?.usage?.completion_tokens_details, { reasoning_tokens: 31 });
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta ?? {});
    assert.deepEqual(
      deltas.filter((delta) => delta.reasoning_content !== undefined).map((delta) => delta.reasoning_content),
      ['Two plus ', 'two.'],
    );
    assert.deepEqual(deltas.find((delta) => delta.thinking_blocks !== undefined)?.thinking_blocks, [{ type: 'thinking', thinking: 'Two plus two.', signature: 'EqQBCgIYAhIM' }]);
    assert.equal(deltas.map((delta) => delta.content ?? '').join(''), 'It is 4.');
  });
});

describe('a tool call without arguments', () => {
  it("Claude streams an empty input as one empty input_json_delta: the call's arguments are {} as in the whole answer, not ''", async () => {
    const content = [{ type: 'tool_use', id: 'toolu_01', name: 'get_time', input: {} }];
    const whole = { id: 'msg_notool', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content, stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 20, output_tokens: 5 } };
    const events = [
      ['message_start', { type: 'message_start', message: { ...whole, content: [], stop_reason: null } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_01', name: 'get_time', input: {} } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 5 } }],
      ['message_stop', { type: 'message_stop' }],
    ]
      .map(([name, data]) => `event: ${String(name)}\ndata: ${JSON.stringify(data)}\n\n`)
      .join('');
    for (const legacyFunctions of [false, true]) {
      const chunks = await collect(convertAnthropicStream(sseEvents(events), makeTarget('anthropic', { stream: true, legacyFunctions })));
      const response = parseAnthropicResponse(whole, makeTarget('anthropic', { legacyFunctions }));
      assert.deepEqual(reassemble(chunks), choicesOf(response), `legacy ${legacyFunctions}`);
    }
  });
});

describe('interleaved thinking (Claude 4 and later think between the tool calls of one answer)', () => {
  const fixture = readAnthropicJson('anthropic-interleaved-thinking.response.json') as { content: Array<Record<string, unknown>> };
  const [first, , calc, second] = fixture.content as [Record<string, unknown>, unknown, { id: string }, Record<string, unknown>];
  /** Each block as Claude wrote it, the second with the call it came after, so that a replay can put it back there. */
  const expectedBlocks = [first, { ...second, after_tool_call_id: calc.id }];

  it('a whole answer: each thinking block after a tool call names that call (after_tool_call_id); the first, before any call, names none', () => {
    const reply = parseAnthropicResponse(fixture, makeTarget('anthropic')).choices[0]?.message;
    assert.deepEqual(reply?.thinking_blocks, expectedBlocks);
    assert.deepEqual(reply?.tool_calls?.map((call) => call.id), ['toolu_01InterleavedCalc', 'toolu_01InterleavedQuery']);
  });

  it('a stream gives the same blocks, named the same way, as the whole answer', async () => {
    const chunks = await collect(stream('interleaved-thinking'));
    const blocks = chunks.flatMap((chunk) => chunk.choices[0]?.delta.thinking_blocks ?? []);
    assert.deepEqual(blocks, expectedBlocks);
    assert.deepEqual(reassemble(chunks), choicesOf(parseAnthropicResponse(fixture, makeTarget('anthropic'))));
  });

  it('a redacted block after a call names it too; the legacy function_call format (no call ids) names none', async () => {
    const content = [
      { type: 'tool_use', id: 'toolu_A', name: 'a', input: {} },
      { type: 'redacted_thinking', data: 'EmwKAhgB' },
      { type: 'tool_use', id: 'toolu_B', name: 'b', input: {} },
    ];
    const whole = { ...fixture, content };
    assert.deepEqual(parseAnthropicResponse(whole, makeTarget('anthropic')).choices[0]?.message.thinking_blocks, [{ type: 'redacted_thinking', data: 'EmwKAhgB', after_tool_call_id: 'toolu_A' }]);
    assert.deepEqual(parseAnthropicResponse(whole, makeTarget('anthropic', { legacyFunctions: true })).choices[0]?.message.thinking_blocks, [{ type: 'redacted_thinking', data: 'EmwKAhgB' }]);
    const events = [
      ['message_start', { type: 'message_start', message: { ...whole, content: [], stop_reason: null } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: content[0] }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: content[1] }],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 5 } }],
      ['message_stop', { type: 'message_stop' }],
    ]
      .map(([name, data]) => `event: ${String(name)}\ndata: ${JSON.stringify(data)}\n\n`)
      .join('');
    for (const [legacyFunctions, block] of [[false, { type: 'redacted_thinking', data: 'EmwKAhgB', after_tool_call_id: 'toolu_A' }], [true, { type: 'redacted_thinking', data: 'EmwKAhgB' }]] as const) {
      const chunks = await collect(convertAnthropicStream(sseEvents(events), makeTarget('anthropic', { stream: true, legacyFunctions })));
      assert.deepEqual(chunks.flatMap((chunk) => chunk.choices[0]?.delta.thinking_blocks ?? []), [block], `legacy ${legacyFunctions}`);
    }
  });
});
