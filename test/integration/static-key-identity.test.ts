// A static key's identity across a config reload, through the real proxy: the response cache's
// scope and the request and token counters follow the key itself, not its place in
// LLM_PROXY_API_KEYS, so a reload (or another instance) that lists the keys in another order never
// hands one key's answers, or charges its traffic, to another.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Environment } from '../../src/config/config-env.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, startGateway, startReloadedTwin, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const KEY_A = 'sk-tenant-a-0123456789abcdef';
const KEY_B = 'sk-tenant-b-0123456789abcdef';

async function post(url: string, key: string, body: unknown): Promise<{ status: number; cache: string | null; text: string }> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(key), body: JSON.stringify(body) });
  return { status: response.status, cache: response.headers.get('x-cache'), text: await response.text() };
}

async function postLimited(url: string, key: string): Promise<{ status: number; remaining: string | null; tokensRemaining: string | null }> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(key), body: JSON.stringify({ model: 'gpt-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });
  await response.text();
  return { status: response.status, remaining: response.headers.get('x-ratelimit-remaining'), tokensRemaining: response.headers.get('x-ratelimit-remaining-tokens') };
}

interface Stack {
  upstream: FakeOpenAi;
  gateway: Gateway;
  reloaded: { url: string; close(): Promise<void> };
}

/**
 * A gateway with keys A and B, and what a reload that revokes A builds: new services (B is now the
 * first static key) around the same shared part (response cache and counters included).
 */
function aroundReload(settings: Environment): Stack {
  const stack = {} as Stack;
  const env = (keys: string): Environment => ({ OPENAI_API_KEY: UPSTREAM_KEY, LLM_PROXY_LOG_LEVEL: 'warn', ...settings, LLM_PROXY_API_KEYS: keys });
  before(async () => {
    stack.upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    stack.gateway = await startGateway({ ...env(`${KEY_A},${KEY_B}`), OPENAI_BASE_URL: `${stack.upstream.url}/v1` });
    stack.reloaded = await startReloadedTwin(stack.gateway, { ...env(KEY_B), OPENAI_BASE_URL: `${stack.upstream.url}/v1` });
  });
  after(async () => {
    await stack.reloaded?.close();
    await stack.gateway?.close();
    await stack.upstream?.close();
  });
  return stack;
}

describe('response cache scope across a reload of the static keys', () => {
  const stack = aroundReload({ LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'memory' });

  test("a key that takes a revoked key's place in the list does not get its cached answers", async () => {
    const body = { model: 'gpt-4', messages: [{ role: 'user', content: `private to A ${Date.now()}` }] };
    const first = await post(stack.gateway.url, KEY_A, body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.cache, 'MISS');
    assert.equal((await post(stack.gateway.url, KEY_A, body)).cache, 'HIT');
    const calls = stack.upstream.requests.length;
    const other = await post(stack.reloaded.url, KEY_B, body);
    assert.equal(other.status, 200, other.text);
    assert.equal(other.cache, 'MISS');
    assert.equal(stack.upstream.requests.length, calls + 1);
    // B's own answer is cached for B after the reload as before it.
    assert.equal((await post(stack.reloaded.url, KEY_B, body)).cache, 'HIT');
  });
});

describe('static key limits across a reload of the key list', () => {
  const stack = aroundReload({ LLM_PROXY_RPM: '2', LLM_PROXY_TPM: '100000', LLM_PROXY_CACHE: 'off' });

  test("a key that takes another's place in the list starts from its own counts, not the other key's", async () => {
    const first = await postLimited(stack.gateway.url, KEY_A);
    assert.equal(first.status, 200);
    assert.equal((await postLimited(stack.gateway.url, KEY_A)).remaining, '0');
    assert.equal((await postLimited(stack.gateway.url, KEY_A)).status, 429, 'A has spent its 2 requests');
    const other = await postLimited(stack.reloaded.url, KEY_B);
    assert.equal(other.status, 200, 'B, now first in the list, was charged for A');
    assert.equal(other.remaining, '1');
    // B's token window is its own: after its first call it holds what A's held after A's first.
    assert.equal(other.tokensRemaining, first.tokensRemaining);
  });
});
