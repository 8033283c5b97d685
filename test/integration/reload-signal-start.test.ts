// SIGHUP (reload) to a server process still starting: node ends a process on a SIGHUP nobody
// listens for, and the real handler comes seconds in (after the modules load, the migrations, the
// app). The entry points hold the signal from their first line; the held reload is applied once the
// handler is there. The signals here are sent once the process's JavaScript runs (it has mapped
// better-sqlite3's addon, which happens while its modules load): before that, in node's own start,
// nothing of ours could catch them.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { startScriptFlags } from '../../src/server/node-flags.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { childPids, hasOpen, send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

const BASE_CONFIG = 'routing:\n  discovery_interval_s: 0\n';
const WITH_ALIAS = `${BASE_CONFIG}aliases:\n  fast: openai/gpt-4o-mini\n`;
const HEADERS = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', 'cache-control': 'no-store' };
/** An upper bound only: a `--workers 2` start took 34 s at a load of 16-20. */
const LOADED_MS = 60_000;

/** Whether `pid` has mapped `name` (a native addon: its modules are being run), false once it is gone. */
function hasMapped(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'utf8').includes(name);
  } catch {
    return false;
  }
}

async function chatStatus(url: string, model: string): Promise<number> {
  const answer = await send(url, '/v1/chat/completions', { headers: HEADERS, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  return answer.status;
}

let fake: FakeOpenAi;
before(async () => {
  fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => 'hello' });
});
after(async () => {
  await fake.close();
});

const env = () => ({ LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1` });

const STARTS = [
  { name: 'one process (main.js)', args: [], entry: 'dist/src/main.js', flags: [] as string[] },
  { name: '--workers 2 (main.js)', args: ['--workers', '2'], entry: 'dist/src/main.js', flags: [] as string[] },
  // Given the start flags, the CLI does not relaunch itself: its workers are forked from cli.js too.
  { name: 'llm-proxy start --workers 2 (cli.js)', args: ['start', '--workers', '2'], entry: 'dist/src/cli.js', flags: startScriptFlags() },
];

describe('SIGHUP over and over while a server starts', () => {
  for (const start of STARTS) {
    test(`${start.name}: every process stays up and the server serves`, { timeout: LOADED_MS * 2 }, async () => {
      // Every 25 ms, to each process of the tree whose modules are running (the primary, each worker).
      const signalled = new Map<number, number>();
      // A process seen before it loaded the native module: between fork and exec a new process is a
      // copy of its parent, maps and all, and a signal there (or in the new node's first moments)
      // ends it before any code of ours can run; only one seen loading modules after exec counts.
      const bare = new Set<number>();
      let starting = true;
      let pester: Promise<void> = Promise.resolve();
      const onSpawn = (child: ChildProcessWithoutNullStreams) => {
        pester = (async () => {
          while (starting && child.exitCode === null && child.signalCode === null) {
            for (const pid of [child.pid as number, ...childPids(child.pid as number)]) {
              if (!signalled.has(pid)) {
                if (!hasMapped(pid, 'better_sqlite3.node')) {
                  bare.add(pid);
                  continue;
                }
                if (!bare.has(pid)) continue;
              }
              try {
                process.kill(pid, 'SIGHUP');
                signalled.set(pid, (signalled.get(pid) ?? 0) + 1);
              } catch {
                // Gone: the assertions below say so.
              }
            }
            await sleep(25);
          }
        })();
      };
      let gateway: GatewayProcess | undefined;
      try {
        gateway = await startGatewayProcess(env(), BASE_CONFIG, start.args, start.entry, start.flags, { onSpawn });
        starting = false;
        await pester;
        const root = gateway.child.pid as number;
        const workers = start.args.includes('--workers') ? 2 : 0;
        // The primary and each worker were signalled while they started, and each is still the one running.
        assert.ok((signalled.get(root) ?? 0) > 0, `the server was never signalled:\n${gateway.output().slice(-3000)}`);
        const current = childPids(root);
        assert.equal(current.length, workers, gateway.output().slice(-3000));
        for (const pid of current) assert.ok((signalled.get(pid) ?? 0) > 0, `worker ${pid} was never signalled while it started`);
        assert.doesNotMatch(gateway.output(), /worker exited|failed to start/);
        assert.equal(gateway.child.exitCode, null);
        assert.equal(await chatStatus(gateway.url, 'gpt-4o-mini'), 200);
      } finally {
        starting = false;
        await pester;
        if (gateway !== undefined) {
          gateway.child.kill('SIGTERM');
          await gateway.exited;
          await gateway.cleanup();
        }
      }
    });
  }
});

describe('SIGHUP while the start waits for its migrations (the config already read)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-reload-start-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const start of STARTS.slice(0, 2)) {
    test(`${start.name}: the process stays up and serves the config edited before the signal`, { timeout: LOADED_MS * 2 }, async () => {
      // Another process holds SQLite's write lock: the start waits for it to migrate (up to 10 s).
      const dbPath = join(dir, `${start.args.length}.db`);
      // A file of the test's: the process's own is known only once it listens.
      const configPath = join(dir, `${start.args.length}.yaml`);
      writeFileSync(configPath, BASE_CONFIG);
      const holder = new Database(dbPath);
      holder.pragma('journal_mode = WAL');
      holder.exec('begin immediate');
      let gateway: GatewayProcess | undefined;
      let signalled: Promise<void> = Promise.resolve();
      const onSpawn = (child: ChildProcessWithoutNullStreams) => {
        signalled = (async () => {
          const pid = child.pid as number;
          await eventually(() => hasOpen(pid, dbPath) || child.exitCode !== null || child.signalCode !== null, LOADED_MS);
          // Its config is read (the database named in it is open): this edit is for the reload only.
          writeFileSync(configPath, WITH_ALIAS);
          child.kill('SIGHUP');
          await sleep(500);
          if (holder.inTransaction) holder.exec('commit');
        })();
      };
      try {
        gateway = await startGatewayProcess({ ...env(), LLM_PROXY_DB: dbPath, LLM_PROXY_CONFIG: configPath }, BASE_CONFIG, start.args, start.entry, start.flags, { onSpawn });
        await signalled;
        // Taken while held (one process) or by the primary's handler, there before its migrations (which
        // wait for the lock on timers): the process was not ended by it either way.
        await gateway.waitFor(start.args.length > 0 ? 'configuration reloaded on every worker' : 'configuration reloaded', LOADED_MS);
        // The alias of the edited config answers, on each connection (the workers take them in turn).
        for (let round = 0; round < 4; round++) assert.equal(await chatStatus(gateway.url, 'fast'), 200);
        assert.equal(gateway.child.exitCode, null);
      } finally {
        await signalled.catch(() => undefined);
        if (holder.inTransaction) holder.exec('commit');
        holder.close();
        if (gateway !== undefined) {
          gateway.child.kill('SIGTERM');
          await gateway.exited;
          await gateway.cleanup();
        }
      }
    });
  }
});
