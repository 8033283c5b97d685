// Per-key request and token limits in this process: a sliding-window counter (the current
// minute plus the previous minute weighted by overlap), O(1) per check, no timers per key.

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the current window ends. */
  resetMs: number;
}

export interface RateLimiter {
  /** Counts `cost` against `key` if it fits under `limit` per window (a promise for shared backends). */
  consume(key: string, limit: number, cost: number, now: number): RateLimitDecision | Promise<RateLimitDecision>;
  /** Corrects the current window by `delta` (negative gives back), never below 0: settles a reservation. */
  adjust(key: string, delta: number, now: number): void | Promise<void>;
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
    let counter = this.counters.get(key);
    if (counter === undefined) {
      counter = { windowStart, current: 0, previous: 0 };
      this.counters.set(key, counter);
    } else if (counter.windowStart !== windowStart) {
      counter.previous = windowStart - counter.windowStart === this.windowMs ? counter.current : 0;
      counter.current = 0;
      counter.windowStart = windowStart;
    }
    const overlap = 1 - (now - windowStart) / this.windowMs;
    // Not rounded down: a floor here let one request more through at every window boundary (60
    // counted just before it weighed 59.99…, floored to 59).
    const used = counter.current + counter.previous * overlap;
    const resetMs = windowStart + this.windowMs - now;
    if (used + cost > limit) return { allowed: false, limit, remaining: Math.max(0, Math.floor(limit - used)), resetMs };
    counter.current += cost;
    return { allowed: true, limit, remaining: Math.max(0, Math.floor(limit - used - cost)), resetMs };
  }

  adjust(key: string, delta: number, now: number): void {
    const counter = this.counters.get(key);
    // The counter's own window is the one the reservation went into, unless it is older than the last one.
    if (counter === undefined || now - (now % this.windowMs) - counter.windowStart > this.windowMs) return;
    counter.current = Math.max(0, counter.current + delta);
  }

  /** Drops counters idle for two windows; called from a background timer. */
  prune(now: number): void {
    for (const [key, counter] of this.counters) if (now - counter.windowStart > 2 * this.windowMs) this.counters.delete(key);
  }
}
