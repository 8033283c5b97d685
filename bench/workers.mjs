#!/usr/bin/env node
// Workers benchmark: `npm run build && node bench/workers.mjs [--workers 1,auto] [--duration 5] [--connections 64]`.
//
// Starts bench/mock-upstream.mjs and, one after the other, the proxy (dist/src/main.js --workers N,
// cache off, log level warn, temp SQLite db) for each N, and measures with autocannon per N:
//   json          non-streaming chat, rate limit off
//   json + rpm    the same with a per-key rpm limit too high to refuse anything, so every request
//                 goes through the shared limiter (with N > 1: a round trip to the primary over IPC)
//   stream        streaming chat, rate limit off
// Reported: RPS and p50/p99 latency (per response, from autocannon's hrtime-based `response`
// event), non-2xx/errors, and RPS relative to N = 1. The mock and this driver share the machine's
// cores with the proxy, so the gain from workers is bounded by what is left for them (printed).
// Separate from bench/run.mjs, which another engineer owns; nothing here changes its numbers.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { CLIENT_KEY, fmt, freePort, HOST, killAll, percentile, proxyEnv, ROOT, start, UPSTREAM_KEY } from './bench-support.mjs';

const CHAT_PATH = '/v1/chat/completions';
const HEADERS = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' };
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 };

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,auto' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
  },
});
const durationS = Number(args.duration);
const connections = Number(args.connections);
const cores = os.availableParallelism();
const counts = [...new Set(args.workers.split(',').map((value) => (value === 'auto' ? Math.max(2, cores) : Number(value))))].filter((n) => n >= 1);


function cannon(port, body) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const instance = autocannon(
      { url: `http://${HOST}:${port}${CHAT_PATH}`, method: 'POST', headers: HEADERS, body: JSON.stringify(body), connections, pipelining: 1, duration: durationS, timeout: 10 },
      (error, result) => {
        if (error) return reject(error);
        const sorted = Float64Array.from(latencies).sort();
        resolve({ rps: result.requests.total / result.duration, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), bad: result.non2xx + result.errors + result.timeouts });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

/** Runs the proxy with `workers` processes and `rpm` as the default per-key limit; returns it once every worker answers. */
async function startProxy(entry, mockPort, tmp, workers, rpm) {
  const port = await freePort();
  const env = proxyEnv({ port, mockPort, db: path.join(tmp, `bench-${workers}-${rpm}.db`), rpm, workers });
  const child = await start(`proxy (${workers} workers)`, [entry], env, async () => {
    try {
      return (await fetch(`http://${HOST}:${port}/health/ready`)).status === 200;
    } catch {
      return false;
    }
  });
  // Connections go to workers in turn; give the last ones a moment to listen.
  await new Promise((resolve) => setTimeout(resolve, workers > 1 ? 1_000 : 0));
  const check = await fetch(`http://${HOST}:${port}${CHAT_PATH}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(BODY) });
  if (check.status !== 200) throw new Error(`sanity request: ${check.status} ${(await check.text()).slice(0, 200)}`);
  return { port, child };
}

async function stop(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}


async function main() {
  const entry = path.join(ROOT, 'dist', 'src', 'main.js');
  if (!fs.existsSync(entry)) throw new Error('dist/src/main.js is missing: run `npm run build` first');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-proxy-workers-bench-'));
  const mockPort = await freePort();
  await start('mock', ['bench/mock-upstream.mjs', String(mockPort)], { MOCK_EXPECT_KEY: UPSTREAM_KEY }, (out) => out.includes('listening'));
  console.log(`workers benchmark: ${cores} core(s) for the proxy, the mock and this driver; c=${connections}, ${durationS}s per run`);

  const scenarios = [
    ['json', 0, BODY],
    ['json + rpm', 1_000_000_000, BODY],
    ['stream', 0, { ...BODY, stream: true }],
  ];
  const rows = [];
  for (const [name, rpm, body] of scenarios) {
    for (const workers of counts) {
      const proxy = await startProxy(entry, mockPort, tmp, workers, rpm);
      await cannon(proxy.port, body).catch(() => undefined);
      const result = await cannon(proxy.port, body);
      rows.push({ name, workers, ...result });
      await stop(proxy.child);
    }
  }

  console.log('\n  scenario     workers        RPS   vs 1   p50 ms   p99 ms   bad');
  for (const row of rows) {
    const base = rows.find((other) => other.name === row.name && other.workers === counts[0]);
    console.log(
      `  ${row.name.padEnd(12)} ${String(row.workers).padStart(7)}  ${fmt(row.rps, 0).padStart(9)}  ${fmt(row.rps / base.rps, 2).padStart(5)}  ${fmt(row.p50, 3).padStart(7)}  ${fmt(row.p99, 3).padStart(7)}  ${String(row.bad).padStart(4)}`,
    );
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (rows.some((row) => row.bad > 0)) {
    console.log('\nINVALID: non-2xx responses or errors');
    process.exitCode = 1;
  }
}

main()
  .catch((error) => {
    console.error(error.message);
    process.exitCode = 1;
  })
  .finally(killAll);
