// PostgreSQL going away under the store, for real: a TCP relay in front of the server is cut while
// connections are checked out, and a deployment in its own schema migrates beside another one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/database.js';
import { createPostgresSchema, POSTGRES_URL, type PostgresSchema } from '../support/backing-services.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

const first = await createPostgresSchema();
const second = typeof first === 'string' ? first : await createPostgresSchema();
const skip = typeof first === 'string' ? first : typeof second === 'string' ? second : false;

/** The schema's DATABASE_URL (user, database, search_path) with the relay's address. */
function relayed(relay: TcpRelay, schema: PostgresSchema): string {
  const url = new URL(schema.url);
  url.host = new URL(relay.url).host;
  return url.toString();
}

describe('PostgreSQL faults under the store', { skip }, () => {
  const schemas = [first, second] as PostgresSchema[];
  after(async () => {
    for (const schema of schemas) await schema.drop();
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
