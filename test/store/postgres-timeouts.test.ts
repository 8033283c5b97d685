// A statement past the store's timeout on a real PostgreSQL, waiting on a row lock another session
// holds: the server stops it too (statement_timeout), and a pooled connection whose answer the client
// gave up on (node-pg's query_timeout) is closed, not handed to the next caller still busy.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/store/database.js';
import { isTransientStoreError } from '../../src/store/transient-errors.js';
import { createPostgresSchema, POSTGRES_URL, type PostgresSchema } from '../support/backing-services.js';

const postgres = await createPostgresSchema();
const skip = typeof postgres === 'string' ? postgres : false;

interface Blocker {
  release(): Promise<void>;
}

/** Another session holding row 1 of `probe`, as another instance's budget hold holds a key's row. */
async function lockRow(url: string): Promise<Blocker> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('create table if not exists probe (id int primary key)');
  await client.query('create table if not exists marks (note text)');
  await client.query('insert into probe values (1) on conflict do nothing');
  await client.query('begin');
  await client.query('select id from probe where id = 1 for update');
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('rollback');
      await client.end();
    },
  };
}

/** The store's statements still waiting on a lock in the server, by the pool's application_name. */
async function waitingStatements(application: string): Promise<number> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ count: string }>("select count(*) from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [application]);
    return Number(rows[0]?.count ?? 0);
  } finally {
    await admin.end();
  }
}

async function failure(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => assert.fail('expected the statement to time out'),
    (error: unknown) => error,
  );
}

const lockedRowQuery = sql`select id from probe where id = 1 for update`;

describe('PostgreSQL statements past the store timeout', { skip }, () => {
  const schema = postgres as PostgresSchema;
  let counter = 0;
  /** A one-connection pool with a 300 ms timeout, named so its server sessions can be counted. */
  function open(): { database: Database; application: string } {
    const application = `llmp_timeouts_${process.pid}_${counter++}`;
    const database = openDatabase({ dbPath: 'unused.db', databaseUrl: `${schema.url}&application_name=${application}`, timeoutMs: 300, poolSize: 1, poolWaitMs: 5_000 });
    return { database, application };
  }
  after(async () => {
    await schema.drop();
  });

  test('the server stops the statement at the timeout, and the pooled connection serves the next caller at once', async () => {
    const { database, application } = open();
    const blocker = await lockRow(schema.url);
    try {
      const error = await failure(lockedRowQuery.execute(database.db));
      assert.equal(isTransientStoreError(error), true, String(error));
      // Before: the one connection went back to the pool with the statement still waiting in the
      // server, and this query queued behind it until its own read timeout.
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
      assert.deepEqual(rows, [{ one: 1 }]);
      // The server's limit is a little under the client's 300 ms, so its cancel comes first.
      const shown = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(database.db);
      assert.deepEqual(shown.rows, [{ statement_timeout: '150ms' }]);
      assert.equal(await waitingStatements(application), 0, 'no statement of the store still waits on the lock');
    } finally {
      await blocker.release();
      await database.close();
    }
  });

  test('transactions that time out leave no statement in the server holding their locks and a connection slot', async () => {
    const { database, application } = open();
    const blocker = await lockRow(schema.url);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const error = await failure(
          database.db.transaction().execute(async (trx) => {
            await sql`insert into marks values ('timed out')`.execute(trx);
            await lockedRowQuery.execute(trx);
          }),
        );
        assert.equal(isTransientStoreError(error), true, String(error));
      }
      // Before: each closed connection left its backend waiting on the lock, in its transaction:
      // three server sessions (and locks) for a pool of one, growing while the lock was held.
      assert.equal(await waitingStatements(application), 0);
    } finally {
      await blocker.release();
      await database.close();
    }
  });

  test('a connection whose answer the client gave up on is closed: the next caller gets a new one, outside the old transaction', async () => {
    const { database } = open();
    const blocker = await lockRow(schema.url);
    try {
      // A server that does not stop the statement itself (a session without statement_timeout),
      // as a stalled network or server would look: only the client's read timeout ends the wait.
      await sql`set statement_timeout = 0`.execute(database.db);
      const before = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db);
      const plain = await failure(lockedRowQuery.execute(database.db));
      assert.match(String(plain), /Query read timeout/);
      // Before: this waited behind the statement still running on that connection, and timed out too.
      const next = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db);
      assert.notEqual(next.rows[0]?.pid, before.rows[0]?.pid, 'a new connection');

      await sql`set statement_timeout = 0`.execute(database.db);
      const inTransaction = await failure(
        database.db.transaction().execute(async (trx) => {
          await sql`insert into marks values ('timed out')`.execute(trx);
          await lockedRowQuery.execute(trx);
        }),
      );
      assert.match(String(inTransaction), /Query read timeout/);
      // The next transaction is its own: no transaction id yet, no sight of the other's write.
      const own = await database.db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ txid: string | null; marks: number }>`select txid_current_if_assigned() as txid, (select count(*) from marks) as marks`.execute(trx);
        return rows[0];
      });
      assert.deepEqual(own, { txid: null, marks: 0 });
      await blocker.release();
      // The timed-out transaction's write never commits, even once the lock it waited on is free.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { rows } = await sql<{ marks: number }>`select count(*) as marks from marks`.execute(database.db);
      assert.deepEqual(rows, [{ marks: 0 }]);
    } finally {
      await blocker.release();
      await database.close();
    }
  });
});
