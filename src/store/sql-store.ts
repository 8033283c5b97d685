// The store the app, the CLI and the tests share: one database (SQLite or PostgreSQL), migrated
// before its first use. Opening never blocks on the network, so a database that is down at boot
// leaves the proxy serving static keys; the migration is simply tried again on the next use.
import type { Logger } from '../logging/logger.js';
import { openDatabase, type Database, type DatabaseOptions, type Dialect } from './database.js';
import { KeyStore } from './key-store.js';
import { migrateToLatest } from './migrations.js';
import { UsageStore } from './usage-store.js';
import { UsageAnalytics } from './usage-analytics.js';

export class SqlStore {
  readonly keys: KeyStore;
  readonly usage: UsageStore;
  /** Dashboard aggregates over the usage records (issue #10). */
  readonly analytics: UsageAnalytics;
  readonly dialect: Dialect;
  private readonly database: Database;
  private migration: Promise<void> | undefined;

  constructor(
    options: DatabaseOptions,
    private readonly logger: Logger,
  ) {
    this.database = openDatabase(options, (error) => logger.warn({ component: 'store', err: error.message }, 'database connection lost'));
    this.dialect = this.database.dialect;
    const ready = () => this.ready();
    this.keys = new KeyStore(this.database.db, this.dialect, ready);
    this.usage = new UsageStore(this.database.db, ready, this.database.sqlite);
    this.analytics = new UsageAnalytics(this.database.db, ready);
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
    await this.database.close();
  }
}
