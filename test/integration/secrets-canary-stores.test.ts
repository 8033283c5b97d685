// RELIABILITY §4d#9, the stores: with canary provider, client and master keys, traffic through a
// proxy on PostgreSQL (its own schema) and Redis (a private redis-server), then every row of every
// table and every Redis key and value are searched for the canaries and their SHA-256. Only the
// virtual-key table's hash column may hold a digest, and only of the virtual key. (The SQLite file,
// logs, answers and upstream requests are swept in secrets-canary.test.ts.)
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, type Gateway } from '../support/gateway-harness.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';
import { call, chat } from '../support/reliability-support.js';

const hex = () => randomBytes(12).toString('hex');
const OPENAI_CANARY = `canaryOpenAiProvider${hex()}`;
const CLIENT_CANARY = `canaryClientKey${hex()}`;
const MASTER_CANARY = `canaryMasterKey${hex()}${hex()}`;

const postgres = await createPostgresSchema();
const redisServer = await startRedisServer();
const skip = typeof postgres === 'string' ? postgres : typeof redisServer === 'string' ? redisServer : false;

/** A secret and its SHA-256 in hex, base64 and base64url. */
function forms(name: string, secret: string): Array<{ name: string; value: string }> {
  const digest = createHash('sha256').update(secret, 'utf8').digest();
  return [
    { name, value: secret },
    { name: `sha256(${name})`, value: digest.toString('hex') },
    { name: `sha256-b64(${name})`, value: digest.toString('base64') },
    { name: `sha256-b64url(${name})`, value: digest.toString('base64url') },
  ];
}

describe('§4d#9 canary sweep of PostgreSQL and Redis', { skip }, () => {
  const schema = postgres as PostgresSchema;
  const redis = redisServer as RedisServer;
  let fake: FakeOpenAi;
  let gateway: Gateway | undefined;
  let virtualKey = '';
  const rows: Array<{ table: string; column: string; text: string }> = [];
  const redisEntries: Array<{ key: string; text: string }> = [];

  before(async () => {
    fake = await startFakeOpenAi({ apiKey: OPENAI_CANARY });
    gateway = await startGateway({
      OPENAI_API_KEY: OPENAI_CANARY,
      OPENAI_BASE_URL: `${fake.url}/v1`,
      LLM_PROXY_API_KEYS: CLIENT_CANARY,
      LLM_PROXY_MASTER_KEY: MASTER_CANARY,
      LLM_PROXY_RPM: '100',
      LLM_PROXY_TPM: '1000000',
      LLM_PROXY_CACHE: 'redis',
      DATABASE_URL: schema.url,
      REDIS_URL: redis.url,
    });
    const services = gateway.app.services;
    await services.store.ready();
    const deadline = Date.now() + 3_000;
    while (services.redis?.available() !== true && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(services.redis?.available(), true, 'Redis in use');

    const url = gateway.url;
    const as = (key: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json', ...extra });
    const send = (headers: Record<string, string>, body: string) => call(url, { headers, body });
    assert.equal((await send(as(CLIENT_CANARY), chat({}, 'cached question'))).status, 200);
    assert.equal((await send(as(CLIENT_CANARY), chat({}, 'cached question'))).status, 200);
    assert.equal((await send(as(CLIENT_CANARY), chat({ stream: true }, 'streamed'))).status, 200);
    await send(as(CLIENT_CANARY, { 'x-request-id': CLIENT_CANARY }), chat({}, 'id is the key'));
    await send(as(CLIENT_CANARY), chat({ model: `openai/${CLIENT_CANARY}` }));
    await send(as(CLIENT_CANARY), chat({ user: 'u', metadata: { note: 'plain' } }, 'metadata'));
    fake.enqueue({ kind: 'status', status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${OPENAI_CANARY}`, type: 'x', param: null, code: null } }) });
    await send(as(CLIENT_CANARY), chat({}, 'upstream 401'));
    fake.enqueue({ kind: 'error-event', chunks: 2, message: `key ${OPENAI_CANARY} exhausted` });
    await send(as(CLIENT_CANARY), chat({ stream: true }, 'error event'));
    // Failed authentication (counted per address in Redis) with near-misses of each key.
    for (const wrong of [`${CLIENT_CANARY}x`, MASTER_CANARY.slice(0, -1), OPENAI_CANARY]) await send(as(wrong), chat());
    // A virtual key: created, used, listed.
    const made = await call(url, { path: '/admin/keys', headers: as(MASTER_CANARY), body: JSON.stringify({ name: 'canary', max_budget: 5, tpm_limit: 100000 }) });
    assert.equal(made.status, 201, made.body);
    virtualKey = (JSON.parse(made.body) as { key: string }).key;
    assert.equal((await send(as(virtualKey), chat({}, 'virtual'))).status, 200);
    assert.equal((await send(as(virtualKey), chat({ stream: true }, 'virtual stream'))).status, 200);
    await call(url, { method: 'GET', path: '/admin/keys', headers: as(MASTER_CANARY) });
    await call(url, { method: 'GET', path: '/admin/usage/records', headers: as(MASTER_CANARY) });
    await services.usage.flush();
    await gateway.close();
    gateway = undefined;

    // Every row of every table in the schema, column by column.
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      const tables = await client.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = $1', [schema.schema]);
      for (const { table_name: table } of tables.rows) {
        const result = await client.query<Record<string, unknown>>(`select * from "${schema.schema}"."${table}"`);
        for (const row of result.rows) for (const [column, value] of Object.entries(row)) rows.push({ table, column, text: value instanceof Buffer ? value.toString('latin1') : JSON.stringify(value) });
      }
    } finally {
      await client.end();
    }
    // Every Redis key with its value, whatever its type.
    const reader = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      for (const key of await reader.keys('*')) {
        const type = await reader.type(key);
        let value: unknown;
        if (type === 'string') value = (await reader.getBuffer(key))?.toString('latin1');
        else if (type === 'hash') value = await reader.hgetall(key);
        else if (type === 'list') value = await reader.lrange(key, 0, -1);
        else if (type === 'set') value = await reader.smembers(key);
        else if (type === 'zset') value = await reader.zrange(key, 0, -1, 'WITHSCORES');
        else if (type === 'stream') value = await reader.xrange(key, '-', '+');
        redisEntries.push({ key, text: `${key}\n${JSON.stringify(value)}` });
      }
    } finally {
      reader.disconnect();
    }
  });

  after(async () => {
    await gateway?.close();
    await fake?.close();
    await schema.drop();
    await redis.stop();
  });

  const staticNeedles = () => [...forms('openai key', OPENAI_CANARY), ...forms('client key', CLIENT_CANARY), ...forms('master key', MASTER_CANARY)];
  const find = (text: string, needles: Array<{ name: string; value: string }>) => needles.filter((needle) => text.toLowerCase().includes(needle.value.toLowerCase())).map((needle) => needle.name);

  test('the sweep saw data: usage rows, the virtual key, cache and counter entries', () => {
    assert.ok(rows.some((row) => row.table === 'usage_records'), 'usage rows');
    assert.ok(virtualKey.length > 0);
    assert.ok(redisEntries.length >= 3, `${redisEntries.length} Redis keys`);
  });

  test('PostgreSQL: no canary or digest of one anywhere; the virtual key only as its hash, in the hash column', () => {
    const found: string[] = [];
    for (const row of rows) {
      for (const name of find(row.text, staticNeedles())) found.push(`${row.table}.${row.column}: ${name}`);
      const virtual = find(row.text, forms('virtual key', virtualKey));
      for (const name of virtual) if (!(name === 'sha256(virtual key)' && row.column === 'key_hash')) found.push(`${row.table}.${row.column}: ${name}`);
      // The id part of a virtual key is its public handle; its secret (43 base64url characters) never appears.
      const secretPart = virtualKey.slice(-43);
      if (row.text.includes(secretPart)) found.push(`${row.table}.${row.column}: the virtual key's secret`);
    }
    assert.deepEqual(found, []);
  });

  test('Redis: no canary, virtual key or digest of one in any key or value', () => {
    const found: string[] = [];
    for (const entry of redisEntries) for (const name of find(entry.text, [...staticNeedles(), ...forms('virtual key', virtualKey)])) found.push(`${entry.key.slice(0, 80)}: ${name}`);
    assert.deepEqual(found, []);
  });
});
