// Anthropic prompt-cache writes over HTTP: a Claude call that writes to the cache is recorded and
// charged at Anthropic's write rates (1.25x input for the 5-minute cache, 2x for the 1-hour one), on
// /v1/chat/completions (translated, plain and streamed) and /v1/messages (native, plain and streamed).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { eventually, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, settledSpend } from '../support/key-support.js';

/** claude-sonnet-4-5 per 1K tokens: input, output, cache read, 5-minute write, 1-hour write. */
const RATE = { input: 0.003, output: 0.015, read: 0.0003, write: 0.00375, write1h: 0.006 };
/** The fixture's usage (anthropic-cache-write): 21 plain, 2,000 read, 3,000 written (1,000 for an hour), 5 out. */
const EXPECTED = (21 * RATE.input + 2000 * RATE.read + 2000 * RATE.write + 1000 * RATE.write1h + 5 * RATE.output) / 1000;
/** What the same call was billed when writes counted as plain input. */
const AS_INPUT = ((21 + 3000) * RATE.input + 2000 * RATE.read + 5 * RATE.output) / 1000;

describe('Anthropic prompt-cache writes in usage records and budgets', () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeAnthropic({ scenario: 'cache-write' });
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('chat and messages, plain and streamed: each call costs the write rates, and the key is charged as much', async () => {
    assert.ok(EXPECTED > AS_INPUT * 1.4, 'the fixture must tell the two apart');
    const { id, key } = await createKey(gateway.url, { name: 'cache-writer', max_budget: 10 });
    const body = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Capital of Germany?' }] };

    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body);
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    // The client sees every prompt token, the reads as cached_tokens and the writes apart.
    assert.deepEqual(plain.body.usage, {
      prompt_tokens: 5021,
      completion_tokens: 5,
      total_tokens: 5026,
      prompt_tokens_details: { cached_tokens: 2000, cache_write_tokens: 3000, cache_write_1h_tokens: 1000 },
    });
    const streamed = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { ...body, stream: true, stream_options: { include_usage: true } });
    assert.equal(streamed.status, 200);
    const native = await callJson(gateway.url, 'POST', '/v1/messages', key, body);
    assert.equal(native.status, 200, JSON.stringify(native.body));
    const nativeStream = await callJson(gateway.url, 'POST', '/v1/messages', key, { ...body, stream: true });
    assert.equal(nativeStream.status, 200);

    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 4);
    for (const record of ours()) {
      assert.equal(record.promptTokens, 5021, `${record.endpoint} ${record.stream}`);
      assert.equal(record.cachedTokens, 2000);
      assert.ok(Math.abs((record.cost ?? 0) - EXPECTED) < 1e-12, `${record.endpoint} ${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${EXPECTED}`);
    }
    const spend = await settledSpend(gateway.url, id, 4 * EXPECTED, 1e-9);
    assert.ok(Math.abs(spend - 4 * EXPECTED) < 1e-9, `spend ${spend} ≠ ${4 * EXPECTED}`);
  });

  test('/api/models shows the write prices', async () => {
    const { status, body } = await callJson(gateway.url, 'GET', '/api/models/claude-sonnet-4-5', MASTER_KEY);
    assert.equal(status, 200);
    const model = body.model as Record<string, unknown>;
    assert.deepEqual([model.cached_input_cost, model.cache_write_cost, model.cache_write_1h_cost], [RATE.read, RATE.write, RATE.write1h]);
    // Opus 5.5 reads at 0.05x input but writes at the usual 1.25x and 2x ($5 and $8 per million).
    const opus = (await callJson(gateway.url, 'GET', '/api/models/claude-opus-5-5', MASTER_KEY)).body.model as Record<string, unknown>;
    assert.deepEqual([opus.cached_input_cost, opus.cache_write_cost, opus.cache_write_1h_cost], [0.0002, 0.005, 0.008]);
  });
});
