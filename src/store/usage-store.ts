// Usage records in the database: batch inserts that are safe to replay (insert-or-ignore on a
// server-made id), each settling the spend and budget holds of exactly the rows it inserted, and
// the per-key, per-model, per-day sums the usage API reads.
import type SqliteDatabase from 'better-sqlite3';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { UsageRecord } from '../usage/usage-recorder.js';
import type { Schema, UsageRecordTable } from './database.js';
import { lessReserved, lockOrder, periodEnd, periodStart, takeReservations } from './key-store.js';

/** A record on its way to the database: the recorder has given it its unique id. */
export type IdentifiedUsageRecord = UsageRecord & { id: string };

export interface UsageQuery {
  keyId?: string;
  /** Inclusive, epoch ms. */
  start: number;
  /** Exclusive, epoch ms. */
  end: number;
}

export interface UsageGroup {
  day: string;
  model: string;
  keyId: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

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

const DAY_MS = 86_400_000;
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
const COST = 10;
const CREATED_AT = 19;

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
  const values = usageValues(record);
  const row: Record<string, unknown> = {};
  for (let index = 0; index < USAGE_COLUMNS.length; index++) row[USAGE_COLUMNS[index] as string] = values[index];
  return row as unknown as UsageRecordTable;
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
  readonly spendByKey = new Map<string, KeySpend>();
  readonly heldIds: string[] = [];
  /** When the batch settles: the budget periods running then are the ones its spend goes to. */
  readonly now = Date.now();
  private readonly dayStart = periodStart('daily', this.now);
  private readonly weekStart = periodStart('weekly', this.now);
  private readonly monthStart = periodStart('monthly', this.now);

  add(keyId: string, cost: number | string | null, createdAt: number, heldId: string | undefined): void {
    this.inserted++;
    const value = cost === null ? 0 : Number(cost);
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

export class UsageStore {
  /** SQLite only: one prepared statement, made on first use (after the migration created the table). */
  private sqliteInsert: SqliteDatabase.Statement<UsageValues> | undefined;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly ready: () => Promise<void>,
    /** On SQLite, usage rows go in through a prepared statement: the query builder's per-batch compile was a visible share of CPU under load. */
    private readonly sqlite?: SqliteDatabase.Database,
    /** Where summarize() reads (SqlStore: on SQLite a worker thread, off the event loop); default `db`. */
    private readonly reader: Kysely<Schema> = db,
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
      if (insert.run(...values).changes === 1) settlement.add(values[KEY_ID], values[COST], values[CREATED_AT], record.budgetHeld === true && id === record.id ? id : undefined);
    }
  }

  /** The PostgreSQL path: multi-row inserts through Kysely, the new rows read back with RETURNING. */
  private async insertRows(trx: Transaction<Schema>, records: readonly IdentifiedUsageRecord[], settlement: Settlement): Promise<void> {
    const rows = records.map(toUsageRow);
    // Only records whose call held budget have a reservation to release.
    const held = new Set(records.filter((record) => record.budgetHeld === true).map((record) => record.id));
    for (let index = 0; index < rows.length; index += ROWS_PER_STATEMENT) {
      const part = rows.slice(index, index + ROWS_PER_STATEMENT);
      const result = await trx
        .insertInto('usage_records')
        .values(part)
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning(['id', 'key_id', 'cost', 'created_at'])
        .execute();
      for (const row of result) settlement.add(row.key_id, row.cost, Number(row.created_at), held.has(row.id) ? row.id : undefined);
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
   * Deletes up to `limit` of the oldest usage rows made before `cutoff` (epoch ms), returning how
   * many went: one short statement through the created_at index, so a SQLite writer holds the lock
   * for milliseconds and the event loop is free between batches. On PostgreSQL SKIP LOCKED lets
   * several instances prune at once, each taking other rows, none waiting on another.
   */
  async pruneBefore(cutoff: number, limit: number): Promise<number> {
    await this.ready();
    const lock = this.sqlite === undefined ? sql` for update skip locked` : sql``;
    const result = await sql`delete from usage_records where id in (select id from usage_records where created_at < ${cutoff} order by created_at limit ${limit}${lock})`.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  /** A cheap round trip: is the database answering? */
  async ping(): Promise<void> {
    await this.ready();
    await sql`select 1`.execute(this.db);
  }

  /** Sums by UTC day, model and key over [start, end). */
  async summarize(query: UsageQuery): Promise<UsageGroup[]> {
    await this.ready();
    let select = this.reader
      .selectFrom('usage_records')
      .select((eb) => [
        'day',
        'model',
        'key_id',
        eb.fn.countAll<number>().as('requests'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
        eb.fn.sum<number | null>('cost').as('cost'),
      ])
      .where('created_at', '>=', query.start)
      .where('created_at', '<', query.end);
    if (query.keyId !== undefined) {
      const [first, last] = usageDayBounds(query);
      select = select.where('key_id', '=', text(query.keyId, KEY_ID_MAX)).where('day', '>=', first).where('day', '<=', last);
    }
    const rows = await select.groupBy(['day', 'model', 'key_id']).orderBy('day').orderBy('model').orderBy('key_id').execute();
    return rows.map((row) => ({
      day: row.day,
      model: row.model,
      keyId: row.key_id,
      requests: Number(row.requests),
      promptTokens: Number(row.prompt_tokens ?? 0),
      completionTokens: Number(row.completion_tokens ?? 0),
      cost: Number(row.cost ?? 0),
    }));
  }
}
