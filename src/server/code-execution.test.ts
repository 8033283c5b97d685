// RELIABILITY §4d#13: no feature runs user code or spawns processes. The source is read as text:
// every way Node has to start a process or a thread, or to run text as code, is allowed only where
// listed below, each reviewed: what it runs is one of our own files (or a constant Lua script on
// Redis), never something a request, a key or the config chose.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from '../../test/support/source-files.js';

// dist/src/server → the repository root, where the TypeScript sources are.
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

/** Each file's reviewed count of process, thread and evaluation uses. */
const REVIEWED: Record<string, number> = {
  // `npm start`'s node flags: the CLI relaunches its own script with them (process.execPath, our argv).
  'src/server/node-flags.ts': 2,
  // Token counting for big inputs in threads running token-count-worker.ts.
  'src/usage/token-counts.ts': 1,
  'src/usage/token-count-worker.ts': 1,
  // The usage reader thread (sqlite-reader-worker.ts); sql-store.ts only names its type.
  'src/store/sqlite-reader.ts': 1,
  'src/store/sqlite-reader-worker.ts': 1,
  'src/store/sql-store.ts': 1,
  // --workers: the primary forks copies of itself; a worker and server-main.ts ask which one they are.
  'src/cluster/primary.ts': 1,
  'src/cluster/worker.ts': 1,
  'src/server-main.ts': 1,
  // The rate limiter's Lua script, a constant in this file, run by Redis (EVALSHA, then EVAL when
  // Redis has not cached it).
  'src/store/redis-connection.ts': 2,
  // Lazy imports of a fixed module name: the tokenizer; the entry files (main.ts, cli.ts) load the
  // rest once SIGHUP is held (src/server/reload-signal.ts); the CLI's commands (the server it starts,
  // cli-operations.js for check-config and models, cli-usage.js, cli-keys.js), so each loads only its own code.
  'src/usage/token-estimator.ts': 1,
  'src/main.ts': 1,
  'src/cli.ts': 1,
  'src/cli-commands.ts': 5,
};

/**
 * child_process, cluster, vm and worker_threads imports; eval, new Function and dynamic import();
 * Redis's EVAL and EVALSHA named as a command (`'eval'`), which run a script on the server.
 */
const EXECUTION = /from\s+['"]node:(?:child_process|cluster|vm|worker_threads)['"]|require\(\s*['"](?:node:)?(?:child_process|cluster|vm|worker_threads)['"]|\beval\s*\(|['"]eval(?:sha)?['"]|\bnew\s+Function\s*\(|(?<![\w.])import\s*\(/gi;

test('processes, threads and evaluated code only where reviewed, each running our own code', () => {
  const found: Record<string, number> = {};
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    // Type positions (`typeof import('ioredis')`) load nothing.
    const text = readFileSync(file, 'utf8').replace(/\btypeof\s+import\s*\(/g, '');
    const count = [...text.matchAll(EXECUTION)].length;
    if (count > 0) found[relative(ROOT, file).split('\\').join('/')] = count;
  }
  assert.deepEqual(found, REVIEWED);
});
