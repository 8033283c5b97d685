// On SQLite the usage reports read on a worker thread: better-sqlite3 runs a query on the thread
// that calls it, and a summary over months of usage rows held the event loop, so every request of
// the process, the proxied calls included, waited for the dashboard (2.8 s over 1,000,000 rows).
// Blocked, the loop stalls for the whole query; off it, for a fraction (the answer's rows are still
// copied to the main thread, and other processes share the CPU), so half the query is the bound.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { pino } from 'pino';
import { MAX_FAILURES } from '../../src/store/sqlite-reader.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { watchLoop } from '../support/loop-watch.js';
import { usageRecord } from '../support/usage-fixture.js';

const DAY = 86_400_000;
const ROWS = 200_000;
const END = Date.UTC(2026, 5, 1);
const RANGE = { start: END - 90 * DAY, end: END };

describe('usage reports on SQLite', () => {
  let dir: string;
  let store: SqlStore;
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-reads-'));
    store = new SqlStore({ dbPath: join(dir, 'usage.db') }, pino({ level: 'info' }, { write: (line: string) => logs.push(line) }));
    await store.ready();
    // 200,000 rows over 90 days, 200 keys, 30 models, written as the writer does (the daily sums with them).
    for (let index = 0; index < ROWS; index += 5_000) {
      const batch = Array.from({ length: 5_000 }, (_, offset) => {
        const row = index + offset;
        return usageRecord(`u${row}`, `key${row % 200}`, `model${row % 30}`, RANGE.start + Math.floor((row * 90 * DAY) / ROWS));
      });
      await store.usage.insertBatch(batch);
    }
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a 90-day summary by day, model and key leaves the event loop free', async () => {
    const watch = watchLoop();
    const started = performance.now();
    const groups = await store.analytics.summarize(RANGE);
    const took = performance.now() - started;
    const stall = watch.stop();
    assert.equal(groups.reduce((sum, group) => sum + group.requests, 0), ROWS);
    assert.ok(stall < Math.max(50, took / 2), `the loop stalled ${stall.toFixed(0)} ms of the query's ${took.toFixed(0)} ms`);
  });

  test("the dashboard's grouped sums and time series leave the event loop free", async () => {
    const watch = watchLoop();
    const started = performance.now();
    const [page, series] = await Promise.all([
      store.analytics.groups(RANGE, ['key', 'model'], { sort: 'cost', limit: 50, offset: 0 }),
      // Day buckets: the route refuses more than 2,000 hours (90 days are 2,160).
      store.analytics.timeseries(RANGE, 'day', 'key'),
    ]);
    const took = performance.now() - started;
    const stall = watch.stop();
    assert.equal(page.totals.requests, ROWS);
    assert.ok(series.length > 0);
    assert.ok(stall < Math.max(50, took / 2), `the loop stalled ${stall.toFixed(0)} ms of the queries' ${took.toFixed(0)} ms`);
  });

  test('a usage record written is in the next report (read-your-writes across the two connections)', async () => {
    assert.equal(await store.usage.insertBatch([usageRecord('fresh', 'key-new', 'gpt-4', END - DAY)]), 1);
    const totals = await store.analytics.totals({ ...RANGE, keyId: 'key-new' });
    assert.equal(totals.requests, 1);
  });

  test('a reader thread that dies mid-query: the query is answered on the main thread with a log line, and the next report starts a new thread', async () => {
    const pending = store.analytics.summarize(RANGE);
    // The query is sent once the store is ready (a promise already settled): a turn later.
    await setImmediate();
    const thread = store.readerThread();
    assert.ok(thread !== undefined, 'a report starts the reader thread');
    await thread.terminate();
    const groups = await pending;
    assert.equal(groups.reduce((sum, group) => sum + group.requests, 0), ROWS + 1);
    assert.ok(
      logs.some((line) => line.includes('usage reader thread ended')),
      logs.join(''),
    );
    const totals = await store.analytics.totals(RANGE);
    assert.equal(totals.requests, ROWS + 1);
    const next = store.readerThread();
    assert.ok(next !== undefined && next !== thread, 'a new thread answered the next report');
  });

  test(`after ${MAX_FAILURES} deaths in a row the reports stay on the main thread`, async () => {
    // The report above reset the count. A thread started for a report is ended before it has loaded,
    // so it cannot answer first; a warm one might, and then the count starts again.
    for (let attempt = 0; attempt < 3 * MAX_FAILURES && !logs.some((line) => line.includes('from now on')); attempt++) {
      const pending = store.analytics.totals(RANGE);
      await setImmediate();
      await store.readerThread()?.terminate();
      assert.equal((await pending).requests, ROWS + 1);
    }
    assert.equal((await store.analytics.totals(RANGE)).requests, ROWS + 1);
    assert.equal(store.readerThread(), undefined, logs.filter((line) => line.includes('reader')).join(''));
    assert.ok(logs.some((line) => line.includes('run on the main thread from now on')));
  });
});

describe('the usage reader thread and close()', () => {
  test('close ends the thread and fails a report still running, so nothing hangs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-reads-'));
    try {
      const store = new SqlStore({ dbPath: join(dir, 'usage.db') }, pino({ level: 'silent' }));
      assert.equal(await store.usage.insertBatch([usageRecord('one', 'key-a', 'gpt-4', END - DAY)]), 1);
      assert.equal((await store.analytics.totals(RANGE)).requests, 1);
      const thread = store.readerThread();
      assert.ok(thread !== undefined);
      const exited = new Promise<number>((resolve) => thread.once('exit', resolve));
      const running = assert.rejects(store.analytics.totals(RANGE), /closed/);
      await store.close();
      await exited;
      await running;
      await assert.rejects(store.analytics.totals(RANGE), /closed|destroyed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
