// Versioned schema migrations, run at start by whichever instance gets there first (Kysely's
// migrator holds a lock on PostgreSQL; on SQLite it takes none, so the run is one write transaction
// here): two instances or workers starting together do not race. Never edit a released migration:
// add the next one.
import { Migrator, PostgresAdapter, SqliteAdapter, sql, type Kysely, type Migration, type MigrationResultSet, type MigrationProvider } from 'kysely';
import type { Schema } from './database.js';

const migrations: Record<string, Migration> = {
  '0001_keys_usage': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('virtual_keys')
        .addColumn('id', 'varchar(32)', (column) => column.primaryKey())
        .addColumn('name', 'varchar(256)')
        .addColumn('key_hash', 'varchar(64)', (column) => column.notNull().unique())
        .addColumn('key_prefix', 'varchar(16)', (column) => column.notNull())
        .addColumn('models', 'text')
        .addColumn('rpm_limit', 'integer')
        .addColumn('tpm_limit', 'integer')
        .addColumn('max_budget', 'double precision')
        .addColumn('budget_period', 'varchar(16)')
        .addColumn('budget_reset_at', 'bigint')
        .addColumn('spend', 'double precision', (column) => column.notNull().defaultTo(0))
        .addColumn('reserved', 'double precision', (column) => column.notNull().defaultTo(0))
        .addColumn('total_spend', 'double precision', (column) => column.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('virtual_keys_updated_at').on('virtual_keys').column('updated_at').execute();

      await db.schema
        .createTable('budget_reservations')
        .addColumn('id', 'varchar(64)', (column) => column.primaryKey())
        .addColumn('key_id', 'varchar(32)', (column) => column.notNull())
        .addColumn('amount', 'double precision', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('budget_reservations_created_at').on('budget_reservations').column('created_at').execute();

      await db.schema
        .createTable('usage_records')
        .addColumn('id', 'varchar(64)', (column) => column.primaryKey())
        .addColumn('request_id', 'varchar(128)', (column) => column.notNull())
        .addColumn('key_id', 'varchar(64)', (column) => column.notNull())
        .addColumn('endpoint', 'varchar(64)', (column) => column.notNull())
        .addColumn('model', 'varchar(256)', (column) => column.notNull())
        .addColumn('provider', 'varchar(64)')
        .addColumn('upstream_model', 'varchar(256)')
        .addColumn('prompt_tokens', 'integer', (column) => column.notNull())
        .addColumn('completion_tokens', 'integer', (column) => column.notNull())
        .addColumn('cached_tokens', 'integer', (column) => column.notNull())
        .addColumn('cost', 'double precision')
        .addColumn('latency_ms', 'integer', (column) => column.notNull())
        .addColumn('ttft_ms', 'integer')
        .addColumn('status', 'varchar(32)', (column) => column.notNull())
        .addColumn('http_status', 'integer', (column) => column.notNull())
        .addColumn('error_code', 'varchar(64)')
        .addColumn('stream', 'integer', (column) => column.notNull())
        .addColumn('cache_hit', 'integer', (column) => column.notNull())
        .addColumn('estimated', 'integer', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('day', 'varchar(10)', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('usage_records_key_day').on('usage_records').columns(['key_id', 'day']).execute();
      await db.schema.createIndex('usage_records_day').on('usage_records').column('day').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('usage_records').execute();
      await db.schema.dropTable('budget_reservations').execute();
      await db.schema.dropTable('virtual_keys').execute();
    },
  },
  // The dashboard's newest-first request list (issue #10) walks this index instead of sorting the range.
  '0002_usage_created_at': {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('usage_records_created_at').on('usage_records').column('created_at').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex('usage_records_created_at').execute();
    },
  },
  // Every range query bounds created_at as well as day, so the created_at index serves those
  // without a key (and (key_id, day) those with one): the day index was only one more B-tree to
  // update on every usage row written.
  '0003_drop_usage_day_index': {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('usage_records_day').ifExists().execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.createIndex('usage_records_day').on('usage_records').column('day').execute();
    },
  },
  // Usage sums per UTC day, key, model and provider (UsageDailyTable), filled from the records
  // already there; from here on each usage batch adds to it in its own transaction (usage-store.ts).
  // Per hour they were no smaller: 1,000,000 records over 90 days of 1,000 key-model pairs made 804,284 hourly rows.
  '0004_usage_daily': {
    async up(db: Kysely<unknown>) {
      const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
      await db.schema
        .createTable('usage_daily')
        .addColumn('day', 'varchar(10)', (column) => column.notNull())
        .addColumn('key_id', 'varchar(64)', (column) => column.notNull())
        .addColumn('model', 'varchar(256)', (column) => column.notNull())
        .addColumn('provider', 'varchar(64)', (column) => column.notNull())
        .addColumn('requests', 'bigint', (column) => column.notNull())
        .addColumn('prompt_tokens', 'bigint', (column) => column.notNull())
        .addColumn('completion_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cached_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cost', 'double precision', (column) => column.notNull())
        .addColumn('errors', 'bigint', (column) => column.notNull())
        .addColumn('cache_hits', 'bigint', (column) => column.notNull())
        .addColumn('latency_sum', 'bigint', (column) => column.notNull())
        .addColumn('latency_max', 'integer', (column) => column.notNull())
        .addPrimaryKeyConstraint('usage_daily_pkey', ['day', 'key_id', 'model', 'provider'])
        // On SQLite the table is its primary key's B-tree: one tree per upsert, and day ranges read in order.
        .$call((builder) => (sqlite ? builder.modifyEnd(sql`without rowid`) : builder))
        .execute();
      await db.schema.createIndex('usage_daily_key_day').on('usage_daily').columns(['key_id', 'day']).execute();
      await sql`
        insert into usage_daily (day, key_id, model, provider, requests, prompt_tokens, completion_tokens, cached_tokens, cost, errors, cache_hits, latency_sum, latency_max)
        select day, key_id, model, coalesce(provider, ''), count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
          coalesce(sum(cost), 0), sum(case when status = 'error' then 1 else 0 end), sum(cache_hit), sum(latency_ms), max(latency_ms)
        from usage_records
        group by day, key_id, model, coalesce(provider, '')`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('usage_daily').execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * The PostgreSQL schema new tables go to (the first of search_path that exists). Kysely's migrator,
 * given no schema, takes a bookkeeping table found in ANY schema for its own: with a second
 * deployment's tables in another schema of the same database (`search_path=myschema`, see README),
 * it never made its own, and every start failed with `relation "llm_proxy_migration_lock" does not exist`.
 */
async function currentSchema(db: Kysely<Schema>): Promise<string | undefined> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return undefined;
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema ?? null;
  if (schema === null) throw new Error('no schema of the search_path exists in this database: create it, or fix search_path in DATABASE_URL');
  return schema;
}

/** How long a starting process waits for SQLite's write lock to migrate (workers queueing, a backup). */
const MIGRATION_LOCK_WAIT_MS = 10_000;

function isBusy(error: unknown): boolean {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * BEGIN IMMEDIATE, asked again after a pause while another process holds the write lock. The
 * server's busy_timeout is 250 ms (better-sqlite3 waits on the event loop), which eight workers
 * migrating one new file in turn, or a lock held a second at start, outlast: the start then failed
 * with SQLITE_BUSY. These pauses are timers, so requests go on meanwhile.
 */
async function beginImmediate(db: Kysely<Schema>): Promise<void> {
  const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
  for (let pauseMs = 10; ; pauseMs = Math.min(pauseMs * 2, 200)) {
    try {
      await sql`begin immediate`.execute(db);
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() + pauseMs > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/**
 * Runs a SQLite migration inside one BEGIN IMMEDIATE … COMMIT on the store's one connection, rolled
 * back when it fails. Kysely's migrator takes no lock on SQLite (it assumes one connection) and,
 * SQLite DDL being transactional or not to it, runs without a transaction: several processes on one
 * new file (a `--workers` cluster's first start) each found a migration pending and ran it, and all
 * but one failed ('table "virtual_keys" already exists'). Here the next waits for the write lock
 * (beginImmediate) and then finds nothing to do.
 */
async function inWriteTransaction(db: Kysely<Schema>, run: () => Promise<MigrationResultSet>): Promise<MigrationResultSet> {
  await beginImmediate(db);
  let outcome: MigrationResultSet;
  try {
    outcome = await run();
  } catch (error) {
    await sql`rollback`.execute(db).catch(() => undefined);
    throw error;
  }
  if (outcome.error !== undefined) await sql`rollback`.execute(db).catch(() => undefined);
  else await sql`commit`.execute(db);
  return outcome;
}

/** Brings the schema to the newest version; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<Schema>): Promise<string[]> {
  const schema = await currentSchema(db);
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'llm_proxy_migration',
    migrationLockTableName: 'llm_proxy_migration_lock',
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const { error, results } = db.getExecutor().adapter instanceof SqliteAdapter ? await inWriteTransaction(db, () => migrator.migrateToLatest()) : await migrator.migrateToLatest();
  if (error !== undefined) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
