// Claude iterations on a model other than the requested one, over HTTP against a fake Anthropic
// speaking its wire format: an advisor's (`advisor_message`, left out of the top-level counts) and a
// server-side fallback's (`fallback_message`, inside them). Each is billed at its own model's rates,
// on the usage record and the key's spend. And the usage a /v1/chat/completions client reads is
// OpenAI's object: the fields the proxy keeps for billing (speed, inference_geo, compaction) stay out.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { authHeaders, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, settledSpend } from '../support/key-support.js';

/** The advisor fixture: Sonnet 4.6 ($3 / $15 per MTok) 3,000 in and 300 out, its Opus 4.8 advisor ($5 / $25) 1,100 and 1,500. */
const ADVISED = (3_000 * 3 + 300 * 15 + 1_100 * 5 + 1_500 * 25) / 1e6;
/** The fallback fixture: Fable 5 ($10 / $50) declined after 1,000 in and 1 out; Opus 4.8 ($5 / $25) answered with 1,100 and 399. */
const FELL_BACK = (1_000 * 10 + 1 * 50 + 1_100 * 5 + 399 * 25) / 1e6;
/** The compaction-fast fixture on Opus 4.8, as test/integration/claude-usage-multipliers.test.ts bills it. */
const COMPACTED_FAST = ((162_000 * 5 + 3_100 * 25) * 2 * 1.1) / 1e6;
/** OpenAI's usage fields: all a chat client may see. */
const OPENAI_USAGE = new Set(['prompt_tokens', 'completion_tokens', 'total_tokens', 'prompt_tokens_details', 'completion_tokens_details']);

const near = (actual: number | undefined, expected: number, what: string): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: ${String(actual)} ≠ ${expected}`);
};

describe('Claude advisor and fallback iterations billed at their own models', () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeAnthropic();
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  beforeEach(() => upstream.reset());
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('an advisor call, plain and streamed: the executor at its rates, the advisor at Opus 4.8 rates, its tokens on the record', async () => {
    upstream.respondWith('advisor');
    const { id, key } = await createKey(gateway.url, { name: 'advised', max_budget: 10 });
    const body = {
      model: 'claude-sonnet-4-6',
      max_tokens: 500,
      tools: [{ type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-4-8', max_uses: 1 }],
      messages: [{ role: 'user', content: 'Refactor the parser.' }],
    };
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, body)).status, 200);
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, { ...body, stream: true })).status, 200);
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 2);
    for (const record of ours()) {
      assert.equal(record.promptTokens, 4_100, `${record.stream}`);
      assert.equal(record.completionTokens, 1_800, `${record.stream}`);
      near(record.cost, ADVISED, record.stream ? 'streamed' : 'plain');
    }
    const spend = await settledSpend(gateway.url, id, 2 * ADVISED, 1e-9);
    near(spend, 2 * ADVISED, 'spend');
  });

  test('a server-side fallback: the declined Fable 5 attempt at its rates, the Opus 4.8 answer at Opus rates', async () => {
    upstream.respondWith('fallback');
    const { id, key } = await createKey(gateway.url, { name: 'fell-back', max_budget: 10 });
    const body = { model: 'claude-fable-5', max_tokens: 500, fallbacks: [{ model: 'claude-opus-4-8' }], messages: [{ role: 'user', content: 'Harden my SSH server.' }] };
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, body)).status, 200);
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    const [record] = ours();
    assert.equal(record?.promptTokens, 2_100);
    assert.equal(record?.completionTokens, 400);
    near(record?.cost, FELL_BACK, 'fallback');
    near(await settledSpend(gateway.url, id, FELL_BACK, 1e-9), FELL_BACK, 'spend');
  });

  test('/v1/chat/completions: the usage a client reads is OpenAI’s, while the record still bills fast mode, US-only inference and the compaction', async () => {
    upstream.respondWith('compaction-fast');
    const { id, key } = await createKey(gateway.url, { name: 'chat-usage', max_budget: 10 });
    const body = { model: 'claude-opus-4-8', max_tokens: 200, messages: [{ role: 'user', content: 'Go on.' }] };
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body);
    assert.equal(plain.status, 200, plain.text.slice(0, 300));
    const usage = plain.body.usage as Record<string, unknown>;
    assert.deepEqual(Object.keys(usage).filter((field) => !OPENAI_USAGE.has(field)), [], JSON.stringify(usage));
    assert.equal(usage.prompt_tokens, 2_000);

    const streamed = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...authHeaders(key), 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(streamed.status, 200);
    const text = await streamed.text();
    const usageChunk = text
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)) as { usage?: Record<string, unknown> | null })
      .find((chunk) => chunk.usage !== undefined && chunk.usage !== null);
    assert.ok(usageChunk?.usage !== undefined && usageChunk.usage !== null, text.slice(-500));
    assert.deepEqual(Object.keys(usageChunk.usage).filter((field) => !OPENAI_USAGE.has(field)), [], JSON.stringify(usageChunk.usage));
    assert.ok(!text.includes('"speed"') && !text.includes('"inference_geo"') && !text.includes('"compaction"'), text.slice(-500));

    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 2);
    for (const record of ours()) near(record.cost, COMPACTED_FAST, record.stream ? 'streamed chat' : 'plain chat');
  });
});
