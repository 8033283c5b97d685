// A worker thread of SqliteReader (sqlite-reader.ts): runs the usage reports' SELECTs on its own
// read-only connection to the SQLite file, one at a time, so a long aggregate never blocks the
// event loop that serves requests (better-sqlite3 is synchronous).
import { parentPort, workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import { SQLITE_CACHE_KIB } from './database.js';

const port = parentPort;
if (port === null) throw new Error('sqlite-reader-worker runs only as a worker thread');

const { file, busyTimeoutMs } = workerData as { file: string; busyTimeoutMs: number };
let db: SqliteDatabase.Database | undefined;

function open(): SqliteDatabase.Database {
  if (db === undefined) {
    db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  }
  return db;
}

port.on('message', (message: { id: number; sql: string; parameters: unknown[] }) => {
  try {
    const statement = open().prepare(message.sql);
    // Reads only: the writer (and its transactions) stays on the main thread's connection.
    if (!statement.reader) throw new Error('the usage reader runs SELECT statements only');
    port.postMessage({ id: message.id, rows: statement.all(...message.parameters) });
  } catch (error) {
    const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error), code });
  }
});
