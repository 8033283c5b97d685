// The usage reports read whole UTC days from the daily sums (usage_daily) that each usage batch adds
// to, and only a range's partial first and last days from the records (hourly series: records
// only). On random records (keys, models, no provider, errors, unknown costs, cache hits, replayed
// batches) and random ranges, every report answered that way equals the same report computed from the records alone, on SQLite and
// PostgreSQL, before and after retention has pruned old records (and their days' sums).
// Costs here are multiples of 1/1024, which doubles add exactly in any order, so the comparison is
// exact: with arbitrary costs the two may differ in their last bits (the sums are added in another order).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { pino } from 'pino';
import { seededRandom } from '../../src/routing/load-balance.js';
import type { Database } from '../../src/store/database.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { UsageAnalytics, type GroupSort, type UsageDimension, type UsageFilter } from '../../src/store/usage-analytics.js';
import type { IdentifiedUsageRecord } from '../../src/store/usage-store.js';
import { UsageRetention } from '../../src/usage/usage-retention.js';
import { storeBackends } from '../support/store-backends.js';
import { usageRecord } from '../support/usage-fixture.js';

const logger = pino({ level: 'silent' });
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.UTC(2026, 2, 1);
const SPAN = 12 * DAY;
const KEYS = ['key-a', 'key-b', 'key-c', 'key-d'];
const MODELS = ['gpt-4o', 'claude', 'gemini'];

function pick<T>(random: () => number, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)] as T;
}

function randomRecord(random: () => number, index: number): IdentifiedUsageRecord {
  const error = random() < 0.1;
  // Some at midnight exactly, where a whole day starts.
  const createdAt = START + (random() < 0.1 ? Math.floor(random() * (SPAN / DAY)) * DAY : Math.floor(random() * SPAN));
  const provider = random() < 0.1 ? undefined : pick(random, ['openai', 'anthropic', 'google']);
  return usageRecord(`r-${index}`, pick(random, KEYS), pick(random, MODELS), createdAt, {
    provider,
    promptTokens: Math.floor(random() * 5000),
    completionTokens: Math.floor(random() * 2000),
    cachedTokens: Math.floor(random() * 100),
    cost: random() < 0.1 ? undefined : Math.floor(random() * 5000) / 1024,
    latencyMs: Math.floor(random() * 10_000),
    status: error ? 'error' : pick(random, ['ok', 'ok', 'client_disconnected']),
    httpStatus: error ? 502 : 200,
    cacheHit: random() < 0.2,
  });
}

function randomFilter(random: () => number): UsageFilter {
  const shape = random();
  // Whole days, a range under a day, or any bounds at all.
  const align = (value: number) => (shape < 0.25 ? value - (value % DAY) : value);
  const start = align(START - DAY + Math.floor(random() * (SPAN + DAY)));
  const length = shape < 0.4 && shape >= 0.25 ? Math.floor(random() * DAY) : HOUR + Math.floor(random() * (SPAN / 2));
  const filter: UsageFilter = { start, end: Math.max(start + 1, align(start + length)) };
  if (random() < 0.3) filter.keyId = pick(random, KEYS);
  if (random() < 0.2) filter.model = pick(random, MODELS);
  return filter;
}

/** Every report over `filter`, as the API gets it. */
async function reports(analytics: UsageAnalytics, filter: UsageFilter, random: () => number): Promise<unknown[]> {
  const dimensions = ([['model'], ['day', 'key'], ['provider', 'model', 'key']] as UsageDimension[][])[Math.floor(random() * 3)] as UsageDimension[];
  const sort = pick(random, ['requests', 'cost', 'tokens', 'errors', 'name'] as GroupSort[]);
  return [
    await analytics.totals(filter),
    await analytics.summarize(filter),
    await analytics.breakdowns(filter, ['day', 'model', 'key']),
    await analytics.timeseries(filter, 'hour'),
    await analytics.timeseries(filter, 'day', 'provider'),
    await analytics.timeseries(filter, 'hour', 'key'),
    await analytics.groups(filter, dimensions, { sort, limit: 5, offset: 0 }),
    await analytics.groups(filter, dimensions, { sort, limit: 5, offset: 3 }),
    // Past the last group: the totals and the count asked for separately.
    await analytics.groups(filter, dimensions, { sort, limit: 5, offset: 10_000 }),
  ];
}

const backends = await storeBackends('rollup');

for (const backend of backends) {
  describe(`usage reports from the daily sums on ${backend.name}`, { skip: backend.skip }, () => {
    let store: SqlStore;
    let database: Database;
    let records: UsageAnalytics;

    before(async () => {
      ({ store, database } = backend.open());
      await store.ready();
      records = new UsageAnalytics(database.db, async () => undefined, { rollup: false });
    });
    after(async () => {
      await database.close();
      await store.close();
      await backend.teardown();
    });

    async function assertSame(seed: number, filters: number): Promise<void> {
      const random = seededRandom(seed);
      for (let index = 0; index < filters; index++) {
        const filter = randomFilter(random);
        const state = random() * 4294967296;
        const fromSums = await reports(store.analytics, filter, seededRandom(state));
        const fromRecords = await reports(records, filter, seededRandom(state));
        assert.deepEqual(fromSums, fromRecords, `seed ${seed}, filter ${JSON.stringify(filter)}`);
      }
    }

    // Seeded (the seed is in each test's name), so a failure replays.
    test('random records, replayed batches included: every report equals the one from the records (seed 7)', async () => {
      const random = seededRandom(7);
      const all = Array.from({ length: 3_000 }, (_, index) => randomRecord(random, index));
      for (let index = 0; index < all.length; index += 250) {
        const batch = all.slice(index, index + 250);
        assert.equal(await store.usage.insertBatch(batch), batch.length);
        // A replay (the spool after a lost answer) inserts nothing, and adds nothing to the sums.
        if (index % 1_000 === 0) assert.equal(await store.usage.insertBatch(batch), 0);
      }
      const everything = { start: START - DAY, end: START + SPAN + DAY };
      assert.equal((await store.analytics.totals(everything)).requests, all.length);
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from usage_daily`.execute(database.db);
      assert.ok(Number(rows[0]?.n) > 0 && Number(rows[0]?.n) < all.length, `${rows[0]?.n} daily rows`);
      await assertSame(7, 60);
    });

    // GET /admin/usage's breakdowns, summed by the database, against the day × model × key groups
    // added up in the process (as the route did before): the same values, sorted alike.
    test('breakdowns by day, model and key equal the day × model × key groups added up (seed 5)', async () => {
      const random = seededRandom(5);
      for (let index = 0; index < 40; index++) {
        const filter = randomFilter(random);
        const groups = await store.analytics.summarize(filter);
        const added = { day: new Map<string, number[]>(), model: new Map<string, number[]>(), key: new Map<string, number[]>() };
        for (const group of groups) {
          for (const [dimension, value] of [['day', group.day], ['model', group.model], ['key', group.keyId]] as const) {
            const sums = added[dimension].get(value) ?? [0, 0, 0, 0];
            added[dimension].set(value, [sums[0]! + group.requests, sums[1]! + group.promptTokens, sums[2]! + group.completionTokens, sums[3]! + group.cost]);
          }
        }
        const breakdowns = await store.analytics.breakdowns(filter, ['day', 'model', 'key']);
        for (const dimension of ['day', 'model', 'key'] as const) {
          const expected = [...added[dimension].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          const actual = breakdowns[dimension].map((row) => [row.value, [row.requests, row.promptTokens, row.completionTokens, row.cost]]);
          assert.deepEqual(actual, expected, `${dimension}, filter ${JSON.stringify(filter)}`);
        }
        // Only what is asked for is computed.
        const some = await store.analytics.breakdowns(filter, ['model']);
        assert.deepEqual(some, { day: [], model: breakdowns.model, key: [] });
      }
    });

    test('after retention the sums hold exactly the days the records do (seed 11)', async () => {
      // A cutoff in the middle of a day: that day's records stay, and its sums with them.
      const cutoff = START + 4 * DAY + 13 * HOUR;
      const retention = new UsageRetention(store.usage, logger, { days: 1, batch: 100, pauseMs: 0, now: () => cutoff + DAY });
      const deleted = await retention.pass();
      assert.ok(deleted > 0);
      const dayStart = cutoff - (cutoff % DAY);
      assert.equal((await records.totals({ start: 0, end: dayStart })).requests, 0, 'no record before the cutoff day');
      assert.ok((await records.totals({ start: dayStart, end: cutoff })).requests > 0, "the cutoff day's records stay");
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from usage_daily where day < ${new Date(dayStart).toISOString().slice(0, 10)}`.execute(database.db);
      assert.equal(Number(rows[0]?.n), 0, 'no sums before the cutoff day');
      await assertSame(11, 40);
    });
  });
}
