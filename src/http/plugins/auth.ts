// Authentication and per-key request limits for every route. Each route declares its access in
// its config (`auth: 'none' | 'client' | 'master'`); a route that declares nothing needs a client
// key, so a forgotten declaration fails closed. Decided on the route table, never on the URL.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { authentication, permissionDenied, rateLimited } from '../../errors/gateway-error.js';
import type { Principal } from '../../keys/static-keys.js';
import { sessionCookie } from '../../keys/ui-sessions.js';
import { isVirtualKeyShaped } from '../../keys/virtual-keys.js';
import type { RateLimitDecision } from '../../rate-limit/memory-rate-limiter.js';
import { formatOpenAiDuration } from '../../rate-limit/openai-duration.js';
import { shareNote } from '../../rate-limit/instance-registry.js';
import type { Services } from '../../services.js';
import { addressBucket } from '../client-address.js';

export type Access = 'none' | 'client' | 'master';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: Access;
    /** A page a browser opens itself (GET): the dashboard session cookie opens it without the CSRF header. */
    sessionPage?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const MAX_KEY_LENGTH = 512;
/** Failed authentications per client address per minute, unless `auth.max_failures_per_minute` says otherwise. */
const DEFAULT_FAILURES_PER_MINUTE = 60;
/** Printable ASCII without spaces: anything else is malformed, and answered like an unknown key. */
const TOKEN = /^[\x21-\x7e]+$/;

/** The presented key, from `Authorization: Bearer` or `x-api-key`; undefined when absent or malformed. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders;
  let authorizations = 0;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') authorizations++;
  }
  // Node keeps only the first of repeated Authorization headers; two of them is an ambiguous request.
  if (authorizations > 1) return undefined;
  const header = request.headers.authorization;
  let token: string | undefined;
  if (header !== undefined) {
    if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    token = header.slice(7).trim();
  } else {
    const apiKey = request.headers['x-api-key'];
    token = typeof apiKey === 'string' ? apiKey.trim() : undefined;
  }
  if (token === undefined || token.length === 0 || token.length > MAX_KEY_LENGTH || !TOKEN.test(token)) return undefined;
  return token;
}

/**
 * The failed-authentication counter of a client address (behind a balancer named in
 * server.trust_proxy, the address it forwards; IPv6 by its /64), beside the keys' own counters in the shared limiter.
 */
function failureKey(request: FastifyRequest): string {
  return `auth-fail:${addressBucket(request.ip)}`;
}

/** An address's failed authentications: its standing before a credential is checked, and a failure counted. */
export interface FailedAuthGate {
  /** Undefined when the address may still try (or the count is off); throws 429 `too_many_auth_failures` when it may not. */
  standing(request: FastifyRequest): Promise<void> | undefined;
  /** Counts one failure of the address (before the refusal is sent, so a burst cannot outrun its count). */
  count(request: FastifyRequest): Promise<unknown> | undefined;
}

/**
 * The per-address count of failed authentications (RELIABILITY 4d#4), counted where request limits
 * are (Redis, the cluster primary, or the process), so N workers or instances allow an address one
 * limit, not N. Shared by the auth hook and the routes that check a credential of their own (`/metrics`'s token).
 */
export function failedAuthGate(services: Services): FailedAuthGate {
  const limit = services.config.auth.max_failures_per_minute ?? DEFAULT_FAILURES_PER_MINUTE;
  const counter = services.rateLimiter;
  const decide = (decision: RateLimitDecision): undefined => {
    if (!decision.allowed) {
      throw rateLimited('Too many failed authentication attempts from this address. Retry after the time in Retry-After.', decision.resetMs, 'too_many_auth_failures');
    }
    return undefined;
  };
  return {
    standing(request) {
      if (limit <= 0) return undefined;
      const standing = counter.consume(failureKey(request), limit - 1, 0, Date.now());
      return standing instanceof Promise ? standing.then(decide) : decide(standing);
    },
    count(request) {
      if (limit <= 0) return undefined;
      const counted = counter.consume(failureKey(request), limit, 1, Date.now());
      return counted instanceof Promise ? counted : undefined;
    },
  };
}

/**
 * The request limit's headers, under the names CONTRACT.md pins and again under OpenAI's (`-requests`),
 * which clients written for OpenAI read beside the `-tokens` family (src/rate-limit/chat-admission.ts).
 * The reset is whole seconds under the bare name (CONTRACT.md) and OpenAI's duration (`1s`, `6m0s`) under its name.
 */
function setLimitHeaders(reply: FastifyReply, limit: number, remaining: number, resetMs: number): void {
  const reset = Math.ceil(resetMs / 1000);
  reply.header('x-ratelimit-limit', limit);
  reply.header('x-ratelimit-remaining', remaining);
  reply.header('x-ratelimit-reset', reset);
  reply.header('x-ratelimit-limit-requests', limit);
  reply.header('x-ratelimit-remaining-requests', remaining);
  reply.header('x-ratelimit-reset-requests', formatOpenAiDuration(resetMs));
}

/**
 * A key with no request limit: CONTRACT.md's three still, each 0, as 0 means no limit in the
 * configuration (a client that waits Reset seconds at Remaining 0 waits none). Not OpenAI's
 * `-requests` names: OpenAI never sends a limit of 0, and clients read those as a real quota.
 */
function setNoLimitHeaders(reply: FastifyReply): void {
  reply.header('x-ratelimit-limit', 0);
  reply.header('x-ratelimit-remaining', 0);
  reply.header('x-ratelimit-reset', 0);
}

/** Only reads: a route marked as a page is never opened by the cookie alone for anything else. */
function sessionPage(request: FastifyRequest): boolean {
  return request.routeOptions.config.sessionPage === true && (request.method === 'GET' || request.method === 'HEAD');
}

export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest('principal', null);
  const defaultRpm = services.config.limits.default_rpm;

  const failureLimit = services.config.auth.max_failures_per_minute ?? DEFAULT_FAILURES_PER_MINUTE;
  const failures = failedAuthGate(services);

  /** The key's request limit; the limiter answers at once in memory, through a promise with Redis or the cluster primary. */
  const limitRequests = (principal: Principal, reply: FastifyReply): Promise<void> | undefined => {
    const rpm = principal.rpmLimit ?? defaultRpm;
    if (rpm <= 0) {
      setNoLimitHeaders(reply);
      return undefined;
    }
    const apply = (decision: RateLimitDecision) => {
      setLimitHeaders(reply, decision.limit, decision.remaining, decision.resetMs);
      if (!decision.allowed) {
        throw rateLimited(`Rate limit reached: ${decision.limit} requests per minute for this key${shareNote(decision.limit, rpm)}. Retry after the time in Retry-After.`, decision.resetMs);
      }
    };
    const pending = services.rateLimiter.consume(`rpm:${principal.stableId ?? principal.keyId}`, rpm, 1, Date.now());
    if (pending instanceof Promise) return pending.then(apply);
    apply(pending);
    return undefined;
  };

  const refuse = (request: FastifyRequest): never => {
    // A person at a browser, not a script: the page they can sign in at is the way in.
    if (sessionPage(request)) {
      throw authentication('Missing or invalid API key. Sign in to the dashboard at /ui (master key) and open this page again in the same browser, or send a valid key in "Authorization" ("Bearer" and the key) or "x-api-key".');
    }
    // One answer for missing, malformed and unknown keys, so the body tells a prober nothing (RELIABILITY 4a#16).
    // Worded so the redactor, which masks whatever follows "Bearer ", leaves the hint readable.
    // A dashboard session cookie without a key gets its own hint, the same whether the session lives
    // or not: a script that sends only the cookie was otherwise told about keys it never meant to send.
    if (presentedKey(request) === undefined && sessionCookie(request.headers.cookie) !== undefined) {
      throw authentication(`The dashboard session is unknown or expired, or its "X-LLM-Proxy-CSRF" header is missing or wrong: send the session's CSRF token (POST or GET /ui/session) with the cookie, or a valid key in "Authorization" ("Bearer" and the key) or "x-api-key".`);
    }
    throw authentication('Missing or invalid API key. Send a valid key in the "Authorization" header ("Bearer" and the key) or in "x-api-key".');
  };

  const admit = (request: FastifyRequest, reply: FastifyReply, access: Access, principal: Principal | undefined): Promise<void> | undefined => {
    if (principal === undefined) {
      const counted = failures.count(request);
      return counted === undefined ? refuse(request) : counted.then(() => refuse(request));
    }
    if (access === 'master' && principal.role !== 'master') {
      // Still an authenticated answer: counted against the key's limit, with its headers (CONTRACT.md).
      const refuse = (): never => {
        throw permissionDenied('This endpoint needs the master key.', 'master_key_required');
      };
      const limited = limitRequests(principal, reply);
      return limited === undefined ? refuse() : limited.then(refuse);
    }
    request.principal = principal;
    return limitRequests(principal, reply);
  };

  /** Undefined when decided at once (static and master keys, the in-memory limiter); a promise otherwise. */
  const check = (request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
    const access = request.routeOptions.config.auth ?? 'client';
    if (access === 'none') return undefined;
    const key = presentedKey(request);
    // Decided at once, with no shared counter asked (a Redis or IPC round trip, paid only by what may
    // be a guess): static and master keys, virtual keys already verified and cached, and with no key
    // at all a dashboard session cookie, honoured only with its CSRF header (src/keys/ui-sessions.ts)
    // but on the pages a browser opens itself (sessionPage).
    const principal =
      key === undefined
        ? sessionPage(request)
          ? services.uiSessions.authenticatePage(request.headers, services.keys.masterTag)
          : services.uiSessions.authenticate(request.headers, services.keys.masterTag)
        : (services.keys.authenticate(key) ?? (isVirtualKeyShaped(key) ? services.virtualKeys.cachedPrincipal(key) : undefined));
    if (principal !== undefined) return admit(request, reply, access, principal);
    const lookUp = (): Promise<void> | undefined =>
      // Other virtual keys (sk-gw_…) from the database; anything else is refused (and counted).
      key !== undefined && isVirtualKeyShaped(key)
        ? services.virtualKeys.authenticate(key).then((found) => admit(request, reply, access, found))
        : admit(request, reply, access, undefined);
    // A virtual key verified here before whose cache entry has aged is no guess: it is read again
    // whatever its address's failures (a shared egress address must not lock out known keys).
    if (failureLimit <= 0 || (key !== undefined && isVirtualKeyShaped(key) && services.virtualKeys.verifiedBefore(key))) return lookUp();
    // An address over its failed-authentication limit gets no further lookups (no database reads
    // for guessed virtual keys) until its window passes; the keys known above still work.
    const standing = failures.standing(request);
    return standing === undefined ? lookUp() : standing.then(lookUp);
  };

  // A key is checked when the headers arrive; the handler runs once the body has. A request to a
  // master-only route whose body came after a reload rotated the key (its generation retired it) is
  // refused here. Only those routes get the hook: the client routes' hot path stays without one.
  const retiredMaster: preHandlerHookHandler = (request, _reply, done) => {
    if (request.principal?.role === 'master' && services.keys.masterTag === undefined) {
      done(authentication('The master key changed while this request was under way: send it again with the current master key.'));
    } else done();
  };
  app.addHook('onRoute', (route) => {
    if (route.config?.auth !== 'master') return;
    const own = route.preHandler;
    route.preHandler = own === undefined ? [retiredMaster] : Array.isArray(own) ? [retiredMaster, ...own] : [retiredMaster, own];
  });

  // Callback-style: a request with a static key costs no promise (it runs once per request).
  app.addHook('onRequest', (request, reply, done) => {
    let pending: Promise<void> | undefined;
    try {
      pending = check(request, reply);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (pending === undefined) done();
    else pending.then(() => done(), done);
  });
}
