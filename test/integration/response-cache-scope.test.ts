// Who a response-cache entry belongs to, through the real proxy: the scope follows the key itself,
// so a config reload (or another instance) that lists the static keys in another order never hands
// one key's answers to another.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config-loader.js';
import { createServices } from '../../src/services.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, loopbackOnly, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const KEY_A = 'sk-tenant-a-0123456789abcdef';
const KEY_B = 'sk-tenant-b-0123456789abcdef';

async function post(url: string, key: string, body: unknown): Promise<{ status: number; cache: string | null; text: string }> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(key), body: JSON.stringify(body) });
  return { status: response.status, cache: response.headers.get('x-cache'), text: await response.text() };
}

describe('response cache scope across a reload of the static keys', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let reloaded: App;
  let reloadedUrl: string;
  const env = (keys: string) => ({
    OPENAI_API_KEY: UPSTREAM_KEY,
    LLM_PROXY_RPM: '0',
    LLM_PROXY_CACHE: 'memory',
    LLM_PROXY_LOG_LEVEL: 'warn',
    LLM_PROXY_API_KEYS: keys,
  });

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ ...env(`${KEY_A},${KEY_B}`), OPENAI_BASE_URL: `${upstream.url}/v1` });
    // What a reload that revokes key A builds: new services (a new key list, so B is now the first
    // static key) around the same shared part, the response cache included.
    const { config } = loadConfig({ ...env(KEY_B), OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_DB: gateway.app.services.config.storage.db_path });
    config.routing.discovery_interval_s = 0;
    const services = createServices(config, { shared: gateway.app.services.shared, resolveHost: loopbackOnly });
    reloaded = buildApp(services);
    await reloaded.app.listen({ port: 0, host: '127.0.0.1' });
    reloadedUrl = `http://127.0.0.1:${(reloaded.app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await reloaded?.app.close();
    await reloaded?.services.close();
    await gateway?.close();
    await upstream?.close();
  });

  test("a key that takes a revoked key's place in the list does not get its cached answers", async () => {
    const body = { model: 'gpt-4', messages: [{ role: 'user', content: `private to A ${Date.now()}` }] };
    const first = await post(gateway.url, KEY_A, body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.cache, 'MISS');
    assert.equal((await post(gateway.url, KEY_A, body)).cache, 'HIT');
    const calls = upstream.requests.length;
    const other = await post(reloadedUrl, KEY_B, body);
    assert.equal(other.status, 200, other.text);
    assert.equal(other.cache, 'MISS');
    assert.equal(upstream.requests.length, calls + 1);
    // B's own answer is cached for B after the reload as before it.
    assert.equal((await post(reloadedUrl, KEY_B, body)).cache, 'HIT');
  });
});
