// Paired A/B of two proxy builds or node flag sets, for a machine whose speed drifts between runs.
//
//   node bench/pair.mjs [--mode nonstream|stream] [--rounds 3] [--duration 5]
//                       [--a-entry dist/src/main.js] [--b-entry <file>] [--a-flags "..."] [--b-flags "..."]
//                       [--chunk-delay <ms>]
//   e.g. node bench/pair.mjs --mode stream --b-flags="--max-semi-space-size=16"
//        node bench/pair.mjs --a-entry /tmp/base/dist/src/main.js      (a worktree of another commit)
//        node bench/pair.mjs --mode stream --chunk-delay 1   (each event its own upstream read)
//
// Both proxies run at the same time on the same core (the last usable one), each driven at c=32 by
// this process (with the mock upstream) on another core. Whatever slows the core slows both alike,
// so the ratio of their CPU time per response (utime + stime of each process, /proc) holds where
// `npm run bench`'s run-to-run figures move by half: two copies of one build agree within ±3.5%
// here, where the floor's own CPU per response moved 57–118 µs between runs. Both start with the
// node flags of `npm start`; --a-flags / --b-flags are added after them (a later V8 flag wins).
// Prints each round and the median B/A; below 1 means B spends less CPU per response.
// Without --chunk-delay the mock writes a stream's events back to back and each proxy reads the
// stream in one socket read, so a streamed response costs one scan and one client write: that
// measures the per-stream work. With it (the mock's MOCK_CHUNK_DELAY_MS) every event is a read and
// a write of its own, as in a real stream and the 2,000-stream load figure: the per-chunk work.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { CLIENT_KEY, freePort, HOST, killAll, proxyEnv, ROOT } from './bench-support.mjs';
import { startScriptFlags } from '../dist/src/server/node-flags.js';

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', default: 'nonstream' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    'a-entry': { type: 'string', default: path.join(ROOT, 'dist', 'src', 'main.js') },
    'b-entry': { type: 'string' },
    'a-flags': { type: 'string', default: '' },
    'b-flags': { type: 'string', default: '' },
    'chunk-delay': { type: 'string', default: '0' },
  },
});
if (opts.mode !== 'nonstream' && opts.mode !== 'stream') throw new Error('--mode is nonstream or stream');
const rounds = Number(opts.rounds);
const duration = Number(opts.duration);
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50, ...(opts.mode === 'stream' ? { stream: true } : {}) });

// The targets share the last usable core; this driver and the mock take the first.
const allowed = os.availableParallelism() > 1 ? [0, os.availableParallelism() - 1] : undefined;
const pin = (cpu, argv) => (allowed === undefined ? argv : ['taskset', '-c', String(cpu), ...argv]);
if (allowed !== undefined) execFileSync('taskset', ['-a', '-p', '-c', String(allowed[0]), String(process.pid)], { stdio: 'ignore' });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const spawned = [];
function run(argv, env) {
  const [cmd, ...args] = argv;
  const child = spawn(cmd, args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: os.tmpdir(), ...env }, stdio: 'ignore' });
  spawned.push(child);
  return child;
}
process.on('exit', () => {
  for (const child of spawned) if (child.exitCode === null) child.kill('SIGKILL');
  killAll();
});

async function healthy(port, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`http://${HOST}:${port}/health`);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nothing healthy on port ${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

const mockPort = await freePort();
run(pin(allowed?.[0], [process.execPath, path.join(ROOT, 'bench', 'mock-upstream.mjs'), String(mockPort)]), { MOCK_CHUNK_DELAY_MS: opts['chunk-delay'] });
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-proxy-pair-'));

async function startProxy(name, entry, extraFlags) {
  const port = await freePort();
  const env = proxyEnv({ port, mockPort, db: path.join(scratch, `${name}.db`) });
  const flags = [...startScriptFlags(), ...extraFlags.split(' ').filter(Boolean)];
  const child = run(pin(allowed?.[1], [process.execPath, ...flags, entry]), env);
  return { name, port, child };
}

/** CPU ticks (user + system, all threads) the process has used. */
function ticks(child) {
  const fields = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

const load = (target, seconds) =>
  new Promise((resolve, reject) => {
    autocannon(
      { url: `http://${HOST}:${target.port}/v1/chat/completions`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` }, body, connections: 32, duration: seconds },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });

const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
const ratios = [];
try {
  console.log(`pair: ${opts.mode}${opts['chunk-delay'] === '0' ? '' : `, ${opts['chunk-delay']} ms between events`}, ${rounds} round(s) x ${duration} s, both on core ${allowed?.[1] ?? '(any: taskset unavailable)'}`);
  console.log(`  A: ${path.relative(ROOT, opts['a-entry']) || opts['a-entry']} ${opts['a-flags']}`);
  console.log(`  B: ${path.relative(ROOT, opts['b-entry'] ?? opts['a-entry'])} ${opts['b-flags']}`);
  for (let round = 1; round <= rounds; round++) {
    // Fresh processes each round, so no round inherits the other's heap or JIT state.
    const a = await startProxy('a', opts['a-entry'], opts['a-flags']);
    const b = await startProxy('b', opts['b-entry'] ?? opts['a-entry'], opts['b-flags']);
    await Promise.all([healthy(a.port), healthy(b.port)]);
    await Promise.all([load(a, 2), load(b, 2)]);
    const before = [ticks(a.child), ticks(b.child)];
    const [ra, rb] = await Promise.all([load(a, duration), load(b, duration)]);
    const after = [ticks(a.child), ticks(b.child)];
    const bad = ra.non2xx + rb.non2xx + ra.errors + rb.errors;
    const usA = ((after[0] - before[0]) * TICK_US) / ra.requests.total;
    const usB = ((after[1] - before[1]) * TICK_US) / rb.requests.total;
    ratios.push(usB / usA);
    console.log(`  round ${round}: A ${usA.toFixed(1)} µs/response (${ra.requests.total})  B ${usB.toFixed(1)} µs/response (${rb.requests.total})  B/A ${(usB / usA).toFixed(3)}${bad > 0 ? `  (${bad} failed: not valid)` : ''}`);
    for (const target of [a, b]) target.child.kill('SIGINT');
    await Promise.all([a, b].map((target) => new Promise((resolve) => (target.child.exitCode !== null ? resolve() : target.child.once('exit', resolve)))));
  }
  console.log(`B/A median ${median(ratios).toFixed(3)} (below 1: B spends less CPU per response; two copies of one build agree within about ±3.5%)`);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
  process.exit(0);
}
