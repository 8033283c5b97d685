#!/usr/bin/env node
// Usage report benchmark: seeds usage records through the store's own batched insert (timed: the
// writer's hot path) and times the cross-key reports over the last 30 and 90 days.
//
//   npx tsc -p tsconfig.json && node bench/usage-reports.mjs --db /tmp/usage.db [--rows 1000000] [--seed-only | --reports-only]
//   node bench/usage-reports.mjs --url 'postgres://127.0.0.1:5432/test?options=-c%20search_path%3Dmine' …
//
// The records: 90 days ending at a fixed time, 200 keys each calling 5 of 30 models (1,000 pairs,
// ~91,000 day × model × key groups over 90 days), 5 providers, 3% errors, 1% with no provider,
// random tokens, costs and latencies, written in time order in batches of 500 (as the writer sends
// them). Each report runs three times; the median is printed in ms. --reports-only opens an existing
// database (the migration, a backfill included, is timed as `ready`).
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { seededRandom } from '../dist/src/routing/load-balance.js';
import { SqlStore } from '../dist/src/store/sql-store.js';

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    url: { type: 'string' },
    rows: { type: 'string', default: '1000000' },
    'seed-only': { type: 'boolean', default: false },
    'reports-only': { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
  },
});
if (values.db === undefined && values.url === undefined) throw new Error('give --db FILE or --url postgres://…');
const ROWS = Number(values.rows);
const RUNS = Number(values.runs);
const DAY = 86_400_000;
// A fixed end, mid-hour, so the ranges have partial first and last hours as real ones do.
const END = Date.UTC(2026, 5, 1, 12, 34, 56, 789);
const BATCH = 500;

const random = seededRandom(1);

function record(index) {
  const key = Math.floor(random() * 200);
  const model = (key * 7 + Math.floor(random() * 5) * 3) % 30;
  const error = random() < 0.03;
  const prompt = Math.floor(random() * 4000);
  const completion = error ? 0 : Math.floor(random() * 1000);
  return {
    id: `bench-${index.toString(36).padStart(8, '0')}`,
    requestId: `req-${index}`,
    keyId: `key-${key}`,
    endpoint: 'chat.completions',
    model: `model-${model}`,
    ...(random() < 0.01 ? {} : { provider: `provider-${model % 5}` }),
    promptTokens: prompt,
    completionTokens: completion,
    cachedTokens: Math.floor(random() * prompt * 0.2),
    cost: (prompt * 0.15 + completion * 0.6) / 1e6,
    latencyMs: 50 + Math.floor(random() * 5000),
    status: error ? 'error' : 'ok',
    httpStatus: error ? 502 : 200,
    stream: random() < 0.5,
    cacheHit: random() < 0.02,
    estimated: false,
    createdAt: END - 90 * DAY + Math.floor((index * 90 * DAY) / ROWS),
  };
}

const store = new SqlStore({ dbPath: values.db ?? 'unused.db', timeoutMs: 120_000, ...(values.url === undefined ? {} : { databaseUrl: values.url }) }, pino({ level: 'warn' }));
const ready = performance.now();
await store.ready();
console.log(`ready (migrations): ${(performance.now() - ready).toFixed(0)} ms`);

if (!values['reports-only']) {
  const started = performance.now();
  for (let index = 0; index < ROWS; index += BATCH) {
    const batch = [];
    for (let row = index; row < Math.min(ROWS, index + BATCH); row++) batch.push(record(row));
    await store.usage.insertBatch(batch);
  }
  const took = performance.now() - started;
  console.log(`inserted ${ROWS} rows in batches of ${BATCH}: ${(took / 1000).toFixed(1)} s, ${((took * 1000) / ROWS).toFixed(1)} µs a row`);
}

if (!values['seed-only']) {
  // GET /admin/usage's work: the database's breakdowns by day, model and key; builds before them
  // read every day × model × key group (from the usage store, before the hourly sums) and added them up here.
  const adminUsage = async (range) => {
    if ('breakdowns' in store.analytics) return store.analytics.breakdowns(range, ['day', 'model', 'key']);
    const groups = await ('summarize' in store.analytics ? store.analytics.summarize(range) : store.usage.summarize(range));
    const sums = new Map();
    for (const group of groups) {
      for (const name of [`day ${group.day}`, `model ${group.model}`, `key ${group.keyId}`]) {
        const sum = sums.get(name) ?? { requests: 0, promptTokens: 0, completionTokens: 0, cost: 0 };
        sum.requests += group.requests;
        sum.promptTokens += group.promptTokens;
        sum.completionTokens += group.completionTokens;
        sum.cost += group.cost;
        sums.set(name, sum);
      }
    }
    return [...sums.values()];
  };
  const reports = [];
  for (const days of [30, 90]) {
    const range = { start: END - days * DAY, end: END };
    reports.push(
      [`${days}d /admin/usage`, () => adminUsage(range)],
      [`${days}d summary totals`, () => store.analytics.totals(range)],
      [`${days}d summary by key,model`, () => store.analytics.groups(range, ['key', 'model'], { sort: 'cost', limit: 50, offset: 0 })],
      [`${days}d daily series by key`, () => store.analytics.timeseries(range, 'day', 'key')],
      // The route refuses more than 2,000 hours: 90 days are 2,160.
      ...(days === 30 ? [[`${days}d hourly series`, () => store.analytics.timeseries(range, 'hour')]] : []),
      [`${days}d one key, daily series`, () => store.analytics.timeseries({ ...range, keyId: 'key-7' }, 'day')],
    );
  }
  for (const [name, run] of reports) {
    const times = [];
    let size = 0;
    for (let attempt = 0; attempt < RUNS; attempt++) {
      const started = performance.now();
      const result = await run();
      times.push(performance.now() - started);
      size = Array.isArray(result) ? result.length : 'rows' in result ? result.count : 'day' in result ? result.day.length + result.model.length + result.key.length : 1;
    }
    times.sort((a, b) => a - b);
    console.log(`${name.padEnd(36)} median ${times[Math.floor(times.length / 2)].toFixed(0).padStart(6)} ms  (${times.map((t) => t.toFixed(0)).join(', ')}; ${size} rows)`);
  }
}
await store.close();
