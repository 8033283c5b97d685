// The usage reports' reads on SQLite, off the event loop: better-sqlite3 runs a query on the thread
// that calls it, and a 90-day summary over 1,000,000 usage rows held every request of the process
// for 1 to 3 s (the proxy's /health answered in 2.8 s meanwhile). This Kysely dialect sends each
// SELECT to one worker thread with its own read-only connection (WAL lets it read while the main
// connection writes); it sees what is committed, as the reports did (they flush first).
import { Worker } from 'node:worker_threads';
import {
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { Schema } from './database.js';

interface Pending {
  resolve(rows: unknown[]): void;
  reject(error: Error): void;
}

class ReaderDriver implements Driver {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly connection: DatabaseConnection;

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {
    const run = (query: CompiledQuery) => this.run(query);
    this.connection = {
      async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
        return { rows: (await run(query)) as R[] };
      },
      async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
        throw new Error('the usage reader does not stream');
      },
    };
  }

  /** Started on the first query (the schema is migrated by then): a store that is never read starts no thread. */
  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./sqlite-reader-worker.js', import.meta.url), { workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs } });
    worker.on('message', (message: { id: number; rows?: unknown[]; error?: string; code?: string }) => {
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      if (message.error === undefined) pending.resolve(message.rows ?? []);
      else pending.reject(Object.assign(new Error(message.error), message.code === undefined ? {} : { code: message.code }));
      // Idle, it keeps no process alive (a CLI command ends when its work does).
      if (this.pending.size === 0) worker.unref();
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the usage reader thread exited (${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private run(query: CompiledQuery): Promise<unknown[]> {
    const worker = this.start();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, sql: query.sql, parameters: query.parameters });
    });
  }

  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection;
  }
  async beginTransaction(): Promise<void> {
    throw new Error('the usage reader runs no transactions');
  }
  async commitTransaction(): Promise<void> {}
  async rollbackTransaction(): Promise<void> {}
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}

/** A Kysely over `file` whose queries (SELECTs only) run on a worker thread. */
export function openSqliteReader(file: string, busyTimeoutMs: number): Kysely<Schema> {
  const driver = new ReaderDriver(file, busyTimeoutMs);
  const dialect: Dialect = {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
  return new Kysely<Schema>({ dialect });
}
