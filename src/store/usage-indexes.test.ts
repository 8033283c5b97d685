// Every usage row updates each index of usage_records, so the table keeps only the indexes its
// range queries use. These tests run the real summary and analytics queries on a migrated SQLite
// file and read SQLite's plan for each: none may scan the whole table, of the records or of their
// daily sums (the whole days of a range are read there, its partial first and last from the records).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Schema } from './database.js';
import { migrateToLatest } from './migrations.js';
import { UsageAnalytics } from './usage-analytics.js';
import { UsageStore } from './usage-store.js';
import { usageRecord } from '../../test/support/usage-fixture.js';

interface PlanRow {
  detail: string;
}

describe('usage_records indexes (SQLite)', () => {
  let dir: string;
  let sqlite: SqliteDatabase.Database;
  let db: Kysely<Schema>;
  /** Every statement the query builder ran, with its parameters. */
  const ran: { sql: string; parameters: readonly unknown[] }[] = [];
  const ready = async (): Promise<void> => undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-indexes-'));
    sqlite = new SqliteDatabase(join(dir, 'usage.db'));
    db = new Kysely<Schema>({
      dialect: new SqliteDialect({ database: sqlite }),
      log: (event) => {
        if (event.level === 'query') ran.push({ sql: event.query.sql, parameters: event.query.parameters });
      },
    });
    await migrateToLatest(db);
    // Enough rows over enough days and keys that SQLite's planner has a choice to make, written as the
    // writer does (the daily sums with them).
    const start = Date.UTC(2026, 9, 1);
    const records = Array.from({ length: 2000 }, (_, index) => usageRecord(`u${index}`, `key${index % 7}`, `model${index % 3}`, start + index * 3_600_000 + 60_000));
    assert.equal(await new UsageStore(db, ready, sqlite).insertBatch(records), 2000);
    ran.length = 0;
    sqlite.exec('ANALYZE');
  });

  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** SQLite's plan for the last statement the query builder ran. */
  function lastPlan(): string[] {
    const last = ran.at(-1);
    assert.ok(last !== undefined, 'no query ran');
    return (sqlite.prepare(`EXPLAIN QUERY PLAN ${last.sql}`).all(...last.parameters) as PlanRow[]).map((row) => row.detail);
  }

  /**
   * Every read of `table` is an index search (a range or a skip-scan; of usage_daily, its primary
   * key is the table), never a scan of the table or a whole index; `index`, when given, is the one used.
   */
  function assertSearched(plan: string[], table: 'usage_records' | 'usage_daily', index?: string): void {
    const reads = plan.filter((detail) => new RegExp(`\\b${table}\\b`).test(detail));
    assert.ok(reads.length > 0, `no read of ${table} in ${JSON.stringify(plan)}`);
    for (const detail of reads) {
      assert.match(detail, new RegExp(`^SEARCH ${table} USING (COVERING INDEX |INDEX |PRIMARY KEY)`), `plan: ${JSON.stringify(plan)}`);
      if (index !== undefined) assert.match(detail, new RegExp(`INDEX ${index}\\b`), `plan: ${JSON.stringify(plan)}`);
    }
  }

  test('the day index is gone; the (key_id, day) and created_at ones stay', () => {
    const names = (sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' AND sql IS NOT NULL`).all() as { name: string }[])
      .map((row) => row.name)
      .sort();
    assert.deepEqual(names, ['usage_records_created_at', 'usage_records_key_day']);
  });

  test('the usage summary searches an index, with a key (key_id, day) in both tables', async () => {
    const analytics = new UsageAnalytics(db, ready);
    // Whole days but the first and last half days: both tables are read.
    const window = { start: Date.UTC(2026, 9, 10) - 43_200_000, end: Date.UTC(2026, 9, 12) + 43_200_000 };
    const all = await analytics.summarize(window);
    assert.equal(all.reduce((sum, group) => sum + group.requests, 0), 72);
    assertSearched(lastPlan(), 'usage_records');
    assertSearched(lastPlan(), 'usage_daily');
    const one = await analytics.summarize({ ...window, keyId: 'key3' });
    assert.ok(one.length > 0);
    // A partial day's records: SQLite may take either index for them.
    assertSearched(lastPlan(), 'usage_records');
    assertSearched(lastPlan(), 'usage_daily');
    // A range within one day reads only records: by key and day.
    await analytics.summarize({ start: Date.UTC(2026, 9, 10, 3, 0), end: Date.UTC(2026, 9, 10, 22, 0), keyId: 'key3' });
    assertSearched(lastPlan(), 'usage_records', 'usage_records_key_day');
  });

  test('the analytics totals, time series and newest-first rows read through an index', async () => {
    const analytics = new UsageAnalytics(db, ready);
    const window = { start: Date.UTC(2026, 9, 10) - 43_200_000, end: Date.UTC(2026, 9, 17) + 43_200_000 };
    const totals = await analytics.totals(window);
    assert.equal(totals.requests, 8 * 24);
    assertSearched(lastPlan(), 'usage_records');
    assertSearched(lastPlan(), 'usage_daily');
    await analytics.timeseries(window, 'day');
    assertSearched(lastPlan(), 'usage_daily');
    await analytics.timeseries(window, 'hour');
    assertSearched(lastPlan(), 'usage_records');
    const rows = await analytics.rows(window, 10);
    assert.equal(rows.length, 10);
    assertSearched(lastPlan(), 'usage_records');
    await analytics.totals({ ...window, keyId: 'key1' });
    assertSearched(lastPlan(), 'usage_records');
    assertSearched(lastPlan(), 'usage_daily');
  });
});
