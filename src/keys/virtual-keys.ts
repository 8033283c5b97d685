// Virtual keys: made by the master key (admin API or CLI), each with its own models, limits, budget
// and expiry. A key is `sk-gw_<id>_<secret>` (32 random bytes, base64url), shown once and stored as
// its SHA-256 only. Look-ups go through a short-lived memory cache keyed by the full digest, with a
// bounded negative cache; a change is dropped from this instance's cache at once and announced to
// the others (key-change-bus.ts). While the database is away, known keys are served from the cache.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { permissionDenied, serviceUnavailable } from '../errors/gateway-error.js';
import type { Logger } from '../logging/logger.js';
import type { KeySettings, KeyStore, StoredKey } from '../store/key-store.js';
import type { Principal } from './static-keys.js';

export const VIRTUAL_KEY_PREFIX = 'sk-gw_';
/** The id is 16 hex characters (never `_`); the secret is 43 base64url characters (which may hold `_`). */
const KEY_FORMAT = /^sk-gw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const HEX_DIGEST = /^[0-9a-f]{64}$/;
/** Longest a key look-up waits on a database already known to be away (as a budget hold does: HOLD_TIMEOUT_MS). */
export const DOWN_LOOKUP_WAIT_MS = 1_000;

export interface GeneratedKey {
  id: string;
  key: string;
  prefix: string;
  hash: string;
}

export function hashVirtualKey(key: string): string {
  return hash('sha256', key, 'hex');
}

export function generateVirtualKey(): GeneratedKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const key = `${VIRTUAL_KEY_PREFIX}${id}_${secret}`;
  return { id, key, prefix: secret.slice(0, 4), hash: hashVirtualKey(key) };
}

export function isVirtualKeyShaped(presented: string): boolean {
  return presented.startsWith(VIRTUAL_KEY_PREFIX);
}

/** Whether a stored key is usable now, and if not, why. */
export function keyState(key: Pick<StoredKey, 'revokedAt' | 'expiresAt'>, now: number): 'active' | 'revoked' | 'expired' {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && now >= key.expiresAt) return 'expired';
  return 'active';
}

export function toPrincipal(key: StoredKey): Principal {
  return {
    keyId: key.id,
    role: 'client',
    ...(key.rpmLimit === null ? {} : { rpmLimit: key.rpmLimit }),
    ...(key.tpmLimit === null ? {} : { tpmLimit: key.tpmLimit }),
    ...(key.models === null ? {} : { models: key.models }),
    ...(key.maxBudget === null ? {} : { maxBudget: key.maxBudget }),
  };
}

interface CacheEntry {
  /** null: no key has this digest (the negative cache). */
  key: StoredKey | null;
  fetchedAt: number;
}

export interface VirtualKeyCacheOptions {
  /** How long a found key is trusted without asking the database (at most 60 s). */
  ttlMs?: number;
  /** How long "no such key" is remembered. */
  negativeTtlMs?: number;
  /** How old a cached key may be and still be served while the database is away. */
  maxStaleMs?: number;
  maxEntries?: number;
}

export class VirtualKeyService {
  private readonly cache: LRUCache<string, CacheEntry>;
  private readonly digestById = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<StoredKey | null>>();
  private readonly listeners: Array<(id: string) => void> = [];
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxStaleMs: number;
  /** Bumped by every invalidation, so a read that began before one is not cached after it. */
  private generation = 0;
  private storeDown = false;

  constructor(
    private readonly store: KeyStore,
    private readonly logger: Logger,
    options: VirtualKeyCacheOptions = {},
  ) {
    this.ttlMs = Math.min(options.ttlMs ?? 30_000, 60_000);
    this.negativeTtlMs = options.negativeTtlMs ?? 10_000;
    this.maxStaleMs = options.maxStaleMs ?? 15 * 60_000;
    this.cache = new LRUCache<string, CacheEntry>({
      max: options.maxEntries ?? 10_000,
      dispose: (entry, digest) => {
        if (entry.key !== null && this.digestById.get(entry.key.id) === digest) this.digestById.delete(entry.key.id);
      },
    });
  }

  /** Called with a key id after every change made here (the bus announces it to the other instances). */
  onChange(listener: (id: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The principal for a presented `sk-gw_…` key; undefined when it is not a key we know. A revoked
   * or expired key is refused with a message that says which; a database that cannot be asked
   * about an unknown key is 503 `auth_unavailable` (fail closed).
   */
  async authenticate(presented: string, now = Date.now()): Promise<Principal | undefined> {
    const match = KEY_FORMAT.exec(presented);
    if (match === null) return undefined;
    const key = await this.lookup(match[1] as string, hashVirtualKey(presented), now);
    if (key === null) return undefined;
    const state = keyState(key, now);
    if (state === 'revoked') throw permissionDenied('This API key has been revoked. Ask the administrator for a new key.', 'key_revoked');
    if (state === 'expired') {
      throw permissionDenied(`This API key expired at ${new Date(key.expiresAt ?? now).toISOString()}. Ask the administrator for a new key.`, 'key_expired');
    }
    return toPrincipal(key);
  }

  /**
   * The principal of an active key whose record is fresh in the cache, without a promise or a
   * database read; undefined when only authenticate() can tell (not cached, stale, unknown, revoked
   * or expired: it gives the answer and the message).
   */
  cachedPrincipal(presented: string, now = Date.now()): Principal | undefined {
    if (!KEY_FORMAT.test(presented)) return undefined;
    const cached = this.cache.get(hashVirtualKey(presented));
    if (cached === undefined || cached.key === null || now - cached.fetchedAt >= this.ttlMs) return undefined;
    return keyState(cached.key, now) === 'active' ? toPrincipal(cached.key) : undefined;
  }

  /**
   * Whether this presented key was verified here before and is still remembered, however long ago
   * (its entry may want a fresh read): a key, not a guess, so an address's failed-authentication
   * lockout does not keep it from that read.
   */
  verifiedBefore(presented: string): boolean {
    if (!KEY_FORMAT.test(presented)) return false;
    return (this.cache.peek(hashVirtualKey(presented))?.key ?? null) !== null;
  }

  /** The cached record of a key, if any (budget decisions while the database is away). */
  cached(id: string): StoredKey | undefined {
    const digest = this.digestById.get(id);
    return digest === undefined ? undefined : (this.cache.peek(digest)?.key ?? undefined);
  }

  private async lookup(id: string, digest: string, now: number): Promise<StoredKey | null> {
    const cached = this.cache.get(digest);
    if (cached !== undefined && now - cached.fetchedAt < (cached.key === null ? this.negativeTtlMs : this.ttlMs)) return cached.key;
    if (this.storeDown && cached?.key != null && now - cached.fetchedAt < this.maxStaleMs) {
      // Known to be down: answer from the cache now, and let one read in the background find out when it is back.
      this.fetch(id, digest).catch(() => undefined);
      return cached.key;
    }
    try {
      // Known to be down and nothing cached: a hung database would hold the request for the whole
      // query timeout (5 s) before the same 503; the read goes on and caches what it finds.
      return await (this.storeDown ? this.withinWait(this.fetch(id, digest)) : this.fetch(id, digest));
    } catch (error) {
      this.markStore(false, error);
      if (cached?.key != null && now - cached.fetchedAt < this.maxStaleMs) return cached.key;
      throw serviceUnavailable('API keys cannot be checked right now because the key database is unavailable. Retry shortly.', 'auth_unavailable', 1_000);
    }
  }

  private withinWait(reading: Promise<StoredKey | null>): Promise<StoredKey | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the key database did not answer within ${DOWN_LOOKUP_WAIT_MS} ms`)), DOWN_LOOKUP_WAIT_MS);
      timer.unref();
    });
    reading.catch(() => undefined);
    return Promise.race([reading, timeout]).finally(() => clearTimeout(timer));
  }

  private fetch(id: string, digest: string): Promise<StoredKey | null> {
    const pending = this.inflight.get(digest);
    if (pending !== undefined) return pending;
    const generation = this.generation;
    const request = this.store
      .findById(id)
      .then((row) => {
        this.markStore(true);
        const found = row !== undefined && HEX_DIGEST.test(row.keyHash) && timingSafeEqual(Buffer.from(row.keyHash, 'hex'), Buffer.from(digest, 'hex')) ? row : null;
        if (generation === this.generation) this.remember(digest, found);
        return found;
      })
      .finally(() => {
        if (this.inflight.get(digest) === request) this.inflight.delete(digest);
      });
    this.inflight.set(digest, request);
    return request;
  }

  private remember(digest: string, key: StoredKey | null): void {
    this.cache.set(digest, { key, fetchedAt: Date.now() });
    if (key !== null) this.digestById.set(key.id, digest);
  }

  private markStore(up: boolean, error?: unknown): void {
    if (up === !this.storeDown) return;
    this.storeDown = !up;
    if (up) this.logger.info({ component: 'keys' }, 'key database available again');
    else this.logger.warn({ component: 'keys', err: error instanceof Error ? error.message : String(error) }, 'key database unavailable: known keys are served from the cache');
  }

  /**
   * Drops one key from this instance's cache, so its next use reads the database. With `updatedAt`
   * (the change poll's row version), a cached copy already at that version stays: a key created and
   * used within the poll's second was dropped once for its own creation, and a lookup it then needed
   * could be refused (an address locked out for failed keys) or fail (the database away).
   */
  invalidate(id: string, updatedAt?: number): void {
    const digest = this.digestById.get(id);
    if (updatedAt !== undefined && digest !== undefined) {
      const cached = this.cache.get(digest)?.key;
      if (cached != null && cached.updatedAt >= updatedAt) return;
    }
    this.generation++;
    this.inflight.clear();
    if (digest !== undefined) this.cache.delete(digest);
    this.digestById.delete(id);
  }

  /** Drops every key (after missing announcements, e.g. a Redis reconnect). */
  invalidateAll(): void {
    this.generation++;
    this.inflight.clear();
    this.cache.clear();
    this.digestById.clear();
  }

  private changed(id: string): void {
    this.invalidate(id);
    for (const listener of this.listeners) listener(id);
  }

  private async admin<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      this.logger.error({ component: 'keys', err: error instanceof Error ? error.message : String(error) }, 'key database operation failed');
      throw serviceUnavailable('The key database is unavailable. Retry shortly.', 'store_unavailable', 1_000);
    }
  }

  /** Makes a key; the returned `key` is the only time its secret exists outside the client. */
  async create(settings: KeySettings, now = Date.now()): Promise<{ record: StoredKey; key: string }> {
    const generated = generateVirtualKey();
    const record = await this.admin(() => this.store.insert({ ...settings, id: generated.id, keyHash: generated.hash, prefix: generated.prefix }, now));
    return { record, key: generated.key };
  }

  list(): Promise<StoredKey[]> {
    return this.admin(() => this.store.list());
  }

  get(id: string): Promise<StoredKey | undefined> {
    return this.admin(() => this.store.findById(id));
  }

  async update(id: string, settings: KeySettings, now = Date.now()): Promise<StoredKey | undefined> {
    const record = await this.admin(() => this.store.update(id, settings, now));
    if (record !== undefined) this.changed(id);
    return record;
  }

  async revoke(id: string, now = Date.now()): Promise<StoredKey | undefined> {
    const record = await this.admin(() => this.store.revoke(id, now));
    if (record !== undefined) this.changed(id);
    return record;
  }
}
