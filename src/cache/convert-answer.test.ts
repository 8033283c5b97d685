import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionChunk, ChatCompletionResponse, ChunkDelta, FinishReason } from '../openai/types.js';
import { encodeSseData, encodeSseJson, SSE_DONE } from '../streaming/sse-encoder.js';
import { answerFromFrames, finishedCompletion, parseAnswer, renderCompletion, renderStream, stripUsageFromFrame } from './cached-answer.js';
import { convertChunksToCompletion, convertCompletionToChunks, parseChunkFrame, parseFrameData } from './convert-answer.js';

const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 1_700_000_000, model: 'gpt-4o', system_fingerprint: 'fp_1' };
const usage = { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 };

function chunk(choices: ChatCompletionChunk['choices'], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk {
  return { ...base, choices, ...extra };
}

const textChunks: ChatCompletionChunk[] = [
  chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
  chunk([{ index: 0, delta: { content: 'Hello' }, logprobs: null, finish_reason: null }]),
  chunk([{ index: 0, delta: { content: ' world' }, logprobs: null, finish_reason: null }]),
  chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]),
  chunk([], { usage }),
];

const toolChunks: ChatCompletionChunk[] = [
  chunk([{ index: 0, delta: { role: 'assistant', content: null }, finish_reason: null }]),
  chunk([{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }]),
  chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"loc' } }] }, finish_reason: null }]),
  chunk([{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }] }, finish_reason: null }]),
  chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: 'ation":"Tokyo"}' } }] }, finish_reason: null }]),
  chunk([{ index: 0, delta: {}, finish_reason: 'tool_calls' }], { usage }),
];

describe('convertChunksToCompletion', () => {
  test('joins content, keeps ids, finish and usage', () => {
    const completion = convertChunksToCompletion(textChunks);
    assert.deepEqual(completion, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage,
      system_fingerprint: 'fp_1',
    });
  });

  test('merges tool calls by index with their arguments concatenated', () => {
    const message = convertChunksToCompletion(toolChunks).choices[0]?.message;
    assert.equal(message?.content, null);
    assert.deepEqual(message?.tool_calls, [
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
    assert.equal(convertChunksToCompletion(toolChunks).choices[0]?.finish_reason, 'tool_calls');
  });

  test('a role chunk\'s content "" before a call or a refusal is content null, as in a whole answer', () => {
    const calls = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]), ...toolChunks.slice(1)];
    assert.equal(convertChunksToCompletion(calls).choices[0]?.message.content, null);
    const legacy = [
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { function_call: { name: 'f', arguments: '{}' } }, finish_reason: 'function_call' }]),
    ];
    assert.equal(convertChunksToCompletion(legacy).choices[0]?.message.content, null);
    const refused = [
      chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, finish_reason: null }]),
      chunk([{ index: 0, delta: { refusal: 'No.' }, finish_reason: 'stop' }]),
    ];
    assert.deepEqual(convertChunksToCompletion(refused).choices[0]?.message, { role: 'assistant', content: null, refusal: 'No.' });
    // An empty text answer stays "".
    const empty = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: 'stop' }])];
    assert.equal(convertChunksToCompletion(empty).choices[0]?.message.content, '');
  });

  test('joins the legacy function_call and keeps several choices apart', () => {
    const chunks = [
      chunk([{ index: 1, delta: { role: 'assistant', content: 'B' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { role: 'assistant', function_call: { name: 'f', arguments: '{"a"' } }, finish_reason: null }]),
      chunk([{ index: 0, delta: { function_call: { arguments: ':1}' } }, finish_reason: 'function_call' }]),
      chunk([{ index: 1, delta: {}, finish_reason: 'length' }]),
    ];
    const completion = convertChunksToCompletion(chunks);
    assert.deepEqual(completion.choices.map((choice) => choice.index), [0, 1]);
    assert.deepEqual(completion.choices[0]?.message.function_call, { name: 'f', arguments: '{"a":1}' });
    assert.equal(completion.choices[0]?.finish_reason, 'function_call');
    assert.equal(completion.choices[1]?.message.content, 'B');
    assert.equal(completion.choices[1]?.finish_reason, 'length');
    assert.equal(completion.usage, undefined);
  });

  test('appends logprobs and refusals', () => {
    const chunks = [
      chunk([{ index: 0, delta: { content: 'a' }, logprobs: { content: [{ token: 'a', logprob: -0.1 }] }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'b', refusal: 'no' }, logprobs: { content: [{ token: 'b', logprob: -0.2 }] }, finish_reason: 'stop' }]),
    ];
    const choice = convertChunksToCompletion(chunks).choices[0];
    assert.deepEqual(choice?.logprobs, { content: [{ token: 'a', logprob: -0.1 }, { token: 'b', logprob: -0.2 }], refusal: null });
    assert.equal(choice?.message.refusal, 'no');
  });

  test("Azure's first chunk (its prompt filter's verdict: no choices, empty id and model, created 0) does not name the answer", () => {
    // Azure OpenAI streams this before the answer's own chunks; the openai SDK skips a chunk with an empty id when it assembles.
    // @see https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter
    const promptFilter = {
      choices: [],
      created: 0,
      id: '',
      model: '',
      object: '',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: { hate: { filtered: false, severity: 'safe' }, violence: { filtered: false, severity: 'safe' } } }],
    } as unknown as ChatCompletionChunk;
    const completion = convertChunksToCompletion([promptFilter, ...textChunks]);
    assert.deepEqual([completion.id, completion.created, completion.model], ['chatcmpl-1', 1_700_000_000, 'gpt-4o']);
    assert.equal(completion.choices[0]?.message.content, 'Hello world');
  });
});

describe('convertCompletionToChunks', () => {
  const completion: ChatCompletionResponse = {
    id: 'chatcmpl-2',
    object: 'chat.completion',
    created: 1_700_000_001,
    model: 'gpt-4o',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    usage,
    system_fingerprint: 'fp_2',
  };

  test('role, tool calls, finish, then usage only when asked', () => {
    const chunks = convertCompletionToChunks(completion, true);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: null });
    assert.deepEqual(chunks[1]?.choices[0]?.delta.tool_calls, [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo"}' } }]);
    assert.equal(chunks[2]?.choices[0]?.delta.tool_calls?.[0]?.index, 1);
    assert.equal(chunks[3]?.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(chunks[4], { id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1_700_000_001, model: 'gpt-4o', system_fingerprint: 'fp_2', choices: [], usage });
    assert.equal(convertCompletionToChunks(completion, false).length, 4);
    for (const item of chunks) assert.equal(item.object, 'chat.completion.chunk');
  });

  test('with usage asked, every chunk before the usage chunk has "usage": null, as OpenAI streams it; without, none has the field', () => {
    const asked = convertCompletionToChunks(completion, true);
    for (const item of asked.slice(0, -1)) assert.ok(Object.hasOwn(item, 'usage') && item.usage === null, JSON.stringify(item));
    for (const item of convertCompletionToChunks(completion, false)) assert.ok(!Object.hasOwn(item, 'usage'), JSON.stringify(item));
  });

  test('round trip: completion → chunks → completion is the same answer', () => {
    assert.deepEqual(convertChunksToCompletion(convertCompletionToChunks(completion, true)), {
      ...completion,
      choices: [{ ...completion.choices[0], message: { ...completion.choices[0]?.message, refusal: null } }],
    });
    const text = convertChunksToCompletion(textChunks);
    assert.deepEqual(convertChunksToCompletion(convertCompletionToChunks(text, true)), text);
  });
});

describe('what providers add to the OpenAI answer', () => {
  // DeepSeek and vLLM think aloud in `reasoning_content`, OpenRouter in `reasoning` (the /v1/messages
  // thinking block reads either); OpenAI's search models cite in `annotations`, its audio models answer in `audio`.
  const annotation = { type: 'url_citation', url_citation: { url: 'https://example.com', title: 'Example', start_index: 0, end_index: 5 } };

  test('a stream assembled into a completion keeps the reasoning, annotations and audio', () => {
    const reasoned = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', content: '', reasoning_content: 'Let me ' } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { reasoning_content: 'think.' } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'Hello' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { annotations: [annotation] } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ]);
    assert.deepEqual(reasoned.choices[0]?.message, { role: 'assistant', content: 'Hello', refusal: null, reasoning_content: 'Let me think.', annotations: [annotation] });
    const routed = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', reasoning: 'Hm' } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { reasoning: 'm.', content: 'Hi' } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ]);
    assert.equal((routed.choices[0]?.message as unknown as Record<string, unknown>).reasoning, 'Hmm.');
    const spoken = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', audio: { id: 'audio_1', transcript: 'Hel' } } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { audio: { data: 'AAA', transcript: 'lo' } } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { audio: { data: 'BBB', expires_at: 1_700_003_600 } } as ChunkDelta, finish_reason: 'stop' }]),
    ]);
    assert.deepEqual((spoken.choices[0]?.message as unknown as Record<string, unknown>).audio, { id: 'audio_1', data: 'AAABBB', transcript: 'Hello', expires_at: 1_700_003_600 });
  });

  test('a completion replayed as a stream keeps them, in chunks the openai SDK assembles the same way', () => {
    const completion = {
      id: 'chatcmpl-3',
      object: 'chat.completion',
      created: 1_700_000_002,
      model: 'deepseek-reasoner',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello', refusal: null, reasoning_content: 'Let me think.', annotations: [annotation], audio: { id: 'audio_1', data: 'AAA', transcript: 'Hello', expires_at: 1_700_003_600 } },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
    } as unknown as ChatCompletionResponse;
    const chunks = convertCompletionToChunks(completion, false);
    const reasoningAt = chunks.findIndex((item) => 'reasoning_content' in (item.choices[0]?.delta ?? {}));
    const contentAt = chunks.findIndex((item) => item.choices[0]?.delta.content === 'Hello');
    assert.ok(reasoningAt > 0 && reasoningAt < contentAt, 'the reasoning comes before the answer, as it streams');
    assert.deepEqual(convertChunksToCompletion(chunks), completion);
  });

  test("a Gemini answer grounded with Google Search keeps the queries it ran (`web_search_queries`) both ways, as /v1/messages' server_tool_use block reads them", () => {
    // As convert-stream sends them: with the annotations, each query once over the stream.
    const grounded = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'Hello' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { annotations: [annotation], web_search_queries: ['euro 2024 winner'] } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { web_search_queries: ['who won euro 2024'] }, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ]);
    assert.deepEqual(grounded.choices[0]?.message.web_search_queries, ['euro 2024 winner', 'who won euro 2024']);
    const replayed = convertCompletionToChunks(grounded, false);
    assert.deepEqual(
      replayed.flatMap((item) => item.choices[0]?.delta.web_search_queries ?? []),
      ['euro 2024 winner', 'who won euro 2024'],
    );
    assert.deepEqual(convertChunksToCompletion(replayed), grounded);
  });
});

describe('generated images (Gemini image models, OpenRouter)', () => {
  test('a stream assembled into a completion keeps every image, and a completion replayed as a stream sends them', () => {
    const red = { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } } as const;
    const blue = { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,BBBB' } } as const;
    const drawn = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'Two squares.' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { images: [red] }, finish_reason: null }]),
      chunk([{ index: 0, delta: { images: [blue] }, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ]);
    assert.deepEqual(drawn.choices[0]?.message.images, [red, blue]);
    const replayed = convertCompletionToChunks(drawn, false);
    assert.deepEqual(replayed.flatMap((item) => item.choices[0]?.delta.images ?? []), [red, blue]);
    assert.deepEqual(convertChunksToCompletion(replayed), drawn);
  });
});

describe('frames', () => {
  test('parseFrameData reads single and multi-line data fields', () => {
    assert.equal(parseFrameData('data: {"a":1}\n\n'), '{"a":1}');
    assert.equal(parseFrameData(encodeSseData('{"a":\n1}')), '{"a":\n1}');
    assert.equal(parseChunkFrame('data: {"error":{"message":"x"},"choices":[]}\n\n'), undefined);
    assert.equal(parseChunkFrame('data: not json\n\n'), undefined);
    // Azure's content-filter annotation: a choice with results and offsets but no delta, read as an empty one.
    const annotation = parseChunkFrame('data: {"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":null,"content_filter_results":{},"content_filter_offsets":{"check_offset":0,"start_offset":0,"end_offset":5}}],"usage":null}\n\n');
    assert.deepEqual(annotation?.choices[0]?.delta, {});
  });

  test('stripUsageFromFrame mirrors the executor for clients that did not ask for usage', () => {
    const usageOnly = encodeSseJson(chunk([], { usage }));
    assert.equal(stripUsageFromFrame(usageOnly, true), null);
    assert.equal(stripUsageFromFrame(usageOnly, false), null);
    // Pass-through bytes with spaces, usage on a chunk with choices: usage removed, the rest re-encoded.
    const spaced = 'data: {"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}\n\n';
    assert.equal(stripUsageFromFrame(spaced, true), 'data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n');
    // "usage":null stays in pass-through bytes, and goes from translated chunks.
    const nullUsage = encodeSseJson(chunk([{ index: 0, delta: { content: 'hi' }, finish_reason: null }], { usage: null }));
    assert.equal(stripUsageFromFrame(nullUsage, true), nullUsage);
    const withoutUsage = chunk([{ index: 0, delta: { content: 'hi' }, finish_reason: null }]);
    assert.equal(stripUsageFromFrame(nullUsage, false), encodeSseJson(withoutUsage));
    // A "usage" inside content is escaped, so it is never taken for the key.
    const inContent = encodeSseJson(chunk([{ index: 0, delta: { content: '"usage": {"x":1}' }, finish_reason: null }]));
    assert.equal(stripUsageFromFrame(inContent, true), inContent);
  });
});

describe('cached answers', () => {
  const frames = [...textChunks.map((item) => encodeSseJson(item)), SSE_DONE];

  test('only a stream that finished every choice and ended with [DONE] is an answer', () => {
    assert.ok(answerFromFrames(frames, true, usage, [], 1) !== undefined);
    assert.equal(answerFromFrames(frames.slice(0, -1), true, usage, [], 1), undefined);
    assert.equal(answerFromFrames([...frames.slice(0, 3), SSE_DONE], true, usage, [], 1), undefined);
    assert.equal(answerFromFrames([frames[0] as string, 'data: {"error":{"message":"x"}}\n\n', SSE_DONE], true, usage, [], 1), undefined);
  });

  test("an answer a content filter cut (finish_reason content_filter) is not kept, streamed or whole, so a retry reaches the provider", () => {
    const filtered = [
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'Here is how' }, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'content_filter' }]),
    ];
    assert.equal(answerFromFrames([...filtered.map((item) => encodeSseJson(item)), SSE_DONE], true, usage, [], 1), undefined);
    assert.equal(finishedCompletion(JSON.stringify(convertChunksToCompletion(filtered))), false);
    // One filtered choice of several spoils the whole answer.
    const two = { ...convertChunksToCompletion(textChunks) };
    two.choices = [...two.choices, { index: 1, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: 'content_filter' }];
    assert.equal(finishedCompletion(JSON.stringify(two)), false);
    assert.equal(finishedCompletion(JSON.stringify(convertChunksToCompletion(textChunks))), true);
  });

  test("an answer the host says it cut short on its side (DeepSeek's insufficient_system_resource, Mistral's error, vLLM's abort) is not kept", () => {
    for (const reason of ['insufficient_system_resource', 'error', 'abort']) {
      const cut = [
        chunk([{ index: 0, delta: { role: 'assistant', content: 'Half an ans' }, finish_reason: null }]),
        chunk([{ index: 0, delta: {}, finish_reason: reason as FinishReason }]),
      ];
      assert.equal(answerFromFrames([...cut.map((item) => encodeSseJson(item)), SSE_DONE], true, usage, [], 1), undefined, reason);
      assert.equal(finishedCompletion(JSON.stringify(convertChunksToCompletion(cut))), false, reason);
    }
  });

  test('a stream entry replays its frames byte for byte, and serves a non-stream request', () => {
    const answer = answerFromFrames(frames, true, usage, [], 1);
    assert.ok(answer !== undefined);
    assert.equal(renderStream(answer, true), frames.join(''));
    assert.equal(renderStream(answer, false), [...frames.slice(0, 4), SSE_DONE].join(''));
    assert.deepEqual(JSON.parse(renderCompletion(answer)), convertChunksToCompletion(textChunks));
  });

  test('a JSON entry serves its own bytes, and a stream synthesised from them', () => {
    const body = JSON.stringify(convertChunksToCompletion(textChunks));
    const answer = parseAnswer(JSON.stringify({ kind: 'json', storedAt: 5, body, usage }));
    assert.ok(answer !== undefined);
    assert.equal(renderCompletion(answer), body);
    const replay = renderStream(answer, true);
    assert.ok(replay.endsWith(SSE_DONE));
    const chunks = replay.split('\n\n').filter((frame) => frame.length > 0 && frame !== 'data: [DONE]').map((frame) => parseChunkFrame(`${frame}\n\n`));
    assert.deepEqual(convertChunksToCompletion(chunks as ChatCompletionChunk[]), JSON.parse(body));
  });

  test('parseAnswer refuses anything that is not an entry', () => {
    assert.equal(parseAnswer('nope'), undefined);
    assert.equal(parseAnswer('{"kind":"stream","storedAt":1,"frames":[1]}'), undefined);
    assert.equal(parseAnswer('{"kind":"json","body":"{}"}'), undefined);
  });
});

describe("Claude's signed thinking blocks", () => {
  const blocks = [
    { type: 'thinking', thinking: 'Two plus two.', signature: 'EqQBCgIYAhIM' },
    { type: 'redacted_thinking', data: 'EmwKAhgB' },
  ];

  test('a cached stream assembled into a completion keeps them, and a completion replayed as a stream sends them, so a hit can be replayed to Claude', () => {
    const assembled = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { reasoning_content: 'Two plus two.' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { thinking_blocks: [blocks[0]] } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { thinking_blocks: [blocks[1]] } as ChunkDelta, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'It is 4.' }, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ]);
    assert.deepEqual(assembled.choices[0]?.message, { role: 'assistant', content: 'It is 4.', refusal: null, reasoning_content: 'Two plus two.', thinking_blocks: blocks });
    assert.deepEqual(convertChunksToCompletion(convertCompletionToChunks(assembled, false)), assembled);
  });
});

describe("OpenRouter's reasoning_details", () => {
  test('a cached stream assembled into a completion joins each entry from its fragments (same type and index), keeping its signature, and a completion replayed as a stream sends them', () => {
    const delta = (details: unknown[]) => chunk([{ index: 0, delta: { reasoning_details: details } as ChunkDelta, finish_reason: null }]);
    const assembled = convertChunksToCompletion([
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      delta([{ type: 'reasoning.text', text: 'Two plus', format: 'anthropic-claude-v1', index: 0 }]),
      delta([{ type: 'reasoning.text', text: ' two.', format: 'anthropic-claude-v1', index: 0 }]),
      delta([{ type: 'reasoning.text', text: '', signature: 'EqQBCgIYAhIM', format: 'anthropic-claude-v1', index: 0 }]),
      delta([{ type: 'reasoning.encrypted', data: 'EmwKAhgB', format: 'anthropic-claude-v1', index: 1 }]),
      chunk([{ index: 0, delta: { content: 'It is 4.' }, finish_reason: null }]),
      chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]),
    ]);
    const details = [
      { type: 'reasoning.text', text: 'Two plus two.', signature: 'EqQBCgIYAhIM', format: 'anthropic-claude-v1', index: 0 },
      { type: 'reasoning.encrypted', data: 'EmwKAhgB', format: 'anthropic-claude-v1', index: 1 },
    ];
    assert.deepEqual(assembled.choices[0]?.message, { role: 'assistant', content: 'It is 4.', refusal: null, reasoning_details: details });
    assert.deepEqual(convertChunksToCompletion(convertCompletionToChunks(assembled, false)), assembled);
  });
});
