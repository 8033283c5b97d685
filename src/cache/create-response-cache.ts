// Builds the response cache the config asks for (or none, when it is off) and the secret its keys
// are signed with. The secret never leaves the process and never appears in a key or a log line.
import { createHmac, randomBytes } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { Logger } from '../logging/logger.js';
import type { RedisConnection } from '../store/redis-connection.js';
import type { CacheStore } from './cache-store.js';
import { MemoryCacheStore } from './memory-cache-store.js';
import { RedisCacheStore } from './redis-cache-store.js';
import { ResponseCache } from './response-cache.js';

export const DEFAULT_CACHE_KEY_PREFIX = 'llm-proxy:cache:';
const SECRET_LABEL = 'llm-proxy response cache key v1';
/** No single answer above this is cached, whatever the backend. */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

export type CacheSecretSource = 'configured' | 'random' | 'master_key' | 'redis_url';

/**
 * The HMAC key for cache keys: `cache.secret` when set; otherwise random per process for the
 * memory backend (its entries live no longer than the process), and for Redis one every instance
 * derives alike: from the master key, or failing that from REDIS_URL (weak: set cache.secret).
 */
export function cacheSecret(config: Config): { secret: Buffer; source: CacheSecretSource } {
  const derive = (material: string) => createHmac('sha256', material).update(SECRET_LABEL).digest();
  if (config.cache.secret !== undefined) return { secret: derive(config.cache.secret), source: 'configured' };
  if (config.cache.backend !== 'redis') return { secret: randomBytes(32), source: 'random' };
  if (config.auth.master_key !== undefined) return { secret: derive(config.auth.master_key), source: 'master_key' };
  return { secret: derive(config.storage.redis_url ?? ''), source: 'redis_url' };
}

/**
 * What replaces the per-process memory store when several worker processes share one cache (the
 * primary holds the entries): the store that reaches it, and the key secret every worker uses.
 */
export interface SharedMemoryCache {
  store: CacheStore;
  secret: Buffer;
}

/** The cache, or undefined when `cache.backend` is off (then the request path does no cache work at all). */
export function createResponseCache(config: Config, logger: Logger, redis: RedisConnection | undefined, sharedMemory?: SharedMemoryCache): ResponseCache | undefined {
  const settings = config.cache;
  if (settings.backend === 'off') return undefined;
  const { secret, source } = sharedMemory !== undefined && settings.backend === 'memory' && settings.secret === undefined ? { secret: sharedMemory.secret, source: 'random' as const } : cacheSecret(config);
  let store: CacheStore;
  if (sharedMemory !== undefined && settings.backend === 'memory') {
    store = sharedMemory.store;
  } else if (settings.backend === 'redis') {
    if (redis === undefined) throw new Error('the redis cache backend needs a Redis connection');
    // Under the shared prefix of every Redis key (storage.redis_prefix) unless cache.key_prefix says otherwise.
    const prefix = settings.key_prefix ?? (config.storage.redis_prefix === undefined ? DEFAULT_CACHE_KEY_PREFIX : `${config.storage.redis_prefix}cache:`);
    store = new RedisCacheStore(redis, prefix);
    if (source === 'redis_url') {
      logger.warn({ component: 'cache' }, 'cache keys are signed with a secret derived from REDIS_URL: set cache.secret (or a master key) so it is not guessable');
    }
  } else {
    store = new MemoryCacheStore(settings.max_mb * 1024 * 1024);
  }
  return new ResponseCache(
    store,
    {
      secret,
      namespace: settings.namespace,
      ttlS: settings.ttl_s,
      ttlByModel: settings.ttl_by_model ?? {},
      multipleChoices: settings.multiple_choices === true,
      maxEntryBytes: Math.min(MAX_ENTRY_BYTES, Math.floor(settings.max_mb * 1024 * 1024)),
    },
    logger,
  );
}
