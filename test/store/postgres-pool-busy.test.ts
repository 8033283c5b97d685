// PostgreSQL busy, not away: a pool whose connections are all taken, a write waiting on a key's row
// lock that another instance holds. node-pg says so with errors that carry no code, and the usage
// writer must not take them for records the database refuses while its ping still answers.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config-loader.js';
import { openDatabase } from '../../src/store/database.js';
import { SqlStore, storeOptions } from '../../src/store/sql-store.js';
import { isTransientStoreError } from '../../src/store/transient-errors.js';
import { BatchedUsageWriter, type UsageSink } from '../../src/usage/batched-usage-writer.js';
import { createPostgresSchema, POSTGRES_URL, type PostgresSchema } from '../support/backing-services.js';
import { usageRecord } from '../support/usage-fixture.js';

const logger = pino({ level: 'silent' });
const postgres = await createPostgresSchema();
const skip = typeof postgres === 'string' ? postgres : false;

/** Another instance's transaction holding `keyId`'s row, as a usage batch or a budget hold does, until `release`. */
async function lockKeyRow(url: string, keyId: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('begin');
  await client.query('select id from virtual_keys where id = $1 for update', [keyId]);
  return {
    async release() {
      await client.query('commit');
      await client.end();
    },
  };
}

describe('PostgreSQL busy under the store', { skip }, () => {
  const schema = postgres as PostgresSchema;
  after(async () => {
    await schema.drop();
  });

  test('LLM_PROXY_DATABASE_POOL_SIZE caps the server sessions a process opens, however many queries wait', async () => {
    const application = `llmp_pool_size_${process.pid}`;
    const { config } = loadConfig({ DATABASE_URL: `${schema.url}&application_name=${application}`, LLM_PROXY_DATABASE_POOL_SIZE: '2' });
    const database = openDatabase(storeOptions(config.storage));
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      let settled = false;
      const sleeping = Promise.all(Array.from({ length: 6 }, () => sql`select pg_sleep(0.3)`.execute(database.db))).finally(() => (settled = true));
      // The most sessions seen while the six wait their turn (sampled, so a slow machine only samples less often).
      let most = 0;
      while (!settled) {
        const { rows } = await admin.query<{ count: string }>('select count(*) from pg_stat_activity where application_name = $1', [application]);
        most = Math.max(most, Number(rows[0]?.count));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await sleeping;
      assert.equal(most, 2);
    } finally {
      await admin.end();
      await database.close();
    }
  });

  test("node-pg's own timeouts (a pool wait, a query's answer) are the database being busy, not a refusal of the data", async () => {
    const database = openDatabase({ dbPath: 'unused.db', databaseUrl: schema.url, timeoutMs: 200, poolSize: 1, poolWaitMs: 100 });
    const blocker = new pg.Client({ connectionString: schema.url });
    await blocker.connect();
    try {
      await blocker.query('create table if not exists busy_probe (id int primary key)');
      await blocker.query('insert into busy_probe values (1) on conflict do nothing');
      await blocker.query('begin');
      await blocker.query('select id from busy_probe where id = 1 for update');
      // The one pooled connection waits on the row lock past its query timeout; the next caller cannot get a connection.
      const slow = sql`select id from busy_probe where id = 1 for update`.execute(database.db);
      const queued = sql`select 1`.execute(database.db);
      const [slowError, queuedError] = await Promise.all([slow.then(() => undefined, (error: unknown) => error), queued.then(() => undefined, (error: unknown) => error)]);
      assert.ok(slowError instanceof Error && queuedError instanceof Error, 'both fail while the row is locked');
      assert.equal(isTransientStoreError(slowError), true, `a query's read timeout: ${slowError.message}`);
      assert.equal(isTransientStoreError(queuedError), true, `a pool wait timeout: ${queuedError.message}`);
    } finally {
      await blocker.query('rollback');
      await blocker.end();
      await database.close();
    }
  });

  test('usage batches that wait on a key row another instance holds stay in the spool, none dropped, and land once it lets go', async () => {
    const keyId = 'b'.repeat(16);
    // Migrated and seeded with the default timeouts first: a loaded machine may take longer than the short one below for that.
    const setup = new SqlStore({ dbPath: 'unused.db', databaseUrl: schema.url }, logger);
    try {
      await setup.keys.insert({ id: keyId, keyHash: 'b'.repeat(64), prefix: 'x' }, Date.now());
    } finally {
      await setup.close();
    }
    const store = new SqlStore({ dbPath: 'unused.db', databaseUrl: schema.url, timeoutMs: 500 }, logger);
    const sink: UsageSink = store.usage;
    const lines: string[] = [];
    const writer = new BatchedUsageWriter(sink, pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }), { batchSize: 10, flushIntervalMs: 60_000 });
    const lock = await lockKeyRow(schema.url, keyId);
    let released = false;
    try {
      for (let index = 0; index < 3; index++) writer.record(usageRecord(`busy-${index}`, keyId, 'gpt-4', Date.now()));
      // The ping answers all along (it takes no row lock): only the code-less timeout says the write did not.
      await writer.flush();
      assert.deepEqual(
        { rejected: writer.stats().rejected, pending: writer.stats().pending },
        { rejected: 0, pending: 3 },
        `a lock held by another instance is the database being busy, not three records it refuses: ${lines.join('')}`,
      );
      await lock.release();
      released = true;
      // The timed-out statements may still wait in the server: the next flushes write the spool once they are gone.
      for (let attempt = 0; attempt < 50 && writer.stats().pending > 0; attempt++) {
        await writer.retryNow();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(writer.stats().pending, 0, lines.join(''));
      assert.equal((await store.keys.findById(keyId))?.spend.toFixed(6), '0.003000');
    } finally {
      if (!released) await lock.release();
      await writer.close();
      await store.close();
    }
  });

});
