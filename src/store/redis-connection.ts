// The one Redis connection shared by every feature that keeps state across instances (rate
// limits, cache, revocations). Every command has a timeout, nothing queues while Redis is away,
// and a breaker stops calling a Redis that keeps failing: callers fall back to local state.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { maskUrl } from '../logging/redactor.js';

const require = createRequire(import.meta.url);
/** Distinct connection problems logged per outage, at most. */
const MAX_PROBLEMS = 8;

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
  /** REDIS_URL as log lines show it: the password masked. */
  private readonly target: string;
  /** Connection problems logged since the connection was last ready: each reason once per outage. */
  private readonly problems = new Set<string>();
  /** SELECT of the URL's database failed on this connection: ioredis goes on in database 0, another deployment's. */
  private wrongDatabase = false;
  /**
   * A command went unanswered (timed out) and none has answered since: every user of the connection
   * skips Redis at once, so a request calling it several times in a row (its limits, then the cache)
   * waits out one timeout, not one a call, before the breaker opens. Ended by any answer: one PING
   * at a time asks (its failures count towards the breaker as any command's), or a new connection's ready check.
   */
  private stalled = false;
  private probing = false;

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
    this.target = maskUrl(options.url);
    // ioredis reports connection errors as events, once per reconnect attempt: logged once per distinct
    // reason, so a wrong password, a refused port or TLS to a plain port is named (at start too) without
    // a line every 2 s. Failed commands are the breaker's to report.
    const tls = options.url.startsWith('rediss:');
    this.client.on('error', (error: Error & { command?: { name?: string }; code?: string }) => {
      if (error.command?.name === 'select') this.wrongDatabase = true;
      // A Redis reply carries its command; a timeout or reset without one may be a TLS handshake with a plain port.
      const handshake = error.command === undefined && error.code !== 'ECONNREFUSED';
      this.reportProblem(tls && handshake ? `${error.message} (rediss:// connects with TLS: does that port speak TLS?)` : error.message);
    });
    this.client.on('connect', () => {
      this.wrongDatabase = false;
    });
    this.client.on('ready', () => {
      // The ready check (INFO) was answered on this connection.
      this.stalled = false;
      if (this.wrongDatabase || this.problems.size === 0) return;
      this.problems.clear();
      this.logger.info({ component: 'redis', url: this.target }, 'redis connected');
    });
  }

  private reportProblem(reason: string): void {
    // Bounded: a reason that varies (an address, a count) must not grow the set or the log through a long outage.
    if (this.problems.has(reason) || this.problems.size >= MAX_PROBLEMS) return;
    this.problems.add(reason);
    const hint = this.wrongDatabase ? ' (the database number in REDIS_URL does not exist on this server): Redis is not used' : ': each instance counts its share of rate limits and the cache is skipped until it connects';
    this.logger.warn({ component: 'redis', url: this.target, err: reason }, `redis connection failed${hint}`);
  }

  get breakerState(): BreakerState {
    return this.state;
  }

  /** True when a call would be attempted now. */
  available(now = Date.now()): boolean {
    if (this.state === 'open' && now - this.openedAt >= this.cooldownMs) this.transition('half-open');
    return this.state !== 'open' && !this.stalled && this.client.status === 'ready' && !this.wrongDatabase;
  }

  /** Runs one Redis operation under the breaker; throws RedisUnavailableError when it is open. */
  async run<T>(operation: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.available()) throw new RedisUnavailableError();
    try {
      const result = await operation(this.client);
      this.succeeded();
      return result;
    } catch (error) {
      this.failed(error);
      throw error instanceof RedisUnavailableError ? error : new RedisUnavailableError((error as Error).message);
    }
  }

  private succeeded(): void {
    this.failures = 0;
    this.stalled = false;
    if (this.state !== 'closed') this.transition('closed');
  }

  private failed(error: unknown): void {
    this.failures++;
    if (this.state === 'half-open' || this.failures >= this.threshold) {
      this.openedAt = Date.now();
      // The breaker takes over: its cool-down, then its half-open probe.
      this.stalled = false;
      if (this.state !== 'open') this.transition('open');
      return;
    }
    // An error reply (OOM, a read-only replica, a PING the ACL refuses) is Redis answering: no call is held up by it.
    if (error instanceof Error && error.name === 'ReplyError') this.stalled = false;
    else this.stall();
  }

  private stall(): void {
    this.stalled = true;
    // A connection that is not ready refuses commands at once; its ready event ends the stall.
    if (this.probing || this.client.status !== 'ready') return;
    this.probing = true;
    this.client.ping().then(
      () => {
        this.probing = false;
        this.succeeded();
      },
      (error: unknown) => {
        this.probing = false;
        this.failed(error);
      },
    );
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

/**
 * What became of a command after its caller gave up on it (it timed out): Redis's reply when it ran
 * it late, or an error: a reply error (it did not run), or the connection closing (not known).
 */
export type LateOutcome = { reply: unknown } | { error: Error };

let IoredisCommand: typeof import('ioredis').Command | undefined;

/**
 * Sends `name args` on `client`. With `late`, a reply (or error) that comes after the command was
 * rejected (its timeout) is passed to it instead of being dropped: a stalled Redis runs what it had
 * already read once it resumes, and a caller that counted something elsewhere meanwhile must know.
 */
function send(client: Redis, name: string, args: Array<string | number>, late?: (outcome: LateOutcome) => void): Promise<unknown> {
  // Loaded already (a client exists); looked up once, not per command.
  IoredisCommand ??= (require('ioredis') as typeof import('ioredis')).Command;
  const command = new IoredisCommand(name, args, { replyEncoding: 'utf8' });
  if (late !== undefined) {
    let gaveUp = false;
    const { resolve, reject } = command;
    command.reject = (error) => {
      if (gaveUp) late({ error });
      else {
        gaveUp = true;
        reject(error);
      }
    };
    command.resolve = (reply: unknown) => {
      if (gaveUp) late({ reply: command.transformReply(reply as Buffer | Buffer[]) });
      resolve(reply);
    };
  }
  void client.sendCommand(command);
  return command.promise;
}

/** A Lua script sent by its SHA-1, and whole once when the server does not know it (a Redis that restarted). */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script; `late` is told what became of a call that timed out (see `send`). */
  async run(client: Redis, key: string, args: Array<string | number>, late?: (outcome: LateOutcome) => void): Promise<unknown> {
    try {
      return await send(client, 'evalsha', [this.sha, 1, key, ...args], late);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return send(client, 'eval', [this.source, 1, key, ...args], late);
    }
  }
}
