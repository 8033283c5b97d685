// The IPC messages between the cluster primary and its workers. Every message carries `llmp: 1`,
// so other users of the channel (node:cluster's own, prom-client's) are told apart.
import type { CachedAnswer } from '../cache/cached-answer.js';
import type { CacheStoreStats } from '../cache/cache-store.js';
import type { Config } from '../config/config-schema.js';
import type { ReloadOutcome } from '../http/routes/admin-reload.js';
import type { UiSession } from '../keys/ui-sessions.js';
import type { RateLimitDecision } from '../rate-limit/memory-rate-limiter.js';

/** A worker's question that the primary answers with a `reply` carrying the same id. */
export type WorkerRequest =
  | { llmp: 1; t: 'init'; id: number }
  | { llmp: 1; t: 'rl.consume'; id: number; key: string; limit: number; cost: number; now: number }
  | { llmp: 1; t: 'cache.get'; id: number; key: string }
  | { llmp: 1; t: 'cache.stats'; id: number }
  | { llmp: 1; t: 'metrics'; id: number }
  | { llmp: 1; t: 'reload.request'; id: number };

/** A worker's news: no answer expected. */
export type WorkerNotice =
  | { llmp: 1; t: 'rl.adjust'; key: string; delta: number; windowStart: number }
  | { llmp: 1; t: 'cache.set'; key: string; answer: CachedAnswer; ttlMs: number }
  /** Cache lookups a worker made since its last notice, for /health/cache's cluster-wide figures. */
  | { llmp: 1; t: 'cache.count'; hits: number; misses: number }
  | { llmp: 1; t: 'key.changed'; keyId: string }
  | { llmp: 1; t: 'ui.session'; session: UiSession }
  | { llmp: 1; t: 'ui.session.deleted'; id: string }
  | { llmp: 1; t: 'listening'; port: number }
  /** How far a worker's start has come: named by the primary should the start never end. */
  | { llmp: 1; t: 'starting'; step: StartStep }
  /** Why this worker's start failed (it exits 1 next): a reason that would come again (the port, the database path). */
  | { llmp: 1; t: 'start.failed'; reason: string }
  | { llmp: 1; t: 'reload.done'; id: number; outcome: ReloadOutcome }
  /** The answer to a `ping`: this worker's event loop runs. */
  | { llmp: 1; t: 'pong'; id: number };

export type WorkerMessage = WorkerRequest | WorkerNotice;

/** The steps of a worker's start after it has its config (before: loading its modules, then asking for the config). */
export type StartStep = 'building its services' | 'listening (waiting up to 2 s for Redis, then binding the port)';

/** What a worker learns before it builds its services: its slot (kept by a replacement), the shared cache-key secret, the config. */
export interface WorkerInit {
  slot: number;
  cacheSecret: string;
  /** The primary's running config: a worker started after a reload (or a crash) serves the same one. */
  config: Config;
  /** With Redis: the instances counted there (the cluster is one), which divide limits while it is away. */
  instances?: number;
}

/** Every worker's metrics in Prometheus text, or why they could not be gathered. */
export interface MetricsText {
  text?: string;
  error?: string;
}

export type ReplyValue = WorkerInit | RateLimitDecision | CachedAnswer | CacheStoreStats | ReloadOutcome | MetricsText | null;

export type PrimaryMessage =
  | { llmp: 1; t: 'reply'; id: number; value: ReplyValue }
  | { llmp: 1; t: 'key.changed'; keyId: string }
  | { llmp: 1; t: 'ui.session'; session: UiSession }
  | { llmp: 1; t: 'ui.session.deleted'; id: string }
  /** The instances sharing Redis, counted anew by the primary. */
  | { llmp: 1; t: 'instances'; count: number }
  /** The primary has loaded and checked the config once; every worker applies this same one. */
  | { llmp: 1; t: 'reload'; id: number; config: Config; restartRequired: string[] }
  /** Is this worker's event loop running? Sent to one that gave no answer to a reload. */
  | { llmp: 1; t: 'ping'; id: number };

export function isMessage<T extends { llmp: 1 }>(value: unknown): value is T {
  return value !== null && typeof value === 'object' && (value as { llmp?: unknown }).llmp === 1 && typeof (value as { t?: unknown }).t === 'string';
}
