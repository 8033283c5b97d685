// The legacy function style through a host that takes only tools (Mistral): the request in tools,
// Mistral's recorded answers (plain and streamed) back in the style the client asked in.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { assertRefused, collect, sseEvents } from '../../test/providers/codec-harness.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../openai/types.js';
import { usesLegacyFunctions } from './legacy-functions.js';
import { createOpenAiCodec } from './openai-compatible.js';
import { passesThrough, type ChatTarget } from './provider.js';

const fixture = (name: string): string => readFileSync(new URL(`../../../src/providers/__fixtures__/${name}`, import.meta.url), 'utf8');

const mistral = createOpenAiCodec({ kind: 'mistral' });
const target = (request: ChatCompletionRequest, stream = false): ChatTarget => ({
  provider: 'mistral',
  model: 'mistral-small-2506',
  stream,
  includeUsage: true,
  requestId: 'r1',
  created: 0,
  warnings: [],
  legacyFunctions: usesLegacyFunctions(request),
});
const sent = (request: ChatCompletionRequest): Record<string, unknown> => JSON.parse(mistral.buildChatRequest(request, target(request)).body ?? '') as Record<string, unknown>;

const weather = { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } };
const legacy: ChatCompletionRequest = { model: 'mistral-small-2506', messages: [{ role: 'user', content: 'Weather in Paris?' }], functions: [weather], function_call: { name: 'get_weather' } };

describe('legacy functions to Mistral, which takes only tools', () => {
  test("functions go as tools, function_call as tool_choice (a name as Mistral's named choice); the client's request is left as it was", () => {
    const before = JSON.stringify(legacy);
    const body = sent(legacy);
    assert.deepEqual(body, { model: 'mistral-small-2506', messages: legacy.messages, tools: [{ type: 'function', function: weather }], tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    assert.equal(JSON.stringify(legacy), before);
    assert.equal(sent({ ...legacy, function_call: 'auto' }).tool_choice, 'auto');
    assert.equal(sent({ ...legacy, function_call: 'none' }).tool_choice, 'none');
    assert.equal('tool_choice' in sent({ ...legacy, function_call: undefined }), false);
    assertRefused(() => sent({ ...legacy, function_call: 'required' as never }), { code: 'invalid_value', param: 'function_call' });
  });

  test("a legacy conversation goes as tool calls and results, with ids Mistral takes (9 letters or digits), each result answering the latest call of its name", () => {
    const request: ChatCompletionRequest = {
      ...legacy,
      function_call: 'auto',
      messages: [
        { role: 'user', content: 'Weather in Paris, then Tokyo?' },
        { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
        { role: 'function', name: 'get_weather', content: '18°C' },
        { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Tokyo"}' } },
        { role: 'function', name: 'get_weather', content: '25°C' },
      ],
    };
    const messages = sent(request).messages as Array<Record<string, unknown>>;
    const ids = [1, 3].map((index) => ((messages[index]?.tool_calls as Array<{ id: string }>)[0] as { id: string }).id);
    for (const id of ids) assert.match(id, /^[a-zA-Z0-9]{9}$/);
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual(messages[1], { role: 'assistant', content: null, tool_calls: [{ id: ids[0], type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] });
    assert.deepEqual(messages[2], { role: 'tool', tool_call_id: ids[0], name: 'get_weather', content: '18°C' });
    assert.deepEqual(messages[4], { role: 'tool', tool_call_id: ids[1], name: 'get_weather', content: '25°C' });
    assertRefused(() => sent({ ...legacy, messages: [{ role: 'user', content: 'hi' }, { role: 'function', name: 'get_weather', content: '18°C' }] }), { code: 'invalid_value', param: 'messages[1].name' });
  });

  test('a legacy request is answered by reading the answer, not passing its bytes through; a tools request still passes through', () => {
    assert.equal(passesThrough(mistral, legacy), false);
    assert.equal(passesThrough(mistral, { model: 'm', messages: [], tools: [{ type: 'function', function: weather }] }), true);
    assert.equal(passesThrough(createOpenAiCodec({ kind: 'openai' }), legacy), true, 'OpenAI answers in the legacy style itself');
  });

  test("Mistral's answer with tool calls comes back with the first as function_call and finish_reason function_call", () => {
    const answer = mistral.parseChatResponse(JSON.parse(fixture('mistral-parallel-tools.response.json')), target(legacy));
    assert.deepEqual(answer.choices[0]?.message, { role: 'assistant', content: '', function_call: { name: 'get_weather', arguments: '{"location": "Paris"}' } });
    assert.equal(answer.choices[0]?.finish_reason, 'function_call');
    assert.deepEqual(answer.usage, { prompt_tokens: 94, total_tokens: 124, completion_tokens: 30 });
    // Asked in tools, answered in tools.
    const tools = { ...legacy, functions: undefined, function_call: undefined, tools: [{ type: 'function' as const, function: weather }] };
    assert.equal(mistral.parseChatResponse(JSON.parse(fixture('mistral-parallel-tools.response.json')), target(tools)).choices[0]?.message.tool_calls?.length, 2);
  });

  test("Mistral's stream (each call whole in one delta) comes back as function_call deltas of the first call, finish_reason function_call", async () => {
    const chunks: ChatCompletionChunk[] = await collect(mistral.convertStream(sseEvents(fixture('mistral-parallel-tools.chunks.txt')), target(legacy, true)));
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta);
    assert.deepEqual(deltas, [{ role: 'assistant', content: '' }, { function_call: { name: 'get_weather', arguments: '{"location": "Paris"}' } }]);
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0]?.finish_reason), [null, 'function_call']);
    assert.deepEqual(chunks[1]?.usage, { prompt_tokens: 94, total_tokens: 124, completion_tokens: 30 });
  });

  test("a call streamed in fragments (OpenAI's way) is joined per fragment as function_call deltas; later calls are left out", async () => {
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const text = [
      chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'AbCdEfGhI', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }, { index: 1, id: 'ZyXwVuTsR', type: 'function', function: { name: 'get_time', arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
      'data: [DONE]\n\n',
    ].join('');
    const chunks = await collect(mistral.convertStream(sseEvents(text), target(legacy, true)));
    assert.deepEqual(chunks.map((each) => each.choices[0]?.delta), [
      { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '' } },
      { function_call: { arguments: '{"location":' } },
      { function_call: { arguments: '"Paris"}' } },
      {},
    ]);
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'function_call');
  });
});
