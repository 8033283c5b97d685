// Budgets: before a call, the most it can cost is held against the key's budget in the database
// (one row lock per key, so the hold is exact across instances); the usage record settles it with
// the real cost (usage-store.ts). If the database is away, holds are decided from the cached key
// in this instance alone until it is back, and the spend waits in the usage spool.
import { permissionDenied, rateLimited, serviceUnavailable, type GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../logging/logger.js';
import { currentSpend, type BudgetOutcome, type KeyStore, type StoredKey } from '../store/key-store.js';

/** Holds older than this belong to a request that can no longer settle them (its instance died). */
const STALE_HOLD_MS = 30 * 60_000;
const SWEEP_EVERY_MS = 60_000;
const PROBE_EVERY_MS = 1_000;

export type HoldMode = 'store' | 'local';

function usd(amount: number): string {
  return `$${amount < 0.01 ? amount.toPrecision(2) : amount.toFixed(2)}`;
}

/** The error for a refused hold, worded so the client knows whether waiting helps. */
export function budgetRefusal(outcome: Exclude<BudgetOutcome, { admitted: true }>, amount: number, now: number): GatewayError {
  const { reason, spend, maxBudget, resetAt } = outcome;
  if (reason === 'revoked') return permissionDenied('This API key has been revoked. Ask the administrator for a new key.', 'key_revoked');
  if (reason === 'missing') return permissionDenied('This API key no longer exists.', 'key_revoked');
  const resets = resetAt === null ? '' : ` It resets at ${new Date(resetAt).toISOString()}.`;
  if (reason === 'exhausted' || spend + amount > maxBudget) {
    const message =
      reason === 'exhausted'
        ? `This key's budget of ${usd(maxBudget)} is used up (${usd(spend)} spent).${resets}`
        : `This request could cost up to ${usd(amount)}, more than the ${usd(Math.max(0, maxBudget - spend))} left of this key's budget of ${usd(maxBudget)}. Lower max_tokens or shorten the prompt.${resets}`;
    // A budget that resets is a window, answered like a rate limit; one that never resets is final.
    return resetAt === null ? permissionDenied(message, 'budget_exceeded') : rateLimited(message, Math.max(1_000, resetAt - now), 'budget_exceeded');
  }
  return rateLimited(
    `Requests in flight hold the rest of this key's budget of ${usd(maxBudget)} (${usd(spend)} spent); this one could cost up to ${usd(amount)}. Retry when they finish.`,
    1_000,
    'budget_exceeded',
  );
}

export class BudgetLedger {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly localHeld = new Map<string, number>();
  private readonly localSpent = new Map<string, number>();
  private storeDown = false;
  private probeAt = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: KeyStore,
    /** The cached key record, for decisions while the database is away. */
    private readonly cachedKey: (keyId: string) => StoredKey | undefined,
    private readonly logger: Logger,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /**
   * Holds `amount` USD for one request, or throws the refusal. Holds on one key go to the database
   * one at a time from this instance: they would queue on the row lock anyway, and a hot key then
   * cannot take every pooled connection (whose wait timing out would look like a database outage).
   */
  hold(keyId: string, holdId: string, amount: number): Promise<HoldMode> {
    const previous = this.queues.get(keyId);
    const run = () => this.holdNow(keyId, holdId, amount, Date.now());
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

  private async holdNow(keyId: string, holdId: string, amount: number, now: number): Promise<HoldMode> {
    // While the database is known to be away, one request a second finds out whether it is back; the rest do not wait for it.
    if (this.storeDown && now < this.probeAt) {
      this.holdLocally(keyId, amount, now);
      return 'local';
    }
    let outcome: BudgetOutcome;
    try {
      outcome = await this.store.reserveBudget(keyId, holdId, amount, now);
    } catch (error) {
      this.probeAt = Date.now() + PROBE_EVERY_MS;
      this.markStore(false, error);
      this.holdLocally(keyId, amount, now);
      return 'local';
    }
    this.markStore(true);
    if (!outcome.admitted) throw budgetRefusal(outcome, amount, now);
    return 'store';
  }

  private holdLocally(keyId: string, amount: number, now: number): void {
    const key = this.cachedKey(keyId);
    if (key === undefined) throw serviceUnavailable('The budget of this key cannot be checked right now. Retry shortly.', 'auth_unavailable', 1_000);
    if (key.maxBudget === null) return;
    // Conservative: the holds the database had when the key was cached still count.
    const spend = currentSpend(key, now) + (this.localSpent.get(keyId) ?? 0);
    const held = key.reserved + (this.localHeld.get(keyId) ?? 0);
    if (spend + held + amount > key.maxBudget + 1e-9 || spend >= key.maxBudget) {
      const resetAt = key.budgetPeriod === null ? null : key.budgetResetAt;
      throw budgetRefusal({ admitted: false, reason: spend >= key.maxBudget ? 'exhausted' : 'insufficient', spend, maxBudget: key.maxBudget, resetAt }, amount, now);
    }
    this.localHeld.set(keyId, (this.localHeld.get(keyId) ?? 0) + amount);
  }

  /** Ends a hold taken while the database was away; its cost reaches the database with the usage spool. */
  settleLocal(keyId: string, amount: number, cost: number): void {
    const held = (this.localHeld.get(keyId) ?? 0) - amount;
    if (held > 1e-12) this.localHeld.set(keyId, held);
    else this.localHeld.delete(keyId);
    if (cost > 0) this.localSpent.set(keyId, (this.localSpent.get(keyId) ?? 0) + cost);
  }

  /** Gives a database hold back unspent (a request that ended without a usage record). */
  async release(holdId: string): Promise<void> {
    try {
      await this.store.releaseReservation(holdId);
    } catch {
      // The sweeper gives it back later.
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

  private markStore(up: boolean, error?: unknown): void {
    if (up === !this.storeDown) return;
    this.storeDown = !up;
    if (up) {
      // The spool carries what was spent meanwhile; the cache refresh brings the database's figure.
      this.localSpent.clear();
      this.logger.info({ component: 'budget' }, 'budget holds back in the database');
    } else {
      this.logger.warn({ component: 'budget', err: error instanceof Error ? error.message : String(error) }, 'database unavailable: budgets held per instance from cached keys');
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
