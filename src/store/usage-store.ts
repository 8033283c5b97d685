// Usage records in the database: batch inserts that are safe to replay (insert-or-ignore on a
// server-made id), each settling the spend and budget holds of exactly the rows it inserted and
// adding them to the daily sums the usage reports read (usage_daily), and retention's deletes.
import type SqliteDatabase from 'better-sqlite3';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { UsageRecord } from '../usage/usage-recorder.js';
import type { Schema, UsageDailyTable, UsageRecordTable } from './database.js';
import { lessReserved, lockOrder, periodEnd, periodStart, takeReservations } from './key-store.js';

/** A record on its way to the database: the recorder has given it its unique id. */
export type IdentifiedUsageRecord = UsageRecord & { id: string };

const INT32_MAX = 2_147_483_647;
/** Rows per INSERT: ~21 parameters each stays far below SQLite's and PostgreSQL's limits. */
const ROWS_PER_STATEMENT = 200;

/**
 * PostgreSQL text rejects NUL, and varchar columns reject long values: both would poison a batch.
 * Filters go through it too, so they match what was stored, and a NUL in one is no database error.
 */
export function text(value: string, max: number): string {
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
  return clean.length > max ? clean.slice(0, max) : clean;
}

function optionalText(value: string | undefined, max: number): string | null {
  return value === undefined ? null : text(value, max);
}

function integer(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value)) return 0;
  return Math.min(INT32_MAX, Math.max(0, Math.round(value)));
}

export function utcDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/**
 * The UTC days a range touches, first and last, for the (key_id, day) index: only with a key. Over
 * every key the reads bound created_at alone, as these repeat its bounds and PostgreSQL, taking the
 * two for independent, expected a third of a range's rows (a 30-day summary over 1,000,000 rows
 * sorted on disk in one process: 1.4 s, 0.5 s without them).
 */
export function usageDayBounds(range: { start: number; end: number }): [string, string] {
  return [utcDay(range.start), utcDay(Math.max(range.start, range.end - 1))];
}

export const DAY_MS = 86_400_000;
/** The UTC day last written, and its bounds: a batch's rows nearly all fall on the same day. */
let dayStart = 0;
let dayEnd = 0;
let dayText = '';

/** utcDay() for a row's created_at (an integer), without a Date and two strings per row. */
function rowDay(createdAt: number): string {
  if (createdAt >= dayStart && createdAt < dayEnd) return dayText;
  const day = utcDay(createdAt);
  dayStart = createdAt - (((createdAt % DAY_MS) + DAY_MS) % DAY_MS);
  dayEnd = dayStart + DAY_MS;
  dayText = day;
  return day;
}

/** Widths of the columns a usage query filters on (see the migration). */
export const KEY_ID_MAX = 64;
export const MODEL_MAX = 256;
export const ID_MAX = 64;

/** Column order of the prepared SQLite insert: insertSqlite() binds its values in this order. */
const USAGE_COLUMNS = [
  'id', 'request_id', 'key_id', 'endpoint', 'model', 'provider', 'upstream_model', 'prompt_tokens', 'completion_tokens',
  'cached_tokens', 'cost', 'latency_ms', 'ttft_ms', 'status', 'http_status', 'error_code', 'stream', 'cache_hit',
  'estimated', 'created_at', 'day',
] as const satisfies ReadonlyArray<keyof UsageRecordTable>;

type UsageValues = [
  id: string, request_id: string, key_id: string, endpoint: string, model: string, provider: string | null, upstream_model: string | null,
  prompt_tokens: number, completion_tokens: number, cached_tokens: number, cost: number | null, latency_ms: number, ttft_ms: number | null,
  status: string, http_status: number, error_code: string | null, stream: number, cache_hit: number, estimated: number, created_at: number, day: string,
];

/** Where each value sits in UsageValues. */
const ID = 0;
const KEY_ID = 2;
const MODEL = 4;
const PROVIDER = 5;
const PROMPT_TOKENS = 7;
const COMPLETION_TOKENS = 8;
const CACHED_TOKENS = 9;
const COST = 10;
const LATENCY_MS = 11;
const STATUS = 13;
const CACHE_HIT = 17;
const CREATED_AT = 19;
const DAY = 20;

/**
 * A record's values in USAGE_COLUMNS order, cut and checked for the database: the one mapping both
 * stores write (SQLite binds it by position; PostgreSQL gets it as a row object).
 */
function usageValues(record: IdentifiedUsageRecord): UsageValues {
  const createdAt = Number.isFinite(record.createdAt) ? Math.round(record.createdAt) : Date.now();
  return [
    text(record.id, ID_MAX),
    text(record.requestId, 128),
    text(record.keyId, KEY_ID_MAX),
    text(record.endpoint, 64),
    text(record.model, MODEL_MAX),
    optionalText(record.provider, 64),
    optionalText(record.upstreamModel, 256),
    integer(record.promptTokens),
    integer(record.completionTokens),
    integer(record.cachedTokens),
    record.cost !== undefined && Number.isFinite(record.cost) && record.cost >= 0 ? record.cost : null,
    integer(record.latencyMs),
    record.ttftMs === undefined ? null : integer(record.ttftMs),
    text(record.status, 32),
    integer(record.httpStatus),
    optionalText(record.errorCode, 64),
    record.stream ? 1 : 0,
    record.cacheHit ? 1 : 0,
    record.estimated ? 1 : 0,
    createdAt,
    rowDay(createdAt),
  ];
}

/** The row of a record (the PostgreSQL path). */
export function toUsageRow(record: IdentifiedUsageRecord): UsageRecordTable {
  return rowOf(usageValues(record));
}

function rowOf(values: UsageValues): UsageRecordTable {
  const row: Record<string, unknown> = {};
  for (let index = 0; index < USAGE_COLUMNS.length; index++) row[USAGE_COLUMNS[index] as string] = values[index];
  return row as unknown as UsageRecordTable;
}

/** Column order of the daily upsert (DailySums.groups() gives rows in this order). */
const DAILY_COLUMNS = [
  'day', 'key_id', 'model', 'provider', 'requests', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'cost', 'errors', 'cache_hits', 'latency_sum', 'latency_max',
] as const satisfies ReadonlyArray<keyof UsageDailyTable>;

type DailyValues = [
  day: string, key_id: string, model: string, provider: string, requests: number, prompt_tokens: number, completion_tokens: number,
  cached_tokens: number, cost: number, errors: number, cache_hits: number, latency_sum: number, latency_max: number,
];

/** Every figure is added to the stored one, but the maximum latency, which keeps the larger (max() on SQLite, greatest() on PostgreSQL). */
function dailyUpsert(greatest: 'max' | 'greatest'): string {
  const added = DAILY_COLUMNS.slice(4, -1).map((column) => `${column} = usage_daily.${column} + excluded.${column}`);
  return `on conflict (day, key_id, model, provider) do update set ${added.join(', ')}, latency_max = ${greatest}(usage_daily.latency_max, excluded.latency_max)`;
}

/** The new rows summed per day, key, model and provider: one upsert per group, not per row. */
class DailySums {
  private readonly byGroup = new Map<string, DailyValues>();

  add(values: UsageValues): void {
    const provider = values[PROVIDER] ?? '';
    const name = `${values[DAY]}\u0000${values[KEY_ID]}\u0000${values[MODEL]}\u0000${provider}`;
    const cost = values[COST] ?? 0;
    const errors = values[STATUS] === 'error' ? 1 : 0;
    const latency = values[LATENCY_MS];
    const sums = this.byGroup.get(name);
    if (sums === undefined) {
      const row: DailyValues = [values[DAY], values[KEY_ID], values[MODEL], provider, 1, values[PROMPT_TOKENS], values[COMPLETION_TOKENS], values[CACHED_TOKENS], cost, errors, values[CACHE_HIT], latency, latency];
      this.byGroup.set(name, row);
      return;
    }
    sums[4] += 1;
    sums[5] += values[PROMPT_TOKENS];
    sums[6] += values[COMPLETION_TOKENS];
    sums[7] += values[CACHED_TOKENS];
    sums[8] += cost;
    sums[9] += errors;
    sums[10] += values[CACHE_HIT];
    sums[11] += latency;
    if (latency > sums[12]) sums[12] = latency;
  }

  /**
   * The groups in one order (day, key, model, provider): on PostgreSQL two batches upserting the
   * same rows lock them in the same order, so they wait for each other instead of deadlocking.
   */
  groups(): DailyValues[] {
    return [...this.byGroup.values()].sort((a, b) => compare(a[0], b[0]) || compare(a[1], b[1]) || compare(a[2], b[2]) || compare(a[3], b[3]));
  }
}

/** Code-unit order: the same in every process, whatever a database's collation. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One key's share of the new rows: all of their cost, and the part made in each kind of budget period running now. */
interface KeySpend {
  all: number;
  daily: number;
  weekly: number;
  monthly: number;
}

/** What the newly inserted rows settle: their keys' spend and the budget holds they release. */
class Settlement {
  inserted = 0;
  readonly daily = new DailySums();
  readonly spendByKey = new Map<string, KeySpend>();
  readonly heldIds: string[] = [];
  /** When the batch settles: the budget periods running then are the ones its spend goes to. */
  readonly now = Date.now();
  private readonly dayStart = periodStart('daily', this.now);
  private readonly weekStart = periodStart('weekly', this.now);
  private readonly monthStart = periodStart('monthly', this.now);

  add(values: UsageValues, heldId: string | undefined): void {
    this.inserted++;
    this.daily.add(values);
    const keyId = values[KEY_ID];
    const cost = values[COST];
    const createdAt = values[CREATED_AT];
    const value = cost === null ? 0 : cost;
    if (value > 0) {
      let spend = this.spendByKey.get(keyId);
      if (spend === undefined) this.spendByKey.set(keyId, (spend = { all: 0, daily: 0, weekly: 0, monthly: 0 }));
      spend.all += value;
      if (createdAt >= this.dayStart) spend.daily += value;
      if (createdAt >= this.weekStart) spend.weekly += value;
      if (createdAt >= this.monthStart) spend.monthly += value;
    }
    if (heldId !== undefined) this.heldIds.push(heldId);
  }
}

/** What a rebuild of the daily sums did: the days it went through (first to last, UTC) and the sums rows it wrote. */
export interface RebuiltDays {
  days: number;
  rows: number;
  firstDay: string | null;
  lastDay: string | null;
}

export class UsageStore {
  /** SQLite only: one prepared statement, made on first use (after the migration created the table). */
  private sqliteInsert: SqliteDatabase.Statement<UsageValues> | undefined;
  private sqliteDaily: SqliteDatabase.Statement<DailyValues> | undefined;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly ready: () => Promise<void>,
    /** On SQLite, usage rows go in through a prepared statement: the query builder's per-batch compile was a visible share of CPU under load. */
    private readonly sqlite?: SqliteDatabase.Database,
  ) {}

  /**
   * Inserts records one prepared statement at a time (inside the caller's transaction). Values are
   * bound by position: no row object, and better-sqlite3 looks up no names.
   */
  private insertSqlite(sqlite: SqliteDatabase.Database, records: readonly IdentifiedUsageRecord[], settlement: Settlement): void {
    this.sqliteInsert ??= sqlite.prepare<UsageValues>(
      `INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES (${USAGE_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
    );
    const insert = this.sqliteInsert;
    for (const record of records) {
      const values = usageValues(record);
      const id = values[ID];
      // A hold is released by the record's own id (as stored; ids are server-made, so never cut).
      if (insert.run(...values).changes === 1) settlement.add(values, record.budgetHeld === true && id === record.id ? id : undefined);
    }
    this.sqliteDaily ??= sqlite.prepare<DailyValues>(
      `INSERT INTO usage_daily (${DAILY_COLUMNS.join(', ')}) VALUES (${DAILY_COLUMNS.map(() => '?').join(', ')}) ${dailyUpsert('max')}`,
    );
    for (const group of settlement.daily.groups()) this.sqliteDaily.run(...group);
  }

  /** The PostgreSQL path: multi-row inserts through Kysely, the new rows read back with RETURNING. */
  private async insertRows(trx: Transaction<Schema>, records: readonly IdentifiedUsageRecord[], settlement: Settlement): Promise<void> {
    const values = records.map(usageValues);
    // Only records whose call held budget have a reservation to release.
    const held = new Set(records.filter((record) => record.budgetHeld === true).map((record) => record.id));
    for (let index = 0; index < values.length; index += ROWS_PER_STATEMENT) {
      const part = values.slice(index, index + ROWS_PER_STATEMENT);
      const byId = new Map<string, UsageValues>();
      for (const row of part) if (!byId.has(row[ID])) byId.set(row[ID], row);
      const result = await trx
        .insertInto('usage_records')
        .values(part.map(rowOf))
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning('id')
        .execute();
      for (const { id } of result) settlement.add(byId.get(id) as UsageValues, held.has(id) ? id : undefined);
    }
    const groups = settlement.daily.groups();
    for (let index = 0; index < groups.length; index += ROWS_PER_STATEMENT) {
      const part = groups.slice(index, index + ROWS_PER_STATEMENT).map((group) => Object.fromEntries(DAILY_COLUMNS.map((column, at) => [column, group[at]])) as unknown as UsageDailyTable);
      await trx.insertInto('usage_daily').values(part).modifyEnd(sql.raw(dailyUpsert('greatest'))).execute();
    }
  }

  /**
   * Inserts the records that are not there yet and, in the same transaction, adds their cost to
   * their keys' spend and gives back the budget holds they settle. Returns how many were new.
   * `beforeCommit` runs last inside the transaction, with every record of the batch (new or
   * already there): the budget ledger stops counting their spend itself while the keys' rows are
   * still locked by this transaction, so a budget check sees either both or neither.
   */
  async insertBatch(records: readonly IdentifiedUsageRecord[], beforeCommit?: (records: readonly IdentifiedUsageRecord[]) => void): Promise<number> {
    if (records.length === 0) return 0;
    await this.ready();
    return this.db.transaction().execute(async (trx) => {
      const settlement = new Settlement();
      if (this.sqlite !== undefined) this.insertSqlite(this.sqlite, records, settlement);
      else await this.insertRows(trx, records, settlement);
      if (settlement.inserted > 0) await this.settle(trx, settlement);
      beforeCommit?.(records);
      return settlement.inserted;
    });
  }

  /**
   * Adds the new rows' cost to their keys. `spend` is the budget period's: a row counts in the
   * period it was made in (its created_at, when the call started), as the hold it settles did. A
   * key whose period has ended starts the next one here, as a budget hold would, so the new
   * period's rows that land before its first hold are not wiped by that hold's reset; rows made
   * before the running period began (a call started before midnight, written after) count in
   * total_spend only, not in the new period's budget.
   */
  private async settle(trx: Transaction<Schema>, settlement: Settlement): Promise<void> {
    // Only records whose call held budget have a reservation to release: no delete otherwise.
    const released = new Map<string, number>();
    const ids = settlement.heldIds;
    for (let index = 0; index < ids.length; index += ROWS_PER_STATEMENT) {
      await takeReservations(trx, { ids: ids.slice(index, index + ROWS_PER_STATEMENT) }, released);
    }
    const now = settlement.now;
    const ended = sql<boolean>`(budget_reset_at is null or budget_reset_at <= ${now})`;
    const nextReset = sql<number>`case budget_period when 'daily' then cast(${periodEnd('daily', now)} as bigint) when 'weekly' then cast(${periodEnd('weekly', now)} as bigint) else cast(${periodEnd('monthly', now)} as bigint) end`;
    // One update per key, spend and released holds together, keys in lock order. Static keys have
    // no row here, so their updates touch nothing.
    for (const keyId of lockOrder(new Set([...settlement.spendByKey.keys(), ...released.keys()]))) {
      const cost = settlement.spendByKey.get(keyId);
      const amount = released.get(keyId);
      const inPeriod =
        cost === undefined
          ? undefined
          : sql<number>`case budget_period when 'daily' then cast(${cost.daily} as double precision) when 'weekly' then cast(${cost.weekly} as double precision) else cast(${cost.monthly} as double precision) end`;
      await trx
        .updateTable('virtual_keys')
        .set((eb) => ({
          ...(cost === undefined
            ? {}
            : {
                spend: sql<number>`case when budget_period is null or budget_period not in ('daily', 'weekly', 'monthly') then spend + cast(${cost.all} as double precision) when ${ended} then ${inPeriod} else spend + ${inPeriod} end`,
                budget_reset_at: sql<number>`case when budget_period in ('daily', 'weekly', 'monthly') and ${ended} then ${nextReset} else budget_reset_at end`,
                total_spend: eb('total_spend', '+', cost.all),
              }),
          ...(amount === undefined ? {} : { reserved: lessReserved(amount) }),
        }))
        .where('id', '=', keyId)
        .execute();
    }
  }

  /**
   * Deletes up to `limit` of the oldest usage rows made before the UTC day `cutoff` (epoch ms) falls in,
   * returning how many went: one short statement through the created_at index, so a SQLite writer
   * holds the lock for milliseconds and the event loop is free between batches. On PostgreSQL SKIP
   * LOCKED lets several instances prune at once, each taking other rows, none waiting on another.
   * In the same transaction the daily sums of every day now without rows go too: the cutoff is a
   * whole day so that, once a pass is done, the sums hold exactly the days the rows do.
   */
  async pruneBefore(cutoff: number, limit: number): Promise<number> {
    await this.ready();
    const before = cutoff - (cutoff % DAY_MS);
    const lock = this.sqlite === undefined ? sql` for update skip locked` : sql``;
    return this.db.transaction().execute(async (trx) => {
      const result = await sql`delete from usage_records where id in (select id from usage_records where created_at < ${before} order by created_at limit ${limit}${lock})`.execute(trx);
      // The day of the oldest row left (mid-pass, one is partly deleted) keeps its sums; the days before it have no rows.
      const { rows } = await sql<{ oldest: number | string | null }>`select min(created_at) as oldest from usage_records`.execute(trx);
      const oldest = rows[0]?.oldest ?? null;
      const emptied = oldest === null ? before : Math.min(before, Number(oldest));
      await sql`delete from usage_daily where day < ${utcDay(emptied)}`.execute(trx);
      return Number(result.numAffectedRows ?? 0);
    });
  }

  /**
   * Sums the records into usage_daily again, from the UTC day of `since` (default: the first day
   * with records or sums) to the last: `llm-proxy usage rebuild-rollup`, after a rollout in which an
   * instance of a version before the sums wrote records without adding them. Each day is replaced
   * in a transaction of its own (its sums deleted, then summed from its records), so a running
   * server's usage batches wait for one day's work at most (SQLite's write lock; on PostgreSQL the
   * table lock below) instead of the whole table's, which on SQLite outlasted its 250 ms busy
   * timeout. A day whose sums are rebuilt is right whatever is written meanwhile; stopped midway,
   * the days done are right and the rest as they were. Sums of days without records go too.
   */
  async rebuildDaily(options: { since?: number } = {}): Promise<RebuiltDays> {
    await this.ready();
    const records = await sql<{ first: unknown; last: unknown }>`select min(created_at) as first, max(created_at) as last from usage_records`.execute(this.db);
    const sums = await sql<{ first: string | null; last: string | null }>`select min(day) as first, max(day) as last from usage_daily`.execute(this.db);
    const starts: number[] = [];
    const ends: number[] = [];
    const recordBounds = records.rows[0];
    if (recordBounds !== undefined && recordBounds.first !== null && recordBounds.last !== null) {
      starts.push(Number(recordBounds.first));
      ends.push(Number(recordBounds.last));
    }
    const sumBounds = sums.rows[0];
    if (sumBounds !== undefined && sumBounds.first !== null && sumBounds.last !== null) {
      starts.push(Date.parse(`${sumBounds.first}T00:00:00Z`));
      ends.push(Date.parse(`${sumBounds.last}T00:00:00Z`));
    }
    const dayOf = (epochMs: number) => epochMs - (((epochMs % DAY_MS) + DAY_MS) % DAY_MS);
    let first = starts.length === 0 ? Number.POSITIVE_INFINITY : dayOf(Math.min(...starts));
    if (options.since !== undefined) first = Math.max(first, dayOf(options.since));
    const last = ends.length === 0 ? Number.NEGATIVE_INFINITY : dayOf(Math.max(...ends));
    const done: RebuiltDays = { days: 0, rows: 0, firstDay: null, lastDay: null };
    for (let start = first; start <= last; start += DAY_MS) {
      const day = utcDay(start);
      done.rows += await this.db.transaction().execute(async (trx) => {
        // PostgreSQL: a batch adding to the sums waits here until this day is done (its records,
        // inserted first, are then not in the sums summed here, and are added after); one that
        // added before has committed, or this lock waits for it, so its records are read below.
        if (this.sqlite === undefined) await sql`lock table usage_daily in exclusive mode`.execute(trx);
        await trx.deleteFrom('usage_daily').where('day', '=', day).execute();
        const result = await sql`
          insert into usage_daily (day, key_id, model, provider, requests, prompt_tokens, completion_tokens, cached_tokens, cost, errors, cache_hits, latency_sum, latency_max)
          select day, key_id, model, coalesce(provider, ''), count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
            coalesce(sum(cost), 0), sum(case when status = 'error' then 1 else 0 end), sum(cache_hit), sum(latency_ms), max(latency_ms)
          from usage_records
          where created_at >= ${start} and created_at < ${start + DAY_MS}
          group by day, key_id, model, coalesce(provider, '')`.execute(trx);
        return Number(result.numAffectedRows ?? 0);
      });
      done.days++;
      done.firstDay ??= day;
      done.lastDay = day;
    }
    return done;
  }

  /** A cheap round trip: is the database answering? */
  async ping(): Promise<void> {
    await this.ready();
    await sql`select 1`.execute(this.db);
  }
}
