// Aggregates over the usage records for the usage API and the admin dashboard (issue #10): the
// by-day, by-model and by-key sums of /admin/usage, totals, time series per hour or day, sums grouped
// by day/key/model/provider with paging, and the raw rows newest first. All of it is computed by
// the database in SQL that SQLite and PostgreSQL read alike (integer arithmetic for hour buckets,
// the stored `day` column for days), so 100,000 rows never travel. The whole UTC days of a range are
// read from the daily sums (usage_daily), only its partial first and last days from the records;
// hourly series read the records alone.
import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';
import type { Schema } from './database.js';
import { compare, DAY_MS, ID_MAX, KEY_ID_MAX, MODEL_MAX, text, usageDayBounds, utcDay } from './usage-store.js';

const HOUR_MS = 3_600_000;

export const USAGE_DIMENSIONS = ['day', 'key', 'model', 'provider'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];
export type UsageBucket = 'hour' | 'day';
export const GROUP_SORTS = ['requests', 'cost', 'tokens', 'errors', 'name'] as const;
export type GroupSort = (typeof GROUP_SORTS)[number];

/** Columns by dimension (of the source below): fixed strings, never user input, so they may be spliced into SQL. */
const COLUMN: Record<UsageDimension, string> = {
  day: 'day',
  key: 'key_id',
  model: 'model',
  provider: 'provider',
};

export interface UsageQuery {
  keyId?: string;
  /** Inclusive, epoch ms. */
  start: number;
  /** Exclusive, epoch ms. */
  end: number;
}

/** What GET /admin/usage and /api/usage break their figures down by. */
export type BreakdownDimension = Exclude<UsageDimension, 'provider'>;

/** One value of a breakdown (a day, model or key) and its figures. */
export interface BreakdownRow {
  value: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

/** Sums of one UTC day, model and key. */
export interface UsageGroup {
  day: string;
  model: string;
  keyId: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

export interface UsageFilter {
  /** Inclusive, epoch ms. */
  start: number;
  /** Exclusive, epoch ms. */
  end: number;
  keyId?: string;
  model?: string;
}

export interface UsageFigures {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  cost: number;
  errors: number;
  cacheHits: number;
  /** Sum of latencies, so averages can be formed after merging groups. */
  latencyMsSum: number;
  latencyMsMax: number;
}

export interface UsageGroupRow extends UsageFigures {
  /** The dimension values, in the order asked for. */
  keys: string[];
}

export interface TimeseriesRow extends UsageFigures {
  /** Bucket start, epoch ms (UTC). */
  bucket: number;
  /** The group's value ('' when not grouped). */
  group: string;
}

export interface UsageRow {
  id: string;
  requestId: string;
  keyId: string;
  endpoint: string;
  model: string;
  provider: string | null;
  upstreamModel: string | null;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  cost: number | null;
  latencyMs: number;
  ttftMs: number | null;
  status: string;
  httpStatus: number;
  errorCode: string | null;
  stream: boolean;
  cacheHit: boolean;
  estimated: boolean;
  createdAt: number;
}

/** Where the next (older) page starts: the last row's time and id. */
export interface RowCursor {
  createdAt: number;
  id: string;
}

/** Each figure's column and aggregate over the source; max for the maximum, sums (of the per-day or per-row values) otherwise. */
const AGGREGATES = [
  ['requests', 'sum(requests)'],
  ['prompt_tokens', 'sum(prompt_tokens)'],
  ['completion_tokens', 'sum(completion_tokens)'],
  ['cached_tokens', 'sum(cached_tokens)'],
  ['cost', 'sum(cost)'],
  ['errors', 'sum(errors)'],
  ['cache_hits', 'sum(cache_hits)'],
  ['latency_sum', 'sum(latency_sum)'],
  ['latency_max', 'max(latency_max)'],
] as const;
const FIGURES = sql.raw(AGGREGATES.map(([name, aggregate]) => `${aggregate} as ${name}`).join(', '));
/**
 * The same figures over every group, as window functions over the grouped rows: the totals and the
 * number of groups come with the page, in the one scan (both engines have had windows for years).
 */
const WINDOW_TOTALS = sql.raw(
  [
    'count(*) over () as group_count',
    ...AGGREGATES.map(([name, aggregate]) => `${name === 'latency_max' ? 'max' : 'sum'}(${aggregate}) over () as total_${name}`),
  ].join(', '),
);

type FigureName = (typeof AGGREGATES)[number][0];
type FigureColumns = Record<FigureName, unknown>;

/** node-pg and better-sqlite3 both give numbers here (database.ts parses bigint); sums of no rows are null. */
function num(value: unknown): number {
  const number = Number(value ?? 0);
  return Number.isFinite(number) ? number : 0;
}

function figures(row: FigureColumns): UsageFigures {
  return {
    requests: num(row.requests),
    promptTokens: num(row.prompt_tokens),
    completionTokens: num(row.completion_tokens),
    cachedTokens: num(row.cached_tokens),
    cost: num(row.cost),
    errors: num(row.errors),
    cacheHits: num(row.cache_hits),
    latencyMsSum: num(row.latency_sum),
    latencyMsMax: num(row.latency_max),
  };
}

/**
 * The WHERE clause over the records: created_at bounds the range; with a key, the day bounds narrow
 * the (key_id, day) index too. Without one they are left out: they repeat created_at's, and
 * PostgreSQL, taking them for independent, expected a third of the rows and planned the big ranges
 * badly (usageDayBounds).
 */
function where(filter: UsageFilter): RawBuilder<unknown> {
  const parts = [sql`created_at >= ${filter.start}`, sql`created_at < ${filter.end}`];
  if (filter.keyId !== undefined) {
    const [first, last] = usageDayBounds(filter);
    parts.push(sql`key_id = ${text(filter.keyId, KEY_ID_MAX)}`, sql`day >= ${first}`, sql`day <= ${last}`);
  }
  if (filter.model !== undefined) parts.push(sql`model = ${text(filter.model, MODEL_MAX)}`);
  return sql`where ${sql.join(parts, sql` and `)}`;
}

/** A record as one row of the source: the daily sums' columns, for one request (and its hour, for hourly series). */
const RECORD_COLUMNS = sql.raw(
  `created_at - created_at % ${HOUR_MS} as hour, day, key_id, model, coalesce(provider, '') as provider, 1 as requests, prompt_tokens, completion_tokens, cached_tokens, cost, ` +
    "case when status = 'error' then 1 else 0 end as errors, cache_hit as cache_hits, latency_ms as latency_sum, latency_ms as latency_max",
);
const DAILY_COLUMNS = sql.raw('null as hour, day, key_id, model, provider, requests, prompt_tokens, completion_tokens, cached_tokens, cost, errors, cache_hits, latency_sum, latency_max');

/**
 * What the reports aggregate, as a derived table `u`: the daily sums of the whole UTC days in the
 * range and the records of its partial first and last days (none when the range is whole days),
 * or, with `rollup` off (and for hourly series, which the sums cannot answer), the range's records
 * alone. Both give the same sums; only the cost may differ in its last bits, being added in another order.
 */
function source(filter: UsageFilter, rollup: boolean): RawBuilder<unknown> {
  return sql`(${sourceRows(filter, rollup)}) u`;
}

/** The source's rows as a bare SELECT (one, or several joined by UNION ALL), for a CTE. */
function sourceRows(filter: UsageFilter, rollup: boolean): RawBuilder<unknown> {
  const first = Math.ceil(filter.start / DAY_MS) * DAY_MS;
  const last = Math.floor(filter.end / DAY_MS) * DAY_MS;
  if (!rollup || first >= last) return sql`select ${RECORD_COLUMNS} from usage_records ${where(filter)}`;
  const parts = [sql`day >= ${utcDay(first)}`, sql`day < ${utcDay(last)}`];
  if (filter.keyId !== undefined) parts.push(sql`key_id = ${text(filter.keyId, KEY_ID_MAX)}`);
  if (filter.model !== undefined) parts.push(sql`model = ${text(filter.model, MODEL_MAX)}`);
  const branches = [sql`select ${DAILY_COLUMNS} from usage_daily where ${sql.join(parts, sql` and `)}`];
  if (filter.start < first) branches.push(sql`select ${RECORD_COLUMNS} from usage_records ${where({ ...filter, end: first })}`);
  if (last < filter.end) branches.push(sql`select ${RECORD_COLUMNS} from usage_records ${where({ ...filter, start: last })}`);
  return sql.join(branches, sql` union all `);
}

/** What the breakdowns sum; fewer aggregates than FIGURES, over the same source. */
const BREAKDOWN_SUMS = sql.raw(['requests', 'prompt_tokens', 'completion_tokens', 'cost'].map((name) => `sum(${name}) as ${name}`).join(', '));

interface BreakdownColumns {
  dimension: BreakdownDimension;
  value: unknown;
  requests: unknown;
  prompt_tokens: unknown;
  completion_tokens: unknown;
  cost: unknown;
}

/**
 * PostgreSQL: one GROUP BY GROUPING SETS, one scan and one aggregation; every row is of one set,
 * named by the column it is grouped by (grouping() = 0). Twice as fast there as the CTE below.
 */
function breakdownsByGroupingSets(query: UsageQuery, dimensions: readonly BreakdownDimension[], rollup: boolean): RawBuilder<unknown> {
  const columns = dimensions.map((dimension) => COLUMN[dimension]);
  const head = sql.raw(
    `case ${dimensions.map((dimension) => `when grouping(${COLUMN[dimension]}) = 0 then '${dimension}'`).join(' ')} end as dimension, coalesce(${columns.join(', ')}) as value`,
  );
  return sql`select ${head}, ${BREAKDOWN_SUMS} from ${source(query, rollup)} group by grouping sets (${sql.raw(columns.map((column) => `(${column})`).join(', '))})`;
}

/**
 * SQLite, which has no grouping sets: one GROUP BY per dimension over a CTE, which SQLite
 * materializes once when more than one branch reads it (the source is not read again per branch).
 */
function breakdownsByCte(query: UsageQuery, dimensions: readonly BreakdownDimension[], rollup: boolean): RawBuilder<unknown> {
  const branches = dimensions.map((dimension) => sql`select ${sql.raw(`'${dimension}' as dimension, ${COLUMN[dimension]} as value`)}, ${BREAKDOWN_SUMS} from u group by value`);
  return sql`with u as (${sourceRows(query, rollup)}) ${sql.join(branches, sql` union all `)}`;
}

function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

export class UsageAnalytics {
  private readonly rollup: boolean;
  /** The one report written apart for each engine (breakdowns) asks. */
  private readonly postgres: boolean;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly ready: () => Promise<void>,
    /** `rollup: false` reads every record of a range, never the daily sums (the tests compare the two). */
    options: { rollup?: boolean } = {},
  ) {
    this.rollup = options.rollup ?? true;
    this.postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  /** Sums by UTC day, model and key over [start, end), one group per combination (a key's usage, in the tests). */
  async summarize(query: UsageQuery): Promise<UsageGroup[]> {
    await this.ready();
    const result = await sql<{ day: string; model: string; key_id: string; requests: unknown; prompt_tokens: unknown; completion_tokens: unknown; cost: unknown }>`
      select day, model, key_id, sum(requests) as requests, sum(prompt_tokens) as prompt_tokens, sum(completion_tokens) as completion_tokens, sum(cost) as cost
      from ${source(query, this.rollup)}
      group by day, model, key_id
      order by day, model, key_id`.execute(this.db);
    return result.rows.map((row) => ({
      day: row.day,
      model: row.model,
      keyId: row.key_id,
      requests: num(row.requests),
      promptTokens: num(row.prompt_tokens),
      completionTokens: num(row.completion_tokens),
      cost: num(row.cost),
    }));
  }

  /**
   * The filter's sums by each of `dimensions` apart (GET /admin/usage's by_day, by_model and
   * by_key), each sorted by value in code-unit order (the same on both engines, whatever the
   * collation). The database adds them up, reading the source once, and only the breakdowns' rows
   * come back: the route used to fetch the ~91,000 day × model × key groups of 90 days and add them
   * up itself (90 days of bench/usage-reports.mjs: 1,327-1,880 → 420-676 ms on SQLite, 987-1,807 → 139-248 ms on PostgreSQL).
   */
  async breakdowns(query: UsageQuery, dimensions: readonly BreakdownDimension[]): Promise<Record<BreakdownDimension, BreakdownRow[]>> {
    const result: Record<BreakdownDimension, BreakdownRow[]> = { day: [], model: [], key: [] };
    if (dimensions.length === 0) return result;
    await this.ready();
    const { rows } = await sql<BreakdownColumns>`${this.postgres ? breakdownsByGroupingSets(query, dimensions, this.rollup) : breakdownsByCte(query, dimensions, this.rollup)}`.execute(this.db);
    for (const row of rows) {
      result[row.dimension]?.push({ value: String(row.value ?? ''), requests: num(row.requests), promptTokens: num(row.prompt_tokens), completionTokens: num(row.completion_tokens), cost: num(row.cost) });
    }
    for (const list of Object.values(result)) list.sort((a, b) => compare(a.value, b.value));
    return result;
  }

  /** Totals over the filter. */
  async totals(filter: UsageFilter): Promise<UsageFigures> {
    await this.ready();
    const result = await sql<FigureColumns>`select ${FIGURES} from ${source(filter, this.rollup)}`.execute(this.db);
    return figures(result.rows[0] ?? ({} as FigureColumns));
  }

  /** Sums per time bucket (and per group, when `groupBy` is given); only buckets with records are returned. */
  async timeseries(filter: UsageFilter, bucket: UsageBucket, groupBy?: Exclude<UsageDimension, 'day'>): Promise<TimeseriesRow[]> {
    await this.ready();
    // Integer arithmetic on epoch ms: the same expression and result on both engines.
    const bucketSql = sql.raw(bucket);
    // PostgreSQL refuses a constant in GROUP BY, so the ungrouped form groups by the bucket alone.
    const groupSql = groupBy === undefined ? sql.raw("''") : sql.raw(COLUMN[groupBy]);
    const result = await sql<FigureColumns & { bucket: unknown; grp: string }>`
      select ${bucketSql} as bucket, ${groupSql} as grp, ${FIGURES}
      from ${source(filter, this.rollup && bucket === 'day')}
      group by ${groupBy === undefined ? bucketSql : sql`${bucketSql}, ${groupSql}`}
      order by 1`.execute(this.db);
    return result.rows.map((row) => ({
      bucket: bucket === 'hour' ? num(row.bucket) : dayStart(String(row.bucket)),
      group: String(row.grp ?? ''),
      ...figures(row),
    }));
  }

  /** Sums grouped by one or more dimensions, one page of them, the number of groups and the totals over all of them. */
  async groups(
    filter: UsageFilter,
    dimensions: readonly UsageDimension[],
    page: { sort: GroupSort; limit: number; offset: number },
  ): Promise<{ rows: UsageGroupRow[]; count: number; totals: UsageFigures }> {
    await this.ready();
    const columns = dimensions.map((dimension, index) => sql.raw(`${COLUMN[dimension]} as d${index}`));
    const groupBy = sql.raw(dimensions.map((dimension) => COLUMN[dimension]).join(', '));
    // Ties and 'name' fall back to the dimensions themselves, so paging is stable.
    const byName = dimensions.map((_, index) => `d${index}`).join(', ');
    const sortSql = {
      requests: 'sum(requests) desc',
      cost: 'coalesce(sum(cost), 0) desc',
      tokens: 'sum(prompt_tokens) + sum(completion_tokens) desc',
      errors: 'sum(errors) desc',
      name: byName,
    }[page.sort];
    const order = sql.raw(page.sort === 'name' ? byName : `${sortSql}, ${byName}`);
    const result = await sql<FigureColumns & Record<string, unknown>>`
      select ${sql.join(columns)}, ${FIGURES}, ${WINDOW_TOTALS}
      from ${source(filter, this.rollup)}
      group by ${groupBy}
      order by ${order}
      limit ${page.limit} offset ${page.offset}`.execute(this.db);
    const first = result.rows[0];
    if (first === undefined) {
      // An empty page (no usage, or an offset past the end) carries no window: ask separately.
      const [totals, counted] = await Promise.all([
        this.totals(filter),
        sql<{ n: unknown }>`select count(*) as n from (select 1 as one from ${source(filter, this.rollup)} group by ${groupBy}) grouped`.execute(this.db),
      ]);
      return { rows: [], count: num(counted.rows[0]?.n), totals };
    }
    const totals = figures(Object.fromEntries(AGGREGATES.map(([name]) => [name, first[`total_${name}`]])) as FigureColumns);
    return {
      rows: result.rows.map((row) => ({ keys: dimensions.map((_, index) => String(row[`d${index}`] ?? '')), ...figures(row) })),
      count: num(first.group_count),
      totals,
    };
  }

  /** Raw records, newest first, `limit` of them from `before` (exclusive); keyset paging stays fast deep in 100,000 rows. */
  async rows(filter: UsageFilter, limit: number, before?: RowCursor): Promise<UsageRow[]> {
    await this.ready();
    let query = this.db
      .selectFrom('usage_records')
      .selectAll()
      .where('created_at', '>=', filter.start)
      .where('created_at', '<', filter.end);
    if (filter.keyId !== undefined) {
      const [first, last] = usageDayBounds(filter);
      query = query.where('key_id', '=', text(filter.keyId, KEY_ID_MAX)).where('day', '>=', first).where('day', '<=', last);
    }
    if (filter.model !== undefined) query = query.where('model', '=', text(filter.model, MODEL_MAX));
    if (before !== undefined) {
      const id = text(before.id, ID_MAX);
      query = query.where((eb) => eb.or([eb('created_at', '<', before.createdAt), eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', id)])]));
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map((row) => ({
      id: row.id,
      requestId: row.request_id,
      keyId: row.key_id,
      endpoint: row.endpoint,
      model: row.model,
      provider: row.provider,
      upstreamModel: row.upstream_model,
      promptTokens: num(row.prompt_tokens),
      completionTokens: num(row.completion_tokens),
      cachedTokens: num(row.cached_tokens),
      cost: row.cost === null ? null : num(row.cost),
      latencyMs: num(row.latency_ms),
      ttftMs: row.ttft_ms === null ? null : num(row.ttft_ms),
      status: row.status,
      httpStatus: num(row.http_status),
      errorCode: row.error_code,
      stream: num(row.stream) === 1,
      cacheHit: num(row.cache_hit) === 1,
      estimated: num(row.estimated) === 1,
      createdAt: num(row.created_at),
    }));
  }
}
