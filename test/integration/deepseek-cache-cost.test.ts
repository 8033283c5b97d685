// DeepSeek's context cache, billed at its cache price: DeepSeek reports the prompt tokens the cache
// served as `prompt_cache_hit_tokens`, not OpenAI's `cached_tokens`, plain and streamed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

/** deepseek-chat's catalog prices, per 1K tokens. */
const RATE = { input: 0.00014, cached: 0.0000028, output: 0.00028 };
const USAGE = { prompt_tokens: 1000, completion_tokens: 20, total_tokens: 1020, prompt_cache_hit_tokens: 896, prompt_cache_miss_tokens: 104 };
const EXPECTED = (104 * RATE.input + 896 * RATE.cached + 20 * RATE.output) / 1000;

describe('DeepSeek prompt cache cost', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, usage: () => USAGE });
    gateway = await startGateway({ DEEPSEEK_API_KEY: UPSTREAM_KEY, DEEPSEEK_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  test('plain and streamed: the cache hits are cached tokens, billed at the cache price', async () => {
    for (const stream of [false, true]) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify({ model: 'deepseek/deepseek-chat', messages: [{ role: 'user', content: `Hello ${stream}` }], stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }),
      });
      assert.equal(response.status, 200);
      const text = await response.text();
      // The client gets DeepSeek's report as it came.
      assert.match(text, /"prompt_cache_hit_tokens":896/);
      const record = gateway.usage.recent().find((entry) => entry.requestId === response.headers.get('x-request-id'));
      assert.ok(record !== undefined);
      assert.equal(record.cachedTokens, 896, `stream ${stream}`);
      assert.equal(record.estimated, false);
      assert.ok(Math.abs((record.cost ?? 0) - EXPECTED) < 1e-12, `stream ${stream}: ${record.cost} ≠ ${EXPECTED}`);
    }
  });
});
