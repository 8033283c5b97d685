import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from './config-error.js';
import { loadConfig } from './config-loader.js';
import { trustProxyOption } from './trust-proxy.js';

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'llm-proxy-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
}

function trustFrom(yaml: string, env: Record<string, string> = {}): unknown {
  return loadConfig({ LLM_PROXY_CONFIG: file(yaml), ...env }).config.server.trust_proxy;
}

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail('the config was accepted');
}

test('server.trust_proxy: off unless set; a boolean, a hop count or addresses, from the file, ${ENV} or LLM_PROXY_TRUST_PROXY', () => {
  assert.equal(loadConfig({}).config.server.trust_proxy, undefined);
  assert.equal(trustFrom('server: { trust_proxy: true }'), true);
  assert.equal(trustFrom('server: { trust_proxy: 2 }'), 2);
  assert.deepEqual(trustFrom('server:\n  trust_proxy: [127.0.0.1, "10.0.0.0/8", "::1", loopback]\n'), ['127.0.0.1', '10.0.0.0/8', '::1', 'loopback']);
  assert.equal(trustFrom('server: { trust_proxy: "127.0.0.1, 10.0.0.0/8" }'), '127.0.0.1, 10.0.0.0/8');
  assert.equal(trustFrom('server: { trust_proxy: ${TRUST} }', { TRUST: '1' }), 1);
  assert.equal(trustFrom('server: { trust_proxy: ${TRUST} }', { TRUST: '172.16.0.0/12' }), '172.16.0.0/12');
  // The variable wins over the file, as for the other server settings.
  assert.equal(trustFrom('server: { trust_proxy: 10.0.0.1 }', { LLM_PROXY_TRUST_PROXY: 'false' }), false);
  assert.equal(loadConfig({ LLM_PROXY_TRUST_PROXY: 'true' }).config.server.trust_proxy, true);
  assert.equal(loadConfig({ LLM_PROXY_TRUST_PROXY: '3' }).config.server.trust_proxy, 3);
  assert.equal(loadConfig({ LLM_PROXY_TRUST_PROXY: '127.0.0.1,fd00::/8' }).config.server.trust_proxy, '127.0.0.1,fd00::/8');
});

test('server.trust_proxy: a bad value stops the start with the field named, the value described', () => {
  for (const bad of ['10.0.0.300', '127.0.0.1,balancer.internal', '10.0.0.0/33', '::/129', '10.0.0.0/0', '10.0.0.0/', ' , ', '-1', '65']) {
    const message = refusal({ LLM_PROXY_TRUST_PROXY: bad });
    assert.match(message, /server\.trust_proxy/, bad);
    if (bad.includes('balancer')) assert.ok(!message.includes('balancer.internal'), message);
  }
  assert.match(refusal({ LLM_PROXY_TRUST_PROXY: '127.0.0.1,nope' }), /entry 2 .* is not an IP address/);
  assert.match(refusal({ LLM_PROXY_TRUST_PROXY: '10.0.0.0/33' }), /prefix that is not 1 to 32/);
  assert.match(refusal({ LLM_PROXY_TRUST_PROXY: '65' }), /server\.trust_proxy \(or LLM_PROXY_TRUST_PROXY\): Expected true, false, a hop count from 0 to 64, or a list of addresses\/CIDRs; got 65/);
  assert.match(refusal({ LLM_PROXY_CONFIG: file('server: { trust_proxy: [] }') }), /server\.trust_proxy/);
  assert.match(refusal({ LLM_PROXY_CONFIG: file('server: { trust_proxy: { a: 1 } }') }), /server\.trust_proxy/);
  assert.match(refusal({ LLM_PROXY_CONFIG: file('server: { trust_proxy: [10.0.0.1, 7] }') }), /server\.trust_proxy/);
});

test("trustProxyOption: Fastify's trustProxy for each form; a hop count trusts that many hops from the socket", () => {
  assert.equal(trustProxyOption(undefined), false);
  assert.equal(trustProxyOption(false), false);
  assert.equal(trustProxyOption(0), false);
  assert.equal(trustProxyOption(true), true);
  assert.deepEqual(trustProxyOption(' 127.0.0.1 ,10.0.0.0/8,'), ['127.0.0.1', '10.0.0.0/8']);
  assert.deepEqual(trustProxyOption(['uniquelocal']), ['uniquelocal']);
  const hops = trustProxyOption(2);
  assert.equal(typeof hops, 'function');
  if (typeof hops !== 'function') return;
  assert.deepEqual([0, 1, 2, 3].map((hop) => hops('203.0.113.9', hop)), [true, true, false, false]);
});
