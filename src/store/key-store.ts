// Virtual keys and budget reservations in the database. Queries are Kysely-built, so every value
// is a bound parameter. A budget reservation locks the key's row (PostgreSQL) or runs alone on the
// one connection (SQLite), which is what makes it exact when many requests race for one budget.
import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import type { Dialect, Schema, VirtualKeyTable } from './database.js';

export const BUDGET_PERIODS = ['daily', 'weekly', 'monthly'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface StoredKey {
  id: string;
  name: string | null;
  keyHash: string;
  prefix: string;
  models: string[] | null;
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxBudget: number | null;
  budgetPeriod: BudgetPeriod | null;
  budgetResetAt: number | null;
  /** Spend in the current period as stored (see currentSpend for a period that has ended). */
  spend: number;
  reserved: number;
  totalSpend: number;
  expiresAt: number | null;
  revokedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** What the admin API and the CLI may set; null clears a field, undefined leaves it. */
export interface KeySettings {
  name?: string | null;
  models?: string[] | null;
  rpmLimit?: number | null;
  tpmLimit?: number | null;
  maxBudget?: number | null;
  budgetPeriod?: BudgetPeriod | null;
  expiresAt?: number | null;
}

export interface NewKey extends KeySettings {
  id: string;
  keyHash: string;
  prefix: string;
}

export type BudgetRefusal = 'exhausted' | 'insufficient' | 'revoked' | 'missing';

/**
 * What one instance knows of a key that the database's figures do not show yet: the cost of its
 * finished calls whose usage rows have not landed, and the part of `reserved` that their holds
 * still take (budget-ledger.ts).
 */
export interface UnwrittenSpend {
  spend: number;
  held: number;
}

/** A key's budget row as an admitting check left it: what the ledger decides from if the database then goes away. */
export interface BudgetFigures {
  /** Stored spend of the current period (unwritten spend not added). */
  spend: number;
  /** Stored holds, this one included. */
  reserved: number;
  resetAt: number | null;
}

export type BudgetOutcome =
  | { admitted: true; figures?: BudgetFigures }
  | { admitted: false; reason: BudgetRefusal; spend: number; maxBudget: number; resetAt: number | null };

/** Float sums of prices are not exact; a budget is not refused for a rounding error. */
export const EPSILON_USD = 1e-9;

/** The end of the budget period that contains `now`, in UTC (weeks start on Monday). */
export function periodEnd(period: BudgetPeriod, now: number): number {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const day = date.getUTCDate();
  if (period === 'daily') return Date.UTC(year, month, day + 1);
  if (period === 'monthly') return Date.UTC(year, month + 1, 1);
  const weekday = date.getUTCDay();
  return Date.UTC(year, month, day + ((8 - weekday) % 7 || 7));
}

/** The start of the budget period that contains `now`, in UTC (the period periodEnd ends). */
export function periodStart(period: BudgetPeriod, now: number): number {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  if (period === 'monthly') return Date.UTC(year, month, 1);
  const day = Date.UTC(year, month, date.getUTCDate());
  // Weeks start on Monday (getUTCDay: 0 is Sunday).
  return period === 'daily' ? day : day - ((date.getUTCDay() + 6) % 7) * 86_400_000;
}

/** Spend that counts now: 0 once the period it was made in has ended. */
export function currentSpend(key: Pick<StoredKey, 'spend' | 'budgetPeriod' | 'budgetResetAt'>, now: number): number {
  if (key.budgetPeriod !== null && key.budgetResetAt !== null && now >= key.budgetResetAt) return 0;
  return key.spend;
}

/**
 * The key's allowlist; null (every model) only when the column is NULL. A value that is not a JSON
 * list (a damaged row, a hand edit) allows no model rather than every one: it fails closed.
 */
export function parseModels(raw: string | null): string[] | null {
  if (raw === null) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}

function isPeriod(value: string | null): value is BudgetPeriod {
  return value !== null && (BUDGET_PERIODS as readonly string[]).includes(value);
}

function toKey(row: VirtualKeyTable): StoredKey {
  const nullableNumber = (value: number | null) => (value === null ? null : Number(value));
  return {
    id: row.id,
    name: row.name,
    keyHash: row.key_hash,
    prefix: row.key_prefix,
    models: parseModels(row.models),
    rpmLimit: nullableNumber(row.rpm_limit),
    tpmLimit: nullableNumber(row.tpm_limit),
    maxBudget: nullableNumber(row.max_budget),
    budgetPeriod: isPeriod(row.budget_period) ? row.budget_period : null,
    budgetResetAt: nullableNumber(row.budget_reset_at),
    spend: Number(row.spend),
    reserved: Number(row.reserved),
    totalSpend: Number(row.total_spend),
    expiresAt: nullableNumber(row.expires_at),
    revokedAt: nullableNumber(row.revoked_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function settingsToColumns(settings: KeySettings, now: number): Partial<VirtualKeyTable> {
  const columns: Partial<VirtualKeyTable> = {};
  if (settings.name !== undefined) columns.name = settings.name;
  if (settings.models !== undefined) columns.models = settings.models === null ? null : JSON.stringify(settings.models);
  if (settings.rpmLimit !== undefined) columns.rpm_limit = settings.rpmLimit;
  if (settings.tpmLimit !== undefined) columns.tpm_limit = settings.tpmLimit;
  if (settings.maxBudget !== undefined) columns.max_budget = settings.maxBudget;
  if (settings.budgetPeriod !== undefined) {
    columns.budget_period = settings.budgetPeriod;
    columns.budget_reset_at = settings.budgetPeriod === null ? null : periodEnd(settings.budgetPeriod, now);
  }
  if (settings.expiresAt !== undefined) columns.expires_at = settings.expiresAt;
  return columns;
}

/** Now in epoch milliseconds by the database's clock (on SQLite, the one machine's). */
function databaseNow(dialect: Dialect) {
  return dialect === 'postgres' ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint` : sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;
}

/**
 * A change's `updated_at`: the database's time, so the other instances' poll (which keeps that
 * time) finds it whatever the writer's clock says; and always forward, even for two changes in one
 * millisecond or after one an earlier version wrote by a clock ahead, so pollers see each.
 */
function nextVersion(dialect: Dialect) {
  const now = databaseNow(dialect);
  return sql<number>`case when updated_at >= ${now} then updated_at + 1 else ${now} end`;
}

/**
 * Deletes the reservations that match `where`, in the caller's transaction, adds what they held
 * to `byKey` and returns how many there were. Each row is deleted once (DELETE … RETURNING), so two instances releasing the same
 * one cannot both refund it; the caller takes the amounts off the keys' `reserved`.
 */
export async function takeReservations(
  trx: Transaction<Schema>,
  where: { ids: readonly string[] } | { createdBefore: number },
  byKey: Map<string, number>,
): Promise<number> {
  let query = trx.deleteFrom('budget_reservations');
  query = 'ids' in where ? query.where('id', 'in', where.ids) : query.where('created_at', '<', where.createdBefore);
  const released = await query.returning(['key_id', 'amount']).execute();
  for (const row of released) byKey.set(row.key_id, (byKey.get(row.key_id) ?? 0) + Number(row.amount));
  return released.length;
}

/** `reserved` less a released amount, never below 0. */
export function lessReserved(amount: number) {
  return sql<number>`case when reserved > ${amount} then reserved - ${amount} else 0 end`;
}

/**
 * Keys in the order every transaction that changes several key rows locks them: the same order
 * everywhere, so two instances settling the same keys (or a settlement and the sweeper) never each
 * hold one row the other waits for (PostgreSQL: `deadlock detected`, the batch rolled back).
 */
export function lockOrder(keyIds: Iterable<string>): string[] {
  return [...keyIds].sort();
}

/** Gives back the reservations that match `where`, in the caller's transaction; returns how many. */
export async function releaseReservations(
  trx: Transaction<Schema>,
  where: { ids: readonly string[] } | { createdBefore: number },
): Promise<number> {
  const byKey = new Map<string, number>();
  const count = await takeReservations(trx, where, byKey);
  for (const keyId of lockOrder(byKey.keys())) {
    await trx
      .updateTable('virtual_keys')
      .set({ reserved: lessReserved(byKey.get(keyId) as number) })
      .where('id', '=', keyId)
      .execute();
  }
  return count;
}

export class KeyStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly dialect: Dialect,
    private readonly ready: () => Promise<void>,
  ) {}

  async insert(key: NewKey, now: number): Promise<StoredKey> {
    await this.ready();
    const row: Omit<VirtualKeyTable, 'updated_at'> = {
      id: key.id,
      name: null,
      key_hash: key.keyHash,
      key_prefix: key.prefix,
      models: null,
      rpm_limit: null,
      tpm_limit: null,
      max_budget: null,
      budget_period: null,
      budget_reset_at: null,
      spend: 0,
      reserved: 0,
      total_spend: 0,
      expires_at: null,
      revoked_at: null,
      created_at: now,
      ...settingsToColumns(key, now),
    };
    const inserted = await this.db
      .insertInto('virtual_keys')
      .values({ ...row, updated_at: databaseNow(this.dialect) })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toKey(inserted);
  }

  async findById(id: string): Promise<StoredKey | undefined> {
    await this.ready();
    const row = await this.db.selectFrom('virtual_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toKey(row);
  }

  async list(): Promise<StoredKey[]> {
    await this.ready();
    const rows = await this.db.selectFrom('virtual_keys').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toKey);
  }

  async update(id: string, settings: KeySettings, now: number): Promise<StoredKey | undefined> {
    await this.ready();
    const columns = settingsToColumns(settings, now);
    // A new period starts from now: the spend of one that has already ended (shown as 0, and reset
    // on the key's next request) must not be carried into it, or re-sending the key's own period
    // refused it until the next reset. The right side reads the row as it was before this update.
    const spend = settings.budgetPeriod === undefined ? {} : { spend: sql<number>`case when budget_period is not null and budget_reset_at <= ${now} then 0 else spend end` };
    await this.db
      .updateTable('virtual_keys')
      .set({ ...columns, ...spend, updated_at: nextVersion(this.dialect) })
      .where('id', '=', id)
      .execute();
    return this.findById(id);
  }

  /** Idempotent: a second revocation keeps the first time. */
  async revoke(id: string, now: number): Promise<StoredKey | undefined> {
    await this.ready();
    await this.db
      .updateTable('virtual_keys')
      .set({ revoked_at: sql<number>`coalesce(revoked_at, ${now})`, updated_at: nextVersion(this.dialect) })
      .where('id', '=', id)
      .execute();
    return this.findById(id);
  }

  /**
   * The database's clock, in epoch milliseconds: the poll's time line. Instances' own clocks may
   * disagree, and one running ahead must not move the poll past the changes of the others.
   */
  async clock(): Promise<number> {
    await this.ready();
    const { rows } = await sql<{ now: number | string }>`select ${databaseNow(this.dialect)} as now`.execute(this.db);
    return Number(rows[0]?.now);
  }

  /** Ids changed by an admin after `since` (the poll that backs up pub/sub invalidation). */
  async changedSince(since: number): Promise<Array<{ id: string; updatedAt: number }>> {
    await this.ready();
    const rows = await this.db.selectFrom('virtual_keys').select(['id', 'updated_at']).where('updated_at', '>', since).execute();
    return rows.map((row) => ({ id: row.id, updatedAt: Number(row.updated_at) }));
  }

  /**
   * Holds `amount` USD of the key's budget for one request, if it fits beside the settled spend
   * and every other hold; starts a new period first when the old one has ended. A key without
   * a budget is always admitted and nothing is held. `unwritten` is read once the key's row is
   * locked: a usage batch that settles this key commits either wholly before that (and has
   * already taken its records out of it) or after this transaction.
   */
  async reserveBudget(
    keyId: string,
    reservationId: string,
    amount: number,
    now: number,
    unwritten?: (keyId: string) => UnwrittenSpend | undefined,
  ): Promise<BudgetOutcome> {
    await this.ready();
    return this.db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('virtual_keys').selectAll().where('id', '=', keyId);
      if (this.dialect === 'postgres') query = query.forUpdate();
      const found = await query.executeTakeFirst();
      if (found === undefined) return { admitted: false, reason: 'missing', spend: 0, maxBudget: 0, resetAt: null };
      const key = toKey(found);
      const maxBudget = key.maxBudget ?? Number.POSITIVE_INFINITY;
      if (key.revokedAt !== null) return { admitted: false, reason: 'revoked', spend: key.spend, maxBudget, resetAt: key.budgetResetAt };
      let spend = key.spend;
      let resetAt = key.budgetResetAt;
      if (key.budgetPeriod !== null && (resetAt === null || now >= resetAt)) {
        spend = 0;
        resetAt = periodEnd(key.budgetPeriod, now);
        await trx.updateTable('virtual_keys').set({ spend: 0, budget_reset_at: resetAt }).where('id', '=', keyId).execute();
      }
      if (key.maxBudget === null) return { admitted: true };
      const stored = { spend, reserved: key.reserved, resetAt };
      let reserved = key.reserved;
      const pending = unwritten?.(keyId);
      if (pending !== undefined) {
        spend += pending.spend;
        // Never below 0: a hold the sweeper already gave back is not taken off twice.
        reserved = Math.max(0, reserved - pending.held);
      }
      const exhausted = spend + EPSILON_USD >= key.maxBudget;
      if (exhausted || spend + reserved + amount > key.maxBudget + EPSILON_USD) {
        return { admitted: false, reason: exhausted ? 'exhausted' : 'insufficient', spend, maxBudget: key.maxBudget, resetAt };
      }
      if (amount > 0) {
        await trx
          .updateTable('virtual_keys')
          .set((eb) => ({ reserved: eb('reserved', '+', amount) }))
          .where('id', '=', keyId)
          .execute();
        await trx.insertInto('budget_reservations').values({ id: reservationId, key_id: keyId, amount, created_at: now }).execute();
      }
      return { admitted: true, figures: { ...stored, reserved: stored.reserved + Math.max(0, amount) } };
    });
  }

  /** Gives a hold back without spending it (a request that ended without a usage record). */
  async releaseReservation(reservationId: string): Promise<number> {
    await this.ready();
    return this.db.transaction().execute((trx) => releaseReservations(trx, { ids: [reservationId] }));
  }

  /** Gives back holds older than `createdBefore`: those of instances that died mid-request. */
  async releaseStale(createdBefore: number): Promise<number> {
    await this.ready();
    return this.db.transaction().execute((trx) => releaseReservations(trx, { createdBefore }));
  }
}
