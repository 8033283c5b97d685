// PostgreSQL going away under the store, for real: a TCP relay in front of the server is cut while
// connections are checked out, and a deployment in its own schema migrates beside another one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { openDatabase } from '../../src/store/database.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { createPostgresSchema, POSTGRES_URL, type PostgresSchema } from '../support/backing-services.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

const logger = pino({ level: 'silent' });
const first = await createPostgresSchema();
const second = typeof first === 'string' ? first : await createPostgresSchema();
const skip = typeof first === 'string' ? first : typeof second === 'string' ? second : false;

/** The schema's DATABASE_URL (user, database, search_path) with the relay's address. */
function relayed(relay: TcpRelay, schema: PostgresSchema): string {
  const url = new URL(schema.url);
  url.host = new URL(relay.url).host;
  return url.toString();
}

async function tablesIn(schema: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = $1 order by 1', [schema]);
    return rows.map((row) => row.table_name);
  } finally {
    await client.end();
  }
}

describe('PostgreSQL faults under the store', { skip }, () => {
  const schemas = [first, second] as PostgresSchema[];
  after(async () => {
    for (const schema of schemas) await schema.drop();
  });

  test('a deployment in its own schema migrates even when another schema of the database holds the tables', async () => {
    const [one, two] = schemas as [PostgresSchema, PostgresSchema];
    const a = new SqlStore({ dbPath: 'unused.db', databaseUrl: one.url }, logger);
    const b = new SqlStore({ dbPath: 'unused.db', databaseUrl: two.url }, logger);
    try {
      await a.ready();
      // Kysely's migrator, told no schema, took the first schema's bookkeeping tables for its own and never made them here.
      await b.ready();
      const key = await b.keys.insert({ id: 'aaaaaaaaaaaaaaaa', keyHash: '0'.repeat(64), prefix: 'x' }, Date.now());
      assert.equal(key.id, 'aaaaaaaaaaaaaaaa');
      assert.ok((await tablesIn(two.schema)).includes('llm_proxy_migration_lock'));
      assert.ok((await tablesIn(two.schema)).includes('usage_records'));
    } finally {
      await a.close();
      await b.close();
    }
  });

  describe('through a relay that is cut', () => {
    let relay: TcpRelay;
    before(async () => {
      relay = await startTcpRelay(POSTGRES_URL);
    });
    after(async () => {
      await relay.close();
    });

    test('connections dropped while checked out (mid-transaction) fail their callers, not the process, and new ones are made once it is back', async () => {
      const database = openDatabase({ dbPath: 'unused.db', databaseUrl: relayed(relay, schemas[0] as PostgresSchema), timeoutMs: 2_000 });
      try {
        // Between two statements of a transaction the client is checked out and has no query to fail:
        // pg emits the disconnect on the client itself, which ended the process (an unhandled 'error').
        const midTransaction = database.db.transaction().execute(async (trx) => {
          await sql`select 1`.execute(trx);
          relay.cut();
          await new Promise((resolve) => setTimeout(resolve, 200));
          await sql`select 1`.execute(trx);
        });
        await assert.rejects(midTransaction);
        await assert.rejects(sql`select 1`.execute(database.db), 'refused while cut');
        relay.restore();
        const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
        assert.deepEqual(rows, [{ one: 1 }], 'the pool makes new connections once the database is back');
      } finally {
        relay.restore();
        await database.close();
      }
    });
  });
});
