// RELIABILITY §4a#15 on PostgreSQL: "\u0000" and lone surrogates ("\ud800") in what a client sends
// are served or refused, never a 500, and never cost a usage row. PostgreSQL text refuses NUL (and
// one bad row fails its whole batch), so the rows are read back from the database itself, not from
// the in-memory recorder the other §4a tests use. A virtual key with a budget puts the spend update
// and the budget hold in the same transactions.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import { call, type RawResponse } from '../support/reliability-support.js';

const postgres = await createPostgresSchema();
const skip = typeof postgres === 'string' ? postgres : false;

/** Raw JSON text, so the escapes reach the proxy as a client writes them. */
const ESCAPED = 'a\\u0000b \\ud800 c\\udfff\\u0000';
const messages = `[{"role":"system","content":"sys\\u0000"},{"role":"user","content":"${ESCAPED}"}]`;
const SERVED: Array<[string, string]> = [
  ['/v1/chat/completions', `{"model":"gpt-4","messages":${messages}}`],
  // Asked twice with the cache on: the second is a cache hit, a row of its own.
  ['/v1/chat/completions', `{"model":"gpt-4","messages":${messages}}`],
  ['/v1/chat/completions', `{"model":"gpt-4","stream":true,"messages":${messages}}`],
  ['/v1/chat/completions', `{"model":"gpt-4","user":"u\\u0000\\ud800","metadata":{"k\\u0000":"v\\ud800"},"messages":[{"role":"user","content":"x"}]}`],
  ['/v1/messages', `{"model":"gpt-4","max_tokens":16,"system":"s\\u0000","metadata":{"user_id":"\\u0000\\ud800"},"messages":[{"role":"user","content":"${ESCAPED}"}]}`],
  ['/v1/messages', `{"model":"gpt-4","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"${ESCAPED}"}]}`],
  ['/v1/completions', `{"model":"gpt-4","max_tokens":16,"prompt":"${ESCAPED}"}`],
  ['/v1/embeddings', `{"model":"text-embedding-3-small","input":["${ESCAPED}","\\u0000"]}`],
  ['/api/condense', `{"messages":[{"role":"user","content":"${ESCAPED} and more words to summarise"}]}`],
];

describe('§4a#15 NUL and lone surrogates through a proxy on PostgreSQL', { skip }, () => {
  const schema = postgres as PostgresSchema;
  let fake: FakeOpenAi;
  let gateway: Gateway | undefined;
  let key = '';

  before(async () => {
    fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'memory', DATABASE_URL: schema.url });
    await gateway.app.services.store.ready();
    key = (await createKey(gateway.url, { name: 'escapes', max_budget: 100 })).key;
  });
  after(async () => {
    await gateway?.close();
    await fake?.close();
    await schema.drop();
  });

  test('every answer is 200 (or a 4xx for a name nothing serves), and every served request has its row in PostgreSQL', async () => {
    const live = gateway as Gateway;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const served: RawResponse[] = [];
    for (const [path, body] of SERVED) {
      const res = await call(live.url, { path, headers, body });
      assert.equal(res.status, 200, `${path}: ${res.body.slice(0, 300)}`);
      served.push(res);
    }
    // Model names holding them route nowhere: a 404, never a 500.
    for (const model of ['gpt-4\\u0000', 'gpt-4\\ud800', '\\u0000']) {
      const res = await call(live.url, { headers, body: `{"model":"${model}","messages":[{"role":"user","content":"x"}]}` });
      assert.equal(res.status, 404, res.body);
    }
    await live.app.services.usage.flush();

    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      const ids = served.map((res) => res.headers['x-request-id'] as string);
      const rows = await client.query<{ request_id: string; http_status: number; endpoint: string; key_id: string }>('select request_id, http_status, endpoint, key_id from usage_records where request_id = any($1)', [ids]);
      for (const [index, id] of ids.entries()) {
        const found = rows.rows.filter((row) => row.request_id === id);
        assert.equal(found.length, 1, `${SERVED[index]?.[0]} #${index}: ${found.length} usage rows for ${id}`);
        assert.equal(found[0]?.http_status, 200);
      }
      // The key was charged for what it used: the spend update went through with the rows.
      const spend = await client.query<{ total_spend: number }>('select total_spend from virtual_keys where id = $1', [rows.rows[0]?.key_id]);
      assert.ok(Number(spend.rows[0]?.total_spend) > 0, 'the key was charged');
    } finally {
      await client.end();
    }
    assert.ok(!live.logs.some((line) => /"level":(?:50|60)/.test(line)), `an error logged: ${live.logs.find((line) => /"level":(?:50|60)/.test(line))?.slice(0, 400)}`);
  });
});
