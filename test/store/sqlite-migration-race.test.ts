// Several processes on one new SQLite file (a `--workers` cluster's first start, the CLI beside a
// starting server) migrate it at once. Kysely's migrator takes no lock on SQLite (it assumes one
// connection), so two of them ran the same migration and one failed ('table "virtual_keys" already
// exists'); each now migrates inside one write transaction, and the others find nothing to do.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const STORE = fileURLToPath(new URL('../../src/store/sql-store.js', import.meta.url));
const CHILD = `
import { SqlStore } from ${JSON.stringify(STORE)};
const logger = { info() {}, warn() {}, error() {}, debug() {} };
const store = new SqlStore({ dbPath: process.argv[1], busyTimeoutMs: Number(process.argv[2]) }, logger);
try {
  await store.ready();
  process.stdout.write('ok');
} catch (error) {
  process.stdout.write(String(error && error.message));
} finally {
  await store.close();
}`;

function migrate(file: string, busyTimeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, file, String(busyTimeoutMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

test('processes migrating one new SQLite file at once all succeed, each migration run once', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-migrate-race-'));
  try {
    for (let round = 0; round < 6; round++) {
      const file = join(dir, `round-${round}.db`);
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => migrate(file)));
      assert.deepEqual(outcomes, Array(8).fill('ok'), `round ${round}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The server waits only 250 ms for SQLite's write lock (better-sqlite3 waits on the event loop), and
// eight workers queueing for one migration each, or a lock another process holds for a few seconds at
// start, outlast that: the migration waits for the lock off the event loop instead.
test('with the server\'s 250 ms busy timeout, migrations wait for the lock instead of failing with SQLITE_BUSY', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-migrate-busy-'));
  try {
    const file = join(dir, 'held.db');
    const holder = spawn(
      process.execPath,
      ['-e', `const db = new (require('better-sqlite3'))(process.argv[1]); db.pragma('journal_mode = WAL'); db.exec('begin immediate'); process.stdout.write('held'); setTimeout(() => { db.exec('commit'); db.close(); }, 4000);`, file],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => migrate(file, 250)));
    assert.deepEqual(outcomes, Array(8).fill('ok'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
