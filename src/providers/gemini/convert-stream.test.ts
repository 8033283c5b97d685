import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChunkDelta, CompletionUsage, FinishReason } from '../../openai/types.js';
import { CREATED, choicesOf, collect, collectUntilError, makeTarget, reassemble, sseEvents } from '../../../test/providers/codec-harness.js';
import { readGeminiFixture, readGeminiJson } from '../../../test/support/fake-gemini.js';
import type { ChatTarget } from '../provider.js';
import { parseGeminiResponse } from './convert-response.js';
import { convertGeminiStream } from './convert-stream.js';

function stream(name: string, overrides: Partial<ChatTarget> = {}): AsyncIterable<ChatCompletionChunk> {
  return convertGeminiStream(sseEvents(readGeminiFixture(`gemini-${name}.chunks.txt`)), makeTarget('gemini', { stream: true, ...overrides }));
}

function chunkMaker(id: string, includeUsage = false) {
  return (delta: ChunkDelta, finish: FinishReason | null = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created: CREATED,
    model: 'gemini-2.5-flash',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    ...(includeUsage ? { usage: null } : {}),
  });
}

function usageChunk(id: string, usage: CompletionUsage): ChatCompletionChunk {
  return { id, object: 'chat.completion.chunk', created: CREATED, model: 'gemini-2.5-flash', choices: [], usage };
}

const paris = '{"location":"Paris","unit":"celsius","days":null}';
/** The thought signature the recorded tool answers carry on their (first) call. */
const SIGNATURE = 'CikB0e2Kb7Lb6YXh1vS0mD+9cQq1y3lNnYxk0ztYBh2wqK/2fXSDYwHGEnUKcQHR7Ypv';
const CASES = ['text', 'multi-turn', 'image', 'tools', 'parallel-tools', 'tool-result', 'legacy-functions', 'json-mode', 'stop', 'max-tokens', 'prompt-blocked'];

describe('convertGeminiStream on the fixtures', () => {
  it('text: role first, content deltas, finish', async () => {
    const c = chunkMaker('mPD2aIXJE9ic1dkPxraqqQs');
    assert.deepEqual(await collect(stream('text')), [
      c({ role: 'assistant', content: '' }),
      c({ content: 'Hello there! How' }),
      c({ content: ' can I help you ' }),
      c({ content: 'today?' }),
      c({}, 'stop'),
    ]);
  });

  it('text with include_usage: usage null on every chunk, then the last usage with reasoning', async () => {
    const id = 'mPD2aIXJE9ic1dkPxraqqQs';
    const c = chunkMaker(id, true);
    assert.deepEqual(await collect(stream('text', { includeUsage: true })), [
      c({ role: 'assistant', content: '' }),
      c({ content: 'Hello there! How' }),
      c({ content: ' can I help you ' }),
      c({ content: 'today?' }),
      c({}, 'stop'),
      usageChunk(id, { prompt_tokens: 2, completion_tokens: 35, total_tokens: 37, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 25 } }),
    ]);
  });

  it('tools: text, then the whole call as a name delta and one arguments fragment', async () => {
    const c = chunkMaker('p_D2aJ6mLIyL1dkPt4rZ8QI');
    assert.deepEqual(await collect(stream('tools')), [
      c({ role: 'assistant', content: '' }),
      c({ content: "I'll look up the" }),
      c({ content: ' weather in Pari' }),
      c({ content: 's.' }),
      c({ tool_calls: [{ index: 0, id: 'call_req123_0', type: 'function', function: { name: 'get_weather', arguments: '' }, extra_content: { google: { thought_signature: SIGNATURE } } }] }),
      c({ tool_calls: [{ index: 0, function: { arguments: paris } }] }),
      c({}, 'tool_calls'),
    ]);
  });

  it('parallel-tools: indexes 0 and 1 from one event', async () => {
    const c = chunkMaker('q_D2aNqYCY6m1dkPwpLs2Q8');
    assert.deepEqual(await collect(stream('parallel-tools')), [
      c({ role: 'assistant', content: '' }),
      c({ tool_calls: [{ index: 0, id: 'call_req123_0', type: 'function', function: { name: 'get_weather', arguments: '' }, extra_content: { google: { thought_signature: SIGNATURE } } }] }),
      c({ tool_calls: [{ index: 0, function: { arguments: paris } }] }),
      c({ tool_calls: [{ index: 1, id: 'call_req123_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      c({ tool_calls: [{ index: 1, function: { arguments: '{"location":"Tokyo","unit":"celsius","days":null}' } }] }),
      c({}, 'tool_calls'),
    ]);
  });

  it('legacy-functions: delta.function_call', async () => {
    const c = chunkMaker('s_D2aKqPEJGY1dkPn_3V6Ag');
    assert.deepEqual(await collect(stream('legacy-functions', { legacyFunctions: true })), [
      c({ role: 'assistant', content: '' }),
      c({ function_call: { name: 'get_weather', arguments: '' } }),
      c({ function_call: { arguments: '{"location":"Rome"}' } }),
      c({}, 'function_call'),
    ]);
  });

  it('safety stop mid-stream: content_filter after the text sent so far', async () => {
    const c = chunkMaker('w_D2aL2xBKC01dkPp5bJ0Ak');
    assert.deepEqual(await collect(stream('safety')), [c({ role: 'assistant', content: '' }), c({ content: 'Here is how you' }), c({}, 'content_filter')]);
  });

  it('image-output: the text, then the generated image whole in an `images` delta, then the finish', async () => {
    const c = chunkMaker('Zk1naPqXB7Sm1dkP8vLJyQ4');
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    assert.deepEqual(await collect(stream('image-output')), [
      c({ role: 'assistant', content: '' }),
      c({ content: 'Here is a tiny red square.' }),
      c({ images: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] }),
      c({}, 'stop'),
    ]);
  });

  it('prompt-blocked: a role chunk, content_filter, then usage', async () => {
    const id = 'x_D2aMHsLYqG1dkP4-6Z0Aw';
    const c = chunkMaker(id, true);
    assert.deepEqual(await collect(stream('prompt-blocked', { includeUsage: true })), [
      c({ role: 'assistant', content: '' }),
      c({}, 'content_filter'),
      usageChunk(id, { prompt_tokens: 9, completion_tokens: 0, total_tokens: 9, prompt_tokens_details: { cached_tokens: 0 } }),
    ]);
  });

  it('a stream without usageMetadata has no usage chunk (billed from the estimate, not as zero tokens)', async () => {
    const text = `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, finishReason: 'STOP', index: 0 }] })}\r\n\r\n`;
    const chunks = await collect(convertGeminiStream(sseEvents(text), makeTarget('gemini', { stream: true, includeUsage: true })));
    assert.deepEqual(reassemble(chunks), [{ index: 0, content: 'Hi', finish_reason: 'stop' }]);
    assert.ok(chunks.every((chunk) => chunk.usage === null));
  });

  for (const name of CASES) {
    it(`${name}: the stream reassembles to the non-streamed answer`, async () => {
      const legacyFunctions = name === 'legacy-functions';
      const chunks = await collect(stream(name, { legacyFunctions }));
      const response = parseGeminiResponse(readGeminiJson(`gemini-${name}.response.json`), makeTarget('gemini', { legacyFunctions }));
      assert.deepEqual(reassemble(chunks), choicesOf(response));
      assert.ok(chunks.every((chunk) => chunk.id === response.id && chunk.created === CREATED && !('usage' in chunk)));
    });
  }

  it('streams thought summaries as reasoning_content deltas before the answer', async () => {
    const event = (body: unknown) => `data: ${JSON.stringify(body)}\r\n\r\n`;
    const text =
      event({ candidates: [{ content: { parts: [{ text: 'Weighing it', thought: true }], role: 'model' }, index: 0 }] }) +
      event({ candidates: [{ content: { parts: [{ text: 'Yes.' }], role: 'model' }, finishReason: 'STOP', index: 0 }] });
    const chunks = await collect(convertGeminiStream(sseEvents(text), makeTarget('gemini', { stream: true })));
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta ?? {});
    assert.deepEqual(deltas.filter((delta) => delta.reasoning_content !== undefined).map((delta) => delta.reasoning_content), ['Weighing it']);
    assert.equal(deltas.map((delta) => delta.content ?? '').join(''), 'Yes.');
  });

  it('grounding: the citations stream as an annotations delta before the finish, as in the answer; the usage counts the searches', async () => {
    const chunks = await collect(stream('grounding', { webSearch: true, includeUsage: true }));
    const response = parseGeminiResponse(readGeminiJson('gemini-grounding.response.json'), makeTarget('gemini'));
    const at = chunks.findIndex((chunk) => chunk.choices[0]?.delta.annotations !== undefined);
    assert.deepEqual(chunks[at]?.choices[0]?.delta, { annotations: response.choices[0]?.message.annotations, web_search_queries: ['UEFA Euro 2024 winner', 'who won euro 2024'] });
    assert.equal(chunks[at + 1]?.choices[0]?.finish_reason, 'stop');
    assert.equal(chunks.filter((chunk) => chunk.choices[0]?.delta.annotations !== undefined).length, 1);
    assert.deepEqual(chunks[chunks.length - 1]?.usage, response.usage);
    // A request that did not turn search on keeps no text for citations: none are made.
    assert.ok((await collect(stream('grounding'))).every((chunk) => chunk.choices[0]?.delta.annotations === undefined));
  });

  it('grounding metadata repeated by a later event streams only the citations and queries not sent yet', async () => {
    const lines = readGeminiFixture('gemini-grounding.chunks.txt').split('\n').filter((line) => line.startsWith('data: '));
    const last = JSON.parse(lines[lines.length - 1]!.slice(6)) as { candidates: { groundingMetadata: unknown; content: unknown }[] };
    const metadata = last.candidates[0]!.groundingMetadata;
    // The same metadata again on an event of its own after the text, before the finish: no new citation, no new query.
    const repeat = { candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, index: 0, groundingMetadata: metadata }] };
    const finished = lines[lines.length - 1]!;
    const text = [...lines.slice(0, -1), finished.replace('"finishReason": "STOP", ', ''), `data: ${JSON.stringify(repeat)}`, `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, finishReason: 'STOP', index: 0 }] })}`]
      .map((line) => `${line}\n\n`)
      .join('');
    const chunks = await collect(convertGeminiStream(sseEvents(text), makeTarget('gemini', { stream: true, webSearch: true })));
    const whole = parseGeminiResponse(readGeminiJson('gemini-grounding.response.json'), makeTarget('gemini'));
    const cited = chunks.flatMap((chunk) => chunk.choices[0]?.delta.annotations ?? []);
    assert.deepEqual(cited, whole.choices[0]?.message.annotations);
    assert.deepEqual(chunks.flatMap((chunk) => chunk.choices[0]?.delta.web_search_queries ?? []), ['UEFA Euro 2024 winner', 'who won euro 2024']);
  });

  it('streams several candidates as separate choices', async () => {
    const event = (body: unknown) => `data: ${JSON.stringify(body)}\r\n\r\n`;
    const text =
      event({ candidates: [{ content: { parts: [{ text: 'A' }], role: 'model' }, index: 0 }, { content: { parts: [{ text: 'B' }], role: 'model' }, index: 1 }] }) +
      event({ candidates: [{ content: { parts: [{ text: '!' }], role: 'model' }, finishReason: 'STOP', index: 0 }, { content: { parts: [{ functionCall: { name: 'f' } }], role: 'model' }, finishReason: 'STOP', index: 1 }] });
    const chunks = await collect(convertGeminiStream(sseEvents(text), makeTarget('gemini')));
    assert.deepEqual(reassemble(chunks), [
      { index: 0, content: 'A!', finish_reason: 'stop' },
      { index: 1, content: 'B', tool_calls: [{ id: 'call_req123_1_0', type: 'function', function: { name: 'f', arguments: '{}' } }], finish_reason: 'tool_calls' },
    ]);
  });
});

describe('convertGeminiStream failures', () => {
  it('turns an error payload mid-stream into the status table error (503 → retryable 502)', async () => {
    const { items, error } = await collectUntilError(stream('stream-error'));
    assert.deepEqual(
      items.map((chunk) => chunk.choices[0]?.delta),
      [{ role: 'assistant', content: '' }, { content: 'Hello there! How' }],
    );
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 502);
    assert.equal(error.retryable, true);
    assert.match(error.message, /UNAVAILABLE: The model is overloaded/);
  });

  it('maps RESOURCE_EXHAUSTED in the stream to 429', async () => {
    const text = `data: ${JSON.stringify(readGeminiJson('gemini-error-429.json'))}\r\n\r\n`;
    const { error } = await collectUntilError(convertGeminiStream(sseEvents(text), makeTarget('gemini')));
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 429);
    assert.equal(error.type, 'rate_limit_error');
    // The event's RetryInfo (37s), as an HTTP 429's would be read; capped like a header's.
    assert.equal(error.retryAfterMs, 37_000);
    const long = `data: ${JSON.stringify({ error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '86400s' }] } })}\r\n\r\n`;
    const capped = await collectUntilError(convertGeminiStream(sseEvents(long), makeTarget('gemini')));
    assert.ok(capped.error instanceof GatewayError);
    assert.equal(capped.error.retryAfterMs, 5 * 60_000);
  });

  it('refuses a stream that ends before a finishReason', async () => {
    const { items, error } = await collectUntilError(stream('stream-truncated'));
    assert.equal(items.length, 3);
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'upstream_stream_error');
    assert.match(error.message, /before a finishReason/);
  });

  it('refuses an empty stream and events that are not responses', async () => {
    for (const text of ['', 'data: {not json\r\n\r\n', 'data: {"hello": 1}\r\n\r\n']) {
      const { error } = await collectUntilError(convertGeminiStream(sseEvents(text), makeTarget('gemini')));
      assert.ok(error instanceof GatewayError, text);
      assert.equal(error.code, 'upstream_stream_error');
    }
  });
});

describe('a function call the model failed to write', () => {
  const malformed = {
    candidates: [{ content: {}, finishReason: 'MALFORMED_FUNCTION_CALL', finishMessage: 'Malformed function call: print(default_api.get_weather(city="Paris"', index: 0 }],
    usageMetadata: { promptTokenCount: 74, totalTokenCount: 74 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'resp-malformed',
  };

  it('is a failed answer (retried, moved to another deployment, never held against its health), not an empty stop', () => {
    assert.throws(
      () => parseGeminiResponse(malformed, makeTarget('gemini')),
      (error: unknown) => error instanceof GatewayError && error.status === 502 && error.code === 'upstream_failed_tool_call' && error.retryable && /MALFORMED_FUNCTION_CALL/.test(error.message),
    );
    const unexpected = { ...malformed, candidates: [{ content: { parts: [] }, finishReason: 'UNEXPECTED_TOOL_CALL', index: 0 }] };
    assert.throws(() => parseGeminiResponse(unexpected, makeTarget('gemini')), /UNEXPECTED_TOOL_CALL/);
  });

  it('in a stream, before any content: an error the held stream moves elsewhere', async () => {
    const { items, error } = await collectUntilError(convertGeminiStream(sseEvents(`data: ${JSON.stringify(malformed)}\r\n\r\n`), makeTarget('gemini', { stream: true })));
    assert.ok(error instanceof GatewayError && error.code === 'upstream_failed_tool_call' && error.retryable && /MALFORMED_FUNCTION_CALL/.test(error.message), String(error));
    // Only the role chunk came before: nothing a client was shown.
    assert.deepEqual(items.map((chunk) => chunk.choices[0]?.delta), [{ role: 'assistant', content: '' }]);
  });

  it('an answer that has text before the failed call keeps it, finished as stop', () => {
    const withText = { ...malformed, candidates: [{ content: { role: 'model', parts: [{ text: 'Let me check.' }] }, finishReason: 'MALFORMED_FUNCTION_CALL', index: 0 }] };
    const answer = parseGeminiResponse(withText, makeTarget('gemini'));
    assert.deepEqual([answer.choices[0]?.message.content, answer.choices[0]?.finish_reason], ['Let me check.', 'stop']);
  });
});
