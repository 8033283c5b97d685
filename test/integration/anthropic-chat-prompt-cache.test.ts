// Prompt caching for Claude through /v1/chat/completions, with the official `openai` SDK as the client:
// the cache_control markers of the chat request reach Anthropic as its breakpoints (plain and streamed,
// one conversion), the writes come back as prompt_tokens_details.cache_write_tokens, and the usage
// record bills them at the write rates. A malformed marker is the proxy's 400, before any call.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { readAnthropicJson, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';

/** claude-sonnet-4-5 per 1K tokens: input, output, cache read, 5-minute write, 1-hour write. */
const RATE = { input: 0.003, output: 0.015, read: 0.0003, write: 0.00375, write1h: 0.006 };
/** The cache-write fixture's usage: 21 plain, 2,000 read, 3,000 written (1,000 for an hour), 5 out. */
const EXPECTED = (21 * RATE.input + 2000 * RATE.read + 2000 * RATE.write + 1000 * RATE.write1h + 5 * RATE.output) / 1000;

/** The recorded chat request: markers on a system message, an image part, a tool message and a tool definition. */
const CHAT = readAnthropicJson('anthropic-prompt-cache.chat-request.json') as OpenAI.ChatCompletionCreateParamsNonStreaming;
/** What Anthropic must receive for it. */
const SENT = readAnthropicJson('anthropic-prompt-cache.request.json') as Record<string, unknown>;

describe('Claude prompt caching through /v1/chat/completions', () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;
  let client: OpenAI;
  let keyId: string;

  before(async () => {
    upstream = await startFakeAnthropic({ scenario: 'cache-write' });
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
    const { id, key } = await createKey(gateway.url, { name: 'prompt-cache', max_budget: 10 });
    keyId = id;
    client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  });
  beforeEach(() => upstream.reset());
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  const records = () => gateway.usage.recent().filter((record) => record.keyId === keyId);

  test('plain: the markers arrive in Anthropic’s places, the writes come back apart and are billed at the write rates', async () => {
    const completion = await client.chat.completions.create(CHAT);
    assert.deepEqual(upstream.requests[0]?.body, SENT);
    assert.deepEqual(completion.usage?.prompt_tokens_details, { cached_tokens: 2000, cache_write_tokens: 3000, cache_write_1h_tokens: 1000 });
    await eventually(() => records().length >= 1);
    const cost = records()[0]?.cost ?? 0;
    assert.ok(Math.abs(cost - EXPECTED) < 1e-12, `${cost} ≠ ${EXPECTED}`);
  });

  test('streamed: the same breakpoints, and the usage chunk carries the writes', async () => {
    const before = records().length;
    const stream = await client.chat.completions.create({ ...CHAT, stream: true, stream_options: { include_usage: true } });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    assert.deepEqual(upstream.requests[0]?.body, { ...SENT, stream: true });
    assert.equal((usage?.prompt_tokens_details as Record<string, unknown> | undefined)?.cache_write_tokens, 3000);
    await eventually(() => records().length > before);
    const cost = records().at(-1)?.cost ?? 0;
    assert.ok(Math.abs(cost - EXPECTED) < 1e-12, `${cost} ≠ ${EXPECTED}`);
  });

  test('a malformed marker is a 400 naming it, and Anthropic is not called', async () => {
    // The SDK's types know no cache_control, so a deliberately wrong one is cast past them.
    const messages = [{ role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral', ttl: '24h' } }] }];
    const body = { ...CHAT, messages } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
    await assert.rejects(client.chat.completions.create(body), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.param, 'messages[0].content[0].cache_control.ttl');
      assert.equal(error.code, 'invalid_value');
      return true;
    });
    assert.equal(upstream.requests.length, 0);
  });
});
