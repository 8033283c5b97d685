// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// Node 20's runner takes no globs, so the list is built here. Pass paths or substrings to narrow it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function collect(dir, out) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (entry.endsWith('.test.js')) out.push(path);
  }
  return out;
}

// A .mjs file named as it is runs as given (the runner's own fixtures, kept out of dist).
const args = process.argv.slice(2);
const given = args.filter((arg) => arg.endsWith('.mjs') && existsSync(arg));
const filters = args.filter((arg) => !given.includes(arg));
const files = [
  ...given,
  ...(filters.length === 0 && given.length > 0 ? [] : collect('dist', []).filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))),
].sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// A file that hangs must fail, named, instead of holding the run until CI's own limit with no word:
// --test-timeout is, for `node --test`, a limit per file: the file's process is stopped and the
// file fails, with the test it was running (scripts/test-reporter.mjs), also when its tests are
// done and something it opened is still open (a fake upstream left by a before() that threw).
// Not --test-force-exit: it ends the file's process while the results are still on their way to
// the runner, and on a loaded machine the last tests of a file went missing from the report (511,
// 507, 510 tests in three runs of the same files), and it let a file that leaks a handle pass.
// The slowest files took ~90 s (client-input-fuzz, cluster-reload), ~65 s (cli-start), ~50 s
// (graceful-shutdown) on 2 cores at a load of ~10, so 180 s stops a hung file well inside CI's 10
// minutes (the other slot runs on meanwhile) without stopping a slow one.
const limitS = Number(process.env.TEST_FILE_TIMEOUT_S ?? '180');
if (!(limitS > 0)) {
  console.error(`TEST_FILE_TIMEOUT_S must be a number of seconds above 0, not ${process.env.TEST_FILE_TIMEOUT_S}`);
  process.exit(1);
}
const reporter = fileURLToPath(new URL('test-reporter.mjs', import.meta.url));
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', `--test-timeout=${limitS * 1000}`, `--test-reporter=${reporter}`, ...files],
  { stdio: 'inherit', env: { ...process.env, TEST_FILE_TIMEOUT_S: String(limitS) } },
);
process.exit(result.status ?? 1);
