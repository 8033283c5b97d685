// The shared cache store: answers in Redis under one key prefix, each a JSON value set with
// `SET ... PX ttl`, so every instance sees every other's entries. Entry count and size come from
// a small index (a sorted set of expiry times and a hash of sizes) kept by one Lua script per
// write and pruned as entries expire, or as each stats call finds them gone before their time (Redis's
// own maxmemory eviction, an operator's DEL); hit and miss counts are flushed to a stats hash each second.
// Every call goes through the shared RedisConnection (command timeout + breaker), so a slow or
// absent Redis costs at most one short timeout and then nothing: the cache is skipped.
import type { Redis } from 'ioredis';
import type { RedisConnection } from '../store/redis-connection.js';
import { answerSize, parseAnswer, type CachedAnswer } from './cached-answer.js';
import type { CacheStore, CacheStoreStats } from './cache-store.js';

/** Expired index members removed per write; the stats call prunes more. */
const PRUNE_ON_WRITE = 20;
const PRUNE_ON_STATS = 1000;
/**
 * Index members whose entry key each stats call checks is still there, from where the last call
 * stopped: Redis evicts entries under maxmemory without telling the index, which counted them until
 * their TTL ended. A bounded sweep keeps each call short; the count catches up over a few calls.
 */
const SWEEP_ON_STATS = 2000;

// Removes one member from the index and its size from the total. KEYS as in each script below.
const DROP_MEMBER = `
local function drop(index, sizes, stats, member)
  local size = redis.call('HGET', sizes, member)
  if size then redis.call('HINCRBY', stats, 'bytes', -tonumber(size)) end
  redis.call('HDEL', sizes, member)
  redis.call('ZREM', index, member)
end
`;
const FLUSH_INTERVAL_MS = 1000;

// KEYS: entry, index, sizes, stats. ARGV: value, ttl ms, member, size, expires-at ms, now ms, prune limit.
const SET_SCRIPT = `${DROP_MEMBER}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[6], 'LIMIT', 0, tonumber(ARGV[7]))
for _, member in ipairs(expired) do
  if member ~= ARGV[3] then drop(KEYS[2], KEYS[3], KEYS[4], member) end
end
local old = redis.call('HGET', KEYS[3], ARGV[3])
if old then redis.call('HINCRBY', KEYS[4], 'bytes', -tonumber(old)) end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[4], 'bytes', tonumber(ARGV[4]))
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
return 1
`;

// KEYS: index, sizes, stats. ARGV: now ms, prune limit, entry key prefix, sweep limit. Returns
// entries, bytes, hits, misses. The entry keys checked are named from the index (a standalone
// Redis, which the proxy uses, runs that; a Redis Cluster would refuse it, as it does the prefix).
const STATS_SCRIPT = `${DROP_MEMBER}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(expired) do drop(KEYS[1], KEYS[2], KEYS[3], member) end
local from = tonumber(redis.call('HGET', KEYS[3], 'sweep') or '0')
local limit = tonumber(ARGV[4])
if from >= redis.call('ZCARD', KEYS[1]) then from = 0 end
local checked = redis.call('ZRANGE', KEYS[1], from, from + limit - 1)
local gone = 0
for _, member in ipairs(checked) do
  if redis.call('EXISTS', ARGV[3] .. member) == 0 then
    drop(KEYS[1], KEYS[2], KEYS[3], member)
    gone = gone + 1
  end
end
redis.call('HSET', KEYS[3], 'sweep', from + #checked - gone)
local fields = redis.call('HMGET', KEYS[3], 'bytes', 'hits', 'misses')
return {redis.call('ZCARD', KEYS[1]), fields[1] or '0', fields[2] or '0', fields[3] or '0'}
`;

interface CacheCommands {
  llmProxyCacheSet(
    entry: string,
    index: string,
    sizes: string,
    stats: string,
    value: string,
    ttlMs: number,
    member: string,
    size: number,
    expiresAt: number,
    now: number,
    prune: number,
  ): Promise<number>;
  llmProxyCacheStats(index: string, sizes: string, stats: string, now: number, prune: number, entryPrefix: string, sweep: number): Promise<[number, string, string, string]>;
}

function commands(client: Redis): CacheCommands {
  const extended = client as unknown as Partial<CacheCommands>;
  if (typeof extended.llmProxyCacheSet !== 'function') client.defineCommand('llmProxyCacheSet', { numberOfKeys: 4, lua: SET_SCRIPT });
  if (typeof extended.llmProxyCacheStats !== 'function') client.defineCommand('llmProxyCacheStats', { numberOfKeys: 3, lua: STATS_SCRIPT });
  return client as unknown as CacheCommands;
}

export class RedisCacheStore implements CacheStore {
  readonly backend = 'redis' as const;
  private readonly indexKey: string;
  private readonly sizesKey: string;
  private readonly statsKey: string;
  private readonly commands: CacheCommands;
  private pendingHits = 0;
  private pendingMisses = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {
    this.indexKey = `${prefix}index`;
    this.sizesKey = `${prefix}sizes`;
    this.statsKey = `${prefix}stats`;
    this.commands = commands(connection.client);
    this.timer = setInterval(() => void this.flushCounts(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  private entryKey(key: string): string {
    return `${this.entryPrefix}${key}`;
  }

  private get entryPrefix(): string {
    return `${this.prefix}e:`;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const text = await this.connection.run((client) => client.get(this.entryKey(key)));
    return text === null ? undefined : parseAnswer(text);
  }

  async set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.floor(ttlMs));
    const now = Date.now();
    await this.connection.run(() =>
      this.commands.llmProxyCacheSet(
        this.entryKey(key),
        this.indexKey,
        this.sizesKey,
        this.statsKey,
        JSON.stringify(answer),
        ttl,
        key,
        answerSize(answer) + key.length,
        now + ttl,
        now,
        PRUNE_ON_WRITE,
      ),
    );
  }

  countLookup(hit: boolean): void {
    if (hit) this.pendingHits++;
    else this.pendingMisses++;
  }

  /** Adds this instance's counts since the last flush to the shared stats hash; kept for later on failure. */
  private async flushCounts(): Promise<void> {
    const hits = this.pendingHits;
    const misses = this.pendingMisses;
    if (hits === 0 && misses === 0) return;
    if (!this.connection.available()) return;
    this.pendingHits = 0;
    this.pendingMisses = 0;
    try {
      await this.connection.run((client) => client.multi().hincrby(this.statsKey, 'hits', hits).hincrby(this.statsKey, 'misses', misses).exec());
    } catch {
      this.pendingHits += hits;
      this.pendingMisses += misses;
    }
  }

  async stats(now: number): Promise<CacheStoreStats> {
    if (!this.connection.available(now)) return { status: 'unavailable', entries: 0, sizeBytes: 0 };
    await this.flushCounts();
    try {
      const [entries, bytes, hits, misses] = await this.connection.run(() =>
        this.commands.llmProxyCacheStats(this.indexKey, this.sizesKey, this.statsKey, now, PRUNE_ON_STATS, this.entryPrefix, SWEEP_ON_STATS),
      );
      return {
        status: this.connection.breakerState === 'closed' ? 'healthy' : 'degraded',
        entries: Number(entries),
        sizeBytes: Math.max(0, Number(bytes)),
        hits: Number(hits) + this.pendingHits,
        misses: Number(misses) + this.pendingMisses,
      };
    } catch {
      return { status: this.connection.breakerState === 'open' ? 'unavailable' : 'degraded', entries: 0, sizeBytes: 0 };
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushCounts();
  }
}
