// The RELIABILITY.md §4c load figures, each one function against real processes on 127.0.0.1:
// `node dist/src/main.js` (through startGatewayProcess) in front of bench/load-upstream.mjs. Every
// figure takes its sizes as parameters: bench/load.mjs runs them at the sizes §4c names,
// test/integration/load-figures.test.ts at sizes that fit in `npm test`. A figure returns checks
// (measured value against its threshold); callers print or assert them.
//
// Post-GC heap comes from bench/load-heap-probe.mjs, preloaded into the proxy with NODE_OPTIONS: on
// SIGUSR2 it runs gc() and prints the heap, so the product needs no diagnostic endpoint.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { CLIENT_KEY, MASTER_KEY } from './gateway-harness.js';
import { startScriptFlags } from '../../src/server/node-flags.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startRedisServer } from './private-redis.js';
import { sleep, splitSse } from './reliability-support.js';

/** The checkout root: this file runs as dist/test/support/load-support.js. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const UPSTREAM_KEY = 'sk-load-upstream-key';
const AUTH = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' };
const MiB = 1024 * 1024;

// ------------------------------------------------------------------------------------------ results

export interface Check {
  name: string;
  value: number;
  unit: string;
  /** The threshold as printed, e.g. "<= 25". */
  limit: string;
  pass: boolean;
  /** A latency or rate: CPU stolen by other processes moves it, not only the proxy. */
  timing?: boolean;
}

export interface FigureResult {
  figure: string;
  checks: Check[];
  /** Measured values that have no threshold of their own (context for the checks). */
  info: string[];
  /** Set when the figure could not run here (e.g. no Redis); then `checks` is empty. */
  skipped?: string;
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

function atMost(name: string, value: number, max: number, unit: string, timing = false): Check {
  return { name, value: round(value, 2), unit, limit: `<= ${max}`, pass: value <= max, ...(timing ? { timing } : {}) };
}
function atLeast(name: string, value: number, min: number, unit: string, timing = false): Check {
  return { name, value: round(value, 2), unit, limit: `>= ${min}`, pass: value >= min, ...(timing ? { timing } : {}) };
}
function within(name: string, value: number, target: number, tolerance: number, unit: string): Check {
  return { name, value, unit, limit: tolerance === 0 ? `== ${target}` : `${target} ± ${tolerance}`, pass: Math.abs(value - target) <= tolerance };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

// ------------------------------------------------------------------------------------------ processes

export interface LoadUpstream {
  url: string;
  stats(): Promise<{ requests: number; open: number; aborted: number }>;
  close(): Promise<void>;
}

/** bench/load-upstream.mjs in its own process (so its CPU and memory are not the proxy's). */
export async function startLoadUpstream(keepAliveMs = 20_000): Promise<LoadUpstream> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [join(ROOT, 'bench', 'load-upstream.mjs'), '0'], {
    env: { PATH: process.env.PATH ?? '', LOAD_UPSTREAM_KEEPALIVE_MS: String(keepAliveMs) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(output);
      if (match) resolvePort(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`load upstream exited (${code}): ${output}`)));
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async stats() {
      return (await (await fetch(`${url}/__load/stats`)).json()) as { requests: number; open: number; aborted: number };
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Proxy extends GatewayProcess {
  pid: number;
}

/** The real proxy in front of `upstream`, with the heap probe preloaded. `env` and `yaml` add to the defaults. */
export async function startProxy(upstream: LoadUpstream, env: Record<string, string> = {}, yaml = ''): Promise<Proxy> {
  const probe = pathToFileURL(join(ROOT, 'bench', 'load-heap-probe.mjs')).href;
  const proxy = await startGatewayProcess(
    {
      HOME: process.env.HOME ?? '/tmp',
      NODE_OPTIONS: `--import=${probe}`,
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${upstream.url}/v1`,
      LLM_PROXY_API_KEYS: CLIENT_KEY,
      LLM_PROXY_MASTER_KEY: MASTER_KEY,
      LLM_PROXY_RPM: '0',
      // info, the default: the figures include the cost of the access log a real deployment writes.
      LLM_PROXY_LOG_LEVEL: 'info',
      // Diagnostics of bench/load-heap-probe.mjs, passed through: LOAD_TRACE_GC, LOAD_CPU_PROF(_AT).
      ...Object.fromEntries(['LOAD_TRACE_GC', 'LOAD_CPU_PROF', 'LOAD_CPU_PROF_AT'].flatMap((name) => (process.env[name] ? [[name, process.env[name] as string]] : []))),
      ...env,
    },
    yaml,
    [],
    'dist/src/main.js',
    // As users run it: the GC flags of `npm start` are part of the product's memory figures.
    startScriptFlags(),
  );
  const pid = proxy.child.pid;
  if (pid === undefined) throw new Error('the proxy has no pid');
  return Object.assign(proxy, { pid });
}

/** Post-GC heap and RSS of the proxy, in MB (two full GCs in the process, see bench/load-heap-probe.mjs). */
export async function heapAfterGc(proxy: Proxy): Promise<{ heapMb: number; rssMb: number }> {
  const marker = 'load-heap-probe ';
  const seen = proxy.output().split(marker).length - 1;
  proxy.child.kill('SIGUSR2');
  await proxy.waitFor(marker, 10_000, seen + 1);
  const line = proxy.output().split(marker).at(-1)?.split('\n')[0] ?? '{}';
  const { heapUsed, rss } = JSON.parse(line) as { heapUsed: number; rss: number };
  return { heapMb: heapUsed / MiB, rssMb: rss / MiB };
}

export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** The kernel's count of connections dropped because an accept queue was full (all listeners on the host). */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const names = lines.find((line) => line.startsWith('TcpExt:'))?.split(/\s+/) ?? [];
  const values = lines.filter((line) => line.startsWith('TcpExt:'))[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('ListenOverflows')] ?? Number.NaN);
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Samples a process's RSS every `everyMs` until stopped; `peak()` is the largest seen. */
export function sampleRss(pid: number, everyMs = 50): { peak(): number; stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // The process is gone; the peak so far stands.
    }
  }, everyMs);
  return {
    peak: () => peak,
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** The proxy's event-loop delay p99 in ms since the previous scrape (prom-client resets it per scrape). */
export async function eventLoopP99Ms(proxy: Proxy): Promise<number> {
  const response = await fetch(`${proxy.url}/metrics`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
  const text = await response.text();
  const match = /^llm_proxy_nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text);
  if (!match) throw new Error(`no llm_proxy_nodejs_eventloop_lag_p99_seconds in /metrics (status ${response.status})`);
  return Number(match[1]) * 1000;
}

/** Scrapes the event-loop p99 every `everyMs` while running; `max()` is the worst window. */
export function watchEventLoop(proxy: Proxy, everyMs = 1000): { stop(): Promise<number[]> } {
  const windows: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      await sleep(everyMs);
      if (running) windows.push(await eventLoopP99Ms(proxy));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      windows.push(await eventLoopP99Ms(proxy));
      return windows;
    },
  };
}

export interface Descriptors {
  fds: number;
  sockets: number;
  /** TCP sockets of the process in CLOSE_WAIT (the peer closed, the process never did). */
  closeWait: number;
  /** TCP sockets of the process other than its listeners. */
  connections: number;
}

/** Open fds and sockets of `pid` (/proc/<pid>/fd), and its TCP states from /proc/net/tcp{,6}. */
export function descriptors(pid: number): Descriptors {
  const inodes = new Set<string>();
  let fds = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the read
    }
    fds++;
    const socket = /^socket:\[(\d+)\]$/.exec(target);
    if (socket) inodes.add(socket[1] as string);
  }
  let closeWait = 0;
  let connections = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (columns.length <= 9 || !inodes.has(columns[9] as string)) continue;
      if (columns[3] === '08') closeWait++;
      if (columns[3] !== '0A') connections++; // 0A: LISTEN
    }
  }
  return { fds, sockets: inodes.size, closeWait, connections };
}

// ------------------------------------------------------------------------------------------ traffic

export function chatBody(content = 'load:ok', stream = false, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 50, ...(stream ? { stream: true } : {}), ...extra });
}

export function pool(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 10_000 });
}

export interface Timed {
  ms: number;
  status: number;
  body: string;
}

/** One POST /v1/chat/completions on a keep-alive pool, timed from send to the last body byte. */
export async function timedChat(client: Pool, body: string, options: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Timed> {
  const started = performance.now();
  const response = await client.request({ method: 'POST', path: '/v1/chat/completions', headers: { ...AUTH, ...options.headers }, body, signal: options.signal });
  const text = await response.body.text();
  return { ms: performance.now() - started, status: response.statusCode, body: text };
}

/** Starts `fire(i)` `rate` times a second for `durationMs` whatever the answers take (open loop). */
export async function openLoop(rate: number, durationMs: number, fire: (index: number) => Promise<void>): Promise<void> {
  const total = Math.round((rate * durationMs) / 1000);
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    while (sent < due) {
      const running: Promise<void> = fire(sent++).finally(() => pending.delete(running));
      pending.add(running);
    }
    await sleep(2);
  }
  await Promise.all(pending);
}

/** `concurrency` workers, each sending its next request when the previous one ended, until `until()` is true. */
export async function closedLoop(concurrency: number, until: () => boolean, fire: (index: number) => Promise<void>): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until()) await fire(next++);
    }),
  );
  return next;
}

export interface SseOutcome {
  status: number;
  data: string[];
  error?: string;
  /** performance.now() when the response ended or failed. */
  endedAt: number;
  startedAt: number;
  firstByteAt?: number;
}

/** One streaming request on its own connection; the text is split into `data:` events at the end. */
export function sse(base: string, body: string, headers: Record<string, string> = {}): { done: Promise<SseOutcome>; started: () => boolean } {
  let firstByteAt: number | undefined;
  const startedAt = performance.now();
  const done = new Promise<SseOutcome>((resolveOutcome) => {
    let text = '';
    let status = 0;
    const finish = (error?: string) =>
      resolveOutcome({ status, data: splitSse(text).data, startedAt, endedAt: performance.now(), ...(firstByteAt === undefined ? {} : { firstByteAt }), ...(error === undefined ? {} : { error }) });
    const req = httpRequest(`${base}/v1/chat/completions`, { method: 'POST', headers: { ...AUTH, ...headers }, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        firstByteAt ??= performance.now();
        text += chunk;
      });
      res.on('end', () => finish());
      res.on('error', (error) => finish(error.message));
      res.on('aborted', () => finish('aborted'));
    });
    req.on('error', (error) => finish(error.message));
    req.end(body);
  });
  return { done, started: () => firstByteAt !== undefined };
}

/** The last event of a stream that the proxy cut: its error code, if it is an error event. */
function errorEventCode(data: readonly string[]): string | undefined {
  const last = data.at(-1);
  if (last === undefined || last === '[DONE]') return undefined;
  try {
    return (JSON.parse(last) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/**
 * `count` requests on their own connections, each written but for its last byte; once every one is
 * in place, the last bytes go out in one tick. Returns each answer's status (0: no answer).
 */
export async function barrierRequests(base: string, count: number, request: (index: number) => { headers: Record<string, string>; body: string }): Promise<number[]> {
  const { port } = new URL(base);
  const sockets: Socket[] = [];
  const answers: Promise<number>[] = [];
  for (let index = 0; index < count; index++) {
    const { headers, body } = request(index);
    const head = Object.entries({ host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const raw = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\n${head}\r\n${body}`);
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    answers.push(
      new Promise<number>((resolveStatus) => {
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('error', () => undefined);
        socket.on('close', () => resolveStatus(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
      }),
    );
    await new Promise<void>((ready, reject) => {
      socket.once('connect', () => socket.write(raw.subarray(0, raw.length - 1), () => ready()));
      socket.once('error', reject);
    });
    sockets.push(socket);
  }
  await sleep(100); // every request's head and body have been read up to the held byte
  for (const socket of sockets) socket.write('}');
  return Promise.all(answers);
}

/** One request of the mixed traffic of the leak and fd figures: 70% ok, 10% stream, 10% client abort, 10% upstream reset. */
export async function mixedRequest(client: Pool, index: number, tally: MixTally): Promise<void> {
  const kind = index % 10;
  try {
    if (kind < 7) {
      const answer = await timedChat(client, chatBody());
      tally.count(answer.status === 200 ? 'ok' : `ok→${answer.status}`);
    } else if (kind === 7) {
      const answer = await timedChat(client, chatBody('load:stream:20:0', true));
      tally.count(answer.status === 200 && answer.body.endsWith('data: [DONE]\n\n') ? 'stream' : `stream→${answer.status}`);
    } else if (kind === 8) {
      // Mid-stream: the upstream sends an event every 20 ms; the client gives up after 70 ms.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 70);
      try {
        await timedChat(client, chatBody('load:stream:20:20', true), { signal: controller.signal });
        tally.count('abort-too-late');
      } catch {
        tally.count('abort');
      } finally {
        clearTimeout(timer);
      }
    } else {
      // Every other reset is a stream cut after two events, the rest a connection reset before any byte.
      const streamed = index % 20 === 9;
      const answer = await timedChat(client, chatBody('load:reset', streamed));
      const expected = streamed ? answer.status === 200 && errorEventCode(splitSse(answer.body).data) !== undefined : answer.status === 502;
      tally.count(expected ? 'reset' : `reset→${answer.status}`);
    }
  } catch (error) {
    tally.count(`client-error:${(error as Error).message.slice(0, 60)}`);
  }
}

export class MixTally {
  readonly counts = new Map<string, number>();
  count(outcome: string): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
  }
  /** Outcomes other than the expected ones (ok, stream, abort, abort-too-late, reset). */
  unexpected(): number {
    let total = 0;
    for (const [outcome, count] of this.counts) if (!['ok', 'stream', 'abort', 'abort-too-late', 'reset'].includes(outcome)) total += count;
    return total;
  }
  toString(): string {
    return [...this.counts].map(([outcome, count]) => `${outcome} ${count}`).join(', ');
  }
}

/**
 * For the figures that inject upstream resets. A deployment's circuit opens after 5 consecutive failed
 * attempts, or when half of its last 20 attempts failed (src/routing/deployment-health.ts); each reset
 * request with 2 retries is 3 failed attempts, so 10% resets at concurrency 64 trip it now and then, and
 * with one deployment every request then gets 503 for 10 s: in a 50k run, 13k healthy requests did, and
 * the traffic stopped reaching the upstream. No retries and no consecutive-failure trip keep the mix as
 * specified; the breaker itself is tested in the routing and reliability suites.
 */
const RESETS_YAML = 'routing:\n  failure_threshold: 1000000\n  retries: 0\n';

async function runMixed(url: string, requests: number, concurrency: number, tally: MixTally): Promise<void> {
  const client = pool(url, concurrency);
  let issued = 0;
  try {
    await closedLoop(concurrency, () => issued >= requests, async () => {
      await mixedRequest(client, issued++, tally);
    });
  } finally {
    await client.destroy();
  }
}

async function withProxy<T>(options: { env?: Record<string, string>; yaml?: string; upstreamKeepAliveMs?: number }, run: (proxy: Proxy, upstream: LoadUpstream) => Promise<T>): Promise<T> {
  const upstream = await startLoadUpstream(options.upstreamKeepAliveMs);
  let proxy: Proxy | undefined;
  try {
    proxy = await startProxy(upstream, options.env, options.yaml);
    return await run(proxy, upstream);
  } finally {
    // Diagnostics: LOAD_OUTPUT=<file> keeps each proxy's output (with LOAD_TRACE_GC, its GC trace).
    if (proxy !== undefined && process.env.LOAD_OUTPUT) appendFileSync(process.env.LOAD_OUTPUT, proxy.output());
    await proxy?.cleanup();
    await upstream.close();
  }
}

// ------------------------------------------------------------------------------------------ figures

export interface OverheadSize {
  rate: number;
  /** Per target; run as two halves each, alternating direct and proxy so drift hits both. */
  durationMs: number;
  /** Warm-up of the proxy (JIT, pools) before measuring. */
  warmupMs: number;
  maxAddedP50Ms: number;
  maxAddedP99Ms: number;
}

/** Proxy overhead: the same open-loop rate against the upstream directly and through the proxy. */
export async function overheadFigure(size: OverheadSize): Promise<FigureResult> {
  return withProxy({}, async (proxy, upstream) => {
    const latencies = { direct: [] as number[], proxy: [] as number[] };
    let failed = 0;
    const targets = { direct: pool(upstream.url, 64), proxy: pool(proxy.url, 64) };
    const body = chatBody();
    try {
      const run = async (target: 'direct' | 'proxy', durationMs: number, record: boolean) => {
        const client = targets[target];
        await openLoop(size.rate, durationMs, async () => {
          const answer = await timedChat(client, body).catch(() => ({ ms: Number.NaN, status: 0, body: '' }));
          if (answer.status !== 200) failed++;
          else if (record) latencies[target].push(answer.ms);
        });
      };
      await run('direct', size.warmupMs / 2, false);
      await run('proxy', size.warmupMs, false);
      for (let half = 0; half < 2; half++) {
        await run('direct', size.durationMs / 2, true);
        await run('proxy', size.durationMs / 2, true);
      }
    } finally {
      await targets.direct.destroy();
      await targets.proxy.destroy();
    }
    const p = (target: 'direct' | 'proxy', q: number) => percentile(latencies[target], q);
    return {
      figure: 'overhead',
      checks: [
        atMost('added p50 (proxy - direct)', p('proxy', 0.5) - p('direct', 0.5), size.maxAddedP50Ms, 'ms', true),
        atMost('added p99 (proxy - direct)', p('proxy', 0.99) - p('direct', 0.99), size.maxAddedP99Ms, 'ms', true),
        atMost('failed requests', failed, 0, ''),
      ],
      info: [
        `${size.rate} RPS, ${latencies.proxy.length} proxied / ${latencies.direct.length} direct requests measured`,
        `direct p50 ${round(p('direct', 0.5), 2)} ms p99 ${round(p('direct', 0.99), 2)} ms; proxy p50 ${round(p('proxy', 0.5), 2)} ms p99 ${round(p('proxy', 0.99), 2)} ms`,
      ],
    };
  });
}

export interface ThroughputSize {
  concurrencies: number[];
  stepMs: number;
  minRps: number;
  maxP99Ms: number;
}

/** Throughput: closed-loop steps of rising concurrency; the figure is the best RPS whose p99 stays under the bound. */
export async function throughputFigure(size: ThroughputSize): Promise<FigureResult> {
  return withProxy({}, async (proxy) => {
    const body = chatBody();
    const steps: string[] = [];
    let best = 0;
    let failed = 0;
    for (const concurrency of size.concurrencies) {
      const client = pool(proxy.url, concurrency);
      const latencies: number[] = [];
      try {
        const warm = performance.now() + 300;
        await closedLoop(concurrency, () => performance.now() > warm, async () => void (await timedChat(client, body)));
        const started = performance.now();
        const end = started + size.stepMs;
        await closedLoop(concurrency, () => performance.now() > end, async () => {
          const answer = await timedChat(client, body).catch(() => ({ ms: 0, status: 0, body: '' }));
          if (answer.status === 200) latencies.push(answer.ms);
          else failed++;
        });
        const rps = latencies.length / ((performance.now() - started) / 1000);
        const p99 = percentile(latencies, 0.99);
        steps.push(`c=${concurrency}: ${Math.round(rps)} RPS, p99 ${round(p99)} ms`);
        if (p99 <= size.maxP99Ms) best = Math.max(best, rps);
        else break; // past the knee: more concurrency only queues
      } finally {
        await client.destroy();
      }
    }
    return {
      figure: 'throughput',
      checks: [atLeast(`RPS with p99 <= ${size.maxP99Ms} ms`, Math.round(best), size.minRps, 'RPS', true), atMost('failed requests', failed, 0, '')],
      info: steps,
    };
  });
}

export interface StreamsSize {
  streams: number;
  chunks: number;
  gapMs: number;
  /** The streams are opened evenly over this time. */
  rampMs: number;
  maxEventLoopP99Ms: number;
  maxRssGrowthMb: number;
  /** How long after the streams end the RSS is read again. */
  settleMs: number;
  maxRssAfterMb: number;
}

/** Many concurrent slow SSE streams on one instance: none dropped, event loop responsive, memory bounded and returned. */
export async function streamsFigure(size: StreamsSize): Promise<FigureResult> {
  return withProxy({}, async (proxy) => {
    // Warm-up, so the baseline includes the JIT and pools every stream would use anyway.
    await Promise.all(Array.from({ length: 20 }, () => sse(proxy.url, chatBody('load:stream:5:0', true)).done));
    await heapAfterGc(proxy);
    await sleep(500);
    const baseline = rssMb(proxy.pid);
    const rss = sampleRss(proxy.pid);
    await eventLoopP99Ms(proxy); // resets the window
    const loop = watchEventLoop(proxy);
    const body = chatBody(`load:stream:${size.chunks}:${size.gapMs}`, true);
    const cpuBefore = { proxy: cpuSeconds(proxy.pid), driver: process.cpuUsage(), at: performance.now(), overflows: listenOverflows() };
    const outcomes: Promise<SseOutcome>[] = [];
    const perTick = Math.max(1, Math.ceil(size.streams / Math.max(1, size.rampMs / 10)));
    while (outcomes.length < size.streams) {
      for (let i = 0; i < perTick && outcomes.length < size.streams; i++) outcomes.push(sse(proxy.url, body).done);
      await sleep(10);
    }
    const results = await Promise.all(outcomes);
    const windows = await loop.stop();
    const peak = rss.stop();
    const wallS = (performance.now() - cpuBefore.at) / 1000;
    const driverCpu = process.cpuUsage(cpuBefore.driver);
    const cpuShare = {
      proxy: (cpuSeconds(proxy.pid) - cpuBefore.proxy) / wallS,
      driver: (driverCpu.user + driverCpu.system) / 1e6 / wallS,
    };
    const dropped = results.filter((outcome) => outcome.status !== 200 || outcome.error !== undefined || outcome.data.at(-1) !== '[DONE]' || outcome.data.length < size.chunks + 3);
    await sleep(size.settleMs);
    const after = rssMb(proxy.pid);
    // Read after the check, for the report only: is what stayed garbage a GC frees, or held?
    const collected = await heapAfterGc(proxy);
    const example = dropped[0];
    const firstBytes = results.flatMap((outcome) => (outcome.firstByteAt === undefined ? [] : [outcome.firstByteAt - outcome.startedAt]));
    const lasting = results.map((outcome) => outcome.endedAt - outcome.startedAt);
    return {
      figure: 'streams',
      checks: [
        atMost('streams dropped', dropped.length, 0, ''),
        atMost('event-loop delay p99 (worst 1 s window)', Math.max(...windows), size.maxEventLoopP99Ms, 'ms', true),
        atMost('RSS growth during the run', peak - baseline, size.maxRssGrowthMb, 'MB'),
        atMost(`RSS above baseline ${size.settleMs / 1000} s after`, after - baseline, size.maxRssAfterMb, 'MB'),
      ],
      info: [
        `${size.streams} streams x ${size.chunks} chunks ${size.gapMs} ms apart, opened over ${size.rampMs} ms; RSS baseline ${round(baseline)} MB, peak ${round(peak)} MB, after ${round(after)} MB`,
        `event-loop p99 per window (ms): ${windows.map((value) => round(value)).join(' ')}`,
        `after a forced full GC: heap ${round(collected.heapMb)} MB, RSS ${round(collected.rssMb)} MB`,
        `CPU while streaming (cores): proxy ${round(cpuShare.proxy, 2)}, this load generator ${round(cpuShare.driver, 2)} (a proxy near 1.0 is saturated; the rest of the machine was shared); connections dropped by full accept queues on this host: ${listenOverflows() - cpuBefore.overflows}`,
        `first byte p50 ${round(percentile(firstBytes, 0.5))} ms, p99 ${round(percentile(firstBytes, 0.99))} ms; stream duration p50 ${round(percentile(lasting, 0.5))} ms, max ${round(Math.max(...lasting))} ms`,
        ...(example === undefined ? [] : [`first dropped: status ${example.status}, error ${example.error ?? 'none'}, ${example.data.length} events, last ${example.data.at(-1)?.slice(0, 120)}`]),
      ],
    };
  });
}

export interface LeakSize {
  warmup: number;
  /** Cumulative request counts at which the post-GC heap is read. */
  checkpoints: number[];
  concurrency: number;
  maxHeapGrowthMb: number;
}

/** The leak curve: post-GC heap after growing amounts of mixed traffic stays near the warmed-up baseline. */
export async function leakFigure(size: LeakSize): Promise<FigureResult> {
  return withProxy({ yaml: RESETS_YAML }, async (proxy) => {
    const tally = new MixTally();
    await runMixed(proxy.url, size.warmup, size.concurrency, new MixTally());
    await sleep(1100); // the usage writer flushes every second
    const baseline = (await heapAfterGc(proxy)).heapMb;
    const checks: Check[] = [];
    const curve: string[] = [];
    let done = 0;
    for (const checkpoint of size.checkpoints) {
      await runMixed(proxy.url, checkpoint - done, size.concurrency, tally);
      done = checkpoint;
      await sleep(1100);
      const { heapMb, rssMb: rss } = await heapAfterGc(proxy);
      checks.push(atMost(`post-GC heap growth after ${checkpoint} requests`, heapMb - baseline, size.maxHeapGrowthMb, 'MB'));
      curve.push(`${checkpoint}: heap ${round(heapMb)} MB, RSS ${round(rss)} MB`);
    }
    checks.push(atMost('unexpected outcomes', tally.unexpected(), 0, ''));
    return { figure: 'leak', checks, info: [`baseline post-GC heap ${round(baseline)} MB after ${size.warmup} warm-up requests`, ...curve, `outcomes: ${tally.toString()}`] };
  });
}

export interface FdSize {
  requests: number;
  concurrency: number;
  /** The wait after the traffic (§4c: 30 s); the figure reads the descriptors when it ends. */
  settleMs: number;
  upstreamKeepAliveMs: number;
  maxExtra: number;
}

/** fd/socket hygiene: after mixed traffic with aborts and resets, the proxy's fds and sockets return to the baseline. */
export async function fdFigure(size: FdSize): Promise<FigureResult> {
  return withProxy({ upstreamKeepAliveMs: size.upstreamKeepAliveMs, yaml: RESETS_YAML }, async (proxy, upstream) => {
    await runMixed(proxy.url, 100, 8, new MixTally());
    // The baseline once the warm-up's connections have closed (the upstream ends idle ones after its
    // keep-alive), waited for no longer than that keep-alive and 1.5 s.
    const quietBy = performance.now() + size.upstreamKeepAliveMs + 1500;
    while (descriptors(proxy.pid).connections > 0 && performance.now() < quietBy) await sleep(50);
    const baseline = descriptors(proxy.pid);
    const tally = new MixTally();
    await runMixed(proxy.url, size.requests, size.concurrency, tally);
    const rightAfter = descriptors(proxy.pid);
    await sleep(size.settleMs);
    const after = descriptors(proxy.pid);
    const upstreamStats = await upstream.stats();
    return {
      figure: 'fd',
      checks: [
        atMost('open fds above baseline', after.fds - baseline.fds, size.maxExtra, ''),
        atMost('sockets above baseline', after.sockets - baseline.sockets, size.maxExtra, ''),
        atMost('sockets in CLOSE_WAIT', after.closeWait, 0, ''),
        atMost('upstream responses still open', upstreamStats.open, 0, ''),
        atMost('unexpected outcomes', tally.unexpected(), 0, ''),
      ],
      info: [
        `${size.requests} mixed requests at concurrency ${size.concurrency}: ${tally.toString()}`,
        `fds/sockets/CLOSE_WAIT: baseline ${baseline.fds}/${baseline.sockets}/${baseline.closeWait}, right after ${rightAfter.fds}/${rightAfter.sockets}/${rightAfter.closeWait}, ${size.settleMs / 1000} s later ${after.fds}/${after.sockets}/${after.closeWait}`,
        `upstream: ${upstreamStats.requests} requests, ${upstreamStats.aborted} hung up by the proxy`,
      ],
    };
  });
}

export interface SlowlorisSize {
  sockets: number;
  headersTimeoutS: number;
  trickleMs: number;
  /** How long the healthy client sends requests (one every `healthyEveryMs`). */
  healthyMs: number;
  healthyEveryMs: number;
  maxHealthyP99Ms: number;
  /** Allowed past the headers timeout before a slow socket must be closed (§4c: 5 s). */
  graceS: number;
}

/** Slowloris: many connections trickling header lines; a healthy client stays fast and every slow socket is closed in time. */
export async function slowlorisFigure(size: SlowlorisSize): Promise<FigureResult> {
  return withProxy({ yaml: `server:\n  headers_timeout_s: ${size.headersTimeoutS}\n` }, async (proxy) => {
    const { port } = new URL(proxy.url);
    const lifetimes: Promise<number>[] = [];
    const timers = new Set<NodeJS.Timeout>();
    const sockets: Socket[] = [];
    const openOne = () => {
      const socket = connect(Number(port), '127.0.0.1');
      sockets.push(socket);
      const opened = performance.now();
      lifetimes.push(
        new Promise<number>((resolveLifetime) => {
          let line = 0;
          const timer = setInterval(() => {
            if (!socket.destroyed) socket.write(`X-Trickle-${line++}: ${'a'.repeat(8)}\r\n`);
          }, size.trickleMs);
          timers.add(timer);
          socket.on('error', () => undefined);
          socket.on('data', () => undefined);
          socket.once('close', () => {
            clearInterval(timer);
            timers.delete(timer);
            resolveLifetime(performance.now() - opened);
          });
          socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        }),
      );
    };
    const healthy = pool(proxy.url, 4);
    const latencies: number[] = [];
    let failed = 0;
    try {
      // Open the crowd over ~1 s, then measure a healthy client while it trickles.
      const perTick = Math.max(1, Math.ceil(size.sockets / 20));
      for (let tick = 0; tick < 20 && lifetimes.length < size.sockets; tick++) {
        for (let i = 0; i < perTick && lifetimes.length < size.sockets; i++) openOne();
        await sleep(50);
      }
      const body = chatBody();
      const end = performance.now() + size.healthyMs;
      while (performance.now() < end) {
        const answer = await timedChat(healthy, body).catch(() => ({ ms: 0, status: 0, body: '' }));
        if (answer.status === 200) latencies.push(answer.ms);
        else failed++;
        await sleep(size.healthyEveryMs);
      }
      const deadline = (size.headersTimeoutS + size.graceS) * 1000;
      const lives = await Promise.race([Promise.all(lifetimes), sleep(deadline + 5_000).then(() => undefined)]);
      const stillOpen = sockets.filter((socket) => !socket.destroyed).length;
      const longest = lives === undefined ? Number.POSITIVE_INFINITY : Math.max(...lives);
      return {
        figure: 'slowloris',
        checks: [
          atMost('healthy client p99', percentile(latencies, 0.99), size.maxHealthyP99Ms, 'ms', true),
          atMost('healthy requests failed', failed, 0, ''),
          atMost('longest slow-socket life', longest / 1000, size.headersTimeoutS + size.graceS, 's'),
          atMost('slow sockets never closed', stillOpen, 0, ''),
        ],
        info: [
          `${size.sockets} sockets, a header line every ${size.trickleMs} ms, headers timeout ${size.headersTimeoutS} s; healthy: ${latencies.length} requests, p50 ${round(percentile(latencies, 0.5), 2)} ms`,
          lives === undefined ? 'some sockets were still open at the end' : `slow-socket life: min ${round(Math.min(...lives) / 1000, 2)} s, median ${round(percentile(lives, 0.5) / 1000, 2)} s`,
        ],
      };
    } finally {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await healthy.destroy();
    }
  });
}

export interface PrivateRedis {
  url: string;
  /** Private: nothing else uses this server, so pausing it disturbs no one. */
  owned: boolean;
  close(): Promise<void>;
}

/**
 * A Redis for the figures that pause or share one. A private `redis-server` on a free port unless
 * LOAD_REDIS_URL names one (CLIENT PAUSE then stalls every other user of that server); undefined
 * when neither is possible.
 */
export async function loadRedis(): Promise<PrivateRedis | string> {
  const named = process.env.LOAD_REDIS_URL;
  if (named !== undefined && named !== '') return { url: named, owned: false, close: async () => undefined };
  const server = await startRedisServer();
  if (typeof server === 'string') return `${server}, and LOAD_REDIS_URL is not set`;
  return { url: server.url, owned: true, close: () => server.stop() };
}

export interface RedisPauseSize {
  rate: number;
  pauseMs: number;
  /** Traffic before the pause and after it ends. */
  marginMs: number;
  maxBreakerLines: number;
}

/** Redis stops answering (CLIENT PAUSE ALL) under steady traffic: no request fails; the breaker logs a few lines, not one per command. */
export async function redisPauseFigure(size: RedisPauseSize): Promise<FigureResult> {
  const redis = await loadRedis();
  if (typeof redis === 'string') return { figure: 'redis-pause', checks: [], info: [], skipped: redis };
  const prefix = `llmp-load-${process.pid}-${Date.now()}:`;
  try {
    return await withProxy({ env: { REDIS_URL: redis.url, LLM_PROXY_RPM: '1000000' }, yaml: `storage:\n  redis_prefix: "${prefix}"\n` }, async (proxy) => {
      const admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
      const client = pool(proxy.url, 64);
      const statuses = new Map<number, number>();
      const latencies: number[] = [];
      try {
        const body = chatBody();
        const linesBefore = breakerLines(proxy.output());
        const traffic = openLoop(size.rate, size.pauseMs + 2 * size.marginMs, async () => {
          const answer = await timedChat(client, body).catch(() => ({ ms: 0, status: 0, body: '' }));
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          latencies.push(answer.ms);
        });
        await sleep(size.marginMs);
        await admin.call('CLIENT', 'PAUSE', String(size.pauseMs), 'ALL');
        await traffic;
        // Recovery: the breaker's next probe (one cool-down, 5 s, at most) finds Redis back and closes it.
        const recoverBy = performance.now() + 10_000;
        while (!proxy.output().includes('redis breaker closed') && performance.now() < recoverBy) {
          const answer = await timedChat(client, body).catch(() => ({ ms: 0, status: 0, body: '' }));
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          await sleep(100);
        }
        const lines = breakerLines(proxy.output()) - linesBefore;
        const total = [...statuses.values()].reduce((a, b) => a + b, 0);
        return {
          figure: 'redis-pause',
          checks: [
            atMost('failed requests', total - (statuses.get(200) ?? 0), 0, ''),
            atMost('breaker log lines', lines, size.maxBreakerLines, ''),
            within('breaker closed again after the pause', proxy.output().includes('redis breaker closed') ? 1 : 0, 1, 0, ''),
          ],
          info: [
            `${total} requests at ${size.rate} RPS, Redis paused ${size.pauseMs / 1000} s (${redis.owned ? 'a private redis-server' : redis.url}); statuses ${[...statuses].map(([status, count]) => `${status}x${count}`).join(' ')}`,
            `latency p50 ${round(percentile(latencies, 0.5), 2)} ms, p99 ${round(percentile(latencies, 0.99), 2)} ms, max ${round(Math.max(...latencies), 1)} ms`,
          ],
        };
      } finally {
        await client.destroy();
        await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
        admin.disconnect();
      }
    });
  } finally {
    await redis.close();
  }
}

function breakerLines(output: string): number {
  return output.split('\n').filter((line) => line.includes('"component":"redis"') && line.includes('breaker')).length;
}

export interface BudgetSize {
  /** Requests at the barrier against a budget that fits one (0: that half is left out). */
  racers: number;
  /** Two instances sharing Redis: the per-minute limit and how many requests go to it (spread over both). */
  rpmLimit: number;
  rpmRequests: number;
  rpmTolerance: number;
}

/** Budget race on one instance, and one request-per-minute limit held across two instances sharing Redis. */
export async function budgetFigure(size: BudgetSize): Promise<FigureResult> {
  const checks: Check[] = [];
  const info: string[] = [];
  if (size.racers > 0) {
    await withProxy({}, async (proxy) => {
      // gpt-4 at $0.03 / $0.06 per 1K: with max_tokens 100 a request may cost ~$0.0062, so $0.007 fits exactly one.
      const created = await fetch(`${proxy.url}/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'load-race', max_budget: 0.007 }),
      });
      const { key } = (await created.json()) as { key: string };
      const body = JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'load:ok' }], max_tokens: 100 });
      const statuses = await barrierRequests(proxy.url, size.racers, () => ({ headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body }));
      checks.push(within(`admitted of ${size.racers} at a barrier (budget fits one)`, statuses.filter((status) => status === 200).length, 1, 0, ''));
      info.push(`budget race statuses: ${summarise(statuses)}`);
    });
  }
  if (size.rpmRequests > 0) {
    const redis = await loadRedis();
    if (typeof redis === 'string') {
      info.push(`two instances: skipped (${redis})`);
    } else {
      const upstream = await startLoadUpstream();
      const prefix = `llmp-load-${process.pid}-${Date.now()}:`;
      const instances: Proxy[] = [];
      try {
        // Started at once; each one that started is cleaned up below, even when the other failed.
        const started = await Promise.allSettled([0, 1].map(() => startProxy(upstream, { REDIS_URL: redis.url, LLM_PROXY_RPM: String(size.rpmLimit) }, `storage:\n  redis_prefix: "${prefix}"\n`)));
        for (const outcome of started) if (outcome.status === 'fulfilled') instances.push(outcome.value);
        for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
        const [a, b] = instances as [Proxy, Proxy];
        // Both connected to Redis first: an instance serves before that, deciding locally (by design).
        const admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
        try {
          const readyBy = performance.now() + 5_000;
          while (performance.now() < readyBy && Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1] ?? 0) < 3) await sleep(20);
        } finally {
          admin.disconnect();
        }
        await sleep(100);
        const body = chatBody();
        const halves = await Promise.all([
          barrierRequests(a.url, Math.ceil(size.rpmRequests / 2), () => ({ headers: AUTH, body })),
          barrierRequests(b.url, Math.floor(size.rpmRequests / 2), () => ({ headers: AUTH, body })),
        ]);
        const statuses = halves.flat();
        checks.push(within(`admitted of ${size.rpmRequests} over two instances (limit ${size.rpmLimit}/min)`, statuses.filter((status) => status === 200).length, size.rpmLimit, size.rpmTolerance, ''));
        checks.push(atMost('answers other than 200/429', statuses.filter((status) => status !== 200 && status !== 429).length, 0, ''));
        info.push(`two instances: instance A ${summarise(halves[0] ?? [])}; instance B ${summarise(halves[1] ?? [])}; Redis breaker log lines: A ${breakerLines(a.output())}, B ${breakerLines(b.output())}`);
      } finally {
        for (const instance of instances) await instance.cleanup();
        await upstream.close();
        await redis.close();
      }
    }
  }
  return { figure: 'budget', checks, info };
}

function summarise(statuses: readonly number[]): string {
  const counts = new Map<number, number>();
  for (const status of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts].sort(([x], [y]) => x - y).map(([status, count]) => `${status}x${count}`).join(' ');
}

export interface ShutdownSize {
  streams: number;
  gapMs: number;
  /** Half the streams end before the deadline (`shortChunks`), half would run past it (`longChunks`). */
  shortChunks: number;
  longChunks: number;
  deadlineS: number;
}

/** SIGTERM with streams in flight: each finishes or gets the error event by the deadline, exit 0, every usage row in SQLite. */
export async function shutdownFigure(size: ShutdownSize): Promise<FigureResult> {
  return withProxy({ yaml: `server:\n  shutdown_timeout_s: ${size.deadlineS}\n` }, async (proxy) => {
    const ids: string[] = [];
    const streams = Array.from({ length: size.streams }, (_, index) => {
      const id = `load-shutdown-${index}`;
      ids.push(id);
      const chunks = index % 2 === 0 ? size.shortChunks : size.longChunks;
      return sse(proxy.url, chatBody(`load:stream:${chunks}:${size.gapMs}`, true), { 'x-request-id': id });
    });
    const startBy = performance.now() + 15_000;
    while (!streams.every((stream) => stream.started()) && performance.now() < startBy) await sleep(20);
    const notStarted = streams.filter((stream) => !stream.started()).length;
    const signalled = performance.now();
    proxy.child.kill('SIGTERM');
    const outcomes = await Promise.all(streams.map((stream) => stream.done));
    const code = await proxy.exited;
    const exitedAfter = performance.now() - signalled;
    const finished = outcomes.filter((outcome) => outcome.status === 200 && outcome.data.at(-1) === '[DONE]').length;
    const cut = outcomes.filter((outcome) => outcome.status === 200 && errorEventCode(outcome.data) === 'server_shutting_down').length;
    const late = outcomes.filter((outcome) => outcome.endedAt - signalled > size.deadlineS * 1000 + 1000).length;
    const db = new Database(proxy.dbPath, { readonly: true });
    let rows = 0;
    try {
      const statement = db.prepare('SELECT count(*) AS n FROM usage_records WHERE request_id = ?');
      for (const id of ids) rows += (statement.get(id) as { n: number }).n > 0 ? 1 : 0;
    } finally {
      db.close();
    }
    return {
      figure: 'shutdown',
      checks: [
        atMost('streams neither finished nor given the error event', size.streams - finished - cut, 0, ''),
        atMost('streams ended after the deadline (+1 s)', late, 0, ''),
        within('exit code', code ?? -1, 0, 0, ''),
        atLeast('usage rows present', (100 * rows) / size.streams, 100, '%'),
      ],
      info: [
        `${size.streams} streams (${notStarted} not started at SIGTERM), deadline ${size.deadlineS} s: ${finished} finished with [DONE], ${cut} cut with server_shutting_down; exited after ${round(exitedAfter / 1000, 2)} s`,
        `usage rows: ${rows} of ${size.streams}`,
      ],
    };
  });
}

export interface BodyCapSize {
  uploads: number;
  sizeMb: number;
  maxRssGrowthMb: number;
}

const ONE_MIB = Buffer.alloc(MiB, 0x61);

/**
 * One upload of `sizeMb` MiB (declared with Content-Length, or chunked) on a raw socket; resolves
 * with the status line the proxy sent (0: none). A raw socket, because node:http's client drops an
 * early answer when its next write fails with EPIPE, which is the client's loss, not the proxy's.
 */
function upload(base: string, sizeMb: number, chunked: boolean): Promise<number> {
  return new Promise((resolveStatus) => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    let received = '';
    let written = 0;
    const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${sizeMb * MiB}`;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolveStatus(Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0)));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`);
    const pump = () => {
      while (received === '' && written < sizeMb && !socket.destroyed) {
        written++;
        if (chunked) socket.write(`${MiB.toString(16)}\r\n`);
        const more = socket.write(ONE_MIB);
        if (chunked) socket.write('\r\n');
        if (!more) return void socket.once('drain', pump);
      }
      if (written >= sizeMb && !socket.destroyed) socket.end(chunked ? '0\r\n\r\n' : '');
    };
    pump();
  });
}

/**
 * Body caps: parallel uploads far over the limit all get 413 and the proxy's RSS barely moves. Run
 * twice: declared with Content-Length (413 before any byte is read), then chunked (the size shows only
 * while reading: the bodies being read share `server.body_buffer_budget_mb`, default 2 x the cap, and
 * wait their turn in it, so each reaches the cap and its 413).
 */
export async function bodyCapFigure(size: BodyCapSize): Promise<FigureResult> {
  return withProxy({}, async (proxy) => {
    const checks: Check[] = [];
    const info: string[] = [];
    const client = pool(proxy.url, 1);
    try {
      await timedChat(client, chatBody());
      for (const chunked of [false, true]) {
        const how = chunked ? 'chunked' : 'Content-Length';
        await heapAfterGc(proxy);
        await sleep(300);
        const baseline = rssMb(proxy.pid);
        const rss = sampleRss(proxy.pid, 20);
        const statuses = await Promise.all(Array.from({ length: size.uploads }, () => upload(proxy.url, size.sizeMb, chunked)));
        const peak = rss.stop();
        const refused = statuses.filter((status) => status === 413).length;
        checks.push(within(`${how}: uploads answered 413`, refused, size.uploads, 0, ''));
        checks.push(atMost(`${how}: RSS growth`, peak - baseline, size.maxRssGrowthMb, 'MB'));
        info.push(`${how}: ${size.uploads} parallel uploads of ${size.sizeMb} MiB: ${summarise(statuses)} (0: no answer); RSS baseline ${round(baseline)} MB, peak ${round(peak)} MB`);
      }
      checks.push(within('a normal request afterwards', (await timedChat(client, chatBody())).status, 200, 0, 'status'));
    } finally {
      await client.destroy();
    }
    return { figure: 'body-cap', checks, info };
  });
}

// ------------------------------------------------------------------------------------------ report

export function formatResult(result: FigureResult): string {
  if (result.skipped !== undefined) return `${result.figure}: SKIPPED (${result.skipped})`;
  const lines = result.checks.map((check) => `  ${check.pass ? 'PASS' : 'FAIL'}  ${check.name}: ${check.value}${check.unit ? ` ${check.unit}` : ''} (threshold ${check.limit}${check.unit ? ` ${check.unit}` : ''})`);
  return [`${result.figure}`, ...lines, ...result.info.map((line) => `        ${line}`)].join('\n');
}

export function failures(result: FigureResult): Check[] {
  return result.checks.filter((check) => !check.pass);
}

// ------------------------------------------------------------------------------------------ sizes

export interface Figure {
  name: string;
  /**
   * Its checks move with CPU that other processes take (latencies, rates, a deadline, Redis command
   * timeouts): measured with nothing else running. The others check counts, fds, heap and RSS of
   * their own proxy, which another figure's load beside them does not change.
   */
  alone: boolean;
  run(): Promise<FigureResult>;
}

export interface Sizes {
  overhead: OverheadSize;
  throughput: ThroughputSize;
  streams: StreamsSize;
  leak: LeakSize;
  fd: FdSize;
  slowloris: SlowlorisSize;
  redisPause: RedisPauseSize;
  budget: BudgetSize;
  shutdown: ShutdownSize;
  bodyCap: BodyCapSize;
}

/** The sizes and thresholds RELIABILITY.md §4c names (`npm run load`). */
export const FULL_SIZES: Sizes = {
  overhead: { rate: 200, durationMs: 20_000, warmupMs: 3_000, maxAddedP50Ms: 5, maxAddedP99Ms: 25 },
  throughput: { concurrencies: [8, 16, 32, 64, 128], stepMs: 5_000, minRps: 1000, maxP99Ms: 100 },
  streams: { streams: 2000, chunks: 50, gapMs: 100, rampMs: 2_500, maxEventLoopP99Ms: 50, maxRssGrowthMb: 300, settleMs: 60_000, maxRssAfterMb: 30 },
  leak: { warmup: 1000, checkpoints: [1000, 5000, 20_000, 50_000], concurrency: 64, maxHeapGrowthMb: 20 },
  fd: { requests: 10_000, concurrency: 64, settleMs: 30_000, upstreamKeepAliveMs: 20_000, maxExtra: 10 },
  slowloris: { sockets: 2000, headersTimeoutS: 10, trickleMs: 1000, healthyMs: 12_000, healthyEveryMs: 20, maxHealthyP99Ms: 200, graceS: 5 },
  redisPause: { rate: 200, pauseMs: 90_000, marginMs: 5_000, maxBreakerLines: 10 },
  budget: { racers: 100, rpmLimit: 100, rpmRequests: 300, rpmTolerance: 2 },
  shutdown: { streams: 500, gapMs: 100, shortChunks: 20, longChunks: 50, deadlineS: 3 },
  bodyCap: { uploads: 50, sizeMb: 50, maxRssGrowthMb: 50 },
};

/**
 * Reduced sizes for `npm test` (test/integration/load-figures.test.ts) and `npm run load -- --quick`:
 * the whole set in well under a minute on two shared cores. Thresholds scale with the load where
 * the figure is a per-unit cost (RSS per stream, heap per request) and are loosened only where a
 * busy test machine adds latency that is not the proxy's.
 */
export const TEST_SIZES: Sizes = {
  overhead: { rate: 100, durationMs: 2_000, warmupMs: 600, maxAddedP50Ms: 10, maxAddedP99Ms: 75 },
  throughput: { concurrencies: [4, 16], stepMs: 1_500, minRps: 400, maxP99Ms: 150 },
  streams: { streams: 200, chunks: 20, gapMs: 50, rampMs: 500, maxEventLoopP99Ms: 75, maxRssGrowthMb: 50, settleMs: 2_000, maxRssAfterMb: 30 },
  leak: { warmup: 300, checkpoints: [600, 1500], concurrency: 16, maxHeapGrowthMb: 5 },
  fd: { requests: 600, concurrency: 16, settleMs: 2_500, upstreamKeepAliveMs: 1_000, maxExtra: 10 },
  slowloris: { sockets: 300, headersTimeoutS: 2, trickleMs: 300, healthyMs: 1_500, healthyEveryMs: 20, maxHealthyP99Ms: 200, graceS: 2 },
  redisPause: { rate: 50, pauseMs: 6_000, marginMs: 500, maxBreakerLines: 2 },
  budget: { racers: 0, rpmLimit: 30, rpmRequests: 90, rpmTolerance: 1 },
  shutdown: { streams: 60, gapMs: 100, shortChunks: 10, longChunks: 30, deadlineS: 1.5 },
  bodyCap: { uploads: 10, sizeMb: 20, maxRssGrowthMb: 50 },
};

export function figures(sizes: Sizes): Figure[] {
  return [
    { name: 'overhead', alone: true, run: () => overheadFigure(sizes.overhead) },
    { name: 'throughput', alone: true, run: () => throughputFigure(sizes.throughput) },
    { name: 'streams', alone: true, run: () => streamsFigure(sizes.streams) },
    { name: 'leak', alone: false, run: () => leakFigure(sizes.leak) },
    { name: 'fd', alone: false, run: () => fdFigure(sizes.fd) },
    { name: 'slowloris', alone: true, run: () => slowlorisFigure(sizes.slowloris) },
    { name: 'redis-pause', alone: true, run: () => redisPauseFigure(sizes.redisPause) },
    { name: 'budget', alone: false, run: () => budgetFigure(sizes.budget) },
    { name: 'shutdown', alone: true, run: () => shutdownFigure(sizes.shutdown) },
    { name: 'body-cap', alone: false, run: () => bodyCapFigure(sizes.bodyCap) },
  ];
}
