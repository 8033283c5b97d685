// How many instances share the Redis, so that while it is away each one's own counter admits its
// share of a limit (limit ÷ instances) rather than all of it (RELIABILITY 4b#14). Each instance (a
// `--workers` cluster is one: its primary registers) keeps a member in a sorted set, scored by
// Redis's clock, on a heartbeat off the request path; the limiter only reads the last count.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logging/logger.js';
import { RedisScript, type RedisConnection } from '../store/redis-connection.js';

const HEARTBEAT_MS = 5_000;
/** A member not renewed for three heartbeats is an instance that stopped without saying so. */
const STALE_AFTER_HEARTBEATS = 3;

/** KEYS[1]: the set. ARGV: this instance's id, how old a member may be (ms). Returns the count. */
const HEARTBEAT = new RedisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local staleMs = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - staleMs)
redis.call('PEXPIRE', KEYS[1], staleMs)
return redis.call('ZCARD', KEYS[1])
`);

/** The number of instances a limit is divided between while Redis is away. */
export interface InstanceCount {
  instances(): number;
}

/**
 * A limit's share for one instance counting alone: `limit` ÷ `instances`, rounded up, at least 1
 * (a limit of 0 or less is passed on as it is).
 */
export function instanceShare(limit: number, instances: number): number {
  if (limit <= 0) return limit;
  return Math.max(1, Math.ceil(limit / Math.max(1, instances)));
}

/** What a refusal adds when the limit counted was this instance's share, not the key's whole limit. */
export function shareNote(counted: number, limit: number): string {
  return counted < limit ? ` (this instance's share of ${limit} while the shared counter is unavailable)` : '';
}

export interface InstanceRegistryOptions {
  prefix: string;
  /** The least count to assume (storage.expected_instances): a fleet that starts while Redis is down. */
  floor?: number;
  heartbeatMs?: number;
  logger?: Logger;
  /** Called when the count read from Redis changes (the cluster primary tells its workers). */
  onChange?: (instances: number) => void;
}

export class InstanceRegistry implements InstanceCount {
  /** This instance's member: random, so two instances never share one. */
  readonly id = randomBytes(9).toString('base64url');
  private readonly key: string;
  private readonly floor: number;
  private readonly heartbeatMs: number;
  /** The last count Redis gave; undefined until it has answered once. */
  private counted: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onReady = () => void this.beat();

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: InstanceRegistryOptions,
  ) {
    this.key = `${options.prefix}instances`;
    this.floor = Math.max(1, options.floor ?? 1);
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  }

  instances(): number {
    return Math.max(this.counted ?? 1, this.floor);
  }

  /** Registers now (and whenever Redis becomes ready again), then every heartbeat. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
    this.timer.unref();
    this.redis.client.on('ready', this.onReady);
    void this.beat();
  }

  /** One heartbeat: renews this instance's member and reads the count. A failure keeps the last count. */
  async beat(): Promise<void> {
    if (!this.redis.available()) return;
    let reply: unknown;
    try {
      reply = await this.redis.run((client) => HEARTBEAT.run(client, this.key, [this.id, this.heartbeatMs * STALE_AFTER_HEARTBEATS]));
    } catch {
      // The breaker counted it and logs its transitions.
      return;
    }
    if (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 1) return;
    const before = this.instances();
    this.counted = reply;
    const after = this.instances();
    if (after === before) return;
    this.options.logger?.info({ component: 'rate-limit', instances: after }, 'instances sharing redis: while redis is away each admits limit ÷ instances');
    this.options.onChange?.(after);
  }

  /** Stops the heartbeat and removes this instance's member, so the others count one fewer at their next heartbeat. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.redis.client.off('ready', this.onReady);
    if (!this.redis.available()) return;
    try {
      await this.redis.run((client) => client.zrem(this.key, this.id));
    } catch {
      // Left to expire after three heartbeats.
    }
  }
}
