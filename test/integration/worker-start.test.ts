// A `--workers` start bounded by server.worker_start_timeout_s: a worker that never listens is
// named with the step it is stuck at and ended; before the first announcement the whole start
// fails (exit 1), after it the worker is replaced. Workers are stuck by a preload (stuck-worker.ts).
// And a Redis that accepts connections but never answers does not hold a start up.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { eventually, MASTER_KEY } from '../support/gateway-harness.js';
import { childPids, send, startGatewayProcess } from '../support/gateway-process.js';

const PRELOAD = ['--import', new URL('../support/stuck-worker.js', import.meta.url).href];
const CONFIG = 'server:\n  worker_start_timeout_s: 10\nrouting:\n  discovery_interval_s: 0\n';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `--workers 2` with every worker stuck at `at`; resolves with the exit code, the output and the workers' pids. */
async function stuckStart(at: 'load' | 'config'): Promise<{ code: number | null; output: string; workers: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-stuck-start-'));
  try {
    writeFileSync(join(dir, 'config.yaml'), CONFIG);
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

describe('workers: a start that never listens', () => {
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
    const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY, STUCK_WORKER_AT: 'load', STUCK_WORKER_FILE: flag }, CONFIG, ['--workers', '2'], 'dist/src/main.js', PRELOAD);
    try {
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
