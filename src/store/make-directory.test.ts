import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, { mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, mock, test } from 'node:test';
import { makeDirectory } from './make-directory.js';

const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-make-directory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('makes every missing level, and is content when the directory exists', () => {
  const deep = join(dir, 'a', 'b', 'c');
  makeDirectory(deep);
  assert.ok(statSync(deep).isDirectory());
  makeDirectory(deep);
  makeDirectory(dir);
});

test('a file in the way is named', () => {
  const file = join(dir, 'plain-file');
  writeFileSync(file, '');
  assert.throws(() => makeDirectory(join(file, 'x')), (error: Error) => error.message.includes(`${file} is not a directory`));
  assert.throws(() => makeDirectory(file), (error: Error) => error.message.includes(`${file} is not a directory`));
});

test('a path under /proc fails at once with the level it could not make (Node\'s recursive mkdir loops there forever)', { skip: process.platform !== 'linux' }, () => {
  // In a child: were the loop back, it would block this process for good; the timeout ends it.
  const module = fileURLToPath(new URL('./make-directory.js', import.meta.url));
  const script = `import(${JSON.stringify(module)}).then(({ makeDirectory }) => { try { makeDirectory('/proc/self/llm-proxy/data'); } catch (error) { console.log(error.message); } });`;
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(child.signal, null, `still running after ${Date.now() - started} ms`);
  assert.match(child.stdout, /cannot create the directory \/proc\/self\/llm-proxy: \/proc\/self exists but refuses new directories/);
});

/**
 * Runs `body` with node:fs's mkdirSync replaced by `fake` (given the real one), for the module under
 * test too: syncBuiltinESMExports carries the replacement to named imports.
 */
function withMkdir(fake: (real: typeof fs.mkdirSync, path: string) => void, body: () => void): number {
  const real = fs.mkdirSync;
  const spy = mock.method(fs, 'mkdirSync', (path: string) => fake(real, path));
  syncBuiltinESMExports();
  try {
    body();
    return spy.mock.callCount();
  } finally {
    spy.mock.restore();
    syncBuiltinESMExports();
  }
}

test('a parent another process removes before its child is made is made again: the walk starts over, no /proc explanation', () => {
  const deep = join(dir, 'race-once', 'b', 'c');
  let removed = false;
  withMkdir(
    (real, path) => {
      // Between making race-once/b and race-once/b/c, race-once/b goes away (a cleanup elsewhere).
      if (path === deep && !removed) {
        removed = true;
        rmdirSync(join(dir, 'race-once', 'b'));
      }
      real(path);
    },
    () => makeDirectory(deep),
  );
  assert.ok(removed);
  assert.ok(statSync(deep).isDirectory());
});

test('a parent that is there but whose mkdir answered ENOENT once (it was removed and made again meanwhile) is asked again', () => {
  const deep = join(dir, 'transient', 'x');
  let refused = false;
  withMkdir(
    (real, path) => {
      if (path === deep && !refused) {
        refused = true;
        throw Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });
      }
      real(path);
    },
    () => makeDirectory(deep),
  );
  assert.ok(statSync(deep).isDirectory());
});

test('a parent removed on every try fails plainly after a bounded number of walks', () => {
  const parent = join(dir, 'race-always');
  const deep = join(parent, 'c');
  const calls = withMkdir(
    (real, path) => {
      if (path === deep) rmdirSync(parent);
      real(path);
    },
    () =>
      assert.throws(
        () => makeDirectory(deep),
        (error: Error) => error.message === `cannot create the directory ${deep}: ${parent} was removed while it was being made, 3 times (another process is deleting it)`,
      ),
  );
  // Each walk makes the parent, then fails on the child: three walks, two mkdir calls each.
  assert.equal(calls, 6);
});
