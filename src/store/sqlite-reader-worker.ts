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
 * A column of an answer: numbers (no NULL) as a Float64Array, moved to the main thread without a
 * copy; text (or NULL) as indexes into its distinct values; anything else as it is.
 */
export type ReaderColumn = { name: string; numbers: Float64Array } | { name: string; codes: Uint32Array; values: (string | null)[] } | { name: string; cells: unknown[] };

/**
 * An answer, column by column: the main thread reads it back (structured clone) on the event loop,
 * and rows as objects, each naming every column and holding its own copy of each string, took 0.7
 * to 1.3 s of it for the 87,000 groups of a 90-day /admin/usage over 1,000,000 records.
 */
export type ReaderReply = { id: number; count: number; columns: ReaderColumn[] } | { id: number; error: string; code?: string };

function column(name: string, rows: unknown[][], index: number): ReaderColumn {
  if (rows.every((row) => typeof row[index] === 'number')) return { name, numbers: Float64Array.from(rows, (row) => row[index] as number) };
  if (rows.every((row) => typeof row[index] === 'string' || row[index] === null)) {
    const seen = new Map<string | null, number>();
    const values: (string | null)[] = [];
    const codes = Uint32Array.from(rows, (row) => {
      const value = row[index] as string | null;
      let code = seen.get(value);
      if (code === undefined) {
        code = values.push(value) - 1;
        seen.set(value, code);
      }
      return code;
    });
    return { name, codes, values };
  }
  return { name, cells: rows.map((row) => row[index]) };
}

function transferables(columns: ReaderColumn[]): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const entry of columns) {
    if ('numbers' in entry) buffers.push(entry.numbers.buffer as ArrayBuffer);
    else if ('codes' in entry) buffers.push(entry.codes.buffer as ArrayBuffer);
  }
  return buffers;
}

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
    reply = { id: message.id, count: rows.length, columns: statement.columns().map((entry, index) => column(entry.name, rows, index)) };
  } catch (error) {
    const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    reply = { id: message.id, error: error instanceof Error ? error.message : String(error), ...(code === undefined ? {} : { code }) };
  }
  port.postMessage(reply, 'columns' in reply ? transferables(reply.columns) : []);
});
