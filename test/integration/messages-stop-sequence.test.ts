// /v1/messages to an OpenAI-format host that says which stop sequence an answer ended on (vLLM's
// `stop_reason` on the choice): the Messages answer says `stop_sequence` and names it, plain and
// streamed, as Claude's would. A host that does not say (OpenAI) gives `end_turn`, as before.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

const MODEL = 'gpu-box/llama-3.1-8b';
const REQUEST = { model: MODEL, max_tokens: 64, stop_sequences: ['5', 'END'], messages: [{ role: 'user' as const, content: 'Count to ten, one number a line.' }] };

/** A vLLM answer that ended on the stop string `matched` (null: on the end-of-sequence token). */
function completion(matched: string | null): string {
  return JSON.stringify({
    id: 'chatcmpl-vllm-1',
    object: 'chat.completion',
    created: 1_760_000_000,
    model: 'llama-3.1-8b',
    choices: [{ index: 0, message: { role: 'assistant', content: '1\n2\n3\n4\n' }, logprobs: null, finish_reason: 'stop', stop_reason: matched }],
    usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 },
  });
}

function chunks(matched: string | null): string[] {
  const base = { id: 'chatcmpl-vllm-2', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'llama-3.1-8b' };
  return [
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '1\n2\n' }, logprobs: null, finish_reason: null }] })}\n\n`,
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: '3\n4\n' }, logprobs: null, finish_reason: 'stop', stop_reason: matched }] })}\n\n`,
    `data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } })}\n\ndata: [DONE]\n\n`,
  ];
}

describe('/v1/messages: the stop sequence an OpenAI-format host says it ended on', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let client: Anthropic;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: undefined });
    gateway = await startGateway(
      { LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' },
      { configure: (config) => void (config.providers['gpu-box'] = { type: 'openai-compatible', base_url: `${upstream.url}/v1` }) },
    );
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.url, maxRetries: 0 });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });
  beforeEach(() => upstream.reset());

  test('a whole answer: stop_reason stop_sequence, stop_sequence the one it ended on', async () => {
    upstream.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: completion('5') });
    const message = await client.messages.create(REQUEST);
    assert.deepEqual([message.stop_reason, message.stop_sequence], ['stop_sequence', '5']);
    assert.deepEqual((upstream.requests[0]?.body as { stop?: unknown }).stop, ['5', 'END']);
  });

  test('a stream: the message_delta says the same', async () => {
    upstream.enqueue({ kind: 'raw-parts', parts: chunks('END'), gapMs: 0 });
    const message = await client.messages.stream(REQUEST).finalMessage();
    assert.deepEqual([message.stop_reason, message.stop_sequence], ['stop_sequence', 'END']);
    assert.equal(message.content[0]?.type === 'text' ? message.content[0].text : undefined, '1\n2\n3\n4\n');
  });

  test('an answer that ended by itself (stop_reason null) is end_turn, plain and streamed', async () => {
    upstream.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: completion(null) });
    const plain = await client.messages.create(REQUEST);
    assert.deepEqual([plain.stop_reason, plain.stop_sequence], ['end_turn', null]);
    upstream.enqueue({ kind: 'raw-parts', parts: chunks(null), gapMs: 0 });
    const streamed = await client.messages.stream(REQUEST).finalMessage();
    assert.deepEqual([streamed.stop_reason, streamed.stop_sequence], ['end_turn', null]);
  });
});
