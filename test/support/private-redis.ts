// A redis-server of the test's own on a free 127.0.0.1 port (no persistence), for tests that stop,
// pause or count everything in a Redis: the shared one on 6379 is left alone. Killed by its pid.
import { spawn } from 'node:child_process';
import { freePort } from './gateway-process.js';

export interface RedisServer {
  url: string;
  port: number;
  /** SIGKILL, as a crashed or unplugged Redis: connections are refused from then on. */
  stop(): Promise<void>;
}

/** Starts redis-server, or says why it could not (not on PATH, or not ready within 5 s). */
export async function startRedisServer(): Promise<RedisServer | string> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const started = await new Promise<boolean>((resolveStart) => {
    child.once('error', () => resolveStart(false));
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('Ready to accept connections')) resolveStart(true);
    });
    child.once('exit', () => resolveStart(false));
    setTimeout(() => resolveStart(false), 5_000).unref();
  });
  if (!started) {
    child.kill('SIGKILL');
    return 'redis-server could not be started (is it on PATH?)';
  }
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
