// Groq answers 498 `capacity_exceeded` when its flex tier is full: its docs say to retry with
// backoff. As any 4xx it was taken for the client's bad request: a 400, no retry, no failover.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { assertError, chatCalls, post } from '../support/reliability-support.js';

const BODY = JSON.stringify({ error: { message: 'Flex tier capacity exceeded. Please try again later.', type: 'capacity_exceeded', code: 'capacity_exceeded' } });
const request = JSON.stringify({ model: 'groq/llama-3.1-8b-instant', service_tier: 'flex', messages: [{ role: 'user', content: 'hi' }] });

describe('Groq 498 capacity_exceeded', () => {
  test('is retried like a 503, and after the last try is a 502 upstream_error, not the client’s 400', async () => {
    const fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    const gateway = await startGateway({ GROQ_API_KEY: UPSTREAM_KEY, GROQ_BASE_URL: `${fake.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
    try {
      fake.enqueue({ kind: 'status', status: 498, body: BODY });
      const retried = await post(gateway.url, request);
      assert.equal(retried.status, 200, retried.body);
      assert.equal(chatCalls(fake), 2);
      for (let index = 0; index < 2; index++) fake.enqueue({ kind: 'status', status: 498, body: BODY });
      assertError(await post(gateway.url, request), { status: 502, code: 'upstream_error', type: 'api_error', param: null });
      assert.equal(chatCalls(fake), 4);
    } finally {
      await fake.close();
      await gateway.close();
    }
  });
});
