import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
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
