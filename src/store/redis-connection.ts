// The one Redis connection shared by every feature that keeps state across instances (rate
// limits, cache, revocations). Every command has a timeout, nothing queues while Redis is away,
// and a breaker stops calling a Redis that keeps failing: callers fall back to local state.
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../logging/logger.js';

const require = createRequire(import.meta.url);

export type BreakerState = 'closed' | 'open' | 'half-open';

export class RedisUnavailableError extends Error {
  constructor(message = 'Redis is unavailable') {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

export interface RedisConnectionOptions {
  url: string;
  /** Longest wait for one command. */
  commandTimeoutMs?: number;
  /** Consecutive failures that open the breaker. */
  failureThreshold?: number;
  /** How long the breaker stays open before one probe is let through. */
  cooldownMs?: number;
}

export class RedisConnection {
  readonly client: Redis;
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  constructor(
    options: RedisConnectionOptions,
    private readonly logger: Logger,
  ) {
    this.threshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 5_000;
    const redisOptions: RedisOptions = {
      commandTimeout: options.commandTimeoutMs ?? 250,
      connectTimeout: 1_000,
      maxRetriesPerRequest: 0,
      // Commands fail at once while disconnected instead of piling up in memory.
      enableOfflineQueue: false,
      lazyConnect: false,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    };
    // ioredis is loaded when Redis is configured, not before: the embedded default never pays its memory.
    const { Redis: RedisClient } = require('ioredis') as typeof import('ioredis');
    this.client = new RedisClient(options.url, redisOptions);
    // ioredis reports connection errors as events; the breaker and its log lines speak for them.
    this.client.on('error', () => undefined);
  }

  get breakerState(): BreakerState {
    return this.state;
  }

  /** True when a call would be attempted now. */
  available(now = Date.now()): boolean {
    if (this.state === 'open' && now - this.openedAt >= this.cooldownMs) this.transition('half-open');
    return this.state !== 'open' && this.client.status === 'ready';
  }

  /** Runs one Redis operation under the breaker; throws RedisUnavailableError when it is open. */
  async run<T>(operation: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.available()) throw new RedisUnavailableError();
    try {
      const result = await operation(this.client);
      this.succeeded();
      return result;
    } catch (error) {
      this.failed();
      throw error instanceof RedisUnavailableError ? error : new RedisUnavailableError((error as Error).message);
    }
  }

  private succeeded(): void {
    this.failures = 0;
    if (this.state !== 'closed') this.transition('closed');
  }

  private failed(): void {
    this.failures++;
    if (this.state === 'half-open' || this.failures >= this.threshold) {
      this.openedAt = Date.now();
      if (this.state !== 'open') this.transition('open');
    }
  }

  private transition(next: BreakerState): void {
    const previous = this.state;
    this.state = next;
    // One line per transition, never one per failed command. While Redis stays away the breaker cycles
    // open → half-open → open once per cool-down; those probe cycles go to debug, so an outage logs
    // "opened" once and "closed" once however long it lasts (RELIABILITY §4c: ≤10 lines for 90 s).
    const probeCycle = next === 'half-open' || (previous === 'half-open' && next === 'open');
    const level = probeCycle ? 'debug' : next === 'open' ? 'warn' : 'info';
    this.logger[level]({ component: 'redis', from: previous, to: next }, next === 'open' ? 'redis breaker opened: using per-instance state' : `redis breaker ${next}`);
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
