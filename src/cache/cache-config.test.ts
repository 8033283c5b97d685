import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { pino } from 'pino';
import { ConfigError } from '../config/config-error.js';
import { defaultConfig, loadConfig } from '../config/config-loader.js';
import { ConfigSchema } from '../config/config-schema.js';
import { cacheSecret, createResponseCache } from './create-response-cache.js';

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'llm-proxy-cache-config-')), 'config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('cache configuration', () => {
  test('the defaults are valid and put the cache in memory', () => {
    assert.ok(Value.Check(ConfigSchema, defaultConfig()));
    assert.equal(loadConfig({}).config.cache.backend, 'memory');
  });

  test('LLM_PROXY_CACHE=redis without REDIS_URL is a clear error', () => {
    assert.throws(() => loadConfig({ LLM_PROXY_CACHE: 'redis' }), (error: unknown) => error instanceof ConfigError && /REDIS_URL/.test(error.message));
    assert.throws(() => loadConfig({ LLM_PROXY_CACHE: 'disk' }), (error: unknown) => error instanceof ConfigError && /LLM_PROXY_CACHE/.test(error.message));
  });

  test('REDIS_URL puts the cache in Redis unless a backend is chosen', () => {
    assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).config.cache.backend, 'redis');
    assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', LLM_PROXY_CACHE: 'memory' }).config.cache.backend, 'memory');
    const file = yamlFile('cache:\n  backend: off\n');
    assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', LLM_PROXY_CONFIG: file }).config.cache.backend, 'off');
  });

  test('ttl_by_model, namespace and the other options are read from the file', () => {
    const file = yamlFile('cache:\n  ttl_s: 60\n  ttl_by_model: { gpt-4o: 600, "anthropic/claude-3-5-haiku-latest": 0 }\n  namespace: team-a\n  multiple_choices: true\n');
    const { cache } = loadConfig({ LLM_PROXY_CONFIG: file, LLM_PROXY_CACHE_TTL: '30' }).config;
    assert.equal(cache.ttl_s, 30);
    assert.deepEqual(cache.ttl_by_model, { 'gpt-4o': 600, 'anthropic/claude-3-5-haiku-latest': 0 });
    assert.equal(cache.namespace, 'team-a');
    assert.equal(cache.multiple_choices, true);
    assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: yamlFile('cache:\n  ttl_by_model: { gpt-4o: -1 }\n') }), /ttl_by_model/);
  });

  test('the key secret: configured, random per process for memory, shared for Redis', () => {
    const memory = loadConfig({}).config;
    assert.equal(cacheSecret(memory).source, 'random');
    assert.notDeepEqual(cacheSecret(memory).secret, cacheSecret(memory).secret);

    const redis = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', LLM_PROXY_MASTER_KEY: 'sk-master-0123456789abcdef0123456789' }).config;
    assert.equal(cacheSecret(redis).source, 'master_key');
    assert.deepEqual(cacheSecret(redis).secret, cacheSecret(redis).secret);
    // Derived, never the master key itself.
    assert.ok(!cacheSecret(redis).secret.toString('latin1').includes('sk-master'));

    const bare = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).config;
    assert.equal(cacheSecret(bare).source, 'redis_url');
    const configured = loadConfig({ LLM_PROXY_CONFIG: yamlFile('cache:\n  secret: a-long-shared-cache-secret\n') }).config;
    assert.equal(cacheSecret(configured).source, 'configured');
    assert.deepEqual(cacheSecret(configured).secret, cacheSecret(configured).secret);
  });

  test('off means no cache object at all', () => {
    assert.equal(createResponseCache(loadConfig({ LLM_PROXY_CACHE: 'off' }).config, pino({ level: 'silent' }), undefined), undefined);
    assert.equal(createResponseCache(loadConfig({}).config, pino({ level: 'silent' }), undefined)?.backend, 'memory');
  });
});
