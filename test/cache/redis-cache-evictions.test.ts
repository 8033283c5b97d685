// Redis evicts cache entries on its own (maxmemory with a volatile-* or allkeys-* policy, or an
// operator's DEL): the stats index, kept by the proxy's scripts, must not go on counting them
// until their TTL would have ended.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { CachedAnswer } from '../../src/cache/cached-answer.js';
import { RedisCacheStore } from '../../src/cache/redis-cache-store.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';

let server: RedisServer | undefined;
let skip: string | undefined;

before(async () => {
  const started = await startRedisServer();
  if (typeof started === 'string') skip = started;
  else server = started;
});

after(async () => {
  await server?.stop();
});

/**
 * A connection that is ready: calls before that are refused (the cache is skipped), by design. The
 * commands wait up to 10 s, not the product's 250 ms: what is tested is the count, and a 100 KB set
 * that makes Redis evict took longer than 250 ms on a loaded machine (the full suite, load 12).
 */
async function connect(url: string): Promise<RedisConnection> {
  const connection = new RedisConnection({ url, commandTimeoutMs: 10_000 }, pino({ level: 'silent' }));
  if (connection.client.status !== 'ready') await new Promise((resolve) => connection.client.once('ready', resolve));
  return connection;
}

function answer(text: string): CachedAnswer {
  return { kind: 'json', body: JSON.stringify({ content: text }), storedAt: 0, usage: null };
}

test('entries Redis evicted or deleted itself leave the entry count and size', async (t) => {
  if (server === undefined) return t.skip(skip);
  const connection = await connect(server.url);
  const store = new RedisCacheStore(connection, 'evict-test:');
  try {
    for (let index = 0; index < 5; index++) await store.set(`key-${index}`, answer(`answer ${index}`), 3_600_000);
    const full = await store.stats(Date.now());
    assert.equal(full.entries, 5);
    // Two go without the proxy's scripts (as maxmemory's eviction or an operator's DEL takes them).
    await connection.client.del('evict-test:e:key-1', 'evict-test:e:key-3');
    const after = await store.stats(Date.now());
    assert.equal(after.entries, 3);
    assert.equal(after.sizeBytes, (full.sizeBytes / 5) * 3);
  } finally {
    await store.close();
    await connection.close();
  }
});

test('under maxmemory with volatile-lru, the count follows what Redis keeps', async (t) => {
  if (server === undefined) return t.skip(skip);
  const connection = await connect(server.url);
  const store = new RedisCacheStore(connection, 'lru-test:');
  try {
    const info = await connection.client.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
    await connection.client.config('SET', 'maxmemory-policy', 'volatile-lru');
    await connection.client.config('SET', 'maxmemory', String(used + 2 * 1024 * 1024));
    const text = 'x'.repeat(100_000);
    for (let index = 0; index < 60; index++) await store.set(`big-${index}`, answer(`${index} ${text}`), 3_600_000);
    // The stats script writes (its sweep mark), and a write at maxmemory may evict one more entry
    // before it runs: the keys are counted after it, as it found them.
    const { entries } = await store.stats(Date.now());
    const kept = (await connection.client.keys('lru-test:e:*')).length;
    assert.ok(kept < 60, `Redis evicted some (kept ${kept})`);
    assert.equal(entries, kept);
  } finally {
    await connection.client.config('SET', 'maxmemory', '0');
    await store.close();
    await connection.close();
  }
});
