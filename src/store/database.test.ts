// The SQLite connection's settings. better-sqlite3 builds SQLite with a 16 MiB page cache, which the
// usage appends fill and keep for good (heaptrack: ~15 MB of the proxy's RSS after the benchmark);
// the connection asks for SQLite's own 2 MiB.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase, serverStatementTimeout, SQLITE_CACHE_KIB } from './database.js';

test('SQLite opens in WAL mode with a 2 MiB page cache, not the 16 MiB better-sqlite3 builds in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-db-'));
  const opened = openDatabase({ dbPath: join(dir, 'usage.db') });
  try {
    const sqlite = opened.sqlite;
    assert.ok(sqlite !== undefined);
    assert.equal(sqlite.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(SQLITE_CACHE_KIB, 2000);
    // Negative: KiB rather than pages.
    assert.equal(sqlite.pragma('cache_size', { simple: true }), -2000);
  } finally {
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("PostgreSQL's statement_timeout: 500 ms (at most half) under the client's wait; none when the client waits forever", () => {
  assert.equal(serverStatementTimeout(5_000), 4_500);
  assert.equal(serverStatementTimeout(600), 300);
  assert.equal(serverStatementTimeout(1), 1);
  // node-pg's query_timeout 0 is no timeout: the server must not stop every statement at 1 ms.
  assert.equal(serverStatementTimeout(0), 0);
});
