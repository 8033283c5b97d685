// Anthropic's two wordings of "the prompt does not fit the window", through /v1/chat/completions:
// each is the proxy's 400 `context_length_exceeded` (what a context-window fallback acts on), not a
// plain `upstream_invalid_request`.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { authHeaders, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

/** Anthropic's 400 bodies, as the API words them. */
const OVERFLOWS = {
  // The prompt alone is longer than the window.
  prompt: 'prompt is too long: 208310 tokens > 200000 maximum',
  // The prompt fits, but not with `max_tokens` (Claude 3.7 and later refuse instead of truncating).
  'prompt with max_tokens': 'input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input length or `max_tokens` and try again',
};

describe('Claude context-window overflows through /v1/chat/completions', () => {
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

  const overflow = (message: string) => ({ kind: 'error' as const, status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message }, request_id: 'req_011CUB2XUHWkFnQzxcKBbjpF' } });

  for (const [name, message] of Object.entries(OVERFLOWS)) {
    test(`${name}, with the client's own max_tokens: 400 context_length_exceeded, not retried`, async () => {
      upstream.enqueue(overflow(message));
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 64000, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: { code: string; param: string } };
      assert.equal(body.error.code, 'context_length_exceeded');
      assert.equal(body.error.param, 'messages');
      assert.equal(upstream.requests.length, 1);
    });
  }

  for (const stream of [false, true]) {
    test(`no max_tokens from the client (${stream ? 'streamed' : 'whole answer'}): the proxy's own limit (the model's 64,000) is lowered to the room Claude says is left, and the call answered`, async () => {
      upstream.enqueue(overflow(OVERFLOWS['prompt with max_tokens']));
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: authHeaders(),
        body: JSON.stringify({ model: 'claude-sonnet-4-5', stream, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const text = await response.text();
      assert.equal(response.status, 200, text);
      if (stream) assert.match(text, /data: \[DONE\]\n\n$/);
      assert.deepEqual(
        upstream.requests.map((request) => (request.body as { max_tokens?: number }).max_tokens),
        [64000, 200000 - 178959],
      );
    });
  }

  test('a prompt too long by itself is not sent again, with or without max_tokens', async () => {
    upstream.enqueue(overflow(OVERFLOWS.prompt));
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(), body: JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(response.status, 400);
    assert.equal(upstream.requests.length, 1);
  });
});
