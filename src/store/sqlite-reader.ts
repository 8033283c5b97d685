// The usage reports' reads on SQLite, off the event loop: better-sqlite3 runs a query on the thread
// that calls it, and a 90-day summary over 1,000,000 usage rows held every request of the process
// for 1 to 3 s (the proxy's /health answered in 2.8 s meanwhile). This Kysely dialect sends each
// SELECT to one worker thread with its own read-only connection (WAL lets it read while the main
// connection writes); it sees what is committed, as the reports did (they flush first).
//
// The thread starts on the first report, so a CLI command or a gateway nobody asks for usage never
// pays for it, and an idle one keeps no process alive. If it dies (or cannot open the file), the
// queries it held run on the main connection, with a log line, and the next report starts a new
// thread; after MAX_FAILURES deaths in a row the reports stay on the main connection for good.
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
import type { Logger } from '../logging/logger.js';
import type { Schema } from './database.js';
import type { ReaderColumn, ReaderReply, ReaderSettings } from './sqlite-reader-worker.js';

/** Thread deaths in a row (no answer in between) after which the reports stay on the main thread. */
export const MAX_FAILURES = 3;

interface Pending {
  query: CompiledQuery;
  resolve(rows: unknown[]): void;
  reject(error: Error): void;
}

/** The rows of a column-wise answer (sqlite-reader-worker.ts), as the query builder gives them. */
function objects(count: number, columns: ReaderColumn[]): Record<string, unknown>[] {
  const cells = columns.map((entry): ((row: number) => unknown) => {
    if ('numbers' in entry) return (row) => entry.numbers[row];
    if ('codes' in entry) return (row) => entry.values[entry.codes[row] as number];
    return (row) => entry.cells[row];
  });
  const rows: Record<string, unknown>[] = new Array(count);
  for (let row = 0; row < count; row++) {
    const object: Record<string, unknown> = {};
    for (let index = 0; index < columns.length; index++) object[(columns[index] as ReaderColumn).name] = (cells[index] as (row: number) => unknown)(row);
    rows[row] = object;
  }
  return rows;
}

class ReaderDriver implements Driver {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly connection: DatabaseConnection;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly settings: ReaderSettings,
    /** The main connection: where queries go when the thread is gone. */
    private readonly fallback: Kysely<Schema>,
    private readonly logger: Logger,
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

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./sqlite-reader-worker.js', import.meta.url), { workerData: this.settings });
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      if (this.worker === worker) this.worker = undefined;
      if (this.closed) return;
      this.failures++;
      const held = [...this.pending.values()];
      this.pending.clear();
      const next = this.failures >= MAX_FAILURES ? 'the usage reports run on the main thread from now on' : 'the next report starts a new one';
      this.logger.error({ component: 'store', reason, failures: this.failures, queries: held.length }, `usage reader thread ended; its queries run on the main thread, and ${next}`);
      for (const pending of held) this.runHere(pending.query).then(pending.resolve, pending.reject);
    };
    worker.on('message', (message: ReaderReply) => {
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      this.failures = 0;
      if ('error' in message) pending.reject(Object.assign(new Error(message.error), message.code === undefined ? {} : { code: message.code }));
      else pending.resolve(objects(message.count, message.columns));
      // Idle, it keeps no process alive (a CLI command ends when its work does).
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (error) => end(error.message));
    worker.on('exit', (code) => end(`exit code ${code}`));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private async runHere(query: CompiledQuery): Promise<unknown[]> {
    if (this.closed) throw new Error('the store is closed');
    return (await this.fallback.executeQuery(query)).rows as unknown[];
  }

  private run(query: CompiledQuery): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    if (this.failures >= MAX_FAILURES) return this.runHere(query);
    const worker = this.start();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { query, resolve, reject });
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
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    for (const pending of this.pending.values()) pending.reject(new Error('the store is closed'));
    this.pending.clear();
    await worker?.terminate();
  }

  /** For tests: the thread, if one runs. */
  get thread(): Worker | undefined {
    return this.worker;
  }
}

export interface SqliteReader {
  db: Kysely<Schema>;
  /** The worker thread, if one runs (tests end it to check the fallback). */
  thread(): Worker | undefined;
}

/** A Kysely over `settings.file` whose queries (SELECTs only) run on a worker thread, or on `fallback` without one. */
export function openSqliteReader(settings: ReaderSettings, fallback: Kysely<Schema>, logger: Logger): SqliteReader {
  const driver = new ReaderDriver(settings, fallback, logger);
  const dialect: Dialect = {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
  return { db: new Kysely<Schema>({ dialect }), thread: () => driver.thread };
}
