// Per-key limits shared by every instance: the memory limiter's sliding window (this minute plus
// the last one weighted by overlap), run as one Lua script per check, so a check is one atomic
// round trip, with Redis's clock for every instance. When Redis is away (the shared connection's
// breaker is open, or a call fails) each instance falls back to its own memory limiter at its share
// of the limit (limit ÷ the instances last counted in Redis, see instance-registry.ts), so the
// fleet admits about the limit, not N times it. What an instance admitted alone is added to Redis
// on the key's first check once it is back, so Redis does not grant its remainder on top. A
// reservation is settled in the counter that made it, whether Redis is reachable by then or not.
import type { Logger } from '../logging/logger.js';
import { RedisScript, type LateOutcome, type RedisConnection } from '../store/redis-connection.js';
import { instanceShare, type InstanceCount } from './instance-registry.js';
import { countedByFallback, type RateLimitDecision, type RateLimiter, type Reservation } from './memory-rate-limiter.js';

/**
 * KEYS[1]: the counter hash. ARGV: limit, cost (or delta), window ms, mode, then for 'consume'
 * now (ms; empty or absent: Redis's clock) and optionally what an instance admitted alone while
 * Redis was away (window start, that window's count, the one before's), added before deciding, and
 * for 'adjust' the reservation's window start. 'consume' returns {allowed, remaining, resetMs,
 * windowStart, current, previous} (the counts after it). The arithmetic is the memory limiter's,
 * operation for operation (both are IEEE doubles), so the two decide and wait alike.
 */
const SLIDING_WINDOW = new RedisScript(`
local windowMs = tonumber(ARGV[3])
local stored = redis.call('HMGET', KEYS[1], 'ws', 'cur', 'prev')
local ws = tonumber(stored[1])
local cur = tonumber(stored[2]) or 0
local prev = tonumber(stored[3]) or 0
if ARGV[4] == 'adjust' then
  -- MemoryRateLimiter.adjust: the reservation's window, current or previous; no clock needed.
  local reserved = tonumber(ARGV[5])
  if ws == nil then return 0 end
  if ws == reserved then
    redis.call('HSET', KEYS[1], 'cur', math.max(0, cur + tonumber(ARGV[2])))
  elseif ws - reserved == windowMs then
    redis.call('HSET', KEYS[1], 'prev', math.max(0, prev + tonumber(ARGV[2])))
  end
  return 0
end
local now = tonumber(ARGV[5])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local windowStart = now - (now % windowMs)
if ws == nil then
  cur = 0
  prev = 0
elseif ws ~= windowStart then
  if windowStart - ws == windowMs then prev = cur else prev = 0 end
  cur = 0
end
local carried = ARGV[6] ~= nil
if carried then
  -- Another clock's window: one a minute behind is this one's previous; older ones no longer weigh.
  local carriedStart = tonumber(ARGV[6])
  -- A carry can be negative (a check counted here twice, taken back): never below 0.
  if carriedStart == windowStart then
    cur = math.max(0, cur + tonumber(ARGV[7]))
    prev = math.max(0, prev + tonumber(ARGV[8]))
  elseif windowStart - carriedStart == windowMs then
    prev = math.max(0, prev + tonumber(ARGV[7]))
  end
end
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local elapsed = now - windowStart
-- msUntilFits in memory-rate-limiter.ts
local function untilFits(current, need)
  if need > limit then return windowMs - elapsed end
  if current + need <= limit then
    local room = (limit - current - need) * windowMs
    if prev * (windowMs - elapsed) <= room then return 0 end
    return windowMs - elapsed - math.floor(room / prev)
  end
  return windowMs - elapsed + windowMs - math.floor(((limit - need) * windowMs) / current)
end
local scaledUsed = cur * windowMs + prev * (windowMs - elapsed)
if scaledUsed + cost * windowMs > limit * windowMs then
  if carried then
    redis.call('HSET', KEYS[1], 'ws', windowStart, 'cur', cur, 'prev', prev)
    redis.call('PEXPIRE', KEYS[1], windowMs * 2)
  end
  return {0, math.max(0, math.floor((limit * windowMs - scaledUsed) / windowMs)), untilFits(cur, cost), windowStart, cur, prev}
end
redis.call('HSET', KEYS[1], 'ws', windowStart, 'cur', cur + cost, 'prev', prev)
redis.call('PEXPIRE', KEYS[1], windowMs * 2)
local remaining = math.max(0, math.floor((limit * windowMs - scaledUsed - cost * windowMs) / windowMs))
return {1, remaining, untilFits(cur + cost, math.min(remaining + 1, limit)), windowStart, cur + cost, prev}
`);

/** A key's counts in a window and the one before it. */
interface Counts {
  windowStart: number;
  current: number;
  previous: number;
}

/**
 * Adds `count` to `counts`' window `windowStart` (moving on to it if later). A count owed to Redis
 * may go below 0: a check Redis ran after it timed out is taken back from there by the next carry
 * (which the script keeps at 0 or more).
 */
function addTo(counts: Counts, windowStart: number, count: number, windowMs: number): void {
  if (windowStart === counts.windowStart) counts.current += count;
  else if (counts.windowStart - windowStart === windowMs) counts.previous += count;
  else if (windowStart > counts.windowStart) {
    counts.previous = windowStart - counts.windowStart === windowMs ? counts.current : 0;
    counts.current = count;
    counts.windowStart = windowStart;
  }
}

function isReply(reply: unknown): reply is [number, number, number, number, number, number] {
  return Array.isArray(reply) && reply.length === 6 && reply.every((item) => typeof item === 'number');
}

export class RedisRateLimiter implements RateLimiter {
  /**
   * Checks Redis answered with an error while reachable (full under noeviction: OOM, a read-only
   * replica): the breaker stays closed, since reads in between succeed, so without this line limits
   * went per instance with nothing in the log. Once per run of failures, and once when it ends.
   */
  private failing = false;
  /**
   * Per key, the counts of the last check Redis answered (updated in place). When Redis goes away the
   * local counter starts from this instance's share of them, not from zero: starting from zero let a
   * key have up to 2x its limit in the minute Redis went away (Redis's minute, then each share afresh).
   * Taken once per outage, then dropped; pruned with the local counters.
   */
  private readonly seen = new Map<string, Counts>();
  /**
   * Per key, what this instance admitted on its own while Redis was away (less refunds settled
   * since), by its window: added to Redis's counts in the key's first check after Redis is back, so
   * the fleet's outage admissions weigh there too instead of Redis allowing its remainder on top.
   * Empty while Redis is up: the hot path then pays one size check.
   */
  private readonly owed = new Map<string, Counts>();

  constructor(
    private readonly redis: RedisConnection,
    /** Used while Redis is away; the same algorithm, counted by this instance alone. */
    private readonly local: RateLimiter,
    private readonly prefix: string,
    private readonly windowMs = 60_000,
    /** Whose clock places a check in its window: Redis's, shared by every instance; 'caller' (tests) uses the `now` passed in. */
    private readonly clock: 'redis' | 'caller' = 'redis',
    private readonly logger?: Logger,
    /** How many instances share this Redis (a fallback check admits the limit ÷ that); 1 when not given. */
    private readonly fleet?: InstanceCount,
  ) {}

  private checkFailed(error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger?.warn(
      { component: 'rate-limit', err: error instanceof Error ? error.message : String(error), instances: this.instances() },
      'redis rate-limit check failed: limits count per instance, each its share (limit ÷ instances)',
    );
  }

  private checkSucceeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger?.info({ component: 'rate-limit' }, 'rate limits shared in redis again');
  }

  private instances(): number {
    return this.fleet?.instances() ?? 1;
  }

  private counterKey(key: string): string {
    return `${this.prefix}rl:${key}`;
  }

  async consume(key: string, limit: number, cost: number, now: number): Promise<RateLimitDecision> {
    if (this.redis.available(now)) {
      // Taken before the call, so concurrent checks of the key carry it once; put back if the call fails.
      const owed = this.owed.size === 0 ? undefined : this.owed.get(key);
      if (owed !== undefined) this.owed.delete(key);
      const at = this.clock === 'redis' ? '' : now;
      try {
        const reply = await this.redis.run((client) =>
          SLIDING_WINDOW.run(
            client,
            this.counterKey(key),
            owed === undefined ? [limit, cost, this.windowMs, 'consume', at] : [limit, cost, this.windowMs, 'consume', at, owed.windowStart, owed.current, owed.previous],
            (outcome) => this.ranLate(key, cost, owed, outcome),
          ),
        );
        if (!isReply(reply)) throw new Error('unexpected reply from the rate-limit script');
        const [allowed, remaining, resetMs, windowStart, current, previous] = reply;
        const seen = this.seen.get(key);
        if (seen === undefined) this.seen.set(key, { windowStart, current, previous });
        else {
          seen.windowStart = windowStart;
          seen.current = current;
          seen.previous = previous;
        }
        this.checkSucceeded();
        return { allowed: allowed === 1, limit, remaining, resetMs, windowStart };
      } catch (error) {
        // The breaker has counted the failure (and logs its transitions); this request is decided locally.
        // Owed again; if Redis runs the check after all, ranLate takes it back.
        if (owed !== undefined) {
          this.owe(key, owed.windowStart - this.windowMs, owed.previous);
          this.owe(key, owed.windowStart, owed.current);
        }
        this.checkFailed(error);
      }
    }
    return this.consumeShare(key, limit, cost, now);
  }

  /**
   * This instance's share of `limit`, counted alone. A cost above the share (a token reservation
   * sized for the whole limit) is counted as the share, as a cost above the limit is counted as the
   * limit: let through on an empty window rather than never. The part not counted is kept in the
   * reservation, so its settlement (relative to the whole cost) corrects the counter exactly.
   */
  private async consumeShare(key: string, limit: number, cost: number, now: number): Promise<RateLimitDecision> {
    const instances = this.instances();
    const share = instanceShare(limit, instances);
    const seen = this.seen.get(key);
    if (seen !== undefined) {
      // This instance's part of what the fleet had used, rounded up as the share is: the fleet then
      // admits about what was left of the limit, not the limit again.
      const part = (count: number) => Math.ceil(count / Math.max(1, instances));
      this.local.seed?.(key, seen.windowStart, part(seen.current), part(seen.previous));
      this.seen.delete(key);
    }
    const counted = share > 0 ? Math.min(cost, share) : cost;
    const decision = countedByFallback(await this.local.consume(key, share, counted, now));
    if (decision.allowed) this.owe(key, decision.windowStart, counted);
    if (counted === cost || decision.fallback === undefined) return decision;
    return { ...decision, fallback: { ...decision.fallback, uncounted: cost - counted } };
  }

  private owe(key: string, windowStart: number, count: number): void {
    const owed = this.owed.get(key);
    if (owed === undefined) this.owed.set(key, { windowStart, current: count, previous: 0 });
    else addTo(owed, windowStart, count, this.windowMs);
  }

  /**
   * A check that timed out, run by Redis when it resumed (its reply comes before any later command's
   * on the connection, so before the next check can carry). Meanwhile its request was decided here
   * (owed if admitted) and what it carried was owed again; Redis has counted both now, so both are
   * taken off what is owed: the carry, and the cost if Redis admitted it (owed below 0 when nothing
   * else is, taken back from Redis by the next carry). The request then counts once, as decided here.
   * A reply error (it did not run) leaves everything owed; so does a connection closed before the
   * reply, where whether it ran is not known: counted twice if it did (too high, never too low).
   */
  private ranLate(key: string, cost: number, carried: Counts | undefined, outcome: LateOutcome): void {
    if (!('reply' in outcome) || !isReply(outcome.reply)) return;
    const [allowed, , , windowStart] = outcome.reply;
    if (carried !== undefined) {
      this.owe(key, carried.windowStart - this.windowMs, -carried.previous);
      this.owe(key, carried.windowStart, -carried.current);
    }
    if (allowed === 1) this.owe(key, windowStart, -cost);
  }

  /** Drops keys last counted over two windows ago (their counts no longer weigh); with the local counters' prune. */
  prune(now: number): void {
    for (const [key, seen] of this.seen) if (now - seen.windowStart > 2 * this.windowMs) this.seen.delete(key);
    for (const [key, owed] of this.owed) if (now - owed.windowStart > 2 * this.windowMs) this.owed.delete(key);
  }

  async adjust(key: string, delta: number, reservation: Reservation): Promise<void> {
    if (reservation.fallback !== undefined) {
      const corrected = delta + (reservation.fallback.uncounted ?? 0);
      if (corrected === 0) return;
      // Still owed to Redis: corrected there too. Once carried, a refund stays in Redis (too high, never too low).
      const owed = this.owed.get(key);
      if (owed !== undefined) addTo(owed, reservation.fallback.windowStart, corrected, this.windowMs);
      await this.local.adjust(key, corrected, reservation.fallback);
      return;
    }
    if (delta === 0) return;
    // Counted in Redis: the local counter never held it. With Redis away the correction is dropped:
    // a refund then errs on the safe side, and the shared counter expires within two windows.
    if (!this.redis.available()) return;
    try {
      await this.redis.run((client) => SLIDING_WINDOW.run(client, this.counterKey(key), [0, delta, this.windowMs, 'adjust', reservation.windowStart]));
    } catch {
      // The breaker has counted the failure; dropped, as above.
    }
  }
}
