#!/usr/bin/env node
// llm-proxy benchmark driver: `npm run bench` (= `npm run build && node bench/run.mjs`).
//
// WHAT IT MEASURES
//   The cost the proxy adds on top of an upstream, and how close it gets to the fastest possible Node
//   pass-through. Three targets, each its own process, all answering POST /v1/chat/completions:
//     direct  bench/mock-upstream.mjs: an OpenAI-format fake upstream with fixed, pre-serialized answers
//             (non-streaming chat.completion with usage; or ~20 SSE chat.completion.chunk events + [DONE]).
//     floor   bench/floor.mjs: node:http + one keep-alive undici Pool to the mock, forwarding the body
//             and piping the response bytes back, no features: the floor any Node proxy can reach.
//     fastify bench/fastify-floor.mjs: one bare Fastify route (logger off, no hooks) that parses the body,
//             serialises it for the upstream, parses a JSON answer (as a gateway reads its usage) and
//             passes a stream through: the floor of a gateway built on Fastify (--no-fastify-floor skips it).
//     proxy   `node dist/src/main.js` (the system under test), configured through env to use the mock as
//             its OpenAI upstream (cache off, rate limit off, log level warn, a temp SQLite db).
//   Every request carries `Authorization: Bearer bench-client-key` and the body
//   {"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"max_tokens":50}
//   (plus "stream":true for the streaming scenarios).
//
// METHOD
//   * Placement: with taskset and >= 2 usable cores, the system under test (floor, fastify or proxy, only one of them
//     under load at any time) runs alone on the 2nd core; this driver (autocannon + the TTFB client) and the
//     mock share the 1st core (the mock gets a 3rd core if there is one). The layout is printed.
//   * Readiness: a TCP connect for the mock and the floor; GET /health == 200 for the proxy (fails after 15 s).
//   * Sanity: one request per target and mode is checked before load (status 200, valid JSON / SSE with the
//     expected content and [DONE]); a failing target is reported with the body it returned.
//   * Scenarios: non-streaming and streaming chat, at concurrency 1 and 64 (autocannon connections,
//     pipelining 1). Per scenario: a warm-up of every target, then R rounds x D seconds, where each round
//     runs all targets one after the other in a rotated order (direct,floor,proxy / floor,proxy,direct / ...),
//     so slow drift (thermal, noisy neighbours, GC of the driver) hits all targets alike. Reported values
//     are medians over rounds. Latency = time from writing the request to the end of the response body,
//     collected per response from autocannon's hrtime-based `response` event (sub-ms precision; autocannon's
//     own histogram has 1 ms resolution). RPS = completed responses / run time.
//   * Noise: this machine may be shared (other builds and tests). For every run the driver computes the CPU
//     used by all other user-space processes (from /proc/<pid>/stat) plus hypervisor steal; a run where that
//     exceeds 0.15 core is re-run (at most --max-reruns times in total, after waiting up
//     to 4 s for the cores to go quiet; all waits together are capped at 3 s per allowed re-run). The figure is
//     printed per round ("others", in cores, next to the CPU used by the target, the mock and the driver) and
//     re-runs / still-noisy runs are summarised; with more than 25% noisy runs the result is flagged NOISY.
//     Re-runs are only made while the projected end of the run stays under its estimate + 15 s (default 140 s).
//   * TTFB (time to first body byte) and the full-response time at concurrency 1 are measured separately
//     after the c=1 load runs, by a small undici Client loop (one keep-alive connection per target, raw
//     dispatch handler, hrtime from dispatch to the first onResponseData): 500 requests per target,
//     interleaved in blocks across targets (the loop stops after 2 s on a loaded machine), median reported. For non-streaming the first byte is most of
//     the response; TTFB is the streaming figure that matters.
//   * Validity: non-2xx responses, socket errors and timeouts are counted per target and printed; any of
//     them marks the whole run INVALID (exit code 1). The mock also counts the upstream calls it served
//     (GET /__bench/stats), which shows whether the proxy forwarded one call per request and which key it sent.
//   * CPU per response (every row, `µs/req`): the target's CPU use over its RPS, median over rounds. At c=64
//     the target saturates its core, so this is what its throughput is made of, and it compares across runs
//     on a machine whose speed drifts better than RPS does.
//   * Derived numbers (proxy rows): added p50 (proxy - direct, proxy - floor), added TTFB, RPS ratios, and the
//     proxy's RSS (/proc/<pid>/status VmRSS; VmHWM = peak) after the run. Targets are printed as PASS/FAIL:
//       proxy RPS >= 0.7 x floor RPS at c=64 (non-streaming and streaming)
//       added p50 <= 0.15 ms at c=1 vs floor (non-streaming and streaming)
//       added TTFB <= 0.6 ms (streaming, proxy - direct; proxy - floor is printed too)
//       proxy RSS <= 150 MB
//   * Results go to stdout and to .bench/last.json (raw per-round numbers included). Child output goes to
//     .bench/<name>.log. Every child is killed on exit, error and SIGINT; mock and floor also exit when the
//     driver's stdin pipe closes, so a SIGKILLed driver leaves nothing behind.
//
// USAGE
//   npm run bench                          full run (3 rounds x 3 s per target and scenario, ~2-2.5 minutes)
//   node bench/run.mjs --quick             smoke check (1 round x 2 s, short warm-up, 100 TTFB requests)
//   node bench/run.mjs --no-proxy          only direct and the floors (the proxy is not started)
//   node bench/run.mjs --no-fastify-floor  without the Fastify floor (a quarter less time)
//   node bench/run.mjs --only stream-c64   one scenario (repeatable or comma-separated; "stream" = both
//                                          streaming scenarios, "nonstream" = both non-streaming ones)
//   node bench/run.mjs --cpu-prof          start the proxy with --cpu-prof --cpu-prof-dir=.bench/ (the profile
//                                          is written when the proxy exits gracefully on SIGINT)
//   --duration <s> (3)  --rounds <n> (3)  --warmup <s> (1)  --ttfb-requests <n> (500)  --no-pin  --strict
//   --max-reruns <n> (5; 2 with --quick): how many runs spoiled by other processes' CPU use may be repeated
//   --proxy-entry <file> (dist/src/main.js)
//   --proxy-node-flags="<flags>" (default: the node flags of `npm start` in package.json; "" for none)
//   (--strict: exit code 2 when the run is valid but a target FAILs)

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Client } from 'undici';
// Built by `npm run bench` before this runs: the one reader of package.json's start flags.
import { startScriptFlags } from '../dist/src/server/node-flags.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_DIR = path.join(ROOT, 'bench');
const OUT_DIR = path.join(ROOT, '.bench');
const DEFAULT_PROXY_ENTRY = path.join(ROOT, 'dist', 'src', 'main.js');
const HOST = '127.0.0.1';
const CLIENT_KEY = 'bench-client-key';
const UPSTREAM_KEY = 'sk-bench-upstream-key';
const CHAT_PATH = '/v1/chat/completions';
const EXPECTED_TEXT = "Hello! How can I help you today? I'm happy to assist with anything.";
const PROXY_HEALTH_TIMEOUT_MS = 15_000;
const TTFB_MAX_MS = 2000; // per TTFB loop (all targets); normally it takes well under a second
const TARGETS = ['direct', 'floor', 'fastify', 'proxy'];

// ---------------------------------------------------------------------------------------------- options
let opts;
try {
  opts = parseArgs({
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      'ttfb-requests': { type: 'string' },
      'max-reruns': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      'no-proxy': { type: 'boolean', default: false },
      'no-fastify-floor': { type: 'boolean', default: false },
      'proxy-entry': { type: 'string' },
      'proxy-node-flags': { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (err) {
  console.error(`bench: ${err.message} (see the header of bench/run.mjs)`);
  process.exit(2);
}
if (opts.help) {
  const src = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
  console.log(src.slice(src.indexOf('// USAGE'), src.indexOf('\n\nimport')).replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
const num = (v, dflt, name) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`bench: --${name} must be a positive number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const cfg = {
  duration: num(opts.duration, opts.quick ? 2 : 3, 'duration'),
  rounds: Math.round(num(opts.rounds, opts.quick ? 1 : 3, 'rounds')),
  warmup: num(opts.warmup, opts.quick ? 0.5 : 1, 'warmup'),
  ttfbRequests: Math.round(num(opts['ttfb-requests'], opts.quick ? 100 : 500, 'ttfb-requests')),
  proxy: !opts['no-proxy'],
  fastifyFloor: !opts['no-fastify-floor'],
  cpuProf: opts['cpu-prof'],
  pin: !opts['no-pin'],
  maxReruns: opts['max-reruns'] === '0' ? 0 : Math.round(num(opts['max-reruns'], opts.quick ? 2 : 5, 'max-reruns')),
  proxyEntry: path.resolve(opts['proxy-entry'] ?? DEFAULT_PROXY_ENTRY),
};
const PROXY_ENTRY = cfg.proxyEntry;
// The proxy runs with the node flags `npm start` gives it (package.json scripts.start, between `node`
// and the entry), so the bench measures what users run; --proxy-node-flags "" measures without them.
const PROXY_NODE_FLAGS = opts['proxy-node-flags'] !== undefined
  ? opts['proxy-node-flags'].split(/\s+/).filter(Boolean)
  : startScriptFlags();

const ALL_SCENARIOS = [
  { name: 'nonstream-c1', stream: false, connections: 1 },
  { name: 'nonstream-c64', stream: false, connections: 64 },
  { name: 'stream-c1', stream: true, connections: 1 },
  { name: 'stream-c64', stream: true, connections: 64 },
];
let scenarios = ALL_SCENARIOS;
if (opts.only?.length) {
  const wanted = opts.only.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  scenarios = ALL_SCENARIOS.filter((s) => wanted.some((w) => s.name === w || s.name.startsWith(`${w}-`)));
  const unknown = wanted.filter((w) => !ALL_SCENARIOS.some((s) => s.name === w || s.name.startsWith(`${w}-`)));
  if (unknown.length || !scenarios.length) {
    console.error(`bench: unknown --only ${unknown.join(', ')}; scenarios: ${ALL_SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
}
const targets = TARGETS.filter((t) => (t !== 'proxy' || cfg.proxy) && (t !== 'fastify' || cfg.fastifyFloor));

const BODY_NONSTREAM = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 });
const BODY_STREAM = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50, stream: true });
const REQ_HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` };
const bodyFor = (stream) => (stream ? BODY_STREAM : BODY_NONSTREAM);

// ---------------------------------------------------------------------------------------------- helpers
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stdout.write(`${msg}\n`);
const median = (xs) => {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] : NaN);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tcpReady(port, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exited) return reject(new BenchError(`${child.name} exited (${child.exitInfo}) before listening:\n${child.tail()}`));
      const sock = net.connect({ host: HOST, port });
      sock.once('connect', () => { sock.destroy(); resolve(); });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new BenchError(`${child.name} did not accept TCP connections on ${HOST}:${port} within ${timeoutMs} ms:\n${child.tail()}`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/** One request with undici; returns { status, headers, text } or throws. */
async function fetchOnce(port, method, urlPath, body, headers = REQ_HEADERS, timeoutMs = 5000) {
  const client = new Client(`http://${HOST}:${port}`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  try {
    const res = await client.request({ method, path: urlPath, headers, body: body ?? null });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  } finally {
    client.destroy().catch(() => {});
  }
}

function readProcStatus(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => { const m = s.match(new RegExp(`^${k}:\\s+(\\d+)\\s+kB`, 'm')); return m ? Number(m[1]) / 1024 : NaN; };
    return { rssMB: kb('VmRSS'), hwmMB: kb('VmHWM') };
  } catch {
    return { rssMB: NaN, hwmMB: NaN };
  }
}

// ---------------------------------------------------------------------------------------------- noise meter
// CPU used by other processes while a run is going (other builds and tests on a shared machine): the sum of
// utime+stime over every user-space process that is not ours, from /proc/<pid>/stat, between the start and
// the end of the run, in cores (1.0 = one core fully busy), plus hypervisor steal from /proc/stat. Processes
// that start and end inside the window are missed (reaped children's cutime is not used: it carries CPU time
// from before the window); per-core /proc/stat busy time minus ours is not used either (it over-counts by
// ~0.1-0.2 core under bursty load).
// Runs above NOISY_CORES are re-run, as is a noisy TTFB loop (bounded by --max-reruns).
const NOISY_CORES = 0.15;
const CLK_TCK = 100;
let ourPids = new Set([process.pid]);
function noiseSnapshot() {
  const procs = new Map();
  const ours = {};
  let steal = 0;
  try {
    const m = fs.readFileSync('/proc/stat', 'utf8').match(/^cpu\s+(.*)/m);
    if (m) steal = Number(m[1].split(/\s+/)[7] ?? 0);
    for (const name of fs.readdirSync('/proc')) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      let st;
      try { st = fs.readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (ourPids.has(pid)) { ours[pid] = Number(f[11]) + Number(f[12]); continue; }
      if ((Number(f[6]) & 0x00200000) !== 0) continue; // PF_KTHREAD: kernel threads (softirq work for our own traffic)
      procs.set(pid, { ticks: Number(f[11]) + Number(f[12]), start: f[19] });
    }
  } catch { /* not Linux: no noise meter */ }
  return { at: process.hrtime.bigint(), procs, ours, steal };
}
/** -> cores used by one of our processes between snapshots a and b */
function ourLoad(a, b, pid) {
  const seconds = Number(b.at - a.at) / 1e9;
  return seconds > 0 && a.ours[pid] !== undefined && b.ours[pid] !== undefined ? (b.ours[pid] - a.ours[pid]) / CLK_TCK / seconds : NaN;
}
/** -> cores used by other processes (and steal) between snapshots a and b */
function foreignLoad(a, b) {
  let ticks = b.steal - a.steal;
  for (const [pid, pb] of b.procs) {
    const pa = a.procs.get(pid);
    ticks += pa && pa.start === pb.start ? Math.max(0, pb.ticks - pa.ticks) : pb.ticks; // new process: all of it
  }
  const seconds = Number(b.at - a.at) / 1e9;
  return seconds > 0 ? ticks / CLK_TCK / seconds : 0;
}
/** The biggest other processes between snapshots a and b, as "cores command" strings (for noisy runs). */
function foreignTop(a, b, n = 2) {
  const seconds = Number(b.at - a.at) / 1e9;
  const list = [];
  for (const [pid, pb] of b.procs) {
    const pa = a.procs.get(pid);
    const d = pa && pa.start === pb.start ? pb.ticks - pa.ticks : pb.ticks;
    if (d > 0) list.push([pid, d]);
  }
  return list.sort((x, y) => y[1] - x[1]).slice(0, n).map(([pid, d]) => {
    let cmd = '?';
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').replace(ROOT + '/', ''); } catch { /* exited */ }
    return `${(d / CLK_TCK / seconds).toFixed(2)} ${cmd.length > 70 ? `${cmd.slice(0, 70)}...` : cmd}`;
  });
}

/** Before a re-run: wait (within the remaining quiet-wait budget) until other processes leave our cores alone. */
let quietBudgetMs = 0;
async function waitForQuiet() {
  const startedAt = Date.now();
  let quiet = false;
  while (Date.now() - startedAt < Math.min(4000, quietBudgetMs)) {
    const a = noiseSnapshot();
    await sleep(250);
    if (foreignLoad(a, noiseSnapshot()) <= NOISY_CORES / 2) { quiet = true; break; }
  }
  quietBudgetMs = Math.max(0, quietBudgetMs - (Date.now() - startedAt));
  return quiet;
}

// ---------------------------------------------------------------------------------------------- CPU layout
function cpuLayout() {
  let allowed = [];
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m);
    if (m) {
      for (const part of m[1].split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let c = a; c <= (b ?? a); c++) allowed.push(c);
      }
    }
  } catch { /* not Linux */ }
  if (!allowed.length) allowed = Array.from({ length: os.availableParallelism?.() ?? os.cpus().length }, (_, i) => i);
  let taskset = false;
  try { execFileSync('taskset', ['-V'], { stdio: 'ignore' }); taskset = true; } catch { /* absent */ }
  if (!cfg.pin) return { pinned: false, why: 'pinning disabled (--no-pin)', allowed };
  if (!taskset) return { pinned: false, why: 'taskset not found', allowed };
  if (allowed.length < 2) return { pinned: false, why: `only ${allowed.length} usable core`, allowed };
  const load = String(allowed[0]);
  const sut = String(allowed[1]);
  const mock = String(allowed[2] ?? allowed[0]);
  try {
    execFileSync('taskset', ['-a', '-p', '-c', load, String(process.pid)], { stdio: 'ignore' });
  } catch (err) {
    return { pinned: false, why: `taskset failed: ${err.message}`, allowed };
  }
  return { pinned: true, load, sut, mock, allowed };
}

// ---------------------------------------------------------------------------------------------- children
const children = new Set();
fs.mkdirSync(OUT_DIR, { recursive: true });

function startChild(name, { cpu, args, env, stdinPipe }) {
  const argv = [process.execPath, ...args];
  const [cmd, ...cmdArgs] = cpu !== undefined ? ['taskset', '-c', cpu, ...argv] : argv;
  const logPath = path.join(OUT_DIR, `${name}.log`);
  const logFile = fs.createWriteStream(logPath);
  const proc = spawn(cmd, cmdArgs, { cwd: ROOT, env, stdio: [stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let tail = '';
  let partial = '';
  const logSummary = {}; // "level msg: err" -> count, for warn-and-above JSON (pino) lines and non-JSON lines
  const onOut = (chunk) => {
    logFile.write(chunk);
    const text = chunk.toString();
    tail = (tail + text).slice(-8192);
    const lines = (partial + text).split('\n');
    partial = lines.pop();
    if (partial.length > 65536) partial = '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let key;
      try {
        const j = JSON.parse(line);
        if (typeof j.level === 'number' && j.level < 40) continue;
        key = `${j.level ?? '?'} ${j.msg ?? ''}${j.err?.message ? `: ${j.err.message}` : ''}`.slice(0, 200);
      } catch {
        key = `text: ${line.slice(0, 160)}`;
      }
      if (logSummary[key] !== undefined || Object.keys(logSummary).length < 50) logSummary[key] = (logSummary[key] ?? 0) + 1;
    }
  };
  proc.stdout.on('data', onOut);
  proc.stderr.on('data', onOut);
  const child = {
    name, proc, pid: proc.pid, logPath, exited: false, exitInfo: '', onExit: null, logSummary,
    tail: () => (tail.trim()
      ? tail.trim().split('\n').slice(-12).map((l) => `    | ${l.length > 400 ? `${l.slice(0, 400)}...` : l}`).join('\n')
      : '    | (no output)'),
  };
  child.done = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exited = true;
      child.exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      children.delete(child);
      child.onExit?.(child);
      setTimeout(() => logFile.end(), 50);
      resolve();
    });
  });
  proc.once('error', (err) => { tail += `\nspawn error: ${err.message}`; });
  children.add(child);
  return child;
}

async function stopChild(child, signal = 'SIGTERM', graceMs = 3000) {
  if (child.exited) return;
  child.onExit = null;
  try { child.proc.kill(signal); } catch { /* gone */ }
  await Promise.race([child.done, sleep(graceMs)]);
  if (!child.exited) {
    try { child.proc.kill('SIGKILL'); } catch { /* gone */ }
    await Promise.race([child.done, sleep(1000)]);
  }
}

let tmpDir;
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    const list = [...children];
    const proxy = list.find((c) => c.name === 'proxy');
    // The proxy first and gently (SIGINT, so --cpu-prof can write its profile), then the rest.
    if (proxy) await stopChild(proxy, 'SIGINT', cfg.cpuProf ? 10_000 : 3000);
    await Promise.all(list.filter((c) => c !== proxy).map((c) => stopChild(c)));
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('exit', () => {
  for (const c of children) { try { c.proc.kill('SIGKILL'); } catch { /* gone */ } }
  if (tmpDir) { try { fs.rmSync(tmpDir, { recursive: true, force: true }); } catch { /* best effort */ } }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping children...`);
    cleanup().finally(() => process.exit(130));
  });
}
class BenchError extends Error {}
const die = (err) => {
  console.error(`\nbench: ERROR: ${err instanceof BenchError ? err.message : err?.stack ?? err}`);
  cleanup().finally(() => process.exit(1));
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);

// ---------------------------------------------------------------------------------------------- checks
function checkResponse(stream, res) {
  if (res.status !== 200) return `HTTP ${res.status}: ${res.text.slice(0, 600)}`;
  const ct = String(res.headers['content-type'] ?? '');
  if (!stream) {
    if (!ct.includes('application/json')) return `content-type ${ct}, expected application/json`;
    let j;
    try { j = JSON.parse(res.text); } catch { return `body is not JSON: ${res.text.slice(0, 300)}`; }
    if (j.object !== 'chat.completion') return `object=${j.object}, expected chat.completion`;
    if (j.choices?.[0]?.message?.content !== EXPECTED_TEXT) return `unexpected content: ${JSON.stringify(j.choices?.[0]?.message)}`;
    if (!j.usage || typeof j.usage.total_tokens !== 'number') return 'missing usage';
    return null;
  }
  if (!ct.includes('text/event-stream')) return `content-type ${ct}, expected text/event-stream`;
  const events = res.text.split(/\r?\n\r?\n/).map((e) => e.trim()).filter(Boolean);
  const datas = events.map((e) => e.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n')).filter((d) => d !== '');
  if (datas[datas.length - 1] !== '[DONE]') return `stream does not end with data: [DONE]; tail: ${res.text.slice(-300)}`;
  let text = '';
  let finish = null;
  for (const d of datas.slice(0, -1)) {
    let j;
    try { j = JSON.parse(d); } catch { return `SSE event is not JSON: ${d.slice(0, 200)}`; }
    if (j.object !== 'chat.completion.chunk') return `SSE object=${j.object}`;
    for (const c of j.choices ?? []) {
      if (typeof c.delta?.content === 'string') text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  if (text !== EXPECTED_TEXT) return `streamed content ${JSON.stringify(text)}, expected ${JSON.stringify(EXPECTED_TEXT)}`;
  if (finish !== 'stop') return `finish_reason ${finish}`;
  return null;
}

async function mockStats(port) {
  try {
    const r = await fetchOnce(port, 'GET', '/__bench/stats', null, {});
    return JSON.parse(r.text);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------- load
function cannon(port, scenario, durationS) {
  return new Promise((resolve, reject) => {
    const lat = [];
    const started = process.hrtime.bigint();
    const inst = autocannon({
      url: `http://${HOST}:${port}${CHAT_PATH}`,
      method: 'POST',
      headers: REQ_HEADERS,
      body: bodyFor(scenario.stream),
      connections: scenario.connections,
      pipelining: 1,
      duration: durationS,
      sampleInt: 250, // autocannon checks its stop flag only on sample ticks
      timeout: 10,
    }, (err, r) => {
      if (err) return reject(err);
      const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
      const sorted = Float64Array.from(lat).sort();
      resolve({
        rps: r.requests.total / (r.duration || elapsedS),
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        responses: lat.length,
        completed: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        resets: r.resets,
        statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
        durationS: r.duration,
      });
    });
    inst.on('response', (_client, _status, _bytes, responseTimeMs) => { lat.push(responseTimeMs); });
  });
}

/** TTFB loop: one keep-alive connection, concurrency 1, raw dispatch so nothing buffers between socket and timer. */
function ttfbOnce(client, body) {
  return new Promise((resolve) => {
    let t1 = 0n;
    let status = 0;
    const t0 = process.hrtime.bigint();
    client.dispatch({ method: 'POST', path: CHAT_PATH, headers: REQ_HEADERS, body }, {
      onRequestStart() {},
      onResponseStart(_c, statusCode) { status = statusCode; },
      onResponseData() { if (t1 === 0n) t1 = process.hrtime.bigint(); },
      onResponseEnd() {
        const t2 = process.hrtime.bigint();
        resolve({ status, ttfb: Number((t1 || t2) - t0) / 1e6, total: Number(t2 - t0) / 1e6 });
      },
      onResponseError(_c, err) { resolve({ status: 0, error: err.message }); },
    });
  });
}

async function measureTtfb(ports, stream, nPerTarget, rounds) {
  const body = Buffer.from(bodyFor(stream));
  const clients = Object.fromEntries(Object.keys(ports).map((t) => [t, new Client(`http://${HOST}:${ports[t]}`, {
    pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 10_000, bodyTimeout: 10_000,
  })]));
  const samples = Object.fromEntries(Object.keys(ports).map((t) => [t, { ttfb: [], total: [], non2xx: 0, errors: 0 }]));
  try {
    for (const t of Object.keys(ports)) for (let i = 0; i < 30; i++) await ttfbOnce(clients[t], body); // warm-up
    const blocks = Math.max(rounds * 2, 4);
    const per = Math.ceil(nPerTarget / blocks);
    const order = Object.keys(ports);
    const deadline = Date.now() + TTFB_MAX_MS; // a loaded machine must not stretch the run: stop early, keep what we have
    for (let b = 0; b < blocks && Date.now() < deadline; b++) {
      const rot = order.map((_, i) => order[(i + b) % order.length]);
      for (const t of rot) {
        const s = samples[t];
        for (let i = 0; i < per; i++) {
          const r = await ttfbOnce(clients[t], body);
          if (r.error) s.errors++;
          else if (r.status < 200 || r.status > 299) s.non2xx++;
          else { s.ttfb.push(r.ttfb); s.total.push(r.total); }
        }
      }
    }
  } finally {
    await Promise.all(Object.values(clients).map((c) => c.destroy().catch(() => {})));
  }
  return Object.fromEntries(Object.entries(samples).map(([t, s]) => {
    const tt = Float64Array.from(s.ttfb).sort();
    const tot = Float64Array.from(s.total).sort();
    return [t, { n: tt.length, ttfbP50: percentile(tt, 0.5), ttfbP99: percentile(tt, 0.99), totalP50: percentile(tot, 0.5), totalP99: percentile(tot, 0.99), non2xx: s.non2xx, errors: s.errors }];
  }));
}

// ---------------------------------------------------------------------------------------------- output
const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const fs0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const signed = (x, d = 3) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(d)}` : '-');

function renderTable(header, rows, alignLeft = 2) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r ? String(r[i]).length : 0))));
  const line = (cells) => cells.map((c, i) => (i < alignLeft ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  const sep = w.map((x) => '-'.repeat(x)).join('  ');
  return [line(header), sep, ...rows.map((r) => (r ? line(r) : sep))].join('\n');
}

// ---------------------------------------------------------------------------------------------- main
async function main() {
  const t0 = Date.now();
  if (cfg.proxy && !fs.existsSync(PROXY_ENTRY)) {
    throw new BenchError(`proxy entry ${path.relative(ROOT, PROXY_ENTRY)} does not exist (run \`npm run build\`, or use --no-proxy to bench only direct and floor)`);
  }
  const layout = cpuLayout();
  const estimate = scenarios.length * targets.length * (cfg.warmup + cfg.rounds * cfg.duration) + 5;
  // Re-runs (noise) are only allowed while the projected end of the run stays within estimate + 15 s.
  // Projection: remaining planned seconds scaled by how much slower than planned the run has been so far.
  const plannedTotalS = estimate - 5;
  let plannedLeftS = plannedTotalS;
  const canRerun = () => {
    if (rerunsLeft <= 0) return false;
    const elapsed = (Date.now() - t0) / 1000;
    const done = plannedTotalS - plannedLeftS;
    const slowdown = done > 0 ? Math.max(1, Math.min(2, elapsed / done)) : 1.1;
    return elapsed + (plannedLeftS + cfg.duration) * slowdown + 3 <= estimate + 15;
  };
  log(`llm-proxy bench — node ${process.version}, ${os.cpus().length} cpu(s) (${os.cpus()[0]?.model ?? '?'}), targets: ${targets.join(', ')}`);
  log(`scenarios: ${scenarios.map((s) => s.name).join(', ')}; ${cfg.rounds} round(s) x ${cfg.duration} s per target, warm-up ${cfg.warmup} s, TTFB ${cfg.ttfbRequests} req/target; estimated ${Math.round(estimate)} s (re-runs allowed while the projected end stays under ${Math.round(estimate + 15)} s)`);
  if (layout.pinned) {
    log(`cpu pinning (taskset): system under test (floor / fastify / proxy) on core ${layout.sut}; load generator (this driver: autocannon + TTFB client) on core ${layout.load}; mock upstream on core ${layout.mock}${layout.mock === layout.load ? ' (shared with the load generator)' : ''}`);
  } else {
    log(`cpu pinning: OFF (${layout.why}); all processes share all cores, numbers are noisier`);
  }

  const ports = { direct: await freePort(), floor: await freePort(), fastify: cfg.fastifyFloor ? await freePort() : undefined, proxy: cfg.proxy ? await freePort() : undefined };
  const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir(), LANG: process.env.LANG ?? 'C.UTF-8', TMPDIR: os.tmpdir() };

  // Each child gets the same minimal environment (no provider keys or proxy settings from the caller's shell).
  const mock = startChild('mock', {
    cpu: layout.pinned ? layout.mock : undefined,
    args: [path.join(BENCH_DIR, 'mock-upstream.mjs'), String(ports.direct)],
    env: { ...baseEnv, BENCH_WATCH_STDIN: '1', MOCK_CHUNK_DELAY_MS: process.env.MOCK_CHUNK_DELAY_MS ?? '0', MOCK_STREAM_WRITES: process.env.MOCK_STREAM_WRITES ?? 'each' },
    stdinPipe: true,
  });
  const floor = startChild('floor', {
    cpu: layout.pinned ? layout.sut : undefined,
    args: [path.join(BENCH_DIR, 'floor.mjs'), String(ports.floor), `http://${HOST}:${ports.direct}/v1`],
    env: { ...baseEnv, BENCH_WATCH_STDIN: '1', FLOOR_UPSTREAM_KEY: UPSTREAM_KEY },
    stdinPipe: true,
  });
  const fastifyFloor = cfg.fastifyFloor ? startChild('fastify', {
    cpu: layout.pinned ? layout.sut : undefined,
    args: [path.join(BENCH_DIR, 'fastify-floor.mjs'), String(ports.fastify), `http://${HOST}:${ports.direct}/v1`],
    env: { ...baseEnv, BENCH_WATCH_STDIN: '1', FLOOR_UPSTREAM_KEY: UPSTREAM_KEY },
    stdinPipe: true,
  }) : null;
  await tcpReady(ports.direct, 10_000, mock);
  await tcpReady(ports.floor, 10_000, floor);
  if (fastifyFloor) await tcpReady(ports.fastify, 10_000, fastifyFloor);

  let proxy = null;
  const invalid = [];
  let proxyCrash = null;
  const cpuProfBefore = new Set(fs.readdirSync(OUT_DIR).filter((n) => n.endsWith('.cpuprofile')));
  if (cfg.proxy) {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-proxy-bench-'));
    const proxyEnv = {
      ...baseEnv,
      PORT: String(ports.proxy),
      HOST,
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `http://${HOST}:${ports.direct}/v1`,
      LLM_PROXY_API_KEYS: CLIENT_KEY,
      LLM_PROXY_LOG_LEVEL: 'warn',
      LLM_PROXY_RPM: '0',
      LLM_PROXY_DB: path.join(tmpDir, 'bench.db'),
      LLM_PROXY_CACHE: 'off',
    };
    const args = [...PROXY_NODE_FLAGS, ...(cfg.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${OUT_DIR}`] : []), PROXY_ENTRY];
    log(`proxy: node ${[...PROXY_NODE_FLAGS, path.relative(ROOT, PROXY_ENTRY)].join(' ')}`);
    proxy = startChild('proxy', { cpu: layout.pinned ? layout.sut : undefined, args, env: proxyEnv });
    const deadline = Date.now() + PROXY_HEALTH_TIMEOUT_MS;
    let last = 'no answer';
    for (;;) {
      if (proxy.exited) {
        throw new BenchError(`proxy exited (${proxy.exitInfo}) before becoming healthy; its output (${path.relative(ROOT, proxy.logPath)}):\n${proxy.tail()}`);
      }
      try {
        const r = await fetchOnce(ports.proxy, 'GET', '/health', null, { authorization: `Bearer ${CLIENT_KEY}` }, 1000);
        if (r.status === 200) break;
        last = `HTTP ${r.status}: ${r.text.slice(0, 200)}`;
      } catch (err) {
        last = err.code ?? err.message;
      }
      if (Date.now() > deadline) {
        throw new BenchError(`proxy did not become healthy within ${PROXY_HEALTH_TIMEOUT_MS / 1000} s (GET http://${HOST}:${ports.proxy}/health: ${last}); its output:\n${proxy.tail()}`);
      }
      await sleep(100);
    }
    log(`proxy healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${proxy.pid}, RSS ${f(readProcStatus(proxy.pid).rssMB, 1)} MB)`);
    proxy.onExit = (c) => {
      proxyCrash = `proxy exited during the run (${c.exitInfo}); last output:\n${c.tail()}`;
      console.error(`\nbench: ${proxyCrash}`);
    };
  }

  const targetPorts = Object.fromEntries(targets.map((t) => [t, ports[t]]));
  const activeTargets = new Set(targets);

  // Sanity check: one request per target and mode.
  const modes = [...new Set(scenarios.map((s) => s.stream))];
  const sanity = {};
  for (const t of targets) {
    for (const stream of modes) {
      let problem;
      try {
        problem = checkResponse(stream, await fetchOnce(targetPorts[t], 'POST', CHAT_PATH, bodyFor(stream)));
      } catch (err) {
        problem = `request failed: ${err.code ?? ''} ${err.message}`;
      }
      sanity[`${t}/${stream ? 'stream' : 'nonstream'}`] = problem ?? 'ok';
      if (problem) {
        invalid.push(`${t} ${stream ? 'streaming' : 'non-streaming'} sanity check failed: ${problem}`);
        log(`SANITY FAIL ${t} ${stream ? 'stream' : 'nonstream'}: ${problem}`);
      }
    }
  }
  if (sanity['direct/nonstream']?.startsWith('request failed') || sanity['floor/nonstream']?.startsWith('request failed')) {
    throw new BenchError(`mock or floor not answering: ${JSON.stringify(sanity)}`);
  }

  ourPids = new Set([process.pid, mock.pid, floor.pid, ...(fastifyFloor ? [fastifyFloor.pid] : []), ...(proxy ? [proxy.pid] : [])]);
  const targetPid = { floor: floor.pid, fastify: fastifyFloor?.pid, proxy: proxy?.pid };
  let rerunsLeft = cfg.maxReruns;
  quietBudgetMs = cfg.maxReruns * 3000;
  const reruns = [];

  // Load.
  const results = {}; // scenario -> target -> { rounds: [...], ttfb }
  for (const sc of scenarios) {
    results[sc.name] = Object.fromEntries(targets.map((t) => [t, { rounds: [], warmup: null, upstreamCalls: 0 }]));
    const running = () => targets.filter((t) => activeTargets.has(t) && !(t === 'proxy' && proxyCrash));
    log(`\n[${sc.name}] warm-up ${cfg.warmup} s per target`);
    for (const t of targets) {
      if (running().includes(t)) results[sc.name][t].warmup = await cannon(targetPorts[t], sc, cfg.warmup);
      plannedLeftS -= cfg.warmup;
    }
    for (let r = 0; r < cfg.rounds; r++) {
      const order = running();
      const rot = order.map((_, i) => order[(i + r) % order.length]);
      for (const t of rot) {
        if (t === 'proxy' && proxyCrash) { plannedLeftS -= cfg.duration; continue; }
        for (;;) {
          const before = await mockStats(ports.direct);
          const nb = noiseSnapshot();
          const res = await cannon(targetPorts[t], sc, cfg.duration);
          const na = noiseSnapshot();
          res.otherCpu = foreignLoad(nb, na);
          res.cpu = { target: t === 'direct' ? NaN : ourLoad(nb, na, targetPid[t]), mock: ourLoad(nb, na, mock.pid), driver: ourLoad(nb, na, process.pid) };
          res.noisy = res.otherCpu > NOISY_CORES;
          if (res.noisy) res.otherTop = foreignTop(nb, na);
          const after = await mockStats(ports.direct);
          res.upstreamChat = before && after ? after.chat - before.chat : NaN;
          res.upstream = before && after ? {
            chat: after.chat - before.chat,
            stream: after.chatStream - before.chatStream,
            streamIncludeUsage: after.chatStreamIncludeUsage - before.chatStreamIncludeUsage,
            upstreamKey: after.auth.upstreamKey - before.auth.upstreamKey,
            otherKey: after.auth.other + after.auth.none - before.auth.other - before.auth.none,
            other: (after.requests - before.requests) - (after.chat - before.chat),
          } : null;
          const bad = res.non2xx + res.errors + res.timeouts;
          const rerun = res.noisy && canRerun() && !bad && !(t === 'proxy' && proxyCrash);
          log(`  round ${r + 1}/${cfg.rounds} ${t.padEnd(7)} ${fs0(res.rps).padStart(7)} req/s  p50 ${f(res.p50)} ms  p99 ${f(res.p99)} ms  cpu: ${t === 'direct' ? '' : `${t} ${f(res.cpu.target, 2)}, `}mock ${f(res.cpu.mock, 2)}, driver ${f(res.cpu.driver, 2)}, others ${f(res.otherCpu, 2)}${res.noisy ? `  ~ noisy${rerun ? ', re-running' : ''} [${res.otherTop.join('; ')}]` : ''}${bad ? `  !! non2xx=${res.non2xx} errors=${res.errors} timeouts=${res.timeouts} codes=${JSON.stringify(res.statusCodes)}` : ''}`);
          if (rerun) {
            rerunsLeft--;
            await waitForQuiet();
            reruns.push({ scenario: sc.name, target: t, round: r + 1, discarded: res });
            continue;
          }
          results[sc.name][t].rounds.push(res);
          plannedLeftS -= cfg.duration;
          break;
        }
      }
    }
    if (sc.connections === 1) {
      log(`[${sc.name}] TTFB: ${cfg.ttfbRequests} requests per target at concurrency 1`);
      const tp = Object.fromEntries(running().map((t) => [t, targetPorts[t]]));
      let tt;
      for (;;) {
        const nb = noiseSnapshot();
        tt = await measureTtfb(tp, sc.stream, cfg.ttfbRequests, cfg.rounds);
        const otherCpu = foreignLoad(nb, noiseSnapshot());
        const noisy = otherCpu > NOISY_CORES;
        const bad = Object.values(tt).some((v) => v.non2xx + v.errors);
        for (const v of Object.values(tt)) Object.assign(v, { otherCpu, noisy });
        if (noisy && !bad && canRerun()) {
          rerunsLeft--;
          await waitForQuiet();
          reruns.push({ scenario: sc.name, target: 'ttfb', discarded: tt });
          log(`  ~ noisy (other cpu ${f(otherCpu, 2)} core), re-running the TTFB loop`);
          continue;
        }
        break;
      }
      for (const [t, v] of Object.entries(tt)) {
        results[sc.name][t].ttfb = v;
        log(`  ${t.padEnd(7)} TTFB p50 ${f(v.ttfbP50)} ms (p99 ${f(v.ttfbP99)}, n=${v.n})  full response p50 ${f(v.totalP50)} ms${v.non2xx + v.errors ? `  !! non2xx=${v.non2xx} errors=${v.errors}` : ''}`);
      }
    }
  }

  const mem = proxy && !proxy.exited ? readProcStatus(proxy.pid) : { rssMB: NaN, hwmMB: NaN };
  const finalMockStats = await mockStats(ports.direct);

  // Aggregate.
  const summary = {};
  for (const sc of scenarios) {
    summary[sc.name] = {};
    for (const t of targets) {
      const r = results[sc.name][t];
      const rs = r.rounds;
      const w = r.warmup;
      summary[sc.name][t] = {
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        cpu: median(rs.map((x) => (t === 'direct' ? x.cpu?.mock : x.cpu?.target) ?? NaN)),
        // CPU time per response: what compares between runs on a machine whose speed drifts.
        cpuUs: median(rs.map((x) => (((t === 'direct' ? x.cpu?.mock : x.cpu?.target) ?? NaN) / x.rps) * 1e6)),
        otherCpu: median(rs.map((x) => x.otherCpu)),
        ttfb: r.ttfb?.ttfbP50 ?? NaN,
        ttfbP99: r.ttfb?.ttfbP99 ?? NaN,
        c1FullP50: r.ttfb?.totalP50 ?? NaN,
        rounds: rs.length,
        non2xx: rs.reduce((a, x) => a + x.non2xx, 0) + (w?.non2xx ?? 0) + (r.ttfb?.non2xx ?? 0),
        errors: rs.reduce((a, x) => a + x.errors + x.timeouts, 0) + (w ? w.errors + w.timeouts : 0) + (r.ttfb?.errors ?? 0),
        requests: rs.reduce((a, x) => a + x.completed, 0),
        upstreamChat: rs.reduce((a, x) => a + x.upstreamChat, 0),
      };
      const s = summary[sc.name][t];
      if (s.non2xx || s.errors) {
        const codes = {};
        for (const x of [...rs, w].filter(Boolean)) for (const [k, v] of Object.entries(x.statusCodes)) if (!k.startsWith('2')) codes[k] = (codes[k] ?? 0) + v;
        invalid.push(`${sc.name} ${t}: ${s.non2xx} non-2xx ${JSON.stringify(codes)}, ${s.errors} errors/timeouts`);
      }
      if (rs.length < cfg.rounds) invalid.push(`${sc.name} ${t}: only ${rs.length}/${cfg.rounds} rounds ran`);
    }
  }
  if (proxyCrash) invalid.push(proxyCrash.split('\n')[0]);

  // Table.
  const header = ['scenario', 'target', 'RPS', 'p50 ms', 'p99 ms', 'TTFB ms', 'cpu', 'µs/req', 'non2xx', 'errors', 'Δp50 vs direct', 'Δp50 vs floor', 'ΔTTFB vs direct', 'ΔTTFB vs floor', 'RPS/direct', 'RPS/floor'];
  const rows = [];
  const derived = {};
  for (const sc of scenarios) {
    const S = summary[sc.name];
    if (rows.length) rows.push(null);
    for (const t of targets) {
      const s = S[t];
      const d = S.direct;
      const fl = S.floor;
      const vsDirect = t !== 'direct';
      const vsFloor = t === 'proxy' || t === 'fastify';
      const row = {
        dp50Direct: vsDirect ? s.p50 - d.p50 : NaN,
        dp50Floor: vsFloor ? s.p50 - fl.p50 : NaN,
        dTtfbDirect: vsDirect ? s.ttfb - d.ttfb : NaN,
        dTtfbFloor: vsFloor ? s.ttfb - fl.ttfb : NaN,
        rpsDirect: vsDirect ? s.rps / d.rps : NaN,
        rpsFloor: vsFloor ? s.rps / fl.rps : NaN,
      };
      if (t !== 'direct') (derived[sc.name] ??= {})[t] = row;
      rows.push([
        sc.name, t, fs0(s.rps), f(s.p50), f(s.p99), f(s.ttfb), f(s.cpu, 2), f(s.cpuUs, 1), String(s.non2xx), String(s.errors),
        signed(row.dp50Direct), signed(row.dp50Floor), signed(row.dTtfbDirect), signed(row.dTtfbFloor), f(row.rpsDirect, 2), f(row.rpsFloor, 2),
      ]);
    }
  }
  const table = renderTable(header, rows);

  // Targets.
  const checks = [];
  const P = summary;
  if (cfg.proxy) {
    for (const name of ['nonstream-c64', 'stream-c64']) {
      if (!P[name]) continue;
      const ratio = P[name].proxy.rps / P[name].floor.rps;
      checks.push({ name: `${name}: proxy RPS >= 0.7 x floor RPS`, value: `${fs0(P[name].proxy.rps)} vs ${fs0(P[name].floor.rps)} = ${f(ratio, 2)}x`, pass: ratio >= 0.7 });
    }
    for (const name of ['nonstream-c1', 'stream-c1']) {
      if (!P[name]) continue;
      const added = P[name].proxy.p50 - P[name].floor.p50;
      checks.push({ name: `${name}: added p50 vs floor <= 0.15 ms`, value: `${signed(added)} ms`, pass: added <= 0.15 });
    }
    if (P['stream-c1']) {
      const added = P['stream-c1'].proxy.ttfb - P['stream-c1'].direct.ttfb;
      const addedF = P['stream-c1'].proxy.ttfb - P['stream-c1'].floor.ttfb;
      checks.push({ name: 'stream-c1: added TTFB (proxy - direct) <= 0.6 ms', value: `${signed(added)} ms (vs floor ${signed(addedF)} ms)`, pass: added <= 0.6 });
    }
    checks.push({ name: 'proxy RSS after run <= 150 MB', value: `${f(mem.rssMB, 1)} MB (peak ${f(mem.hwmMB, 1)} MB)`, pass: mem.rssMB <= 150 });
  }
  const valid = invalid.length === 0;
  const keptRuns = scenarios.flatMap((sc) => targets.flatMap((t) => results[sc.name][t].rounds));
  const noisyRuns = keptRuns.filter((x) => x.noisy).length;
  const noisy = keptRuns.length > 0 && noisyRuns / keptRuns.length > 0.25;

  const lines = [];
  lines.push('');
  lines.push(`RESULTS (medians of ${cfg.rounds} round(s) x ${cfg.duration} s; latency = full response; TTFB = first body byte, concurrency 1, ${cfg.ttfbRequests} req; Δ in ms;`);
  lines.push(` cpu = cores used by the target process during its runs (direct: the mock), ~1.00 = its core is saturated; µs/req = its CPU time per response)`);
  lines.push(table);
  if (cfg.proxy) lines.push(`\nproxy RSS after run: ${f(mem.rssMB, 1)} MB (VmRSS), peak ${f(mem.hwmMB, 1)} MB (VmHWM)`);
  if (cfg.proxy) {
    const runs = scenarios.flatMap((sc) => (results[sc.name].proxy?.rounds ?? []).map((x) => ({ ...x, connections: sc.connections })));
    const sum = (k) => runs.reduce((a, x) => a + (x.upstream?.[k] ?? 0), 0);
    const completed = runs.reduce((a, x) => a + x.completed, 0);
    const cutOff = runs.reduce((a, x) => a + x.connections, 0);
    lines.push(`upstream (mock) during the proxy's measured runs: ${sum('chat')} chat calls for ${completed} completed responses (up to ${cutOff} more are requests cut off when a run ends); ` +
      `streaming calls with stream_options.include_usage: ${sum('streamIncludeUsage')}/${sum('stream')}; authorization = upstream key on ${sum('upstreamKey')}, other/none on ${sum('otherKey')}; non-chat calls: ${sum('other')}` +
      `${finalMockStats?.notFound ? `; mock 404s (all targets): ${JSON.stringify(finalMockStats.paths)}` : ''}`);
  }
  lines.push(`noise: ${reruns.length} run(s) re-run because other processes used > ${NOISY_CORES} core; ${noisyRuns} of ${keptRuns.length} kept runs still noisy${noisyRuns ? ' (medians limit the damage; rerun on a quieter machine for firm numbers)' : ''}`);
  if (proxy) {
    const entries = Object.entries(proxy.logSummary).sort((a, b) => b[1] - a[1]);
    const total = entries.reduce((a, [, n]) => a + n, 0);
    lines.push(total
      ? `proxy log: ${total} line(s) at warn level or above (${path.relative(ROOT, proxy.logPath)}):\n${entries.slice(0, 8).map(([k, n]) => `  ${String(n).padStart(6)} x ${k}`).join('\n')}`
      : 'proxy log: nothing at warn level or above');
  }
  const framework = [];
  if (cfg.fastifyFloor) {
    for (const name of ['nonstream-c64', 'stream-c64']) {
      const S = P[name];
      if (!S) continue;
      const proxyPart = cfg.proxy ? `; proxy RPS ${f(S.proxy.rps / S.fastify.rps, 2)}x the Fastify floor's (CPU per response ${f(S.proxy.cpuUs / S.fastify.cpuUs, 2)}x)` : '';
      framework.push(`  ${name}: Fastify floor RPS ${f(S.fastify.rps / S.floor.rps, 2)}x the floor's (CPU per response ${f(S.fastify.cpuUs / S.floor.cpuUs, 2)}x; 0.7x allows ${f(1 / 0.7, 2)}x)${proxyPart}`);
    }
  }
  if (framework.length) {
    lines.push('\nFRAMEWORK (what a bare Fastify route costs before any feature; information, not a target)');
    lines.push(...framework);
  }
  if (checks.length) {
    lines.push('\nTARGETS');
    for (const c of checks) lines.push(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value}`);
  }
  lines.push(valid ? '\nRUN VALID (no non-2xx responses, errors or timeouts)' : `\nRUN INVALID:\n${invalid.map((x) => `  - ${x}`).join('\n')}`);
  if (noisy) lines.push(`NOISY: ${noisyRuns} of ${keptRuns.length} runs shared the machine with other busy processes; the numbers and PASS/FAIL above are not trustworthy`);
  log(lines.join('\n'));

  // Stop children (proxy gently, so a CPU profile gets written), then write the JSON.
  await cleanup();
  const profiles = cfg.cpuProf ? fs.readdirSync(OUT_DIR).filter((n) => n.endsWith('.cpuprofile') && !cpuProfBefore.has(n)).map((n) => path.join(OUT_DIR, n)) : [];
  if (cfg.cpuProf) {
    log(profiles.length ? `cpu profile: ${profiles.map((p) => path.relative(ROOT, p)).join(', ')}` : 'cpu profile: none written (the proxy did not exit gracefully on SIGINT within 10 s)');
  }
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    layout,
    config: { ...cfg, scenarios: scenarios.map((s) => s.name), targets, request: { headers: REQ_HEADERS, body: BODY_NONSTREAM, streamBody: BODY_STREAM } },
    valid,
    noisy,
    noisyRuns: `${noisyRuns}/${keptRuns.length}`,
    invalidReasons: invalid,
    sanity,
    summary,
    derived,
    targets: checks,
    proxyMemory: mem,
    proxyLog: proxy?.logSummary ?? null,
    reruns,
    mockStats: finalMockStats,
    cpuProfiles: profiles,
    raw: results,
    table,
    elapsedS: (Date.now() - t0) / 1000,
  };
  fs.writeFileSync(path.join(OUT_DIR, 'last.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(`\nwrote ${path.relative(ROOT, path.join(OUT_DIR, 'last.json'))} (${out.elapsedS.toFixed(0)} s)`);
  const failed = checks.some((c) => !c.pass);
  process.exit(!valid ? 1 : failed && opts.strict ? 2 : 0);
}

main().catch(die);
