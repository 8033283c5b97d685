// X-LLM-Proxy-Warnings names dropped fields as the client spelt them: a name with a control
// character or a character past U+00FF made the header invalid, so Node refused it (a plain answer
// was a 500 in Fastify's own shape, a stream was never answered). Names are escaped as `\uXXXX`,
// and a key used as a name is redacted, as in error messages (from the cache too).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { authHeaders, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const ODD_FIELDS = { '😀': 1, 'a\nb': 2, 'é': 3, 'x\u0000': 4 };
const SHOWN = ['\\ud83d\\ude00', 'a\\u000ab', '\\u00e9', 'x\\u0000'];

describe('X-LLM-Proxy-Warnings with field names outside printable ASCII', () => {
  let anthropic: FakeAnthropic;
  let gemini: FakeGemini;
  let gateway: Gateway;

  before(async () => {
    [anthropic, gemini] = await Promise.all([startFakeAnthropic(), startFakeGemini()]);
    gateway = await startGateway({
      ANTHROPIC_API_KEY: UPSTREAM_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
      GEMINI_API_KEY: UPSTREAM_KEY,
      GEMINI_BASE_URL: gemini.url,
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'memory',
    });
  });
  after(async () => {
    await gateway.close();
    await anthropic.close();
    await gemini.close();
  });

  function assertShown(header: string | null): void {
    assert.ok(header !== null && /^[\x20-\x7e]+$/.test(header), `header: ${header}`);
    for (const name of SHOWN) assert.ok(header.includes(`${name}: not supported by`), `${name} in ${header}`);
  }

  async function call(path: string, body: Record<string, unknown>, timeoutMs = 5_000): Promise<Response> {
    return fetch(`${gateway.url}${path}`, { method: 'POST', headers: authHeaders(), body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  }

  for (const model of ['claude-sonnet-4-5', 'gemini-2.5-flash']) {
    test(`${model}: a plain answer and a stream are served, the names escaped`, async () => {
      const request = { model, messages: [{ role: 'user', content: 'Hello' }], ...ODD_FIELDS };
      const plain = await call('/v1/chat/completions', request);
      assert.equal(plain.status, 200, await plain.clone().text());
      assertShown(plain.headers.get('x-llm-proxy-warnings'));
      const streamed = await call('/v1/chat/completions', { ...request, stream: true });
      assert.equal(streamed.status, 200);
      assertShown(streamed.headers.get('x-llm-proxy-warnings'));
      assert.ok((await streamed.text()).includes('data: [DONE]'));
    });
  }

  test('a key as a field name is redacted, in a fresh answer and a cached one', async () => {
    const request = { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Cache me' }], [UPSTREAM_KEY]: 1 };
    for (const cache of ['MISS', 'HIT']) {
      const res = await call('/v1/chat/completions', request);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-cache'), cache);
      const header = res.headers.get('x-llm-proxy-warnings') ?? '';
      assert.ok(!header.includes(UPSTREAM_KEY) && header.includes('[redacted]: not supported by anthropic'), header);
    }
  });

  test('thousands of unknown fields: the header stays small enough for a Node client to read the answer', async () => {
    const request: Record<string, unknown> = { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'Many fields' }] };
    for (let index = 0; index < 3_000; index += 1) request[`field_${'x'.repeat(50)}${index}`] = 1;
    const res = await call('/v1/chat/completions', request);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('x-llm-proxy-warnings') ?? '', /; and \d+ more$/);
  });

  test('embeddings: the names escaped', async () => {
    const res = await call('/v1/embeddings', { model: 'gemini-embedding-001', input: 'Hello', ...ODD_FIELDS });
    assert.equal(res.status, 200, await res.clone().text());
    assertShown(res.headers.get('x-llm-proxy-warnings'));
  });

  test("/v1/messages translated to Gemini: the provider's warnings name the client's Anthropic fields, fresh, streamed and from the cache", async () => {
    const request = (stream: boolean) => ({
      model: 'gemini-2.5-flash',
      max_tokens: 20,
      top_k: 5,
      metadata: { user_id: 'user-7' },
      stream,
      messages: [{ role: 'user', content: `Who am I? (${stream ? 'streamed' : 'plain'})` }],
    });
    for (const [stream, cache] of [[false, 'MISS'], [false, 'HIT'], [true, 'MISS'], [true, 'HIT']] as const) {
      const res = await call('/v1/messages', request(stream));
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get('x-cache'), cache);
      // The endpoint's own entry first, then Gemini's, which dropped the chat form's `user`.
      assert.equal(res.headers.get('x-llm-proxy-warnings'), 'top_k: no OpenAI-format equivalent, ignored; metadata.user_id: not supported by gemini, ignored');
      await res.text();
    }
  });
});
