// A `--workers` start bounded by server.worker_start_timeout_s: a worker that never listens is
// named with the step it is stuck at and ended; before the first announcement the whole start
// fails (exit 1), after it the worker is replaced. Workers are stuck by a preload (stuck-worker.ts).
// And a Redis that accepts connections but never answers does not hold a start up.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { eventually, MASTER_KEY } from '../support/gateway-harness.js';
import { alive, childPids, send, startGatewayProcess } from '../support/gateway-process.js';
import { MAX_START_ATTEMPTS } from '../../src/cluster/primary.js';

const PRELOAD = ['--import', new URL('../support/stuck-worker.js', import.meta.url).href];
/** Pauses each worker's load of the server's modules while a file exists (paused-load.ts). */
const PAUSED = ['--import', new URL('../support/paused-load.js', import.meta.url).href];
/** Upper bound only: a `--workers 2` start took 34 s at a load of 16-20. */
const LOADED_MS = 60_000;
const CONFIG = 'server:\n  worker_start_timeout_s: 10\nrouting:\n  discovery_interval_s: 0\n';

/**
 * The bound for a start stuck at `at`. Stuck by the preload, a worker never leaves 'loading its
 * modules', however slow the machine: a short bound names that step all the same. Stuck at `config`,
 * it must first load its modules (1-2 s idle, 12-15 s under load), so that case keeps CONFIG's 10 s.
 */
const STUCK_BOUND_S = { load: 3, config: 10 } as const;

/** Starts `--workers 2` with every worker stuck at `at`; resolves with the exit code, the output and the workers' pids. */
async function stuckStart(at: 'load' | 'config'): Promise<{ code: number | null; output: string; workers: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-stuck-start-'));
  try {
    writeFileSync(join(dir, 'config.yaml'), CONFIG.replace('worker_start_timeout_s: 10', `worker_start_timeout_s: ${STUCK_BOUND_S[at]}`));
    const child = spawn(process.execPath, [...PRELOAD, 'dist/src/main.js', '--workers', '2'], {
      env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', LLM_PROXY_CONFIG: join(dir, 'config.yaml'), LLM_PROXY_DB: join(dir, 'llm-proxy.db'), LLM_PROXY_MASTER_KEY: MASTER_KEY, STUCK_WORKER_AT: at },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let workers: number[] = [];
    await eventually(() => (workers = childPids(child.pid as number)).length === 2, 20_000);
    // Before the bound, the primary waited for these workers in silence, for good.
    const code = await Promise.race([exited, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 40_000).unref())]);
    if (code === 'waiting') {
      child.kill('SIGKILL');
      for (const pid of workers) if (alive(pid)) process.kill(pid, 'SIGKILL');
      assert.fail(`the start was still waiting on its stuck workers after 40 s:\n${output}`);
    }
    return { code, output, workers };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Two tests at a time: most of each is waiting (on a start bound, a back-off, a stuck worker), and
// the first two pair a start whose workers are stuck at once (idle) with one that must load.
describe('workers: a start that never listens', { concurrency: 2 }, () => {
  for (const [at, step] of [
    ['load', 'loading its modules'],
    ['config', 'asking the primary for its config (answered)'],
  ] as const) {
    test(`workers stuck ${at === 'load' ? 'loading' : 'after the primary answered their config request'}: each is named with its step and ended, and the start fails with exit 1`, async () => {
      const { code, output, workers } = await stuckStart(at);
      assert.equal(code, 1, output);
      const ended = output.split('\n').filter((line) => line.includes('a worker did not listen within server.worker_start_timeout_s'));
      assert.ok(ended.length >= 1, output);
      assert.equal(JSON.parse(ended[0] as string).step, step);
      assert.match(output, /a worker failed to start; stopping/);
      await eventually(() => workers.every((pid) => !alive(pid)), 10_000);
    });
  }

  test('a replacement worker stuck after the cluster listens is ended and started again; the other worker serves meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-stuck-replacement-'));
    const flag = join(dir, 'stuck');
    // The first start gets a minute: under load (the full suite on 2 cores) two workers took more
    // than 10 s to load, and the start failed before the case began. The 10 s bound under test comes
    // in by a reload (the primary reads it when it forks a replacement).
    const gateway = await startGatewayProcess(
      { LLM_PROXY_MASTER_KEY: MASTER_KEY, STUCK_WORKER_AT: 'load', STUCK_WORKER_FILE: flag },
      CONFIG.replace('worker_start_timeout_s: 10', 'worker_start_timeout_s: 60'),
      ['--workers', '2'],
      'dist/src/main.js',
      PRELOAD,
    );
    try {
      gateway.writeConfig(CONFIG);
      gateway.child.kill('SIGHUP');
      await gateway.waitFor('configuration reloaded on every worker', LOADED_MS);
      writeFileSync(flag, '');
      const [first] = childPids(gateway.child.pid as number);
      process.kill(first as number, 'SIGKILL');
      await gateway.waitFor('a worker did not listen within server.worker_start_timeout_s', 25_000);
      rmSync(flag);
      // Ended, then started again (after a back-off): this one starts, and the cluster has two workers again.
      await gateway.waitFor('worker exited; starting a new one', 15_000, 2);
      assert.equal((await send(gateway.url, '/health')).status, 200);
      assert.equal(gateway.child.exitCode, null, 'the primary keeps running');
      await eventually(() => childPids(gateway.child.pid as number).length === 2, 15_000);
    } finally {
      for (const pid of childPids(gateway.child.pid as number)) process.kill(pid, 'SIGKILL');
      await gateway.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('REDIS_URL at a server that accepts connections and never answers: it does not hold up the start (the ready check of ioredis times out and the wait ends), and the workers serve', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY, REDIS_URL: `redis://127.0.0.1:${port}` }, CONFIG, ['--workers', '2']);
      try {
        assert.ok(sockets.size >= 1, 'the gateway did connect to the silent server');
        assert.equal((await send(gateway.url, '/health')).status, 200);
        assert.doesNotMatch(gateway.output(), /a worker is still starting|did not listen/);
      } finally {
        await gateway.cleanup();
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

/** A `--workers 2` start whose workers wait while they load, each appending its pid to `<pause>.reached`. */
function pausedStart(dir: string, env: Record<string, string> = {}) {
  const pause = join(dir, 'pause');
  writeFileSync(pause, '');
  writeFileSync(join(dir, 'config.yaml'), 'routing:\n  discovery_interval_s: 0\n');
  const child = spawn(process.execPath, [...PAUSED, 'dist/src/main.js', '--workers', '2'], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', LLM_PROXY_CONFIG: join(dir, 'config.yaml'), LLM_PROXY_DB: join(dir, 'llm-proxy.db'), LLM_PROXY_MASTER_KEY: MASTER_KEY, PAUSED_LOAD_FILE: pause, PAUSED_LOAD_WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** The pids of the workers that have reached the pause, in order (a replacement's come after). */
  const reached = (): number[] => (existsSync(`${pause}.reached`) ? readFileSync(`${pause}.reached`, 'utf8').split('\n').filter(Boolean).map(Number) : []);
  const cleanup = async () => {
    rmSync(pause, { force: true });
    for (const pid of childPids(child.pid as number)) process.kill(pid, 'SIGKILL');
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { child, output: () => output, exited, reached, pause, cleanup };
}

describe('workers: a start that is interrupted, or fails for a reason', { concurrency: 2 }, () => {
  test('workers killed while they load (SIGKILL, as the OOM killer; SIGTERM, as an operator) are started again, and the cluster listens', { timeout: LOADED_MS * 3 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-killed-start-'));
    const start = pausedStart(dir);
    try {
      await eventually(() => start.reached().length >= 2 || start.child.exitCode !== null, LOADED_MS);
      const [first, second] = start.reached() as [number, number];
      process.kill(first, 'SIGKILL');
      process.kill(second, 'SIGTERM');
      // Both replaced (their replacements wait at the same pause), the primary still running.
      await eventually(() => start.reached().length >= 4 || start.child.exitCode !== null, LOADED_MS);
      assert.equal(start.child.exitCode, null, start.output());
      rmSync(start.pause);
      await eventually(() => start.output().includes('llm-proxy listening') || start.child.exitCode !== null, LOADED_MS);
      assert.match(start.output(), /llm-proxy listening/);
      const restarts = start.output().split('\n').filter((line) => line.includes('worker exited; starting a new one')).map((line) => JSON.parse(line) as { signal: string | null; code: number | null; while_starting?: boolean });
      // The SIGTERM: exit 0 (held since the worker's first line) or the signal itself, depending on when it came.
      assert.deepEqual(restarts.map((restart) => restart.while_starting), [true, true], start.output());
      assert.ok(restarts.some((restart) => restart.signal === 'SIGKILL'), start.output());
      assert.doesNotMatch(start.output(), /failed to start/);
      assert.equal(childPids(start.child.pid as number).length, 2);
    } finally {
      await start.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`a worker killed at every try: the start fails after ${MAX_START_ATTEMPTS} tries, exit 1`, { timeout: LOADED_MS * 3 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-killed-start-'));
    const start = pausedStart(dir);
    try {
      const killed = new Set<number>();
      // The first worker's slot: each of its replacements is killed too; the other slot waits at the pause.
      let killing = true;
      const killer = (async () => {
        while (killing && start.child.exitCode === null) {
          for (const pid of start.reached()) {
            if (killed.has(pid) || !childPids(start.child.pid as number).includes(pid)) continue;
            killed.add(pid);
            process.kill(pid, 'SIGKILL');
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const code = await Promise.race([start.exited, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), LOADED_MS * 2).unref())]);
      killing = false;
      await killer;
      assert.equal(code, 1, start.output());
      assert.match(start.output(), new RegExp(`a worker failed to start ${MAX_START_ATTEMPTS} times; stopping`));
    } finally {
      await start.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a start that fails for a reason that would come again (the host cannot be bound) stops at once, the primary naming the worker\'s reason', { timeout: LOADED_MS * 2 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-failed-start-'));
    const start = pausedStart(dir, { HOST: '192.0.2.1' });
    try {
      rmSync(start.pause);
      const code = await Promise.race([start.exited, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), LOADED_MS).unref())]);
      assert.equal(code, 1, start.output());
      const line = start.output().split('\n').find((text) => text.includes('a worker failed to start; stopping'));
      assert.ok(line !== undefined, start.output());
      assert.match((JSON.parse(line) as { reason?: string }).reason ?? '', /^worker \d could not listen: .*EADDRNOTAVAIL/);
      assert.doesNotMatch(start.output(), /starting a new one/);
    } finally {
      await start.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
