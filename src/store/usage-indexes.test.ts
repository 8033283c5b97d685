// Every usage row updates each index of usage_records, so the table keeps only the indexes its
// range queries use. These tests run the real summary and analytics queries on a migrated SQLite
// file and read SQLite's plan for each: none may scan the whole table.
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
    // Enough rows over enough days and keys that SQLite's planner has a choice to make.
    const insert = sqlite.prepare(
      `INSERT INTO usage_records (id, request_id, key_id, endpoint, model, prompt_tokens, completion_tokens, cached_tokens, latency_ms, status, http_status, stream, cache_hit, estimated, created_at, day)
       VALUES (?, ?, ?, 'chat.completions', ?, 1, 1, 0, 1, 'ok', 200, 0, 0, 0, ?, ?)`,
    );
    const start = Date.UTC(2026, 9, 1);
    sqlite.transaction(() => {
      for (let index = 0; index < 2000; index++) {
        const createdAt = start + index * 3_600_000;
        insert.run(`u${index}`, `r${index}`, `key${index % 7}`, `model${index % 3}`, createdAt, new Date(createdAt).toISOString().slice(0, 10));
      }
    })();
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

  /** Every read of usage_records is an index search (a range or a skip-scan), never a scan of the table or a whole index; `index`, when given, is the one used. */
  function assertSearched(plan: string[], index?: string): void {
    const reads = plan.filter((detail) => /usage_records/.test(detail));
    assert.ok(reads.length > 0, `no read of usage_records in ${JSON.stringify(plan)}`);
    for (const detail of reads) {
      assert.match(detail, /^SEARCH usage_records USING (COVERING )?INDEX /, `plan: ${JSON.stringify(plan)}`);
      if (index !== undefined) assert.match(detail, new RegExp(`INDEX ${index}\\b`), `plan: ${JSON.stringify(plan)}`);
    }
  }

  test('the day index is gone; the (key_id, day) and created_at ones stay', () => {
    const names = (sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'usage_records' AND sql IS NOT NULL`).all() as { name: string }[])
      .map((row) => row.name)
      .sort();
    assert.deepEqual(names, ['usage_records_created_at', 'usage_records_key_day']);
  });

  test('the usage summary searches an index, with a key (key_id, day)', async () => {
    const store = new UsageStore(db, ready);
    const window = { start: Date.UTC(2026, 9, 10), end: Date.UTC(2026, 9, 12) };
    const all = await store.summarize(window);
    assert.equal(all.reduce((sum, group) => sum + group.requests, 0), 48);
    assertSearched(lastPlan());
    const one = await store.summarize({ ...window, keyId: 'key3' });
    assert.ok(one.length > 0);
    assertSearched(lastPlan(), 'usage_records_key_day');
  });

  test('the analytics totals, time series and newest-first rows read through an index', async () => {
    const analytics = new UsageAnalytics(db, ready);
    const window = { start: Date.UTC(2026, 9, 10), end: Date.UTC(2026, 9, 17) };
    const totals = await analytics.totals(window);
    assert.equal(totals.requests, 7 * 24);
    assertSearched(lastPlan());
    await analytics.timeseries(window, 'day');
    assertSearched(lastPlan());
    const rows = await analytics.rows(window, 10);
    assert.equal(rows.length, 10);
    assertSearched(lastPlan());
    await analytics.totals({ ...window, keyId: 'key1' });
    assertSearched(lastPlan(), 'usage_records_key_day');
  });
});
