// SIGTERM (a stop) to a server process still starting. Node ends a process on a SIGTERM nobody
// listens for (exit 143, no clean shutdown), and a server's own handler comes seconds in: after its
// modules load (1-1.5 s idle, 12-15 s under load) and, in a cluster primary, after its migrations.
// The entry points hold the signal from their first line: while only modules load, the process
// exits 0 at once (nothing has started); once the server has begun (config read, a key file made,
// migrations), the stop is kept and the server shuts down cleanly as soon as it can. The module
// loads are paused by a preload (paused-load.ts) so each signal lands in its window on any load.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { startScriptFlags } from '../../src/server/node-flags.js';
import { eventually, MASTER_KEY } from '../support/gateway-harness.js';
import { childPids, hasOpen } from '../support/gateway-process.js';

const PRELOAD = ['--import', new URL('../support/paused-load.js', import.meta.url).href];
const CONFIG = 'routing:\n  discovery_interval_s: 0\n';
/** Upper bounds only: a `--workers 2` start took 34 s at a load of 16-20. */
const LOADED_MS = 60_000;

interface Started {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-proxy-stop-start-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function start(name: string, entry: string, args: string[], flags: string[], env: Record<string, string>, withKey = true): Started {
  const configPath = join(dir, `${name}.yaml`);
  writeFileSync(configPath, CONFIG);
  const child = spawn(process.execPath, [...flags, ...PRELOAD, entry, ...args], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LLM_PROXY_CONFIG: configPath, LLM_PROXY_DB: join(dir, `${name}.db`), LLM_PROXY_CACHE: 'off', ...(withKey ? { LLM_PROXY_MASTER_KEY: MASTER_KEY } : {}), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exited };
}

async function ended(started: Started): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = setTimeout(() => started.child.kill('SIGKILL'), LOADED_MS);
  try {
    return await started.exited;
  } finally {
    clearTimeout(timer);
    for (const pid of childPids(started.child.pid as number)) process.kill(pid, 'SIGKILL');
  }
}

const STARTS = [
  { name: 'single', label: 'one process (main.js)', entry: 'dist/src/main.js', args: [] as string[], flags: [] as string[] },
  { name: 'primary', label: '--workers 2 (main.js)', entry: 'dist/src/main.js', args: ['--workers', '2'], flags: [] as string[] },
  // Given the start flags, the CLI does not relaunch itself: the server runs in the CLI's process.
  { name: 'cli', label: 'llm-proxy start --workers 2 (cli.js)', entry: 'dist/src/cli.js', args: ['start', '--workers', '2'], flags: startScriptFlags() },
];

describe('SIGTERM while the server modules load', () => {
  for (const { name, label, entry, args, flags } of STARTS) {
    test(`${label}: the process exits 0 at once, having started nothing`, { timeout: LOADED_MS * 2 }, async () => {
      const pause = join(dir, `${name}.pause`);
      writeFileSync(pause, '');
      const started = start(name, entry, args, flags, { PAUSED_LOAD_FILE: pause });
      try {
        await eventually(() => existsSync(`${pause}.reached`) || started.child.exitCode !== null, LOADED_MS);
        started.child.kill('SIGTERM');
        // Not after the paused load: the file is still there, and that load never ends.
        assert.deepEqual(await ended(started), { code: 0, signal: null }, started.output());
        assert.doesNotMatch(started.output(), /listening|starting workers/);
        assert.equal(childPids(started.child.pid as number).length, 0);
      } finally {
        rmSync(pause, { force: true });
      }
    });
  }
});

describe('SIGTERM while a cluster primary waits for its migrations', () => {
  test('--workers 2: the primary shuts down cleanly (exit 0) while the migration still waits for the lock, forks no worker, and keeps no hash of a key nobody saw', { timeout: LOADED_MS * 2 }, async () => {
    const own = join(dir, 'locked');
    mkdirSync(own);
    const dbPath = join(own, 'llm-proxy.db');
    // Another process holds SQLite's write lock for the whole test: the migration waits for it (10 s).
    const holder = new Database(dbPath);
    holder.pragma('journal_mode = WAL');
    holder.exec('begin immediate');
    try {
      // No key configured: the start generates a master key (its hash next to the database) before the migrations.
      const started = start('locked', 'dist/src/main.js', ['--workers', '2'], [], { LLM_PROXY_DB: dbPath }, false);
      const pid = started.child.pid as number;
      await eventually(() => hasOpen(pid, dbPath) || started.child.exitCode !== null, LOADED_MS);
      const signalledAt = performance.now();
      started.child.kill('SIGTERM');
      assert.deepEqual(await ended(started), { code: 0, signal: null }, started.output());
      const tookMs = performance.now() - signalledAt;
      assert.match(started.output(), /shutdown complete/);
      // Not after the migration gave up: the primary's event loop was not held in SQLite's busy wait (5 s a try, twice).
      assert.doesNotMatch(started.output(), /database not ready at start/);
      assert.doesNotMatch(started.output(), /starting workers|listening/);
      assert.equal(existsSync(join(own, 'master-key.sha256')), false, 'the hash of a key never shown was kept');
      process.stdout.write(`# stop during the primary's migrations took ${Math.round(tookMs)} ms\n`);
    } finally {
      holder.exec('commit');
      holder.close();
    }
  });
});
