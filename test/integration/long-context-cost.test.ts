// Long-context bands over HTTP: a call whose provider reports a prompt past the threshold is recorded
// (and charged to the key's budget) at the band's price for all of its tokens, plain and streamed; a
// budget hold for a prompt the provider may count past the threshold is sized at the band, so a key
// whose budget fits the base price but not the band is refused before any call.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { chat, createKey, errorCode, settledSpend } from '../support/key-support.js';

/** gpt-5.5: $5 / $30 / $0.50 per 1M tokens; above 272K prompt tokens $10 / $45 / $1 for the whole call. */
const BAND = { input: 0.01, output: 0.045, cached: 0.001 };

function answer(usage: Record<string, unknown>): string {
  return JSON.stringify({
    id: 'chatcmpl-long',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-5.5',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Read it all.' }, finish_reason: 'stop' }],
    usage,
  });
}

function streamed(usage: Record<string, unknown>): string[] {
  const base = { id: 'chatcmpl-long', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-5.5' };
  return [
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Read it all.' }, finish_reason: null }] })}\n\n`,
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
    `data: ${JSON.stringify({ ...base, choices: [], usage })}\n\ndata: [DONE]\n\n`,
  ];
}

describe('long-context bands in usage records and budget holds', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-5.5'] });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
  });
  beforeEach(() => upstream.reset());
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('a call reporting 300K prompt tokens is recorded and charged at the band for every token, plain and streamed', async () => {
    const usage = { prompt_tokens: 300_000, completion_tokens: 20, total_tokens: 300_020, prompt_tokens_details: { cached_tokens: 100_000 } };
    const expected = (200_000 * BAND.input + 100_000 * BAND.cached + 20 * BAND.output) / 1000;
    const { id, key } = await createKey(gateway.url, { name: 'long-reader', max_budget: 100 });
    upstream.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: answer(usage) });
    upstream.enqueue({ kind: 'raw-parts', parts: streamed(usage), gapMs: 1 });
    const plain = await chat(gateway.url, key, { model: 'gpt-5.5', max_tokens: 100 });
    assert.equal(plain.status, 200, plain.text);
    const stream = await chat(gateway.url, key, { model: 'gpt-5.5', max_tokens: 100, stream: true, stream_options: { include_usage: true } });
    assert.equal(stream.status, 200, stream.text);

    await eventually(() => gateway.usage.recent().filter((record) => record.model === 'gpt-5.5').length >= 2);
    const records = gateway.usage.recent().filter((record) => record.model === 'gpt-5.5');
    for (const record of records) {
      assert.equal(record.promptTokens, 300_000);
      assert.ok(Math.abs((record.cost ?? 0) - expected) < 1e-9, `${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${expected}`);
    }
    // The key's budget is charged the same, once each record lands.
    const spend = await settledSpend(gateway.url, id, 2 * expected, 1e-6);
    assert.ok(Math.abs(spend - 2 * expected) < 1e-6, `spend ${spend} ≠ ${2 * expected}`);
  });

  test('a hold for a prompt the provider may count past 272K is sized at the band, one well short of it at the base rate', async () => {
    // ~190K tokens by the local count: at $5 per 1M that holds ~$0.95, at the band's $10 ~$1.90.
    const long = 'word '.repeat(190_000);
    const { key } = await createKey(gateway.url, { name: 'long-hold', max_budget: 1.5 });
    const refused = await chat(gateway.url, key, { model: 'gpt-5.5', max_tokens: 100, messages: [{ role: 'user', content: long }] });
    assert.equal(refused.status, 403, refused.text.slice(0, 500));
    assert.equal(errorCode(refused), 'budget_exceeded');
    assert.deepEqual(upstream.requests, [], 'refused before any call');

    // ~100K tokens cannot reach 272K however the provider counts: held (and admitted) at the base rate.
    const { key: other } = await createKey(gateway.url, { name: 'short-hold', max_budget: 1.5 });
    const admitted = await chat(gateway.url, other, { model: 'gpt-5.5', max_tokens: 100, messages: [{ role: 'user', content: 'word '.repeat(100_000) }] });
    assert.equal(admitted.status, 200, admitted.text.slice(0, 500));
  });
});
