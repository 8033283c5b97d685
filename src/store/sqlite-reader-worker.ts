// A worker thread of the usage reader (sqlite-reader.ts): runs the usage reports' SELECTs on its own
// read-only connection to the SQLite file, one at a time, so a long aggregate never blocks the
// event loop that serves requests (better-sqlite3 is synchronous). It imports better-sqlite3 and
// nothing of the app: a thread that loaded database.js (and Kysely with it) took 0.5-0.7 s to start,
// and the first report paid for it.
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';

export interface ReaderSettings {
  file: string;
  busyTimeoutMs: number;
  cacheKib: number;
}

export interface ReaderRequest {
  id: number;
  sql: string;
  parameters: unknown[];
}

/**
 * An answer: the rows as arrays with the column names once. Copying them to the main thread
 * (structured clone, then read back there) cost half as much as objects that repeat every name.
 */
export type ReaderReply = { id: number; columns: string[]; rows: unknown[][] } | { id: number; error: string; code?: string };

const port = parentPort;
if (port === null) throw new Error('sqlite-reader-worker runs only as a worker thread');

const { file, busyTimeoutMs, cacheKib } = workerData as ReaderSettings;
// Opened as the thread starts, not in the first query; a failure ends the thread (the reader falls back).
const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
db.pragma(`cache_size = -${Math.max(0, Math.floor(cacheKib))}`);

port.on('message', (message: ReaderRequest) => {
  let reply: ReaderReply;
  try {
    const statement = db.prepare(message.sql);
    // Reads only: the writer (and its transactions) stays on the main thread's connection.
    if (!statement.reader) throw new Error('the usage reader runs SELECT statements only');
    statement.raw(true);
    // One statement, one read transaction: a consistent snapshot of what was committed when it began.
    const rows = statement.all(...message.parameters) as unknown[][];
    reply = { id: message.id, columns: statement.columns().map((column) => column.name), rows };
  } catch (error) {
    const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    reply = { id: message.id, error: error instanceof Error ? error.message : String(error), ...(code === undefined ? {} : { code }) };
  }
  port.postMessage(reply);
});
