// Whose request and token counters a static key spends, through the real proxy: they follow the key
// itself, so a config reload (or another instance sharing Redis) that lists the static keys in
// another order never charges one key's traffic to another.
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

async function post(url: string, key: string): Promise<{ status: number; remaining: string | null; tokensRemaining: string | null }> {
  const response = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(key), body: JSON.stringify({ model: 'gpt-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });
  await response.text();
  return { status: response.status, remaining: response.headers.get('x-ratelimit-remaining'), tokensRemaining: response.headers.get('x-ratelimit-remaining-tokens') };
}

describe('static key limits across a reload of the key list', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let reloaded: App;
  let reloadedUrl: string;
  const env = (keys: string) => ({ OPENAI_API_KEY: UPSTREAM_KEY, LLM_PROXY_RPM: '2', LLM_PROXY_TPM: '100000', LLM_PROXY_CACHE: 'off', LLM_PROXY_LOG_LEVEL: 'warn', LLM_PROXY_API_KEYS: keys });

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ ...env(`${KEY_A},${KEY_B}`), OPENAI_BASE_URL: `${upstream.url}/v1` });
    // A reload that revokes key A: new services (B is now the first static key) around the same
    // shared part, the rate-limit counters included.
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

  test("a key that takes another's place in the list starts from its own counts, not the other key's", async () => {
    const first = await post(gateway.url, KEY_A);
    assert.equal(first.status, 200);
    assert.equal((await post(gateway.url, KEY_A)).remaining, '0');
    assert.equal((await post(gateway.url, KEY_A)).status, 429, 'A has spent its 2 requests');
    const other = await post(reloadedUrl, KEY_B);
    assert.equal(other.status, 200, 'B, now first in the list, was charged for A');
    assert.equal(other.remaining, '1');
    // B's token window is its own: after its first call it holds what A's held after A's first.
    assert.equal(other.tokensRemaining, first.tokensRemaining);
  });
});
