// The storage behind the response cache: a small interface with a memory and a Redis version.
// Stores only keep answers under keys with a time to live; scoping, freshness and single flight
// live in ResponseCache.
import type { CachedAnswer } from './cached-answer.js';

export type CacheStatus = 'healthy' | 'degraded' | 'unavailable' | 'disabled';

export interface CacheStoreStats {
  status: CacheStatus;
  entries: number;
  sizeBytes: number;
  /** Lookups counted by every instance sharing the store, when the store keeps them. */
  hits?: number;
  misses?: number;
}

export interface CacheStore {
  readonly backend: 'memory' | 'redis';
  /** The answer under `key`, or undefined. Rejects when the store cannot answer (the caller treats it as a miss). */
  get(key: string): Promise<CachedAnswer | undefined>;
  /** Keeps `answer` for `ttlMs`. Rejects when the store cannot take it. */
  set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void>;
  /** Counts one lookup, for stores whose counts are shared. */
  countLookup(hit: boolean): void;
  stats(now: number): Promise<CacheStoreStats>;
  close(): Promise<void>;
}
