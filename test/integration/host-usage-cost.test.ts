// Hosts that report part of their usage outside OpenAI's fields, billed as they bill it, plain and
// streamed, with the client getting the host's report as it came: DeepSeek's context cache
// (`prompt_cache_hit_tokens`, not `cached_tokens`) and xAI's reasoning (`reasoning_tokens` beside
// `completion_tokens`, not inside them: its `total_tokens` is prompt + completion + reasoning).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import type { UsageRecord } from '../../src/usage/usage-recorder.js';

/** One host whose every answer reports `usage`; `check` sees the record of a plain and a streamed call. */
async function billed(env: string, model: string, usage: Record<string, unknown>, sent: RegExp, check: (record: UsageRecord, stream: boolean) => void): Promise<void> {
  const upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, usage: () => usage });
  let gateway: Gateway | undefined;
  try {
    const running = await startGateway({ [`${env}_API_KEY`]: UPSTREAM_KEY, [`${env}_BASE_URL`]: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    gateway = running;
    for (const stream of [false, true]) {
      const response = await fetch(`${running.url}/v1/chat/completions`, {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify({ model, messages: [{ role: 'user', content: `Hello ${stream}` }], stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }),
      });
      assert.equal(response.status, 200);
      assert.match(await response.text(), sent, 'the client gets the report as it came');
      const record: UsageRecord | undefined = running.usage.recent().find((entry) => entry.requestId === response.headers.get('x-request-id'));
      assert.ok(record !== undefined);
      assert.equal(record.estimated, false);
      check(record, stream);
    }
  } finally {
    await gateway?.close();
    await upstream.close();
  }
}

const near = (actual: number | null | undefined, expected: number, what: string) => assert.ok(Math.abs((actual ?? 0) - expected) < 1e-12, `${what}: ${actual} ≠ ${expected}`);

describe('host usage reports, billed', () => {
  test('DeepSeek: the cache hits are cached tokens, billed at the cache price', async () => {
    // deepseek-chat's catalog prices, per 1K tokens.
    const rate = { input: 0.00014, cached: 0.0000028, output: 0.00028 };
    const usage = { prompt_tokens: 1000, completion_tokens: 20, total_tokens: 1020, prompt_cache_hit_tokens: 896, prompt_cache_miss_tokens: 104 };
    await billed('DEEPSEEK', 'deepseek/deepseek-chat', usage, /"prompt_cache_hit_tokens":896/, (record, stream) => {
      assert.equal(record.cachedTokens, 896, `stream ${stream}`);
      near(record.cost, (104 * rate.input + 896 * rate.cached + 20 * rate.output) / 1000, `stream ${stream}`);
    });
  });

  test('xAI: the reasoning tokens are billed as completion', async () => {
    // grok-4-0709's catalog prices, per 1K tokens; xAI's own example: 32 + 9 + 94 = 135.
    const rate = { input: 0.003, output: 0.015 };
    const usage = { prompt_tokens: 32, completion_tokens: 9, total_tokens: 135, completion_tokens_details: { reasoning_tokens: 94 } };
    await billed('XAI', 'xai/grok-4-0709', usage, /"completion_tokens":9,/, (record, stream) => {
      assert.deepEqual([record.promptTokens, record.completionTokens], [32, 103], `stream ${stream}`);
      near(record.cost, (32 * rate.input + 103 * rate.output) / 1000, `stream ${stream}`);
    });
  });
});
