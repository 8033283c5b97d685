// Usage records in the database: batch inserts that are safe to replay (insert-or-ignore on a
// server-made id), each settling the spend and budget holds of exactly the rows it inserted, and
// the per-key, per-model, per-day sums the usage API reads.
import type SqliteDatabase from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type { UsageRecord } from '../usage/usage-recorder.js';
import type { Schema, UsageRecordTable } from './database.js';
import { releaseReservations } from './key-store.js';

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

/** PostgreSQL text rejects NUL, and varchar columns reject long values: both would poison a batch. */
function text(value: string, max: number): string {
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

export function toUsageRow(record: IdentifiedUsageRecord): UsageRecordTable {
  const createdAt = Number.isFinite(record.createdAt) ? Math.round(record.createdAt) : Date.now();
  return {
    id: text(record.id, 64),
    request_id: text(record.requestId, 128),
    key_id: text(record.keyId, 64),
    endpoint: text(record.endpoint, 64),
    model: text(record.model, 256),
    provider: optionalText(record.provider, 64),
    upstream_model: optionalText(record.upstreamModel, 256),
    prompt_tokens: integer(record.promptTokens),
    completion_tokens: integer(record.completionTokens),
    cached_tokens: integer(record.cachedTokens),
    cost: record.cost !== undefined && Number.isFinite(record.cost) && record.cost >= 0 ? record.cost : null,
    latency_ms: integer(record.latencyMs),
    ttft_ms: record.ttftMs === undefined ? null : integer(record.ttftMs),
    status: text(record.status, 32),
    http_status: integer(record.httpStatus),
    error_code: optionalText(record.errorCode, 64),
    stream: record.stream ? 1 : 0,
    cache_hit: record.cacheHit ? 1 : 0,
    estimated: record.estimated ? 1 : 0,
    created_at: createdAt,
    day: utcDay(createdAt),
  };
}

/** Column order of the prepared SQLite insert; the same names as UsageRecordTable. */
const USAGE_COLUMNS = [
  'id', 'request_id', 'key_id', 'endpoint', 'model', 'provider', 'upstream_model', 'prompt_tokens', 'completion_tokens',
  'cached_tokens', 'cost', 'latency_ms', 'ttft_ms', 'status', 'http_status', 'error_code', 'stream', 'cache_hit',
  'estimated', 'created_at', 'day',
] as const satisfies ReadonlyArray<keyof UsageRecordTable>;

type Inserted = { id: string; key_id: string; cost: number | null };

export class UsageStore {
  /** SQLite only: one prepared statement, made on first use (after the migration created the table). */
  private sqliteInsert: SqliteDatabase.Statement<UsageRecordTable> | undefined;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly ready: () => Promise<void>,
    /** On SQLite, usage rows go in through a prepared statement: the query builder's per-batch compile was a visible share of CPU under load. */
    private readonly sqlite?: SqliteDatabase.Database,
  ) {}

  /** Inserts rows one prepared statement at a time (inside the caller's transaction); returns those that were new. */
  private insertSqlite(sqlite: SqliteDatabase.Database, rows: readonly UsageRecordTable[]): Inserted[] {
    this.sqliteInsert ??= sqlite.prepare<UsageRecordTable>(
      `INSERT INTO usage_records (${USAGE_COLUMNS.join(', ')}) VALUES (${USAGE_COLUMNS.map((name) => `@${name}`).join(', ')}) ON CONFLICT (id) DO NOTHING`,
    );
    const inserted: Inserted[] = [];
    for (const row of rows) {
      if (this.sqliteInsert.run(row).changes === 1) inserted.push({ id: row.id, key_id: row.key_id, cost: row.cost });
    }
    return inserted;
  }

  /**
   * Inserts the records that are not there yet and, in the same transaction, adds their cost to
   * their keys' spend and gives back the budget holds they settle. Returns how many were new.
   */
  async insertBatch(records: readonly IdentifiedUsageRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    await this.ready();
    const rows = records.map(toUsageRow);
    return this.db.transaction().execute(async (trx) => {
      const sqlite = this.sqlite;
      const inserted: Inserted[] = sqlite === undefined ? [] : this.insertSqlite(sqlite, rows);
      for (let index = 0; sqlite === undefined && index < rows.length; index += ROWS_PER_STATEMENT) {
        const part = rows.slice(index, index + ROWS_PER_STATEMENT);
        const result = await trx
          .insertInto('usage_records')
          .values(part)
          .onConflict((conflict) => conflict.column('id').doNothing())
          .returning(['id', 'key_id', 'cost'])
          .execute();
        inserted.push(...result);
      }
      if (inserted.length === 0) return 0;
      const spendByKey = new Map<string, number>();
      for (const row of inserted) {
        const cost = row.cost === null ? 0 : Number(row.cost);
        if (cost > 0) spendByKey.set(row.key_id, (spendByKey.get(row.key_id) ?? 0) + cost);
      }
      // Static keys have no row here, so their updates touch nothing.
      for (const [keyId, cost] of spendByKey) {
        await trx
          .updateTable('virtual_keys')
          .set((eb) => ({ spend: eb('spend', '+', cost), total_spend: eb('total_spend', '+', cost) }))
          .where('id', '=', keyId)
          .execute();
      }
      // Only records whose call held budget have a reservation to release: skip the delete otherwise.
      const held = new Set(records.filter((record) => record.budgetHeld === true).map((record) => record.id));
      const ids = held.size === 0 ? [] : inserted.filter((row) => held.has(row.id)).map((row) => row.id);
      for (let index = 0; index < ids.length; index += ROWS_PER_STATEMENT) {
        await releaseReservations(trx, { ids: ids.slice(index, index + ROWS_PER_STATEMENT) });
      }
      return inserted.length;
    });
  }

  /** A cheap round trip: is the database answering? */
  async ping(): Promise<void> {
    await this.ready();
    await sql`select 1`.execute(this.db);
  }

  /** Sums by UTC day, model and key over [start, end). */
  async summarize(query: UsageQuery): Promise<UsageGroup[]> {
    await this.ready();
    let select = this.db
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
      // The day bounds let the (key_id, day) index narrow the scan; created_at makes it exact.
      .where('day', '>=', utcDay(query.start))
      .where('day', '<=', utcDay(Math.max(query.start, query.end - 1)))
      .where('created_at', '>=', query.start)
      .where('created_at', '<', query.end);
    if (query.keyId !== undefined) select = select.where('key_id', '=', query.keyId);
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
