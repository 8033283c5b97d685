// The per-process cache store: lru-cache bounded by bytes (maxSize + sizeCalculation), not by
// entries, with a TTL per entry. Answers are kept as objects, so a hit copies nothing.
import { LRUCache } from 'lru-cache';
import { answerSize, type CachedAnswer } from './cached-answer.js';
import type { CacheStore, CacheStoreStats } from './cache-store.js';

export class MemoryCacheStore implements CacheStore {
  readonly backend = 'memory' as const;
  private readonly entries: LRUCache<string, CachedAnswer>;

  /** An answer larger than `maxBytes` is not kept at all. */
  constructor(maxBytes: number) {
    this.entries = new LRUCache<string, CachedAnswer>({
      maxSize: Math.max(1, Math.floor(maxBytes)),
      sizeCalculation: (answer, key) => answerSize(answer) + key.length,
    });
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    return this.entries.get(key);
  }

  async set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void> {
    this.entries.set(key, answer, { ttl: Math.max(1, Math.floor(ttlMs)) });
  }

  countLookup(): void {}

  async stats(): Promise<CacheStoreStats> {
    this.entries.purgeStale();
    return { status: 'healthy', entries: this.entries.size, sizeBytes: this.entries.calculatedSize };
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
