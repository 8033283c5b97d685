#!/usr/bin/env node
// Response-cache benchmark: `npm run build && node bench/cache-hit.mjs [--duration 5] [--connections 1,64]`.
//
// Starts bench/mock-upstream.mjs and the proxy (dist/src/main.js, LLM_PROXY_CACHE=memory, rate limit
// off, log level warn, temp SQLite db) on free 127.0.0.1 ports, then measures with autocannon, per
// concurrency level:
//   direct        the mock upstream itself (what a cache hit competes with)
//   proxy miss    the proxy with `Cache-Control: no-store` on every request (the pass-through path)
//   proxy hit     the proxy answering from its cache (one identical request, warmed once)
//   proxy hit sse the same, streamed (the cached stream replayed)
// Reported: RPS and p50/p99 latency (per response, from autocannon's hrtime-based `response`
// event), non-2xx/errors, the X-Cache of a sample, and how many upstream calls the hit runs made
// (from the mock's GET /__bench/stats: should be 0 after the warm-up). Also prints the proxy's own
// server time for hits and misses: the median `ms` (Fastify's reply.elapsedTime) of the access-log
// lines of a second proxy started at log level info, over 300 sequential requests each.
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
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1,64' },
  },
});
const durationS = Number(args.duration);
const levels = args.connections.split(',').map(Number).filter((n) => n > 0);


async function request(port, method, urlPath, body, headers = {}) {
  const response = await fetch(`http://${HOST}:${port}${urlPath}`, {
    method,
    headers: { ...HEADERS, ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function cannon(port, body, headers, connections) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const instance = autocannon(
      {
        url: `http://${HOST}:${port}${CHAT_PATH}`,
        method: 'POST',
        headers: { ...HEADERS, ...headers },
        body: JSON.stringify(body),
        connections,
        pipelining: 1,
        duration: durationS,
        sampleInt: 250,
        timeout: 10,
      },
      (error, result) => {
        if (error) return reject(error);
        const sorted = Float64Array.from(latencies).sort();
        resolve({
          rps: result.requests.total / result.duration,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          bad: result.non2xx + result.errors + result.timeouts,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

/** Waits until the mock's request count stops moving (calls still in flight from the last run). */
async function settledStats(mockPort) {
  let last = await (await fetch(`http://${HOST}:${mockPort}/__bench/stats`)).json();
  for (let attempt = 0; attempt < 50; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await (await fetch(`http://${HOST}:${mockPort}/__bench/stats`)).json();
    if (now.requests === last.requests) return now;
    last = now;
  }
  return last;
}

function cacheProxyEnv(port, mockPort, tmp, level) {
  return { ...proxyEnv({ port, mockPort, db: path.join(tmp, `bench-${level}.db`), cache: 'memory', level }), LLM_PROXY_CACHE_TTL: '3600' };
}

async function healthy(port) {
  try {
    return (await fetch(`http://${HOST}:${port}/health`)).status === 200;
  } catch {
    return false;
  }
}

/** Server time (ms, median) of `count` sequential requests, read from the proxy's access-log lines. */
async function serverTimes(entry, mockPort, tmp) {
  const port = await freePort();
  const lines = [];
  let pending = '';
  const child = await start('proxy (info)', [entry], cacheProxyEnv(port, mockPort, tmp, 'info'), () => healthy(port), (text) => {
    pending += text;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts);
  });
  const measure = async (headers, count) => {
    const from = lines.length;
    for (let index = 0; index < count; index++) await request(port, 'POST', CHAT_PATH, BODY, headers);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const times = [];
    for (const line of lines.slice(from)) {
      try {
        const record = JSON.parse(line);
        if (record.msg === 'request' && record.path === CHAT_PATH && typeof record.ms === 'number') times.push(record.ms);
      } catch {
        // Not a log line.
      }
    }
    return percentile(Float64Array.from(times).sort(), 0.5);
  };
  await request(port, 'POST', CHAT_PATH, BODY);
  const hit = await measure({}, 300);
  const miss = await measure({ 'cache-control': 'no-store' }, 300);
  child.kill('SIGKILL');
  return { hit, miss };
}


async function main() {
  const entry = path.join(ROOT, 'dist', 'src', 'main.js');
  if (!fs.existsSync(entry)) throw new Error('dist/src/main.js is missing: run `npm run build` first');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-proxy-cache-bench-'));

  const mockPort = await freePort();
  await start('mock', ['bench/mock-upstream.mjs', String(mockPort)], { MOCK_EXPECT_KEY: UPSTREAM_KEY }, (out) => out.includes('listening'));
  const server = await serverTimes(entry, mockPort, tmp);
  console.log(`proxy server time (median of its access log, sequential): hit ${fmt(server.hit, 3)} ms, miss (no-store) ${fmt(server.miss, 3)} ms`);

  const proxyPort = await freePort();
  await start('proxy', [entry], cacheProxyEnv(proxyPort, mockPort, tmp, 'warn'), () => healthy(proxyPort));

  // Warm the cache (one upstream call each for the JSON and the streamed answer) and check a hit.
  const streamBody = { ...BODY, stream: true };
  const warm = await request(proxyPort, 'POST', CHAT_PATH, BODY);
  const warmStream = await request(proxyPort, 'POST', CHAT_PATH, streamBody);
  const hit = await request(proxyPort, 'POST', CHAT_PATH, BODY);
  const hitStream = await request(proxyPort, 'POST', CHAT_PATH, streamBody);
  if (warm.status !== 200 || warmStream.status !== 200) throw new Error(`warm-up failed: ${warm.status} ${warm.text.slice(0, 200)}`);
  if (hit.headers.get('x-cache') !== 'HIT' || hitStream.headers.get('x-cache') !== 'HIT') throw new Error('the warm-up did not make a cache entry');
  if (hit.text !== warm.text || hitStream.text !== warmStream.text) throw new Error('a hit differs from the answer it replays');
  console.log(`mock :${mockPort}  proxy :${proxyPort}  ${durationS}s per run  sample X-Cache: ${hit.headers.get('x-cache')} (json), ${hitStream.headers.get('x-cache')} (stream)`);


  const rows = [];
  for (const connections of levels) {
    const targets = [
      ['direct', mockPort, BODY, {}],
      ['proxy miss (no-store)', proxyPort, BODY, { 'cache-control': 'no-store' }],
      ['proxy hit', proxyPort, BODY, {}],
      ['proxy hit (stream)', proxyPort, streamBody, {}],
    ];
    for (const [name, port, body, headers] of targets) {
      const before = await settledStats(mockPort);
      const result = await cannon(port, body, headers, connections);
      const afterStats = await settledStats(mockPort);
      const upstreamCalls = name.startsWith('proxy hit') ? afterStats.chat - before.chat : undefined;
      rows.push({ connections, name, ...result, upstreamCalls });
    }
  }

  console.log('\n  c  target                    RPS        p50 ms   p99 ms   bad  upstream calls');
  for (const row of rows) {
    console.log(
      `${String(row.connections).padStart(3)}  ${row.name.padEnd(24)} ${fmt(row.rps, 0).padStart(9)}  ${fmt(row.p50, 3).padStart(7)}  ${fmt(row.p99, 3).padStart(7)}  ${String(row.bad).padStart(4)}  ${row.upstreamCalls ?? ''}`,
    );
  }
  const invalid = rows.some((row) => row.bad > 0 || (row.upstreamCalls !== undefined && row.upstreamCalls > 0));
  fs.rmSync(tmp, { recursive: true, force: true });
  if (invalid) {
    console.log('\nINVALID: non-2xx/errors, or cache-hit runs reached the upstream');
    process.exitCode = 1;
  }
}

main()
  .catch((error) => {
    console.error(error.message);
    process.exitCode = 1;
  })
  .finally(killAll);
