// Budgets: before a call, the most it can cost is held against the key's budget in the database
// (one row lock per key, so the hold is exact across instances); the usage record settles it with
// the real cost (usage-store.ts). If the database is away, holds are decided from the cached key
// in this instance alone until it is back, and the spend waits in the usage spool.
// Between the end of a call and the landing of its usage row (a batch a second, longer while the
// database is away), this instance counts the call at its real cost instead of its hold: see
// `settle` and the UsageWriteObserver methods.
import { permissionDenied, rateLimited, serviceUnavailable, type GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../logging/logger.js';
import { LRUCache } from 'lru-cache';
import { currentSpend, EPSILON_USD, type BudgetFigures, type BudgetOutcome, type KeyStore, type StoredKey, type UnwrittenSpend } from '../store/key-store.js';
import type { IdentifiedUsageRecord } from '../store/usage-store.js';
import type { UsageWriteObserver } from '../usage/batched-usage-writer.js';

/** Holds older than this belong to a request that can no longer settle them (its instance died). */
const STALE_HOLD_MS = 30 * 60_000;
const SWEEP_EVERY_MS = 60_000;
/** Given-back holds remembered for a retry while the database is away (a hold id is ~40 bytes). */
const MAX_PENDING_RELEASES = 10_000;
const PROBE_EVERY_MS = 1_000;
/**
 * Longest a request waits for the database to answer its hold (a healthy one takes milliseconds).
 * Holds on a key queue one behind the other, so a database taking 3 s a round trip (15 s a hold)
 * held every request of a budgeted key for 7 to 15 s; past this the hold is decided locally.
 */
export const HOLD_TIMEOUT_MS = 1_000;

class HoldTimeout extends Error {
  constructor() {
    super(`the database did not answer a budget hold within ${HOLD_TIMEOUT_MS} ms`);
  }
}

export type HoldMode = 'store' | 'local';

/** The part of the key store the ledger uses. */
export type BudgetStore = Pick<KeyStore, 'reserveBudget' | 'releaseReservation' | 'releaseStale'>;

function usd(amount: number): string {
  return `$${amount < 0.01 ? amount.toPrecision(2) : amount.toFixed(2)}`;
}

/** What a chat call can change to cost less; the budget refusal's default last sentence. */
export const CHAT_BUDGET_REMEDY = 'Lower max_tokens or shorten the prompt.';

/**
 * The error for a refused hold, worded so the client knows whether waiting helps. `remedy` ends the
 * refusal of a request dearer than what is left: what this kind of request can change to cost less.
 */
export function budgetRefusal(outcome: Exclude<BudgetOutcome, { admitted: true }>, amount: number, now: number, remedy = CHAT_BUDGET_REMEDY): GatewayError {
  const { reason, spend, maxBudget, resetAt } = outcome;
  if (reason === 'revoked') return permissionDenied('This API key has been revoked. Ask the administrator for a new key.', 'key_revoked');
  if (reason === 'missing') return permissionDenied('This API key no longer exists.', 'key_revoked');
  // A budget of 0 admits nothing in any period, so no reset helps: final, like one that never resets.
  // So does one within the store's 1e-9 USD tolerance (key-store.ts counts it spent at once).
  if (maxBudget <= EPSILON_USD) {
    const budget = maxBudget <= 0 ? '$0' : 'under $0.000000001';
    return permissionDenied(`This key's budget of ${budget}${resetAt === null ? '' : ' a period'} lets it spend nothing, and no reset changes that. Ask the administrator to raise its max_budget.`, 'budget_exceeded');
  }
  // Room left in the period, but the request is dearer than a whole period's budget: no reset makes
  // room for it, so it is final (a 429 sent the client back at the reset for the same refusal, and
  // SDKs retry 429s by themselves). A period already used up still says when it resets.
  if (reason === 'insufficient' && resetAt !== null && amount > maxBudget + EPSILON_USD) {
    return permissionDenied(`This request could cost up to ${usd(amount)}, more than this key's whole budget of ${usd(maxBudget)} a period, so no reset makes room for it. ${remedy}`, 'budget_exceeded');
  }
  const resets = resetAt === null ? '' : ` It resets at ${new Date(resetAt).toISOString()}.`;
  if (reason === 'exhausted' || spend + amount > maxBudget) {
    const message =
      reason === 'exhausted'
        ? `This key's budget of ${usd(maxBudget)} is used up (${usd(spend)} spent).${resets}`
        : `This request could cost up to ${usd(amount)}, more than the ${usd(Math.max(0, maxBudget - spend))} left of this key's budget of ${usd(maxBudget)}. ${remedy}${resets}`;
    // A budget that resets is a window, answered like a rate limit; one that never resets is final.
    return resetAt === null ? permissionDenied(message, 'budget_exceeded') : rateLimited(message, Math.max(1_000, resetAt - now), 'budget_exceeded');
  }
  return rateLimited(
    `Requests in flight hold the rest of this key's budget of ${usd(maxBudget)} (${usd(spend)} spent); this one could cost up to ${usd(amount)}. Retry when they finish.`,
    1_000,
    'budget_exceeded',
  );
}

/** A finished call whose usage row has not landed: what it cost, and what its database hold still takes. */
interface FinishedCall {
  keyId: string;
  cost: number;
  held: number;
  /** A transaction writing its row is about to commit: already taken off the key's figures here (see `landing`). */
  landing: boolean;
}

/**
 * Per key, what a local hold starts from: the figures of the last budget check the database
 * answered, and the cost of this instance's rows that landed since. The cached key record alone was
 * not enough: it is up to 30 s old when the database goes away, and the spend that landed in those
 * seconds was forgotten, so a key could overspend its budget by that much during an outage.
 */
interface KeyLanded {
  /** Cost of this instance's rows of the key written so far (only grows). */
  landed: number;
  /** Database holds those rows released. */
  released: number;
  /**
   * The database's figures, with `landed` when the check that gave them began and `released` when
   * its answer came: a row landing while the check is under way counts as not in its spend and as
   * not released from its holds, the safe side of both.
   */
  known?: BudgetFigures & { landedMark: number; releasedMark: number };
}

/** Keys whose landed spend is remembered; one evicted falls back to its cached record. */
const MAX_TRACKED_KEYS = 100_000;

export class BudgetLedger implements UsageWriteObserver {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly localHeld = new Map<string, number>();
  /** By usage record id (the hold id). */
  private readonly finished = new Map<string, FinishedCall>();
  private readonly unwritten = new Map<string, UnwrittenSpend>();
  // Bounded by size, one per key, not by `max`: lru-cache allocates `max` slots up front (15 ms and
  // 2.7 MB at every start for 100,000), while a size bound grows with the keys actually seen.
  private readonly landedByKey = new LRUCache<string, KeyLanded>({ maxSize: MAX_TRACKED_KEYS, sizeCalculation: () => 1 });
  private readonly unwrittenOf = (keyId: string): UnwrittenSpend | undefined => this.unwritten.get(keyId);
  private readonly storeBackListeners: Array<() => void> = [];
  /**
   * Database holds given back while the database did not answer: given back again when it does, so
   * a key is not refused for them (on every instance) until the stale-hold sweep, 30 minutes on.
   * Bounded: past MAX_PENDING_RELEASES the sweeper alone gives the rest back.
   */
  private readonly pendingReleases = new Set<string>();
  /** A hold that timed out is still running in the database: no other is tried until it ends (each takes a pooled connection). */
  private lateHold: Promise<unknown> | undefined;
  private storeDown = false;
  private probeAt = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: BudgetStore,
    /** The cached key record, for decisions while the database is away. */
    private readonly cachedKey: (keyId: string) => StoredKey | undefined,
    private readonly logger: Logger,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /**
   * Holds `amount` USD for one request, or throws the refusal (ending with `remedy`, see budgetRefusal).
   * Holds on one key go to the database one at a time from this instance: they would queue on the row
   * lock anyway, and a hot key then cannot take every pooled connection (whose wait timing out would
   * look like a database outage).
   */
  hold(keyId: string, holdId: string, amount: number, remedy = CHAT_BUDGET_REMEDY): Promise<HoldMode> {
    const previous = this.queues.get(keyId);
    const run = () => this.holdNow(keyId, holdId, amount, Date.now(), remedy);
    const current = previous === undefined ? run() : previous.then(run, run);
    const tail = current.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(keyId, tail);
    void tail.then(() => {
      if (this.queues.get(keyId) === tail) this.queues.delete(keyId);
    });
    return current;
  }

  private async holdNow(keyId: string, holdId: string, amount: number, now: number, remedy: string): Promise<HoldMode> {
    // While the database is known to be away, one request a second finds out whether it is back; the rest do not wait for it.
    if ((this.storeDown && now < this.probeAt) || this.lateHold !== undefined) {
      this.holdLocally(keyId, amount, now, remedy);
      return 'local';
    }
    // Rows landing while the check is under way may or may not be in its figures: counted as not (the safe side).
    const landedMark = this.landedByKey.get(keyId)?.landed ?? 0;
    let outcome = await this.reserveInStore(keyId, holdId, amount, now);
    const releasing = outcome === undefined ? undefined : this.markStore(true);
    // The first check the database answers after an outage still counts the holds given back during
    // it: once those are given back there, a refusal is asked again (only on this recovery path).
    if (outcome !== undefined && !outcome.admitted && releasing !== undefined) {
      // Bounded as a hold is: a database that hangs now leaves this request to the refusal it got.
      if (!(await settledWithin(releasing, HOLD_TIMEOUT_MS))) throw budgetRefusal(outcome, amount, now, remedy);
      outcome = await this.reserveInStore(keyId, holdId, amount, now);
    }
    if (outcome === undefined) {
      this.holdLocally(keyId, amount, now, remedy);
      return 'local';
    }
    if (!outcome.admitted) throw budgetRefusal(outcome, amount, now, remedy);
    if (outcome.figures !== undefined) {
      const entry = this.landedByKey.get(keyId) ?? { landed: 0, released: 0 };
      entry.known = { ...outcome.figures, landedMark, releasedMark: entry.released };
      this.landedByKey.set(keyId, entry);
    }
    return 'store';
  }

  /** The database's answer to a hold, or undefined when it failed or was too slow (marked away, probed again in a second). */
  private async reserveInStore(keyId: string, holdId: string, amount: number, now: number): Promise<BudgetOutcome | undefined> {
    try {
      return await this.withinTimeout(this.store.reserveBudget(keyId, holdId, amount, now, this.unwrittenOf), holdId);
    } catch (error) {
      this.probeAt = Date.now() + PROBE_EVERY_MS;
      this.markStore(false, error);
      return undefined;
    }
  }

  /** The store's answer, or HoldTimeout; a hold the database makes after that is given back at once. */
  private withinTimeout(reserving: Promise<BudgetOutcome>, holdId: string): Promise<BudgetOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const late = reserving.then(
          // Never in this instance's figures (its answer came too late): only the database has it.
          (outcome) => (outcome.admitted ? this.releaseInStore(holdId) : undefined),
          () => undefined,
        );
        this.lateHold = late;
        void late.then(() => {
          if (this.lateHold === late) this.lateHold = undefined;
        });
        reject(new HoldTimeout());
      }, HOLD_TIMEOUT_MS);
      timer.unref();
    });
    return Promise.race([reserving, timeout]).finally(() => clearTimeout(timer));
  }

  private holdLocally(keyId: string, amount: number, now: number, remedy: string): void {
    const key = this.cachedKey(keyId);
    if (key === undefined) throw serviceUnavailable('The budget of this key cannot be checked right now. Retry shortly.', 'auth_unavailable', 1_000);
    if (key.maxBudget === null) return;
    // Conservative: the holds the database had at its last answer still count, and so does every
    // cost written since (its figures predate it), and every cost not written yet.
    const unwritten = this.unwritten.get(keyId);
    const tracked = this.landedByKey.get(keyId);
    const known = tracked?.known;
    const landedSince = (tracked?.landed ?? 0) - (known?.landedMark ?? 0);
    // A period that ended since the database's answer starts again from 0 (rows landed since still count: the safe side).
    const cachedSpend = currentSpend(key, now);
    const base = known === undefined ? cachedSpend : key.budgetPeriod !== null && known.resetAt !== null && now >= known.resetAt ? 0 : known.spend;
    // Each is a floor of the real spend; the cached record can be the newer (the database's last
    // answer to this instance may be an hour old, and other instances' spend since is in the record).
    const spend = Math.max(base + landedSince, cachedSpend) + (unwritten === undefined ? 0 : unwritten.spend);
    // Holds on one key go to the database one at a time from here, so its last answer counts every
    // hold of this instance; those released since by landed rows are gone.
    const reserved = known === undefined ? key.reserved : Math.max(0, known.reserved - ((tracked?.released ?? 0) - known.releasedMark));
    const held = reserved + (this.localHeld.get(keyId) ?? 0);
    if (spend + held + amount > key.maxBudget + EPSILON_USD || spend >= key.maxBudget) {
      const resetAt = key.budgetPeriod === null ? null : key.budgetResetAt;
      throw budgetRefusal({ admitted: false, reason: spend >= key.maxBudget ? 'exhausted' : 'insufficient', spend, maxBudget: key.maxBudget, resetAt }, amount, now, remedy);
    }
    this.localHeld.set(keyId, (this.localHeld.get(keyId) ?? 0) + amount);
  }

  /**
   * Ends a finished call's hold in this instance at once: from now on it counts at its real `cost`
   * until its usage record (id `holdId`) lands. A database hold stays in the database until then:
   * this instance takes it off the database's `reserved` when it checks a budget; other instances
   * still see the whole hold for that second, which can only make them refuse early, never
   * overspend. Shrinking the row to the real cost here would be one more write and row lock per
   * call on the key's hottest row, the cost the batched usage writer exists to avoid.
   * `cost` 0 with no record to come gives a hold back (a local one; a database one goes by `release`).
   */
  settle(keyId: string, holdId: string, mode: HoldMode, amount: number, cost: number): void {
    if (mode === 'local') {
      const held = (this.localHeld.get(keyId) ?? 0) - amount;
      if (held > 1e-12) this.localHeld.set(keyId, held);
      else this.localHeld.delete(keyId);
    }
    const call: FinishedCall = { keyId, cost: cost > 0 ? cost : 0, held: mode === 'store' ? amount : 0, landing: false };
    if (call.cost === 0 && call.held === 0) return;
    this.finished.set(holdId, call);
    this.count(call, 1);
  }

  /** Adds (`sign` 1) or takes off (-1) a finished call from its key's unwritten figures. */
  private count(call: FinishedCall, sign: 1 | -1): void {
    let figures = this.unwritten.get(call.keyId);
    if (figures === undefined) {
      figures = { spend: 0, held: 0 };
      this.unwritten.set(call.keyId, figures);
    }
    figures.spend += sign * call.cost;
    figures.held += sign * call.held;
    // Float sums drift: what is left of a key's last call is 0.
    if (figures.spend < 1e-12) figures.spend = 0;
    if (figures.held < 1e-12) figures.held = 0;
    if (figures.spend === 0 && figures.held === 0) this.unwritten.delete(call.keyId);
  }

  /**
   * Inside the transaction that writes these records, after it has added their cost to the keys'
   * spend and released their holds: a budget check on those keys waits for that transaction (the
   * key's row lock on PostgreSQL, the one connection on SQLite), so it reads either the old figures
   * and these calls from here, or the new figures without them. After the commit would be too late:
   * a check could read the new figures and these calls too, and count the holds as freed twice.
   */
  landing(records: readonly IdentifiedUsageRecord[]): void {
    for (const record of records) {
      const call = this.finished.get(record.id);
      if (call === undefined || call.landing) continue;
      call.landing = true;
      this.count(call, -1);
      this.addLanded(call, 1);
    }
  }

  /** A failed commit puts the calls back: their rows are not in the database after all. */
  landed(records: readonly IdentifiedUsageRecord[], committed: boolean): void {
    for (const record of records) {
      const call = this.finished.get(record.id);
      if (call === undefined || !call.landing) continue;
      if (committed) {
        this.finished.delete(record.id);
      } else {
        call.landing = false;
        this.count(call, 1);
        this.addLanded(call, -1);
      }
    }
  }

  private addLanded(call: FinishedCall, sign: 1 | -1): void {
    if (call.cost === 0 && call.held === 0) return;
    const entry = this.landedByKey.get(call.keyId) ?? { landed: 0, released: 0 };
    entry.landed += sign * call.cost;
    entry.released += sign * call.held;
    this.landedByKey.set(call.keyId, entry);
  }

  /**
   * Records of calls another ledger saw (the spool files of the last run): their cost counts until
   * their rows land, as this instance's own calls do, so a restart during an outage does not forget
   * spend the database has not got. Their database holds
   * are not known here and stay counted in the database's `reserved` (the safe side).
   */
  adopted(records: readonly IdentifiedUsageRecord[]): void {
    for (const record of records) {
      const cost = record.cost;
      if (typeof record.keyId !== 'string' || typeof cost !== 'number' || !Number.isFinite(cost) || cost <= 0 || this.finished.has(record.id)) continue;
      const call: FinishedCall = { keyId: record.keyId, cost, held: 0, landing: false };
      this.finished.set(record.id, call);
      this.count(call, 1);
    }
  }

  /** Records the writer dropped: their spend never reaches the database, and a database hold goes back with the sweeper. */
  lost(records: readonly IdentifiedUsageRecord[]): void {
    for (const record of records) {
      const call = this.finished.get(record.id);
      if (call === undefined) continue;
      this.finished.delete(record.id);
      if (!call.landing) this.count(call, -1);
    }
  }

  /** Called when the database answers a budget check again after failing (the usage writer retries then). */
  onStoreBack(listener: () => void): void {
    this.storeBackListeners.push(listener);
  }

  /**
   * Gives a database hold of `amount` on `keyId` back unspent (a request that ended without a usage
   * record). It leaves this instance's figures at once: during an outage the database's last answer
   * still counts it, and a key with budget left was refused until the database was back.
   */
  async release(holdId: string, keyId: string, amount: number): Promise<void> {
    this.addReleased(keyId, amount);
    await this.releaseInStore(holdId);
  }

  /** Counted like the holds landed rows release: a budget check answered after this does not subtract it again (see KeyLanded). */
  private addReleased(keyId: string, amount: number): void {
    if (amount <= 0) return;
    const entry = this.landedByKey.get(keyId) ?? { landed: 0, released: 0 };
    entry.released += amount;
    this.landedByKey.set(keyId, entry);
  }

  private async releaseInStore(holdId: string): Promise<void> {
    try {
      await this.store.releaseReservation(holdId);
      this.pendingReleases.delete(holdId);
    } catch {
      // Tried again when the database answers a budget check; the sweeper is the last resort.
      if (this.pendingReleases.size < MAX_PENDING_RELEASES) this.pendingReleases.add(holdId);
    }
  }

  async sweep(now = Date.now()): Promise<number> {
    try {
      const released = await this.store.releaseStale(now - STALE_HOLD_MS);
      if (released > 0) this.logger.warn({ component: 'budget', released }, 'stale budget holds released (an instance stopped mid-request)');
      return released;
    } catch {
      return 0;
    }
  }

  /** On the database's return: the releases retried then, when there were any (see holdNow). */
  private markStore(up: boolean, error?: unknown): Promise<unknown> | undefined {
    if (up === !this.storeDown) return undefined;
    this.storeDown = !up;
    if (up) {
      // Spend still in the spool keeps counting (per record, until it lands); what has landed is in the figures the database now gives.
      this.logger.info({ component: 'budget' }, 'budget holds back in the database');
      const releases = [...this.pendingReleases].map((holdId) => this.releaseInStore(holdId));
      for (const listener of this.storeBackListeners) listener();
      return releases.length > 0 ? Promise.all(releases) : undefined;
    } else {
      this.logger.warn({ component: 'budget', err: error instanceof Error ? error.message : String(error) }, 'database unavailable: budgets held per instance from cached keys');
    }
    return undefined;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/** Whether `work` settled within `ms`. */
function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  return Promise.race([work.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}
