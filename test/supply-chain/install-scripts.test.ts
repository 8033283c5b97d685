// RELIABILITY §4d#14: no dependency with install scripts unless pinned and reviewed. The lockfile
// pins every version; this test is the review gate: a new package that runs code at install, or a
// new version of one that does, fails here until someone has read its scripts and listed it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/supply-chain → the repository root.
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

/** Reviewed: name@version → why it may run code at install. */
const REVIEWED: Record<string, string> = {
  // Fetches its prebuilt native binding (or compiles it): the SQLite store needs it.
  'better-sqlite3@12.11.1': 'runtime',
  // Test-only (the Gemini SDK fixtures); never installed by `npm ci --omit=dev`.
  '@google/genai@2.32.0': 'dev',
  'protobufjs@7.6.6': 'dev',
};

interface LockPackage {
  version?: string;
  dev?: boolean;
  hasInstallScript?: boolean;
  integrity?: string;
}

test('packages with install scripts are exactly the reviewed ones, at their reviewed versions, each pinned by an integrity hash', () => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockPackage> };
  assert.ok(lock.lockfileVersion >= 2, 'a lockfile that records install scripts');
  const found: Record<string, string> = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.hasInstallScript !== true) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    found[`${name}@${entry.version ?? '?'}`] = entry.dev === true ? 'dev' : 'runtime';
    assert.match(entry.integrity ?? '', /^sha512-/, `${name}: pinned by an integrity hash`);
  }
  assert.deepEqual(found, REVIEWED, 'read the new install scripts, then list the package here');
});

test('the project itself runs nothing at install', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const hooks = Object.keys(manifest.scripts ?? {}).filter((name) => /^(?:pre|post)?(?:install|prepare|prepublish)$/.test(name) || name === 'preuninstall');
  assert.deepEqual(hooks, []);
});
