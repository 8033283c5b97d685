// The database behind virtual keys and usage: one Kysely schema over embedded SQLite (better-sqlite3,
// the default, a file at storage.db_path) or PostgreSQL (DATABASE_URL). Callers speak Kysely and
// never ask which; the few dialect differences (row locks) are decided here.
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';
import { createRequire } from 'node:module';
import type pg from 'pg';
import { makeDirectory } from './make-directory.js';
import { guardedPool } from './postgres-pool.js';

/** Times are epoch milliseconds; money is USD; booleans are 0/1 (the same on both engines). */
/** SQLite's page cache per connection, in KiB (SQLite's own default). */
export const SQLITE_CACHE_KIB = 2000;

export interface VirtualKeyTable {
  id: string;
  name: string | null;
  /** Hex SHA-256 of the whole key; the key itself is never stored. */
  key_hash: string;
  /** The first characters of the secret, for people to tell keys apart. */
  key_prefix: string;
  /** JSON array of model names, or null for every model. */
  models: string | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_budget: number | null;
  budget_period: string | null;
  /** When the current budget period ends and spend starts again from 0. */
  budget_reset_at: number | null;
  /** Spend in the current period, settled from usage records. */
  spend: number;
  /** Money held by requests in flight (see budget_reservations). */
  reserved: number;
  total_spend: number;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  /** Changed only by the admin API and the CLI, never by spend: instances poll it to drop stale cache entries. */
  updated_at: number;
}

export interface BudgetReservationTable {
  /** The usage record id of the request that holds it. */
  id: string;
  key_id: string;
  amount: number;
  created_at: number;
}

export interface UsageRecordTable {
  /** Server-made and unique: a replayed batch inserts nothing twice. */
  id: string;
  /** The X-Request-Id, which a client may choose, so not unique. */
  request_id: string;
  key_id: string;
  endpoint: string;
  model: string;
  provider: string | null;
  upstream_model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  status: string;
  http_status: number;
  error_code: string | null;
  stream: number;
  cache_hit: number;
  estimated: number;
  created_at: number;
  /** UTC date `YYYY-MM-DD`, for per-day breakdowns without dialect-specific date functions. */
  day: string;
}

/**
 * The usage records summed per UTC day, key, model and provider, written in the same transaction
 * as the records themselves: the reports read whole days here instead of every record.
 */
export interface UsageDailyTable {
  /** The UTC date, as usage_records.day. */
  day: string;
  key_id: string;
  model: string;
  /** '' for records with no provider (usage_records.provider null). */
  provider: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  /** Sum of the costs known (a record's null cost adds 0). */
  cost: number;
  /** Records with status 'error'. */
  errors: number;
  cache_hits: number;
  latency_sum: number;
  latency_max: number;
}

export interface Schema {
  virtual_keys: VirtualKeyTable;
  budget_reservations: BudgetReservationTable;
  usage_records: UsageRecordTable;
  usage_daily: UsageDailyTable;
}

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  /** The SQLite file, used when no databaseUrl is given. */
  dbPath: string;
  /** postgres://…; a `?options=-c search_path=name` parameter selects a schema. */
  databaseUrl?: string;
  /**
   * Longest wait for a connection or a query's answer on PostgreSQL (node-pg's query_timeout); the
   * server itself stops a statement a little sooner (see serverStatementTimeout).
   */
  timeoutMs?: number;
  /** PostgreSQL connections in the pool (default DEFAULT_POOL_SIZE). */
  poolSize?: number;
  /** Longest wait for a free pooled PostgreSQL connection (default timeoutMs, at most 3 s). */
  poolWaitMs?: number;
  /** Longest wait for another process's write lock on the SQLite file (default 5 s). */
  busyTimeoutMs?: number;
}

export interface Database {
  db: Kysely<Schema>;
  dialect: Dialect;
  /** Where it lives, without credentials, for logs. */
  location: string;
  /** The SQLite handle itself, for the one hot statement (usage inserts) that skips the query builder. */
  sqlite?: SqliteDatabase.Database;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;
/** node-pg is loaded when PostgreSQL is configured, not before: the embedded default never pays its memory. */
function loadPg(): typeof pg {
  pgModule ??= require('pg') as typeof pg;
  return pgModule;
}

/** PostgreSQL connections per process (storage.database_pool_size): 9 `--workers` stay under max_connections' default 100. */
export const DEFAULT_POOL_SIZE = 10;

/**
 * The server's statement_timeout for a client that waits `timeoutMs`: a little shorter (500 ms,
 * at most half), so a statement waiting on a row lock is stopped in the server and its answer
 * comes first, keeping the connection; the client's own timeout is left for a server or network
 * that does not answer at all, and then closes the connection (see postgres-pool.ts). No client
 * timeout (0) is none in the server either.
 */
export function serverStatementTimeout(timeoutMs: number): number {
  // node-pg reads 0 as no client timeout at all, and so does PostgreSQL.
  if (!(timeoutMs > 0)) return 0;
  return Math.max(1, timeoutMs - Math.min(500, Math.floor(timeoutMs / 2)));
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** node-pg returns bigint and numeric as strings; every figure here fits a double. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    const { types } = loadPg();
    return format === 'binary' ? types.getTypeParser(oid, 'binary') : types.getTypeParser(oid, 'text');
  },
} as pg.CustomTypesConfig;

/**
 * SQLite transactions take the write lock when they begin (BEGIN IMMEDIATE, which waits out
 * busy_timeout). A deferred one that reads first (a budget hold) fails at once with SQLITE_BUSY
 * when another process (a cluster worker, the CLI) wrote in between, without waiting.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
}

/**
 * A failure to use the SQLite file or its directory, said with the path, the setting that chose it
 * and what to change: SQLite's own "unable to open database file" names neither.
 */
export function dbPathError(what: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new Error(
    `${what} (storage.db_path, or LLM_PROXY_DB): ${reason}. Set LLM_PROXY_DB to a file in a directory this process can create and write, or DATABASE_URL to use PostgreSQL.`,
    { cause },
  );
}

/** SQLite's answers for a file that opened but holds no usable database (random bytes, a truncated or damaged one). */
function isDamaged(error: unknown): boolean {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  return typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'));
}

/**
 * A SQLite file that opened but is not a database it can use: no directory or permission will
 * help, so the advice is about the file. Its -wal and -shm go with it: SQLite would replay an old
 * WAL into the next database put at that path, a restored backup included.
 */
function damagedDatabaseError(file: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new Error(
    `cannot open the SQLite database ${file} (storage.db_path, or LLM_PROXY_DB): ${reason}. ${file} is not a usable SQLite database (damaged, truncated, or not a database at all): move it aside with its -wal and -shm files, or restore it from a backup (a new, empty database is made where none is), or set LLM_PROXY_DB to another file, or DATABASE_URL to use PostgreSQL.`,
    { cause },
  );
}

/** Errors of a checked-out PostgreSQL client reach its caller as a failed query; see openDatabase. */
function ignoreClientError(): void {}

export function openDatabase(options: DatabaseOptions, onPoolError: (error: Error) => void = () => undefined): Database {
  if (options.databaseUrl !== undefined) {
    const timeout = options.timeoutMs ?? 5_000;
    const pool = new (loadPg().Pool)({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? DEFAULT_POOL_SIZE,
      // Also the longest wait for a free pooled connection.
      connectionTimeoutMillis: options.poolWaitMs ?? Math.min(timeout, 3_000),
      query_timeout: timeout,
      idleTimeoutMillis: 30_000,
      types: pgTypes,
    });
    // An idle client losing its server emits here; unhandled, it would end the process.
    pool.on('error', onPoolError);
    // A checked-out client (mid-query, or between a transaction's statements) emits on itself, and
    // the pool listens only to idle ones: without this, a database cut under load ended the process.
    // Its queries fail with the same error and the pool discards it on release, so nothing to log here.
    pool.on('connect', (client) => client.on('error', ignoreClientError));
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: guardedPool(pool, serverStatementTimeout(timeout)) }) });
    let location = 'postgres';
    try {
      const url = new URL(options.databaseUrl);
      location = `postgres://${url.host}${url.pathname}`;
    } catch {
      // Not a URL: pg reads other forms; keep the generic name.
    }
    return { db, dialect: 'postgres', location, close: () => db.destroy() };
  }
  const file = resolve(options.dbPath);
  let sqlite: SqliteDatabase.Database | undefined;
  try {
    makeDirectory(dirname(file));
    sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    // The CLI may write while the server runs: wait for its lock instead of failing.
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000))}`);
    // better-sqlite3 builds SQLite with a 16 MiB page cache (SQLITE_DEFAULT_CACHE_SIZE=-16000), which
    // the usage table's appends fill within ~100,000 rows and keep for good: SQLite's own 2 MiB
    // default holds the pages the appends and the usage queries touch, the OS the rest.
    sqlite.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  } catch (error) {
    sqlite?.close();
    if (isDamaged(error)) throw damagedDatabaseError(file, error);
    throw dbPathError(`cannot open the SQLite database ${file}`, error);
  }
  const db = new Kysely<Schema>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', location: file, sqlite, close: () => db.destroy() };
}
