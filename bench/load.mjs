#!/usr/bin/env node
// The RELIABILITY.md §4c load figures at full size: `npm run load` (= build, then this file).
//
//   node bench/load.mjs                      every figure, one after the other (~7 minutes)
//   node bench/load.mjs --only streams       one figure (repeatable or comma-separated):
//       overhead, throughput, streams, leak, fd, slowloris, redis-pause, budget, shutdown, body-cap
//   node bench/load.mjs --quick              the reduced sizes `npm test` uses (a smoke run)
//
// Each figure starts its own `node dist/src/main.js` (configured through env, SQLite in a temp dir,
// bench/load-heap-probe.mjs preloaded for post-GC heap readings) in front of bench/load-upstream.mjs,
// and prints every measured value next to its threshold with PASS/FAIL. Exit code 1 when any check
// FAILs, 2 on a usage error. The figures themselves live in test/support/load-support.ts (compiled to
// dist/), shared with test/integration/load-figures.test.ts, which runs them at smaller sizes.
//
// redis-pause and the two-instance half of budget start a private `redis-server` on a free port (so
// CLIENT PAUSE stalls nobody else); set LOAD_REDIS_URL to use a given server instead. Without either,
// they are skipped with a message. On a shared or busy machine the latency figures are pessimistic.
// Diagnostics for the proxy under load: LOAD_TRACE_GC=1 (V8 GC trace in its output),
// LOAD_CPU_PROF=<file> (a CPU profile, written when the heap probe next fires; see the probe) and
// LOAD_OUTPUT=<file> (each proxy's output appended there when its figure ends).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SUPPORT = path.join(ROOT, 'dist', 'test', 'support', 'load-support.js');

let opts;
try {
  opts = parseArgs({ options: { only: { type: 'string', multiple: true }, quick: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } }).values;
} catch (error) {
  console.error(`load: ${error.message}`);
  process.exit(2);
}
if (opts.help) {
  const src = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
  console.log(src.slice(src.indexOf('//   node'), src.indexOf('\n\nimport')).replace(/^\/\/ ?/gm, ''));
  process.exit(0);
}
if (!fs.existsSync(SUPPORT)) {
  console.error(`load: ${path.relative(ROOT, SUPPORT)} is missing: run \`npm run build\` first (npm run load does)`);
  process.exit(2);
}
process.chdir(ROOT); // the proxy is started as dist/src/main.js, relative to the checkout

const support = await import(pathToFileURL(SUPPORT).href);
const all = support.figures(opts.quick ? support.TEST_SIZES : support.FULL_SIZES);
let chosen = all;
if (opts.only?.length) {
  const wanted = opts.only.flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
  const unknown = wanted.filter((name) => !all.some((figure) => figure.name === name));
  if (unknown.length > 0) {
    console.error(`load: unknown figure(s) ${unknown.join(', ')}; figures: ${all.map((figure) => figure.name).join(', ')}`);
    process.exit(2);
  }
  chosen = all.filter((figure) => wanted.includes(figure.name));
}

const load = os.loadavg()[0];
console.log(`llm-proxy load figures (RELIABILITY.md §4c${opts.quick ? ', --quick sizes' : ''}) — node ${process.version}, ${os.cpus().length} cpu(s) (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, load average ${load.toFixed(2)}`);
if (load > os.cpus().length * 0.5) console.log('note: the machine is busy; latency and event-loop figures measured now are pessimistic');
let failed = 0;
for (const figure of chosen) {
  const started = Date.now();
  let result;
  try {
    result = await figure.run();
  } catch (error) {
    result = { figure: figure.name, checks: [{ name: 'ran to the end', value: 0, unit: '', limit: 'no error', pass: false }], info: [String(error?.stack ?? error)] };
  }
  failed += support.failures(result).length;
  console.log(`\n${support.formatResult(result)}\n        (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
console.log(failed === 0 ? '\nall figures PASS' : `\n${failed} check(s) FAIL`);
process.exit(failed === 0 ? 0 : 1);
