// The response cache: decides per request whether to read and write (Cache-Control, n, TTL),
// builds the scoped key once, serves fresh entries, and holds identical requests that arrive while
// the first is in flight until its answer is stored (single flight, per instance). A store that
// fails is a miss, never an error: requests keep flowing while /health/cache says so.
import type { Logger } from '../logging/logger.js';
import { buildCacheKey, cacheScope, type CacheableRequest, type CacheKeyTarget } from './cache-key.js';
import { answerSize, type CachedAnswer } from './cached-answer.js';
import { CanonicalDepthError } from './canonical-json.js';
import type { CacheStatus, CacheStore } from './cache-store.js';
import type { CallSignal } from '../upstream/call-signal.js';
import { isRecord } from '../json/guards.js';

/** What a request's Cache-Control header asks of the cache. */
export interface CacheDirectives {
  /** Do not answer from the cache (still store the fresh answer). */
  noCache: boolean;
  /** Neither read nor write. */
  noStore: boolean;
  /** Accept only an entry at most this many seconds old. */
  maxAgeS: number | undefined;
}

export const NO_DIRECTIVES: CacheDirectives = Object.freeze({ noCache: false, noStore: false, maxAgeS: undefined });

/** Parses `Cache-Control: no-cache | no-store | max-age=N` (other directives are ignored). */
export function parseCacheControl(header: string | string[] | undefined): CacheDirectives {
  if (header === undefined) return NO_DIRECTIVES;
  const text = Array.isArray(header) ? header.join(',') : header;
  let noCache = false;
  let noStore = false;
  let maxAgeS: number | undefined;
  for (const part of text.split(',')) {
    const directive = part.trim().toLowerCase();
    if (directive === 'no-cache') noCache = true;
    else if (directive === 'no-store') noStore = true;
    else if (directive.startsWith('max-age=')) {
      const value = directive.slice(8).replace(/^"|"$/g, '');
      if (/^\d{1,10}$/.test(value)) maxAgeS = Math.min(maxAgeS ?? Number.MAX_SAFE_INTEGER, Number(value));
    }
  }
  return { noCache, noStore, maxAgeS };
}

interface Flight {
  promise: Promise<CachedAnswer | undefined>;
  resolve(answer: CachedAnswer | undefined): void;
  startedAt: number;
}

/** One request's dealings with the cache, from plan() until save() or release(). */
export interface CachePlan {
  readonly key: string;
  /** Look for an entry (false under no-cache). */
  readonly read: boolean;
  readonly ttlMs: number;
  readonly maxAgeMs: number | undefined;
  /** Longest wait for an identical request in flight: the serving config's, so a reload applies to new requests. */
  readonly flightWaitMs: number;
  /** Set while this request is the one the identical ones wait for. */
  flight: Flight | undefined;
}

export interface CacheHit {
  answer: CachedAnswer;
  /** Whole seconds since the answer was stored (the Age header). */
  ageS: number;
}

export interface ResponseCacheOptions {
  /** The HMAC key for cache keys. */
  secret: Buffer;
  /** When set, every key shares this scope instead of one per calling key. */
  namespace: string | undefined;
  ttlS: number;
  /** Model name (as asked, the group it resolved to, or a deployment's `provider/model`) → TTL seconds. */
  ttlByModel: Readonly<Record<string, number>>;
  /** Store answers with n > 1. */
  multipleChoices: boolean;
  /** Larger answers are not stored (and a stream stops being captured past it). */
  maxEntryBytes: number;
}

export interface CacheHealth {
  backend: 'off' | 'memory' | 'redis';
  status: CacheStatus;
  entries: number;
  size_bytes: number;
  hits: number;
  misses: number;
  hit_rate: number;
}

export const CACHE_OFF_HEALTH: CacheHealth = Object.freeze({
  backend: 'off',
  status: 'disabled',
  entries: 0,
  size_bytes: 0,
  hits: 0,
  misses: 0,
  hit_rate: 0,
});

/**
 * Whether a request offers a custom tool (openai 6.x): its calls (`custom.input`, free text) have no
 * stream form the openai SDK documents, so a whole answer could not be replayed as a stream (nor a
 * stream as a whole answer) with them in it. Such a request goes uncached.
 */
function offersCustomTool(tools: unknown): boolean {
  return Array.isArray(tools) && tools.some((tool) => isRecord(tool) && tool.type === 'custom');
}

export class ResponseCache {
  private readonly flights = new Map<string, Flight>();
  private hits = 0;
  private misses = 0;
  /**
   * Store failures are logged once per outage, not once per request. Reads and writes are tracked
   * apart, since a full Redis (OOM under noeviction) or a read-only replica answers every read and
   * refuses every write (one flag for both logged two lines per request); the outage is logged by
   * whichever fails first and ends when neither fails, so a Redis that goes away is one line, not
   * one for reads and another for writes.
   */
  private readonly failing = { read: false, write: false };
  private outage = false;

  constructor(
    readonly store: CacheStore,
    private readonly options: ResponseCacheOptions,
    private readonly logger: Logger,
  ) {}

  get backend(): 'memory' | 'redis' {
    return this.store.backend;
  }

  get maxEntryBytes(): number {
    return this.options.maxEntryBytes;
  }

  private ttlFor(requested: string, target: CacheKeyTarget): number {
    const table = this.options.ttlByModel;
    for (const name of [requested, target.model, ...target.deployments]) {
      const ttl = Object.hasOwn(table, name) ? table[name] : undefined;
      if (typeof ttl === 'number') return ttl * 1000;
    }
    return this.options.ttlS * 1000;
  }

  /**
   * The plan for one request, or undefined when the cache stays out of it (no-store, n > 1, a TTL
   * of 0). `keyId` names the calling key for good (a static key's digest, a virtual key's id): the scope every key is built under. `flightWaitMs` is the
   * longest this request waits for an identical one in flight before calling the provider itself.
   */
  plan(keyId: string, target: CacheKeyTarget, request: CacheableRequest, directives: CacheDirectives, flightWaitMs: number): CachePlan | undefined {
    if (directives.noStore) return undefined;
    if (typeof request.n === 'number' && request.n > 1 && !this.options.multipleChoices) return undefined;
    if (offersCustomTool(request.tools)) return undefined;
    const ttlMs = this.ttlFor(request.model, target);
    if (!(ttlMs > 0)) return undefined;
    let key: string;
    try {
      key = buildCacheKey(this.options.secret, cacheScope(keyId, this.options.namespace), target, request);
    } catch (error) {
      // Deeper than any body the route lets through; such a request simply goes uncached.
      if (error instanceof CanonicalDepthError) return undefined;
      throw error;
    }
    return {
      key,
      read: !directives.noCache,
      ttlMs,
      maxAgeMs: directives.maxAgeS === undefined ? undefined : directives.maxAgeS * 1000,
      flightWaitMs,
      flight: undefined,
    };
  }

  private fresh(answer: CachedAnswer, plan: CachePlan, now: number): boolean {
    const age = now - answer.storedAt;
    return age <= plan.ttlMs && (plan.maxAgeMs === undefined || age <= plan.maxAgeMs);
  }

  private hit(answer: CachedAnswer, now: number): CacheHit {
    this.hits++;
    this.store.countLookup(true);
    return { answer, ageS: Math.max(0, Math.floor((now - answer.storedAt) / 1000)) };
  }

  private async read(key: string): Promise<CachedAnswer | undefined> {
    try {
      const answer = await this.store.get(key);
      this.recovered('read');
      return answer;
    } catch (error) {
      this.failed('read', error);
      return undefined;
    }
  }

  /** The leader's answer; undefined when it failed or this request left; 'timeout' when the wait ran out. */
  private async waitFor(flight: Flight, waitMs: number, signal: CallSignal | undefined): Promise<CachedAnswer | 'timeout' | undefined> {
    // Left already (during the admission or the context policy): an abort that happened fires no listener.
    if (signal?.aborted === true) return undefined;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const giveUp = new Promise<'timeout' | undefined>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), waitMs);
      onAbort = () => resolve(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([flight.promise, giveUp]);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * A fresh entry, or the answer of an identical request in flight on this instance; undefined on
   * a miss, after which this request may be the one others wait for. Every plan that comes back
   * from a miss must end in save() or release().
   */
  async lookup(plan: CachePlan, signal?: CallSignal): Promise<CacheHit | undefined> {
    if (!plan.read) {
      this.lead(plan);
      return undefined;
    }
    let waited = false;
    let flight = this.current(plan);
    if (flight === undefined) {
      const stored = await this.read(plan.key);
      const now = Date.now();
      if (stored !== undefined && this.fresh(stored, plan, now)) return this.hit(stored, now);
      flight = this.current(plan);
    }
    if (flight !== undefined) {
      waited = true;
      const answer = await this.waitFor(flight, plan.flightWaitMs, signal);
      const now = Date.now();
      if (answer !== undefined && answer !== 'timeout' && this.fresh(answer, plan, now)) return this.hit(answer, now);
      // A leader that outlived the whole wait holds no one else. Said here rather than left to
      // current()'s clock check: the timer runs on the event loop's clock, which can lag a little.
      if (answer === 'timeout' && this.flights.get(plan.key) === flight) this.flights.delete(plan.key);
    }
    this.misses++;
    this.store.countLookup(false);
    // A request released by a failed or slow leader goes on its own, without holding others.
    if (!waited) this.lead(plan);
    return undefined;
  }

  /** The request in flight for the plan's key; one that outlived the plan's longest wait no longer holds anyone. */
  private current(plan: CachePlan): Flight | undefined {
    const flight = this.flights.get(plan.key);
    if (flight === undefined || Date.now() - flight.startedAt < plan.flightWaitMs) return flight;
    this.flights.delete(plan.key);
    return undefined;
  }

  private lead(plan: CachePlan): void {
    if (this.flights.has(plan.key)) return;
    let resolve: (answer: CachedAnswer | undefined) => void = () => undefined;
    const promise = new Promise<CachedAnswer | undefined>((done) => {
      resolve = done;
    });
    const flight = { promise, resolve, startedAt: Date.now() };
    this.flights.set(plan.key, flight);
    plan.flight = flight;
  }

  /** Stores a complete answer (in the background) and hands it to the requests waiting for it. */
  save(plan: CachePlan, answer: CachedAnswer): void {
    if (answerSize(answer) > this.options.maxEntryBytes) {
      this.release(plan);
      return;
    }
    this.settle(plan, answer);
    this.store.set(plan.key, answer, plan.ttlMs).then(
      () => this.recovered('write'),
      (error: unknown) => this.failed('write', error),
    );
  }

  /** Ends the plan without an answer: the waiting requests go to the provider themselves. Idempotent. */
  release(plan: CachePlan): void {
    this.settle(plan, undefined);
  }

  private settle(plan: CachePlan, answer: CachedAnswer | undefined): void {
    const flight = plan.flight;
    if (flight === undefined) return;
    plan.flight = undefined;
    if (this.flights.get(plan.key) === flight) this.flights.delete(plan.key);
    flight.resolve(answer);
  }

  private failed(operation: 'read' | 'write', error: unknown): void {
    if (this.failing[operation]) return;
    this.failing[operation] = true;
    if (this.outage) return;
    this.outage = true;
    const message = operation === 'read' ? 'response cache unavailable: requests go to the provider' : 'response cache cannot store answers';
    this.logger.warn({ component: 'cache', backend: this.store.backend, operation, err: (error as Error).message }, message);
  }

  private recovered(operation: 'read' | 'write'): void {
    if (!this.failing[operation]) return;
    this.failing[operation] = false;
    if (!this.outage || this.failing.read || this.failing.write) return;
    this.outage = false;
    this.logger.info({ component: 'cache', backend: this.store.backend, operation }, 'response cache available again');
  }

  /** This process's own lookups (/metrics), whatever the store shares with other processes. */
  get lookups(): { hits: number; misses: number } {
    return { hits: this.hits, misses: this.misses };
  }

  /** Requests currently holding others (for tests and diagnostics). */
  get inFlight(): number {
    return this.flights.size;
  }

  async health(now = Date.now()): Promise<CacheHealth> {
    const stats = await this.store.stats(now);
    const hits = stats.hits ?? this.hits;
    const misses = stats.misses ?? this.misses;
    const total = hits + misses;
    return {
      backend: this.store.backend,
      status: stats.status,
      entries: stats.entries,
      size_bytes: stats.sizeBytes,
      hits,
      misses,
      hit_rate: total === 0 ? 0 : Math.round((hits / total) * 10_000) / 10_000,
    };
  }

  async close(): Promise<void> {
    for (const flight of this.flights.values()) flight.resolve(undefined);
    this.flights.clear();
    await this.store.close();
  }
}
