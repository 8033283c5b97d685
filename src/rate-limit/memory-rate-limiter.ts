// Per-key request and token limits in this process: a sliding-window counter (the current
// minute plus the previous minute weighted by overlap), O(1) per check, no timers per key.

/** Where a reservation was counted: what its settlement needs. */
export interface Reservation {
  /**
   * Start (ms) of the window the request was counted in (asked in, if refused). A reservation
   * settles against it: the limiter's clock may not be the caller's (Redis's), and the window may
   * have moved on by the time the call ends.
   */
  windowStart: number;
  /**
   * Set when a limiter's fallback counted it (Redis or the cluster primary away): the fallback's own
   * reservation. Its settlement goes to that counter, whichever is reachable by then; sent to the
   * shared one, it corrected a count that never held it while the fallback's kept it all.
   */
  fallback?: Reservation;
  /**
   * Cost the counter did not take (a fallback counting a share of the limit smaller than the cost):
   * a settlement's delta is relative to the whole cost, so this is added back to it.
   */
  uncounted?: number;
}

export interface RateLimitDecision extends Reservation {
  allowed: boolean;
  limit: number;
  remaining: number;
  /**
   * Milliseconds until, with no other traffic, the request would fit (refused), or one unit more
   * than `remaining` would (admitted; with `remaining` 0, the next request of cost 1). See msUntilFits.
   */
  resetMs: number;
}

export interface RateLimiter {
  /** Counts `cost` against `key` if it fits under `limit` per window (a promise for shared backends). */
  consume(key: string, limit: number, cost: number, now: number): RateLimitDecision | Promise<RateLimitDecision>;
  /**
   * Corrects a reservation (its decision) by `delta` (negative gives back), never below 0, in the
   * counter and window it was counted in: the current window, or the previous one once the counter
   * has moved on; a window older than that no longer counts and is left alone.
   */
  adjust(key: string, delta: number, reservation: Reservation): void | Promise<void>;
  /**
   * Raises `key`'s counts to at least `current` (window starting at `windowStart`) and `previous`:
   * where a fallback counter starts when the shared one goes away. Optional: a limiter that cannot
   * take it (a cluster worker's, counted by its primary) starts from what it has.
   */
  seed?(key: string, windowStart: number, current: number, previous: number): void;
}

/** `decision`, made by a limiter's fallback, as that limiter returns it: marked to be settled there. */
export function countedByFallback(decision: RateLimitDecision): RateLimitDecision {
  const reservation: Reservation = decision.fallback === undefined ? { windowStart: decision.windowStart } : { windowStart: decision.windowStart, fallback: decision.fallback };
  return { ...decision, fallback: reservation };
}

/**
 * Milliseconds from now until `need` units would fit in a window of `limit` per `windowMs`, with no
 * other traffic, given the previous and current windows' counts and `elapsed` ms into the current
 * one; 0 if they fit now. Exact to the ms for whole counts (compared in integers, as consume does):
 * a request then is admitted, one a ms earlier is not. Mirrored line for line in the Redis script.
 */
export function msUntilFits(previous: number, current: number, elapsed: number, limit: number, need: number, windowMs: number): number {
  // It never fits: the end of this window, as before this was computed, rather than never.
  if (need > limit) return windowMs - elapsed;
  if (current + need <= limit) {
    // In this window, once the previous one weighs no more than the room left:
    // previous × (W − elapsed − t) ≤ room × W.
    const room = (limit - current - need) * windowMs;
    if (previous * (windowMs - elapsed) <= room) return 0;
    return windowMs - elapsed - Math.floor(room / previous);
  }
  // Only in the next window, where this one's count is the previous: current × (W − t′) ≤ (limit − need) × W.
  return windowMs - elapsed + windowMs - Math.floor(((limit - need) * windowMs) / current);
}

interface Counter {
  windowStart: number;
  current: number;
  previous: number;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly counters = new Map<string, Counter>();

  constructor(private readonly windowMs = 60_000) {}

  consume(key: string, limit: number, cost: number, now: number): RateLimitDecision {
    const windowStart = now - (now % this.windowMs);
    // Read as of this window but written only when admitted, as the Redis script does: a refusal that
    // moved the counter into a new window sent a later settlement of the last window's reservation
    // to the new one (a give-back there was lost at 0, and the old count kept weighing).
    const counter = this.counters.get(key);
    let previous = 0;
    let current = 0;
    if (counter !== undefined) {
      if (counter.windowStart === windowStart) {
        previous = counter.previous;
        current = counter.current;
      } else if (windowStart - counter.windowStart === this.windowMs) previous = counter.current;
    }
    const windowMs = this.windowMs;
    const elapsed = now - windowStart;
    // The used count times the window, in integers: the previous window weighs previous × (W − elapsed) / W,
    // not rounded (a floor let one request more through at every window boundary). Unscaled, float
    // rounding refused some exact fits (180 + 411 × (1 − 20/60) > 454), later than msUntilFits says.
    const scaledUsed = current * windowMs + previous * (windowMs - elapsed);
    if (scaledUsed + cost * windowMs > limit * windowMs) {
      const remaining = Math.max(0, Math.floor((limit * windowMs - scaledUsed) / windowMs));
      return { allowed: false, limit, remaining, resetMs: msUntilFits(previous, current, elapsed, limit, cost, windowMs), windowStart };
    }
    current += cost;
    if (counter === undefined) this.counters.set(key, { windowStart, current, previous });
    else {
      counter.windowStart = windowStart;
      counter.previous = previous;
      counter.current = current;
    }
    const remaining = Math.max(0, Math.floor((limit * windowMs - scaledUsed - cost * windowMs) / windowMs));
    const resetMs = msUntilFits(previous, current, elapsed, limit, Math.min(remaining + 1, limit), windowMs);
    return { allowed: true, limit, remaining, resetMs, windowStart };
  }

  adjust(key: string, delta: number, reservation: Reservation): void {
    const counter = this.counters.get(key);
    if (counter === undefined) return;
    const windowStart = reservation.windowStart;
    // Not the counter's window as of now: a call that spanned a boundary, where another call has
    // rolled the counter, gave its refund to the new minute (lost at 0) while the old one kept it all.
    if (counter.windowStart === windowStart) counter.current = Math.max(0, counter.current + delta);
    else if (counter.windowStart - windowStart === this.windowMs) counter.previous = Math.max(0, counter.previous + delta);
  }

  seed(key: string, windowStart: number, current: number, previous: number): void {
    const counter = this.counters.get(key);
    if (counter === undefined || counter.windowStart < windowStart - this.windowMs) {
      this.counters.set(key, { windowStart, current, previous });
      return;
    }
    if (counter.windowStart > windowStart) {
      // This counter has moved on a window (clocks a little apart): the seeded minute is its previous.
      if (counter.windowStart - windowStart === this.windowMs) counter.previous = Math.max(counter.previous, current);
      return;
    }
    if (counter.windowStart < windowStart) {
      counter.previous = counter.current;
      counter.current = 0;
      counter.windowStart = windowStart;
    }
    counter.current = Math.max(counter.current, current);
    counter.previous = Math.max(counter.previous, previous);
  }

  /** Drops counters idle for two windows; called from a background timer. */
  prune(now: number): void {
    for (const [key, counter] of this.counters) if (now - counter.windowStart > 2 * this.windowMs) this.counters.delete(key);
  }
}
