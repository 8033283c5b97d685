// RELIABILITY §4b#17 and #18 on a real PostgreSQL: the gateway's DATABASE_URL goes through a TCP relay
// the test cuts (every connection dropped, new ones refused) and restores, and another session locks
// the usage table so writes wait. virtual-keys.test.ts covers both rows on SQLite (the store's calls
// made to fail, the file's write lock held); these prove them with the real driver.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { chat, createKey, errorCode } from '../support/key-support.js';
import { generateVirtualKey } from '../../src/keys/virtual-keys.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

const postgres = await createPostgresSchema();

/** Rows per request id of one key, read straight from the schema (not through the proxy's store). */
async function rowsByRequest(schema: PostgresSchema, keyId: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ request_id: string; count: string }>('select request_id, count(*) as count from usage_records where key_id = $1 group by request_id', [keyId]);
    return new Map(rows.map((row) => [row.request_id, Number(row.count)]));
  } finally {
    await client.end();
  }
}

describe('§4b#17/#18 PostgreSQL away or slow at runtime (real server)', { skip: typeof postgres === 'string' ? postgres : false }, () => {
  const schema = postgres as PostgresSchema;
  let relay: TcpRelay;
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    relay = await startTcpRelay(schema.url);
    const url = new URL(schema.url);
    url.host = new URL(relay.url).host;
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0', DATABASE_URL: url.toString() });
    await gateway.app.services.store.ready();
  });
  after(async () => {
    relay?.restore();
    await gateway?.close();
    await upstream?.close();
    await relay?.close();
    await schema.drop();
  });

  test('known keys served, unknown keys 503 auth_unavailable at once, ready stays 200; usage spooled, then written once per request id', async () => {
    const base = gateway.url;
    const { id, key } = await createKey(base, { max_budget: 5 });
    const first = await chat(base, key);
    assert.equal(first.status, 200, first.text);
    await gateway.app.services.usage.flush();
    assert.equal((await rowsByRequest(schema, id)).size, 1, 'the first request is written before the outage');

    relay.cut();
    const outageIds: string[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await chat(base, key, { messages: [{ role: 'user', content: `during the outage ${index}` }] });
      assert.equal(response.status, 200, response.text);
      outageIds.push(response.headers.get('x-request-id') ?? '');
    }
    assert.equal(new Set(outageIds).size, 5, 'each request has its own id');
    // Fail closed, and promptly: a refused connection is known at once, not after the query timeout.
    const started = Date.now();
    const stranger = await chat(base, generateVirtualKey().key);
    assert.equal(stranger.status, 503, stranger.text);
    assert.equal(errorCode(stranger), 'auth_unavailable');
    assert.ok(stranger.headers.get('retry-after') !== null, 'a 503 says when to retry');
    assert.ok(Date.now() - started < 2_000, `answered in ${Date.now() - started} ms`);
    assert.equal((await chat(base, CLIENT_KEY)).status, 200, 'static keys never touch the database');
    for (const probe of ['/health/ready', '/health/live']) assert.equal((await fetch(`${base}${probe}`)).status, 200, probe);
    await gateway.app.services.usage.flush();
    assert.equal((await rowsByRequest(schema, id)).size, 1, 'nothing written while the database is away');

    relay.restore();
    await gateway.app.services.usage.flush();
    // The spool is written once the database answers (at the latest at the end of its retry backoff).
    const deadline = Date.now() + 15_000;
    let rows = await rowsByRequest(schema, id);
    while (rows.size < 6 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await gateway.app.services.usage.flush();
      rows = await rowsByRequest(schema, id);
    }
    for (const requestId of outageIds) assert.equal(rows.get(requestId), 1, `${requestId}: written once`);
    assert.equal(rows.size, 6, 'no record lost, none added');
    // Flushing again (a replay retried after the database was back) adds nothing.
    await gateway.app.services.usage.flush();
    assert.deepEqual([...(await rowsByRequest(schema, id)).values()], [1, 1, 1, 1, 1, 1]);
    const after = await chat(base, key);
    assert.equal(after.status, 200, after.text);
  });

  test('§4b#18 usage writes that wait 4 s (another session locks usage_records) do not hold up requests; every record lands once', async () => {
    const base = gateway.url;
    const { id, key } = await createKey(base, { max_budget: 5 });
    assert.equal((await chat(base, key)).status, 200);
    await gateway.app.services.usage.flush();
    const baseline = Date.now();
    assert.equal((await chat(base, CLIENT_KEY)).status, 200);
    const normal = Date.now() - baseline;
    // Writes wait for the lock; reads (key look-ups, budget figures) do not.
    const holder = new pg.Client({ connectionString: schema.url });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table usage_records in exclusive mode');
    const ids: string[] = [];
    let slowest = 0;
    try {
      const until = Date.now() + 4_000;
      while (Date.now() < until) {
        const started = Date.now();
        const answer = await chat(base, key, { messages: [{ role: 'user', content: `slow writes ${ids.length}` }] });
        slowest = Math.max(slowest, Date.now() - started);
        assert.equal(answer.status, 200, answer.text);
        ids.push(answer.headers.get('x-request-id') ?? '');
      }
      assert.equal((await rowsByRequest(schema, id)).size, 1, 'the batches are waiting for the lock');
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    // A batch waiting on the lock may hold the key's row, so a budget hold can wait its 1 s bound, no more.
    assert.ok(slowest < normal + 1_500, `slowest request ${slowest} ms (a normal one ${normal} ms)`);
    await gateway.app.services.usage.flush();
    const rows = await rowsByRequest(schema, id);
    for (const requestId of ids) assert.equal(rows.get(requestId), 1, `${requestId}: written once`);
    assert.equal(rows.size, 1 + ids.length);
  });
});
