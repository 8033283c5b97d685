// A SQLite path the process cannot use stops the start with a message that names the path, the
// setting (LLM_PROXY_DB) and the fix: SQLite's own "unable to open database file" names neither.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';

function start(dbPath: string, env: Record<string, string>, timeout = 30_000): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ['dist/src/main.js'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LLM_PROXY_DB: dbPath, LLM_PROXY_LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout,
  });
  return { status: result.status, stderr: result.stderr };
}

function assertNamed(result: { status: number | null; stderr: string }, path: string): void {
  assert.equal(result.status, 1, result.stderr);
  assert.ok(result.stderr.includes(path), result.stderr);
  assert.match(result.stderr, /LLM_PROXY_DB/);
  assert.match(result.stderr, /Set LLM_PROXY_DB to a file in a directory this process can create and write/);
}

describe('start-up with an unusable SQLite path', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-storage-path-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a directory where the database file should be', () => {
    const path = join(dir, 'a-directory');
    mkdirSync(path);
    const result = start(path, { LLM_PROXY_API_KEYS: 'client-key' });
    assertNamed(result, path);
    assert.match(result.stderr, /unable to open database file/);
  });

  test('a directory that cannot be created (a file stands in its place), with and without a configured key', () => {
    const blocker = join(dir, 'plain-file');
    writeFileSync(blocker, '');
    const path = join(blocker, 'llm-proxy.db');
    assertNamed(start(path, { LLM_PROXY_API_KEYS: 'client-key' }), path);
    // With no key, the generated key's hash goes beside the database first: that file is named.
    assertNamed(start(path, {}), join(blocker, 'master-key.sha256'));
  });

  test('a path under /proc, where Node\'s recursive mkdir never returns: the start fails at once, naming the path', { skip: process.platform !== 'linux' }, () => {
    const path = '/proc/self/llm-proxy/data/llm-proxy.db';
    const keyed = start(path, { LLM_PROXY_API_KEYS: 'client-key' }, 15_000);
    assertNamed(keyed, path);
    assert.match(keyed.stderr, /cannot create the directory \/proc\/self\/llm-proxy: \/proc\/self exists but refuses new directories/);
    assertNamed(start(path, {}, 15_000), '/proc/self/llm-proxy/data/master-key.sha256');
  });

  test('a directory the process may not write', (t) => {
    if (process.getuid?.() === 0) {
      t.skip('root writes any directory');
      return;
    }
    const locked = join(dir, 'read-only');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const path = join(locked, 'llm-proxy.db');
    try {
      assertNamed(start(path, { LLM_PROXY_API_KEYS: 'client-key' }), path);
    } finally {
      chmodSync(locked, 0o755);
    }
  });
});

describe('start-up with a SQLite file that is not a usable database', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-damaged-db-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Exit 1 naming the file as damaged and what to do with it, not the directory advice; the file left as it was. */
  function assertDamaged(path: string, reason: RegExp): void {
    const before = readFileSync(path);
    const result = start(path, { LLM_PROXY_API_KEYS: 'client-key' });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, reason);
    assert.ok(result.stderr.includes(`${path} is not a usable SQLite database`), result.stderr);
    assert.match(result.stderr, /move it aside with its -wal and -shm files, or restore it from a backup/);
    assert.match(result.stderr, /set LLM_PROXY_DB to another file/);
    assert.doesNotMatch(result.stderr, /directory this process can create and write/);
    assert.deepEqual(readFileSync(path), before);
  }

  test('a file of random bytes (SQLITE_NOTADB)', () => {
    const path = join(dir, 'random.db');
    writeFileSync(path, randomBytes(8192));
    assertDamaged(path, /file is not a database/);
  });

  test('a truncated database (SQLITE_CORRUPT)', () => {
    const path = join(dir, 'truncated.db');
    const sqlite = new SqliteDatabase(path);
    sqlite.exec('create table t (x text)');
    const insert = sqlite.prepare('insert into t values (?)');
    for (let row = 0; row < 200; row++) insert.run('x'.repeat(500));
    sqlite.close();
    truncateSync(path, 3 * 4096);
    assertDamaged(path, /database disk image is malformed/);
  });
});
