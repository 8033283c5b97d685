import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor } from '../logging/redactor.js';
import { ConfigError } from './config-error.js';
import { loadConfig } from './config-loader.js';
import { changedProviders, configErrorField, keepRestartOnly } from './reload.js';

function loadError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('the config was accepted');
}

test('restart-only settings keep their running values and are listed; the rest change', () => {
  const running = loadConfig({ PORT: '8000', LLM_PROXY_RPM: '60' }).config;
  const next = loadConfig({ PORT: '9000', LLM_PROXY_RPM: '120', REDIS_URL: 'redis://127.0.0.1:6379', LLM_PROXY_WORKERS: '4' }).config;
  const changed = keepRestartOnly(running, next);
  assert.deepEqual(changed, ['server.port', 'server.workers', 'storage.redis_url', 'cache']);
  assert.equal(next.server.port, 8000);
  assert.equal(next.server.workers, undefined);
  assert.equal(next.storage.redis_url, undefined);
  // REDIS_URL had switched the cache to Redis: that too waits for a restart.
  assert.equal(next.cache.backend, 'memory');
  assert.equal(next.limits.default_rpm, 120);
  assert.deepEqual(keepRestartOnly(running, loadConfig({ PORT: '8000', LLM_PROXY_RPM: '5' }).config), []);
});

test('changedProviders names providers whose settings differ, not new or removed ones', () => {
  const running = loadConfig({ OPENAI_API_KEY: 'sk-a', ANTHROPIC_API_KEY: 'sk-b' }).config;
  const next = loadConfig({ OPENAI_API_KEY: 'sk-other', ANTHROPIC_API_KEY: 'sk-b', GROQ_API_KEY: 'sk-c' }).config;
  assert.deepEqual(changedProviders(running, next), ['openai']);
});

test('configErrorField finds the field a loader error names', () => {
  assert.equal(configErrorField(loadError({ LLM_PROXY_RPM: '-1' })), 'limits.default_rpm');
  assert.equal(configErrorField(loadError({ LLM_PROXY_WORKERS: 'two' })), 'server.workers');
  assert.equal(configErrorField(loadError({ PORT: '0x1F40' })), 'server.port');
  assert.equal(configErrorField(loadError({ LLM_PROXY_API_KEYS: ',' })), 'auth.api_keys');
  assert.equal(configErrorField(loadError({ LLM_PROXY_CONFIG: '/nonexistent/llm-proxy.yaml' })), 'LLM_PROXY_CONFIG');
  assert.equal(configErrorField("providers.acme.type: 'acme' is not a known provider"), 'providers.acme.type');
  assert.equal(configErrorField('/tmp/config.yaml: not valid YAML: bad indentation'), null);
});

test('LLM_PROXY_WORKERS takes a count or auto', () => {
  assert.equal(loadConfig({ LLM_PROXY_WORKERS: '3' }).config.server.workers, 3);
  assert.equal(loadConfig({ LLM_PROXY_WORKERS: 'auto' }).config.server.workers, 'auto');
  assert.match(loadError({ LLM_PROXY_WORKERS: '0' }), /server\.workers \(or LLM_PROXY_WORKERS\)/);
});

test('a bad worker count is answered with the forms it may take, not "Expected union value"', () => {
  const expected = 'Expected a whole number from 1 to 256, or auto (one per core)';
  assert.ok(loadError({ LLM_PROXY_WORKERS: 'two' }).endsWith(`\n  server.workers (or LLM_PROXY_WORKERS): ${expected}; got a string of 3 characters`));
  for (const bad of ['0', '257', '1.5', '-2']) {
    const message = loadError({ LLM_PROXY_WORKERS: bad });
    assert.ok(message.includes(expected), message);
    assert.ok(!message.includes('union'), message);
  }
});

test('a redactor extended by a reload hides the new secrets and still the old ones', () => {
  const redactor = new Redactor(['old-secret-value']);
  redactor.extend(['new-secret-value']);
  assert.equal(redactor.redact('a old-secret-value b new-secret-value'), 'a [redacted] b [redacted]');
});

test('configErrorField finds the field of an upstream URL refusal, set by env or file', () => {
  assert.equal(configErrorField(loadError({ OLLAMA_BASE_URL: 'http://10.0.0.5:11434' })), 'providers.ollama.base_url');
});
