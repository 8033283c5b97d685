// The store the app, the CLI and the tests share: one database (SQLite or PostgreSQL), migrated
// before its first use. Opening never blocks on the network, so a database that is down at boot
// leaves the proxy serving static keys; the migration is simply tried again on the next use.
import type { Logger } from '../logging/logger.js';
import type { Worker } from 'node:worker_threads';
import { openDatabase, SQLITE_CACHE_KIB, type Database, type DatabaseOptions, type Dialect } from './database.js';
import { KeyStore } from './key-store.js';
import { migrateToLatest } from './migrations.js';
import { openSqliteReader, type SqliteReader } from './sqlite-reader.js';
import { UsageStore } from './usage-store.js';
import { UsageAnalytics } from './usage-analytics.js';

/** Where the configuration puts the store (storage.db_path, or DATABASE_URL): the server's, its CLI's and its cluster's. */
export function storeOptions(storage: { db_path: string; database_url?: string | undefined; database_pool_size?: number | undefined }): DatabaseOptions {
  return {
    dbPath: storage.db_path,
    ...(storage.database_url === undefined ? {} : { databaseUrl: storage.database_url }),
    ...(storage.database_pool_size === undefined ? {} : { poolSize: storage.database_pool_size }),
  };
}

export class SqlStore {
  readonly keys: KeyStore;
  readonly usage: UsageStore;
  /** Dashboard aggregates over the usage records (issue #10). */
  readonly analytics: UsageAnalytics;
  readonly dialect: Dialect;
  private readonly database: Database;
  private migration: Promise<void> | undefined;
  /** On SQLite, where the usage reports read: a worker thread's connection to the file. */
  private readonly reader: SqliteReader | undefined;

  constructor(
    options: DatabaseOptions,
    private readonly logger: Logger,
  ) {
    this.database = openDatabase(options, (error) => logger.warn({ component: 'store', err: error.message }, 'database connection lost'));
    this.dialect = this.database.dialect;
    const ready = () => this.ready();
    this.keys = new KeyStore(this.database.db, this.dialect, ready);
    // On SQLite the usage reports read on a worker thread: an aggregate over months of rows blocked the event loop.
    this.reader =
      this.database.sqlite === undefined
        ? undefined
        : openSqliteReader({ file: this.database.location, busyTimeoutMs: options.busyTimeoutMs ?? 5_000, cacheKib: SQLITE_CACHE_KIB }, this.database.db, logger);
    const reader = this.reader?.db ?? this.database.db;
    this.usage = new UsageStore(this.database.db, ready, this.database.sqlite);
    this.analytics = new UsageAnalytics(reader, ready);
  }

  /** The usage reader's worker thread, if one runs (tests end it to check the fallback). */
  readerThread(): Worker | undefined {
    return this.reader?.thread();
  }

  get location(): string {
    return this.database.location;
  }

  /** Resolves once the schema is current; a failure is retried by the next caller. */
  ready(): Promise<void> {
    if (this.migration === undefined) {
      const started = migrateToLatest(this.database.db).then(
        (applied) => {
          if (applied.length > 0) this.logger.info({ component: 'store', dialect: this.dialect, applied }, 'database migrated');
        },
        (error: unknown) => {
          this.migration = undefined;
          throw error;
        },
      );
      this.migration = started;
    }
    return this.migration;
  }

  async close(): Promise<void> {
    await this.reader?.db.destroy();
    await this.database.close();
  }
}
