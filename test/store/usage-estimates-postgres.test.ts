// PostgreSQL's row estimates for the usage reads over every key. The `day` bounds repeat the
// created_at ones; PostgreSQL takes them for independent filters and multiplied their
// selectivities, so it expected a third of the rows of a 30-day range out of 90 days and sorted
// the groups on disk in one process (/admin/usage: 1.4 s over 1,000,000 rows, 0.5 s once the
// estimate was right). Without a key, the reads bound created_at alone. The reports read whole hours
// from the hourly sums, but the records of partial hours, and the sums compared with them in tests,
// are read with these same bounds: the reads here are of records alone (`rollup: false`).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Schema } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrations.js';
import { UsageAnalytics } from '../../src/store/usage-analytics.js';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';

const postgres = await createPostgresSchema();
const DAY = 86_400_000;
const ROWS = 90_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Plan Rows': number;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

function scan(node: PlanNode): PlanNode | undefined {
  if (node['Relation Name'] === 'usage_records') return node;
  for (const child of node.Plans ?? []) {
    const found = scan(child);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe('usage row estimates on PostgreSQL', { skip: typeof postgres === 'string' ? postgres : false }, () => {
  const schema = postgres as PostgresSchema;
  let pool: pg.Pool;
  let db: Kysely<Schema>;
  const ran: { sql: string; parameters: readonly unknown[] }[] = [];
  const ready = async (): Promise<void> => undefined;
  const end = Date.UTC(2026, 2, 1);
  const month = { start: end - 30 * DAY, end };

  before(async () => {
    pool = new pg.Pool({ connectionString: schema.url, max: 2 });
    db = new Kysely<Schema>({
      dialect: new PostgresDialect({ pool }),
      log: (event) => {
        if (event.level === 'query') ran.push({ sql: event.query.sql, parameters: event.query.parameters });
      },
    });
    await migrateToLatest(db);
    // Rows spread evenly over 90 days, as months of traffic are.
    await pool.query(
      `insert into usage_records (id, request_id, key_id, endpoint, model, prompt_tokens, completion_tokens, cached_tokens, cost, latency_ms, status, http_status, stream, cache_hit, estimated, created_at, day)
       select 'u' || i, 'r' || i, 'key' || (i % 200), 'chat.completions', 'model' || (i % 30), 10, 5, 0, 0.001, 100, 'ok', 200, 0, 0, 0, t, to_char(to_timestamp(t / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')
       from (select i, ($1::bigint - 90 * $2::bigint + (i::bigint * 90 * $2::bigint) / $3) as t from generate_series(0, $3 - 1) as i) spread`,
      [end, DAY, ROWS],
    );
    await pool.query('analyze usage_records');
  });

  after(async () => {
    await db.destroy();
    await schema.drop();
  });

  /** The planner's estimate of the rows read from usage_records by the last query, and the rows it really read. */
  async function estimate(): Promise<{ planned: number; actual: number }> {
    const last = ran.at(-1);
    assert.ok(last !== undefined, 'no query ran');
    const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`explain (analyze, format json) ${last.sql}`, [...last.parameters]);
    const node = scan(rows[0]!['QUERY PLAN'][0].Plan);
    assert.ok(node !== undefined, 'no read of usage_records');
    return { planned: node['Plan Rows'] * node['Actual Loops'], actual: node['Actual Rows'] * node['Actual Loops'] };
  }

  function assertClose({ planned, actual }: { planned: number; actual: number }): void {
    assert.ok(actual > ROWS / 4, `read ${actual} rows`);
    assert.ok(planned > actual / 2 && planned < actual * 2, `planned ${planned} rows, read ${actual}`);
  }

  test('the 30-day summary of every key (GET /admin/usage) is planned for the rows it reads', async () => {
    await new UsageAnalytics(db, ready, { rollup: false }).summarize(month);
    assertClose(await estimate());
  });

  test('the dashboard totals, groups, time series and records over every key are planned for the rows they read', async () => {
    const analytics = new UsageAnalytics(db, ready, { rollup: false });
    await analytics.totals(month);
    assertClose(await estimate());
    await analytics.groups(month, ['key'], { sort: 'requests', limit: 50, offset: 0 });
    assertClose(await estimate());
    await analytics.timeseries(month, 'hour');
    assertClose(await estimate());
  });
});
