// The admin dashboard (issue #10): GET /ui and its assets, served from files in the package (the
// page's HTML and CSS in ui/, its scripts compiled into dist/ui/, the chart library from
// node_modules), never from a CDN; and the sign-in session, POST/GET/DELETE /ui/session.
// Every /ui answer carries a strict Content-Security-Policy: scripts and styles from this origin
// only, no inline script, no framing.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authentication, GatewayError, invalidRequest, invalidType, permissionDenied, rateLimited, routeNotFound } from '../../errors/gateway-error.js';
import { SESSION_COOKIE, type UiSession } from '../../keys/ui-sessions.js';
import type { Services } from '../../services.js';
import { addressBucket } from '../client-address.js';

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Sign-in attempts per client address per minute: the key cannot be guessed, but a loop should still meet a wall. */
const SIGN_INS_PER_MINUTE = 30;
const MAX_KEY_LENGTH = 512;

interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** The package root, from dist/src/http/routes/ui.js. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function asset(file: string): Asset {
  const body = readFileSync(file);
  return {
    body,
    contentType: CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

/**
 * Every file the dashboard may serve, by URL path, read once at start (about 100 KB): a fixed
 * table, so no request path ever reaches the file system.
 */
export function loadAssets(root = PACKAGE_ROOT): { assets: Map<string, Asset>; missing: string[] } {
  const assets = new Map<string, Asset>();
  const missing: string[] = [];
  const add = (path: string, file: string) => {
    if (existsSync(file)) assets.set(path, asset(file));
    else missing.push(file);
  };
  add('/ui', join(root, 'ui', 'index.html'));
  add('/ui/style.css', join(root, 'ui', 'style.css'));
  add('/ui/favicon.svg', join(root, 'ui', 'favicon.svg'));
  const scripts = join(root, 'dist', 'ui');
  if (existsSync(scripts)) {
    for (const name of readdirSync(scripts)) if (name.endsWith('.js')) add(`/ui/${name}`, join(scripts, name));
  }
  if (!assets.has('/ui/app.js')) missing.push(join(scripts, 'app.js'));
  // uPlot ships prebuilt files; resolved like an import, so a hoisted or nested install both work.
  try {
    const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
    add('/ui/vendor/uplot.js', join(uplot, 'uPlot.iife.min.js'));
    add('/ui/vendor/uplot.css', join(uplot, 'uPlot.min.css'));
  } catch {
    missing.push('node_modules/uplot');
  }
  return { assets, missing };
}

/**
 * The API reference page (/docs, Swagger UI's bundled files): as strict for scripts, framing and
 * plugins; Swagger UI sets style attributes in the markup it renders, so inline styles are allowed.
 */
export const DOCS_CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function securityHeaders(reply: FastifyReply, policy = CONTENT_SECURITY_POLICY): FastifyReply {
  return reply
    .header('content-security-policy', policy)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin');
}

function cookie(request: FastifyRequest, value: string, maxAgeS: number): string {
  // Secure only over https (TLS here, or X-Forwarded-Proto from a balancer server.trust_proxy
  // trusts): on plain http://localhost a Secure cookie would never come back.
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure}`;
}

/**
 * A browser names the page that sent a request; a sign-in from any other site is refused. The
 * page's host is compared with the one the client asked for: request.host, which follows
 * X-Forwarded-Host only from a peer server.trust_proxy trusts (a balancer that rewrites Host).
 */
function sameOrigin(request: FastifyRequest): boolean {
  if (request.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  let page: URL;
  try {
    page = new URL(origin);
  } catch {
    return false;
  }
  // HTTP/1.0 may come without a Host: nothing to compare with.
  if (request.host === '' || page.host !== request.host) return false;
  // Over https (TLS here, or a trusted balancer's X-Forwarded-Proto) the page must be https too. Over
  // plain http the client's scheme is unknown: an untrusted balancer may have ended TLS.
  return page.protocol === 'https:' || (page.protocol === 'http:' && request.protocol.toLowerCase() !== 'https');
}

function describeSession(session: UiSession): Record<string, unknown> {
  return { object: 'ui_session', csrf_token: session.csrf, expires_at: new Date(session.expiresAt).toISOString() };
}

export function registerUi(app: FastifyInstance, services: Services): void {
  const sessions = services.uiSessions;
  const { assets, missing } = loadAssets();
  if (missing.length > 0) services.logger.warn({ component: 'ui', missing }, 'dashboard files missing: run `npm run build`');

  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    securityHeaders(reply);
    const wildcard = (request.params as { '*'?: string } | undefined)?.['*'];
    const path = wildcard === undefined || wildcard === '' || wildcard === 'index.html' ? '/ui' : `/ui/${wildcard}`;
    const file = assets.get(path);
    if (file === undefined) {
      if (path === '/ui') throw new GatewayError({ status: 503, type: 'api_error', code: 'ui_not_built', message: 'The dashboard is not built: run `npm run build`.' });
      throw routeNotFound(request.method, request.url.split('?')[0] ?? '');
    }
    // Revalidated on each load (names carry no hash), answered by a 304 when unchanged.
    reply.header('cache-control', 'no-cache').header('etag', file.etag);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.header('content-type', file.contentType).send(file.body);
  };
  app.get('/ui', { config: { auth: 'none' } }, serve);
  app.get('/ui/*', { config: { auth: 'none' } }, serve);

  // Sign in: the master key, once, for a session cookie and the CSRF token the page sends back.
  app.post('/ui/session', { config: { auth: 'none' } }, async (request, reply) => {
    securityHeaders(reply);
    if (!sameOrigin(request)) throw permissionDenied('Sign in from the dashboard page itself.', 'cross_origin');
    const decision = await services.rateLimiter.consume(`ui-sign-in:${addressBucket(request.ip)}`, SIGN_INS_PER_MINUTE, 1, Date.now());
    if (!decision.allowed) throw rateLimited('Too many sign-in attempts. Retry after the time in Retry-After.', decision.resetMs);
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('The request body must be a JSON object with "master_key".', 'invalid_json');
    const key = (body as { master_key?: unknown }).master_key;
    if (typeof key !== 'string') throw invalidType('master_key', 'a string');
    const principal = key.length === 0 || key.length > MAX_KEY_LENGTH ? undefined : services.keys.authenticate(key);
    const master = services.keys.masterTag;
    if (principal?.role !== 'master' || master === undefined) throw authentication('This is not the master key.', 'invalid_master_key');
    // Tagged with this generation's master key: if a reload rotates the key while this request was
    // under way, the new generation never honours it.
    const session = sessions.create(master);
    reply.header('set-cookie', cookie(request, session.id, Math.floor(sessions.ttlMs / 1000)));
    return reply.code(201).send(describeSession(session));
  });

  // A page that was reloaded asks for its CSRF token again; only this origin can read the answer.
  app.get('/ui/session', { config: { auth: 'none' } }, async (request, reply) => {
    securityHeaders(reply);
    const session = sessions.fromCookie(request.headers, services.keys.masterTag);
    if (session === undefined) throw authentication('Not signed in.', 'no_session');
    return describeSession(session);
  });

  // Sign out: needs the CSRF token too, so another site cannot sign the operator out.
  app.delete('/ui/session', { config: { auth: 'none' } }, async (request, reply) => {
    securityHeaders(reply);
    const session = sessions.verified(request.headers, services.keys.masterTag);
    if (session === undefined) throw authentication('Not signed in.', 'no_session');
    sessions.delete(session.id);
    reply.header('set-cookie', cookie(request, '', 0));
    return { object: 'ui_session', deleted: true };
  });
}
