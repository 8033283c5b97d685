// How a key change made on one instance (or by the CLI) reaches every instance's key cache: a Redis
// pub/sub message when REDIS_URL is set (milliseconds), and, as a net under it, a poll of the keys
// whose `updated_at` moved (every second; it also catches a CLI writing to the same database, and
// announcements missed while Redis was away). The poll keeps time by the database's clock. The subscriber is the one connection that cannot share
// the command connection, since a subscribed Redis connection takes no other commands.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { KeyStore } from '../store/key-store.js';
import type { RedisConnection } from '../store/redis-connection.js';
import type { VirtualKeyService } from './virtual-keys.js';

/**
 * Each poll looks this far back before the previous one began: a change's time is taken before it
 * commits, and an instance of an earlier version writes it by its own clock, which may be behind.
 */
const LOOKBACK_MS = 30_000;

interface Announcement {
  origin: string;
  id: string;
}

function parseAnnouncement(message: string): Announcement | undefined {
  try {
    const parsed: unknown = JSON.parse(message);
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const { origin, id } = parsed as Record<string, unknown>;
    return typeof origin === 'string' && typeof id === 'string' ? { origin, id } : undefined;
  } catch {
    return undefined;
  }
}

export interface KeyChangeBusOptions {
  redis: RedisConnection | undefined;
  /** The pub/sub channel (already carrying the deployment's key prefix). */
  channel: string;
  pollMs?: number;
}

export class KeyChangeBus {
  private readonly origin = randomUUID();
  private subscriber: Redis | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private pollFailing = false;
  /** When (by the database's clock) the last poll that answered began. */
  private checkedAt: number | undefined;
  /** The version each changed key was last seen at, so a key is dropped once per change. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly keys: VirtualKeyService,
    private readonly store: KeyStore,
    private readonly logger: Logger,
    private readonly options: KeyChangeBusOptions,
  ) {
    keys.onChange((id) => void this.publish(id));
  }

  start(): void {
    if (this.pollTimer !== undefined) return;
    this.subscribe();
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs ?? 1_000);
    this.pollTimer.unref();
  }

  private subscribe(): void {
    const redis = this.options.redis;
    if (redis === undefined) return;
    // Subscribed here on every ready, not by ioredis (`autoResubscribe`): its own resubscription has no
    // catch, and a ready check answered just after close() makes it reject unhandled (the stream ended).
    const subscriber = redis.client.duplicate({ autoResubscribe: false });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    let connectedBefore = false;
    subscriber.on('ready', () => {
      // Ready after close(): the answer to a ready check that was on its way.
      if (this.subscriber !== subscriber) return;
      const reconnected = connectedBefore;
      connectedBefore = true;
      subscriber
        .subscribe(this.options.channel)
        .catch((error: unknown) => {
          if (this.subscriber !== subscriber) return;
          this.logger.warn({ component: 'keys', err: error instanceof Error ? error.message : String(error) }, 'key change subscription failed; relying on the database poll');
        })
        .then(() => {
          // What was announced while away is lost: start afresh once nothing more can be missed.
          if (reconnected) this.keys.invalidateAll();
        });
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.options.channel) return;
      const announcement = parseAnnouncement(message);
      if (announcement !== undefined && announcement.origin !== this.origin) this.keys.invalidate(announcement.id);
    });
  }

  private async publish(id: string): Promise<void> {
    const redis = this.options.redis;
    if (redis === undefined) return;
    const message = JSON.stringify({ origin: this.origin, id } satisfies Announcement);
    try {
      await redis.run((client) => client.publish(this.options.channel, message));
    } catch {
      // The other instances' poll picks the change up within a second or two.
    }
  }

  /** One look at what changed; exported for tests through `pollNow`. */
  async pollNow(): Promise<void> {
    await this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      // Not the newest `updated_at` seen: one written by a clock minutes ahead would move the window
      // past every change written after it by a right clock, until that clock caught up.
      const now = await this.store.clock();
      const since = (this.checkedAt ?? now) - LOOKBACK_MS;
      const changed = await this.store.changedSince(since);
      this.checkedAt = now;
      for (const { id, updatedAt } of changed) {
        if (this.seen.get(id) === updatedAt) continue;
        this.seen.set(id, updatedAt);
        this.keys.invalidate(id, updatedAt);
      }
      // Versions at or before the window's start are never answered again.
      for (const [id, updatedAt] of this.seen) if (updatedAt <= since) this.seen.delete(id);
      if (this.pollFailing) {
        this.pollFailing = false;
        this.logger.info({ component: 'keys' }, 'key change poll working again');
      }
    } catch (error) {
      if (!this.pollFailing) {
        this.pollFailing = true;
        this.logger.warn({ component: 'keys', err: error instanceof Error ? error.message : String(error) }, 'key change poll failed; retrying every second');
      }
    } finally {
      this.polling = false;
    }
  }

  async close(): Promise<void> {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }
}
