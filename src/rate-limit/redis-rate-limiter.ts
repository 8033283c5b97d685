// Per-key limits shared by every instance: the memory limiter's sliding window (this minute plus
// the last one weighted by overlap), run as one Lua script per check, so a check is one atomic
// round trip, with Redis's clock for every instance. When Redis is away (the shared connection's
// breaker is open, or a call fails) each instance falls back to its own memory limiter at the full
// limit: requests keep flowing, and the operator chooses whether to divide limits by replicas.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisConnection } from '../store/redis-connection.js';
import type { RateLimitDecision, RateLimiter } from './memory-rate-limiter.js';

/** KEYS[1]: the counter hash. ARGV: limit, cost (or delta), window ms, mode. Returns {allowed, remaining, resetMs}. */
const SLIDING_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windowMs = tonumber(ARGV[3])
local windowStart = now - (now % windowMs)
local stored = redis.call('HMGET', KEYS[1], 'ws', 'cur', 'prev')
local ws = tonumber(stored[1])
local cur = tonumber(stored[2]) or 0
local prev = tonumber(stored[3]) or 0
if ARGV[4] == 'adjust' then
  if ws == nil or windowStart - ws > windowMs then return {1, 0, 0} end
  redis.call('HSET', KEYS[1], 'cur', math.max(0, cur + tonumber(ARGV[2])))
  return {1, 0, 0}
end
if ws == nil then
  cur = 0
  prev = 0
elseif ws ~= windowStart then
  if windowStart - ws == windowMs then prev = cur else prev = 0 end
  cur = 0
end
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local used = cur + prev * (1 - (now - windowStart) / windowMs)
local reset = windowStart + windowMs - now
if used + cost > limit then
  return {0, math.max(0, math.floor(limit - used)), reset}
end
redis.call('HSET', KEYS[1], 'ws', windowStart, 'cur', cur + cost, 'prev', prev)
redis.call('PEXPIRE', KEYS[1], windowMs * 2)
return {1, math.max(0, math.floor(limit - used - cost)), reset}
`;
const SLIDING_WINDOW_SHA = createHash('sha1').update(SLIDING_WINDOW).digest('hex');

async function runScript(client: Redis, key: string, args: Array<string | number>): Promise<unknown> {
  try {
    return await client.evalsha(SLIDING_WINDOW_SHA, 1, key, ...args);
  } catch (error) {
    // A Redis that restarted has forgotten the script: send it whole, once.
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return client.eval(SLIDING_WINDOW, 1, key, ...args);
  }
}

function toDecision(reply: unknown, limit: number): RateLimitDecision {
  if (!Array.isArray(reply) || reply.length < 3 || !reply.every((item) => typeof item === 'number')) {
    throw new Error('unexpected reply from the rate-limit script');
  }
  const [allowed, remaining, resetMs] = reply as [number, number, number];
  return { allowed: allowed === 1, limit, remaining, resetMs };
}

export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: RedisConnection,
    /** Used while Redis is away; the same algorithm, counted by this instance alone. */
    private readonly local: RateLimiter,
    private readonly prefix: string,
    private readonly windowMs = 60_000,
  ) {}

  private counterKey(key: string): string {
    return `${this.prefix}rl:${key}`;
  }

  async consume(key: string, limit: number, cost: number, now: number): Promise<RateLimitDecision> {
    if (this.redis.available(now)) {
      try {
        const reply = await this.redis.run((client) => runScript(client, this.counterKey(key), [limit, cost, this.windowMs, 'consume']));
        return toDecision(reply, limit);
      } catch {
        // The breaker has counted the failure (and logs its transitions); this request is decided locally.
      }
    }
    return this.local.consume(key, limit, cost, now);
  }

  async adjust(key: string, delta: number, now: number): Promise<void> {
    if (delta === 0) return;
    if (this.redis.available(now)) {
      try {
        await this.redis.run((client) => runScript(client, this.counterKey(key), [0, delta, this.windowMs, 'adjust']));
        return;
      } catch {
        // As in consume: fall through to the local counter.
      }
    }
    await this.local.adjust(key, delta, now);
  }
}
