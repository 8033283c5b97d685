// Rebuilding the daily sums (usage_daily) from the records: what `llm-proxy usage rebuild-rollup`
// runs after a mixed-version rollout, where an instance of a version before the sums wrote records
// without adding them. On SQLite and PostgreSQL: the rebuilt sums are exactly the records' sums,
// `since` leaves the days before it alone, sums of days with no record go, and batches written
// while it runs are neither lost nor counted twice.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { seededRandom } from '../../src/routing/load-balance.js';
import type { Database } from '../../src/store/database.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { UsageAnalytics } from '../../src/store/usage-analytics.js';
import { toUsageRow, type IdentifiedUsageRecord } from '../../src/store/usage-store.js';
import { storeBackends } from '../support/store-backends.js';
import { usageRecord } from '../support/usage-fixture.js';

const DAY = 86_400_000;
const START = Date.UTC(2026, 2, 1);

function randomRecords(seed: number, prefix: string, count: number, firstDay: number, days: number): IdentifiedUsageRecord[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) =>
    usageRecord(`${prefix}-${index}`, `key-${Math.floor(random() * 4)}`, `model-${Math.floor(random() * 3)}`, START + firstDay * DAY + Math.floor(random() * days * DAY), {
      ...(random() < 0.1 ? { provider: undefined } : { provider: `provider-${Math.floor(random() * 2)}` }),
      promptTokens: Math.floor(random() * 5000),
      completionTokens: Math.floor(random() * 2000),
      // Multiples of 1/1024: added exactly in any order, so the sums compare exactly.
      ...(random() < 0.1 ? { cost: undefined } : { cost: Math.floor(random() * 5000) / 1024 }),
      latencyMs: Math.floor(random() * 10_000),
      ...(random() < 0.1 ? { status: 'error', httpStatus: 502 } : {}),
      cacheHit: random() < 0.2,
    }),
  );
}

type Row = Record<string, unknown>;

/** usage_daily as stored, from `day` on. */
async function storedSums(database: Database, day = '0000-00-00'): Promise<Row[]> {
  return (await sql<Row>`select * from usage_daily where day >= ${day} order by day, key_id, model, provider`.execute(database.db)).rows;
}

/** What usage_daily should hold, from `day` on: the records summed (as migration 0004 fills it). */
async function recordSums(database: Database, day = '0000-00-00'): Promise<Row[]> {
  // openDatabase's PostgreSQL gives bigint sums as numbers, as SQLite does.
  const { rows } = await sql<Row>`
    select day, key_id, model, coalesce(provider, '') as provider, count(*) as requests, sum(prompt_tokens) as prompt_tokens, sum(completion_tokens) as completion_tokens,
      sum(cached_tokens) as cached_tokens, coalesce(sum(cost), 0) as cost, sum(case when status = 'error' then 1 else 0 end) as errors, sum(cache_hit) as cache_hits,
      sum(latency_ms) as latency_sum, max(latency_ms) as latency_max
    from usage_records where day >= ${day}
    group by day, key_id, model, coalesce(provider, '') order by day, key_id, model, provider`.execute(database.db);
  return rows;
}

/** Records as an instance of a version before the daily sums wrote them: the records alone. */
async function insertWithoutSums(database: Database, records: readonly IdentifiedUsageRecord[]): Promise<void> {
  for (let index = 0; index < records.length; index += 200) {
    await database.db.insertInto('usage_records').values(records.slice(index, index + 200).map(toUsageRow)).execute();
  }
}

/** A sums row no record backs (hand-made, or left by a crash of a version that wrote them apart). */
async function insertStaleSums(database: Database, day: string): Promise<void> {
  await database.db
    .insertInto('usage_daily')
    .values({ day, key_id: 'stale', model: 'stale', provider: '', requests: 7, prompt_tokens: 1, completion_tokens: 1, cached_tokens: 0, cost: 1, errors: 0, cache_hits: 0, latency_sum: 1, latency_max: 1 })
    .execute();
}

const backends = await storeBackends('rebuild');

for (const backend of backends) {
  describe(`rebuilding the daily sums on ${backend.name}`, { skip: backend.skip }, () => {
    let store: SqlStore;
    let database: Database;

    before(async () => {
      ({ store, database } = backend.open());
      await store.ready();
    });
    after(async () => {
      await database.close();
      await store.close();
      await backend.teardown();
    });

    test('after records written without sums: --since rebuilds from that day on, the whole table without it', async () => {
      const records = new UsageAnalytics(database.db, async () => undefined, { rollup: false });
      // Twelve days written by this version, and days 6 to 11 also by an older one.
      const batch = randomRecords(1, 'new', 1_500, 0, 12);
      assert.equal(await store.usage.insertBatch(batch), batch.length);
      await insertWithoutSums(database, randomRecords(2, 'old', 600, 6, 6));
      await insertStaleSums(database, '2026-03-02');
      await insertStaleSums(database, '2026-03-10');
      // A day past the records: only sums, no record at all.
      await insertStaleSums(database, '2026-03-20');
      const range = { start: START, end: START + 30 * DAY };
      const wrong = await store.analytics.totals(range);
      assert.notEqual(wrong.requests, (await records.totals(range)).requests, 'the sums miss the older instance’s records');

      const since = '2026-03-05';
      // Any time of a day rebuilds from that day's start.
      const rebuilt = await store.usage.rebuildDaily({ since: Date.parse(`${since}T17:45:00Z`) });
      assert.equal(rebuilt.firstDay, since);
      assert.equal(rebuilt.lastDay, '2026-03-20');
      assert.equal(rebuilt.days, 16);
      assert.deepEqual(await storedSums(database, since), await recordSums(database, since));
      assert.equal(rebuilt.rows, (await recordSums(database, since)).length);
      // Before `since`, nothing changed: the stale row of March 2 is still there.
      assert.ok((await storedSums(database)).some((row) => row.day === '2026-03-02' && row.key_id === 'stale'));
      const fromSince = { start: Date.parse(`${since}T00:00:00Z`), end: range.end };
      assert.deepEqual(await store.analytics.totals(fromSince), await records.totals(fromSince));
      assert.deepEqual(await store.analytics.breakdowns(fromSince, ['day', 'model', 'key']), await records.breakdowns(fromSince, ['day', 'model', 'key']));

      const all = await store.usage.rebuildDaily();
      assert.equal(all.firstDay, '2026-03-01');
      assert.deepEqual(await storedSums(database), await recordSums(database));
      assert.deepEqual(await store.analytics.totals(range), await records.totals(range));
      // Run again, it changes nothing.
      await store.usage.rebuildDaily();
      assert.deepEqual(await storedSums(database), await recordSums(database));
    });

    test('batches written while it runs are in the sums once', async () => {
      const writes = (async () => {
        const more = randomRecords(3, 'during', 2_000, 0, 12);
        for (let index = 0; index < more.length; index += 100) {
          await store.usage.insertBatch(more.slice(index, index + 100));
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const rebuilds = (async () => {
        for (let pass = 0; pass < 3; pass++) await store.usage.rebuildDaily();
      })();
      await Promise.all([writes, rebuilds]);
      assert.deepEqual(await storedSums(database), await recordSums(database));
    });

    test('nothing to rebuild past the last day', async () => {
      assert.deepEqual(await store.usage.rebuildDaily({ since: Date.UTC(2027, 0, 1) }), { days: 0, rows: 0, firstDay: null, lastDay: null });
    });
  });
}
