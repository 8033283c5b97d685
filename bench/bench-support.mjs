// Helpers the secondary benchmarks share (cache-hit.mjs, workers.mjs): child processes killed on
// exit, free ports, readiness polling, the proxy's environment, percentiles and number formatting.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const HOST = '127.0.0.1';

const children = new Set();
export function killAll() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node <argv>` in the repository with only PATH and `env`, and resolves once `ready(output)`
 * says so (polled every 50 ms, up to 20 s). `onOutput` sees stdout as it comes.
 */
export function start(name, argv, env, ready, onOutput) {
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  child.stdout.on('data', (data) => {
    output += data;
    onOutput?.(String(data));
  });
  child.stderr.on('data', (data) => (output += data));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const poll = async () => {
      if (child.exitCode !== null) return reject(new Error(`${name} exited:\n${output}`));
      if (await ready(output)) return resolve(child);
      if (Date.now() > deadline) return reject(new Error(`${name} not ready in 20 s:\n${output}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

export const CLIENT_KEY = 'bench-client-key';
export const UPSTREAM_KEY = 'sk-bench-upstream-key';

/** The environment a benchmarked proxy runs with: the mock as OpenAI, one client key, no request limit; no cache and logs at warn unless asked. */
export function proxyEnv({ port, mockPort, db, rpm = 0, workers, cache = 'off', level = 'warn' }) {
  return {
    PORT: String(port),
    HOST,
    OPENAI_API_KEY: UPSTREAM_KEY,
    OPENAI_BASE_URL: `http://${HOST}:${mockPort}/v1`,
    LLM_PROXY_API_KEYS: CLIENT_KEY,
    LLM_PROXY_CACHE: cache,
    LLM_PROXY_RPM: String(rpm),
    LLM_PROXY_LOG_LEVEL: level,
    LLM_PROXY_DB: db,
    ...(workers === undefined ? {} : { LLM_PROXY_WORKERS: String(workers) }),
  };
}

export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
