// Whether a database error says the database cannot write now (locked, read-only, full, away,
// shutting down) rather than that it refuses this data. Usage records are dropped only for the
// second: a SQLite file locked by another process answers reads and fails writes with SQLITE_BUSY,
// which the usage writer took for a rejected record and dropped.

/** SQLite result codes (and their extended forms) that name the database's state, not the record. */
const SQLITE_TRANSIENT = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_PROTOCOL', 'SQLITE_NOMEM', 'SQLITE_INTERRUPT', 'SQLITE_AUTH'];

/**
 * PostgreSQL SQLSTATE classes of the same kind: connection (08), invalid transaction state (25:
 * a read-only standby after a failover), rollback (40: serialization, deadlock), resources (53:
 * disk full, too many connections), object state (55: lock not available), operator intervention
 * (57: shutdown, statement timeout), system (58).
 */
const POSTGRES_TRANSIENT_CLASSES = new Set(['08', '25', '40', '53', '55', '57', '58']);

/**
 * node-pg's own timeouts, which carry no code: a wait for a pooled connection (pg-pool), a new
 * connection's, a query's answer (query_timeout). Each says the database was busy (a burst, a row
 * lock held by another instance), never what it thinks of the data, and its ping can answer at
 * once: the usage writer took them for refused records and dropped them.
 */
const QUERY_READ_TIMEOUT = 'Query read timeout';
const POSTGRES_CLIENT_TIMEOUTS = new Set(['timeout exceeded when trying to connect', 'Connection terminated due to connection timeout', QUERY_READ_TIMEOUT]);

/** node-pg's query_timeout: the client stopped waiting, the statement may still run in the server. */
export function isQueryReadTimeout(error: unknown): error is Error {
  return error instanceof Error && !('code' in error) && error.message === QUERY_READ_TIMEOUT;
}

export function isTransientStoreError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? (error as { code: unknown }).code : undefined;
  if (code === undefined && error instanceof Error) return POSTGRES_CLIENT_TIMEOUTS.has(error.message);
  if (typeof code !== 'string') return false;
  if (code.startsWith('SQLITE_')) return SQLITE_TRANSIENT.some((prefix) => code === prefix || code.startsWith(`${prefix}_`));
  // A socket's errno (ECONNREFUSED, ECONNRESET, ETIMEDOUT…).
  if (/^E[A-Z]+$/.test(code)) return true;
  return /^[0-9A-Z]{5}$/.test(code) && POSTGRES_TRANSIENT_CLASSES.has(code.slice(0, 2));
}
