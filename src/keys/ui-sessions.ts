// Dashboard sessions (issue #10): the master key is exchanged once, by POST /ui/session, for a
// random session id in an HttpOnly, SameSite=Strict cookie, so the page never holds the key in a
// URL or in web storage. A cookie is sent by the browser on its own, so it authenticates only a
// request that also carries the session's CSRF token in a custom header, which a cross-site form
// or image cannot send (and a cross-site script cannot, without the CORS the gateway never grants).
// Sessions live in this process's memory: a restart or another instance means signing in again.
// Each session names the master key it was signed in with (a tag of its digest, StaticKeyRing's
// masterTag) and is honoured only while that is still the master key of the generation asking: a
// sign-in that a retired generation finishes after a key rotation, or one another worker passes on
// late, never acts as the new key.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from './static-keys.js';

export const SESSION_COOKIE = 'llmp_ui';
export const CSRF_HEADER = 'x-llm-proxy-csrf';
const DEFAULT_TTL_MS = 8 * 3_600_000;
const MAX_SESSIONS = 1_000;
/** 32 random bytes, base64url: what the store hands out, so anything else is not looked up. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** A master key's tag (StaticKeyRing.masterTag): 22 base64url characters. */
const TAG_SHAPE = /^[A-Za-z0-9_-]{22}$/;

/** A session acts as the master key. */
const MASTER: Principal = Object.freeze({ keyId: 'master', role: 'master' });

export interface UiSession {
  id: string;
  csrf: string;
  expiresAt: number;
  /** The tag of the master key it was signed in with. */
  master: string;
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

function sameToken(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** The session id from a Cookie header, when it has the right shape. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const pair = part.trim();
    if (pair.startsWith(`${SESSION_COOKIE}=`)) {
      const value = pair.slice(SESSION_COOKIE.length + 1);
      return TOKEN_SHAPE.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** A cookie and no key: a request that presents a key (even a malformed one) is judged by that key alone. */
function cookieOnly(headers: IncomingHttpHeaders): boolean {
  return headers.cookie !== undefined && headers.authorization === undefined && headers['x-api-key'] === undefined;
}

export class UiSessionStore {
  /** Insertion order is creation order, so the first entry is the oldest. */
  private readonly sessions = new Map<string, UiSession>();

  constructor(readonly ttlMs = DEFAULT_TTL_MS) {}

  /** A session for a sign-in with the master key whose tag is `master`. */
  create(master: string, now = Date.now()): UiSession {
    const session: UiSession = { id: token(), csrf: token(), expiresAt: now + this.ttlMs, master };
    this.keep(session, now);
    return session;
  }

  /** Stores a session, dropping expired ones; bounded, the oldest giving way rather than memory growing with every sign-in. */
  private keep(session: UiSession, now: number): void {
    for (const [id, held] of this.sessions) if (held.expiresAt <= now) this.sessions.delete(id);
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
    this.sessions.set(session.id, session);
  }

  /**
   * The live session named by the request's cookie, signed in with the master key tagged `master`
   * (the asking generation's; undefined when it has none): no CSRF check, for reading the session itself.
   */
  fromCookie(headers: IncomingHttpHeaders, master: string | undefined, now = Date.now()): UiSession | undefined {
    const id = sessionCookie(headers.cookie);
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    return master !== undefined && session.master === master ? session : undefined;
  }

  /** The live session of a request that also proves, by its CSRF header, that the page itself sent it. */
  verified(headers: IncomingHttpHeaders, master: string | undefined, now = Date.now()): UiSession | undefined {
    const csrf = headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !TOKEN_SHAPE.test(csrf)) return undefined;
    // Browsers say when a request comes from another site; such a request is never the dashboard's.
    if (headers['sec-fetch-site'] === 'cross-site') return undefined;
    const session = this.fromCookie(headers, master, now);
    return session !== undefined && sameToken(session.csrf, csrf) ? session : undefined;
  }

  /** For the auth plugin: the master principal when the request carries a verified session. */
  authenticate(headers: IncomingHttpHeaders, master: string | undefined, now = Date.now()): Principal | undefined {
    if (!cookieOnly(headers)) return undefined;
    return this.verified(headers, master, now) === undefined ? undefined : MASTER;
  }

  /**
   * For a page a browser opens itself (GET /docs, /openapi.json), which cannot send the CSRF
   * header: the cookie alone, unless the browser says another site asked. Reading is all these
   * routes do, and another site could not read the answer anyway (no CORS).
   */
  authenticatePage(headers: IncomingHttpHeaders, master: string | undefined, now = Date.now()): Principal | undefined {
    if (!cookieOnly(headers) || headers['sec-fetch-site'] === 'cross-site') return undefined;
    return this.fromCookie(headers, master, now) === undefined ? undefined : MASTER;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session: the master key they were signed in with is no longer the master key. */
  clear(): void {
    this.sessions.clear();
  }

  /** Keeps a session another worker process of this server made (`--workers`), so any worker accepts it. */
  adopt(session: UiSession): void {
    const now = Date.now();
    if (TOKEN_SHAPE.test(session.id) && TOKEN_SHAPE.test(session.csrf) && TAG_SHAPE.test(session.master) && Number.isFinite(session.expiresAt) && session.expiresAt > now) {
      this.keep({ id: session.id, csrf: session.csrf, expiresAt: Math.min(session.expiresAt, now + this.ttlMs), master: session.master }, now);
    }
  }

  get size(): number {
    return this.sessions.size;
  }
}
