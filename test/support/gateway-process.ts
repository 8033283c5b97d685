// Runs the real `node dist/src/main.js` (optionally with --workers) on a free 127.0.0.1 port, for
// tests of what only a process has: signals, config reloads, cluster workers. Output is captured.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from './gateway-harness.js';

export interface GatewayProcess {
  url: string;
  port: number;
  child: ChildProcessWithoutNullStreams;
  /** The config file the process reads (LLM_PROXY_CONFIG); rewrite it, then SIGHUP or POST /admin/reload. */
  configPath: string;
  dbPath: string;
  output(): string;
  /** Waits until the output holds `text` `times` times in all. */
  waitFor(text: string, timeoutMs?: number, times?: number): Promise<void>;
  exited: Promise<number | null>;
  writeConfig(yaml: string): void;
  /** Kills what is still running (SIGKILL) and removes the data directory. */
  cleanup(): Promise<void>;
}

/**
 * Gateways started here that still run, each with whether it leads a process group of its own. A
 * test file can end before its after() stops one (a later step of its before() threw, the runner's
 * --test-force-exit, its per-file limit's SIGTERM), and an orphaned gateway serves on for good:
 * each is stopped when this process ends.
 */
const unstopped = new Map<ChildProcessWithoutNullStreams, boolean>();

function stopUnstopped(): void {
  for (const [child, detached] of unstopped) {
    try {
      // A detached start is its own process group: its workers go with it.
      if (detached && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** SIGTERM ends this process without its 'exit' listeners: stop the gateways, then take the signal as before. */
function onTerminate(): void {
  stopUnstopped();
  process.removeListener('SIGTERM', onTerminate);
  process.kill(process.pid, 'SIGTERM');
}

function track(child: ChildProcessWithoutNullStreams, detached: boolean): void {
  if (unstopped.size === 0) {
    process.on('exit', stopUnstopped);
    process.on('SIGTERM', onTerminate);
  }
  unstopped.set(child, detached);
  child.once('exit', () => {
    unstopped.delete(child);
    if (unstopped.size === 0) {
      process.removeListener('exit', stopUnstopped);
      process.removeListener('SIGTERM', onTerminate);
    }
  });
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function count(haystack: string, needle: string): number {
  let found = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) found++;
  return found;
}

/**
 * `args` follow the script: `['--workers', '2']`, or `['start', '--workers', '2']` with `entry` = the CLI.
 * `nodeFlags` go before the script (the load figures pass those of `npm start`). `detached` starts it
 * in a process group of its own, so stopEveryProcess() can signal its groups without this one's.
 * `cwd` is where it runs (a relative LLM_PROXY_CONFIG is read, and named in messages, from there).
 * `onSpawn` gets the child at once, before it listens (to signal it while it starts).
 */
export async function startGatewayProcess(
  env: Record<string, string>,
  configYaml: string,
  args: string[] = [],
  entry = 'dist/src/main.js',
  nodeFlags: readonly string[] = [],
  options: { detached?: boolean; cwd?: string; onSpawn?: (child: ChildProcessWithoutNullStreams) => void } = {},
): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-process-'));
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, configYaml);
  const dbPath = join(dir, 'llm-proxy.db');
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeFlags, entry, ...args], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', LLM_PROXY_CONFIG: configPath, LLM_PROXY_DB: dbPath, LLM_PROXY_CACHE: 'off', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.detached === true,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  track(child, options.detached === true);
  options.onSpawn?.(child);
  let output = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    stderr += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // 'close' comes after the output streams end: by then its stderr is all here.
  let closed = false;
  child.once('close', () => (closed = true));
  const running: GatewayProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    configPath,
    dbPath,
    output: () => output,
    async waitFor(text, timeoutMs = 10_000, times = 1) {
      try {
        await eventually(() => count(output, text) >= times, timeoutMs);
      } catch {
        throw new Error(`"${text}" did not appear ${times} time(s) in the output:\n${output.slice(-4000)}`);
      }
    },
    exited,
    writeConfig: (yaml) => writeFileSync(configPath, yaml),
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    // A `--workers 2` start under a load of 16-20 on 2 cores measured 34 s (each process loads its
    // modules for 12-15 s): 30 s failed such starts that were slow, not stuck. A stuck worker is
    // logged at 15 s with its step (a worker is still starting), which the error below shows.
    const listening = () => count(output, 'llm-proxy listening') >= 1;
    try {
      await eventually(() => listening() || closed, 60_000);
    } catch {
      throw new Error(`"llm-proxy listening" did not appear in 60 s in the output:\n${output.slice(-4000)}`);
    }
    // Exited before it listened (a refused config, a port taken): said at once, not after the whole limit.
    if (!listening()) {
      const how = child.signalCode === null ? `with code ${child.exitCode}` : `by ${child.signalCode}`;
      // Its log lines (stdout) say why when stderr is empty: a primary logs a failed start and exits 1.
      const said = stderr.trim().length > 0 ? `its stderr:\n${stderr.slice(-4000)}` : `its output:\n${output.slice(-4000)}`;
      throw new Error(`the gateway exited ${how} before it listened; ${said}`);
    }
  } catch (error) {
    // A start that never listens must not outlive its test: the test file would wait on it (and on
    // any workers it forked) until the run's own limit. SIGTERM lets a primary stop its workers.
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(3_000).then(() => false)]);
    if (!stopped) {
      if (options.detached === true && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return running;
}

/** SIGTERM, then another more than a second later: the operator insisting ends the stop (its delay or drain) at once. */
export async function forceStop(cli: GatewayProcess): Promise<void> {
  cli.child.kill('SIGTERM');
  await cli.waitFor('shutting down');
  await sleep(1_200);
  cli.child.kill('SIGTERM');
  // Ended by the signal (the server's, passed on by the CLI), long before the drain would end.
  await cli.exited;
  assert.equal(cli.child.signalCode, 'SIGTERM', cli.output().slice(-3000));
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection (no keep-alive), so a cluster spreads them over its workers. */
export function send(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; /** Another loopback source (127.0.0.2): another client address. */ localAddress?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
    const from = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
    const req = httpRequest(`${url}${path}`, { method, headers: options.headers ?? {}, agent: false, ...from }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A streaming request whose text arrives in `received`; `done` resolves with all of it. */
export function openStream(url: string, headers: Record<string, string>, body: string): { received: () => string; done: Promise<string> } {
  let text = '';
  const done = new Promise<string>((resolve, reject) => {
    const req = httpRequest(`${url}/v1/chat/completions`, { method: 'POST', headers, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return { received: () => text, done };
}

/** The fields of /proc/<pid>/stat after the command name: [0] state, [1] parent pid, [2] process group. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The pids of a process's children (a cluster primary's workers), from /proc. */
export function childPids(pid: number): number[] {
  // Every process whose parent is `pid`, from /proc/<n>/stat (field 4). The per-thread `children`
  // file misses children forked from another thread of the parent.
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (Number(statFields(Number(entry))?.[1]) === pid) children.push(Number(entry));
  }
  return children;
}

/**
 * Sends `signal` to every process of `root`'s tree, as systemd's default stop (KillMode=control-group)
 * does, so each server process also gets the one its parent (the CLI, a cluster primary) passes on.
 * The deepest first, awaiting `settle(count signalled so far)` after each level, so that each process
 * has taken its own before the copy comes; `root` last, as its process group (`kill -SIG -PGID`:
 * start it `detached`).
 */
export async function signalEveryProcess(root: number, signal: NodeJS.Signals, settle: (signalled: number) => Promise<void>): Promise<void> {
  if (Number(statFields(root)?.[2]) !== root) throw new Error(`process ${root} is not the leader of its own group: start it detached`);
  const levels = [[root]];
  for (let below = childPids(root); below.length > 0; below = below.flatMap(childPids)) levels.push(below);
  let signalled = 0;
  for (const level of levels.slice(1).reverse()) {
    for (const pid of level) process.kill(pid, signal);
    signalled += level.length;
    await settle(signalled);
  }
  process.kill(-root, signal);
}

/** Whether process `pid` still runs (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` has `file` open (a server's database: it has read its config). */
export function hasOpen(pid: number, file: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
