// RELIABILITY §4d#13 (every route goes through auth; a route-table test fails on any route missing
// it) and §4d#12 (every API answer carries Cache-Control: no-store and Vary: Authorization), and
// X-Content-Type-Options: nosniff on every answer, JSON and streams as the dashboard's pages. Every
// operation of /openapi.json is called without a key, with a client key and with the master key;
// openapi-docs.test.ts proves the document holds every route of the table, so a new route lands
// here too, and fails until it is given its access in the lists below.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, MASTER_KEY } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import { assertError, call, chat, hasWholeResponse, parseRawResponse, post, rawExchange, startStack, type RawResponse, type Stack } from '../support/reliability-support.js';

/** Routes anyone may call (CONTRACT.md: /health*; the dashboard page and its sign-in, the way to a session). */
const OPEN = new Set([
  'GET /health',
  'GET /health/live',
  'GET /health/ready',
  'GET /health/providers',
  'GET /health/cache',
  'GET /ui',
  'GET /ui/{*}',
  'POST /ui/session',
]);
/** The dashboard session itself: its cookie, not a key, opens it. */
const SESSION = new Set(['GET /ui/session', 'DELETE /ui/session']);
/** Master-only: a client key gets 403. */
const MASTER_ONLY = /^(?:[A-Z]+ \/admin\/|GET \/metrics$)/;

interface Operation {
  name: string;
  method: string;
  url: string;
  security: unknown[] | undefined;
}

describe('§4d#12/#13 access and caching headers on every route', () => {
  let stack: Stack;
  let operations: Operation[];

  before(async () => {
    stack = await startStack();
    const doc = JSON.parse((await call(stack.url, { method: 'GET', path: '/openapi.json', headers: { authorization: `Bearer ${CLIENT_KEY}` } })).body) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        name: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        url: path.replace('{*}', 'gpt-4').replace(/\{[A-Za-z_]+\}/g, '0123456789abcdef'),
        security: operation.security,
      })),
    );
    assert.ok(operations.length >= 30, `${operations.length} operations`);
  });
  after(async () => {
    await stack.close();
  });

  function send(operation: Operation, key: string | undefined): Promise<RawResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    const body = operation.method === 'GET' || operation.method === 'DELETE' ? undefined : '{}';
    return call(stack.url, { method: operation.method, path: operation.url, headers, ...(body === undefined ? {} : { body }) });
  }

  /** no-store on everything but the dashboard page (revalidated, no-cache); Vary: Authorization and nosniff on all. */
  function assertCachingHeaders(operation: Operation, res: RawResponse): void {
    assert.equal(res.headers.vary, 'Authorization', `${operation.name}: Vary`);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', `${operation.name}: X-Content-Type-Options`);
    assert.equal(res.headers['cache-control'], operation.name === 'GET /ui' ? 'no-cache' : 'no-store', `${operation.name}: Cache-Control`);
  }

  test('without a key: every route outside the open list answers 401 invalid_api_key; the document agrees', async () => {
    for (const operation of operations) {
      const res = await send(operation, undefined);
      assertCachingHeaders(operation, res);
      if (OPEN.has(operation.name)) {
        assert.notEqual(res.status, 401, `${operation.name} is open`);
        assert.deepEqual(operation.security, [], `${operation.name}: documented as open`);
      } else if (SESSION.has(operation.name)) {
        assert.equal(res.status, 401, operation.name);
      } else if (operation.url.startsWith('/v1/messages')) {
        // The Anthropic Messages routes answer in Anthropic's error shape.
        assert.equal(res.status, 401, operation.name);
        assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'authentication_error', operation.name);
      } else {
        assertError(res, { status: 401, code: 'invalid_api_key', type: 'authentication_error' });
        assert.notDeepEqual(operation.security ?? [], [], `${operation.name}: documented as open, but it needs a key`);
      }
    }
  });

  test('a client key: master-only routes answer 403; the others let it in', async () => {
    for (const operation of operations) {
      if (OPEN.has(operation.name) || SESSION.has(operation.name)) continue;
      const res = await send(operation, CLIENT_KEY);
      assertCachingHeaders(operation, res);
      if (MASTER_ONLY.test(operation.name)) {
        assertError(res, { status: 403, code: (JSON.parse(res.body) as { error: { code: string } }).error.code, type: 'permission_error' });
      } else {
        assert.ok(res.status !== 401 && res.status !== 403, `${operation.name}: ${res.status} ${res.body.slice(0, 200)}`);
      }
    }
  });

  test('the master key is let in everywhere a key opens', async () => {
    for (const operation of operations) {
      if (OPEN.has(operation.name) || SESSION.has(operation.name)) continue;
      const res = await send(operation, MASTER_KEY);
      assertCachingHeaders(operation, res);
      assert.ok(res.status !== 401 && res.status !== 403, `${operation.name}: ${res.status} ${res.body.slice(0, 200)}`);
    }
  });

  test('streams, unknown routes and upstream failures carry the same headers', async () => {
    const answers: Array<[string, RawResponse]> = [];
    answers.push(['stream', await post(stack.url, chat({ stream: true }))]);
    answers.push(['unknown route', await call(stack.url, { method: 'GET', path: '/v1/nothing-here', headers: { authorization: `Bearer ${CLIENT_KEY}` } })]);
    stack.fake.enqueue({ kind: 'status', status: 400 });
    answers.push(['upstream 400', await post(stack.url, chat())]);
    answers.push(['413', await post(stack.url, chat({}, 'x'.repeat(11 * 1024 * 1024)))]);
    for (const [name, res] of answers) {
      assert.equal(res.headers['cache-control'], 'no-store', name);
      assert.equal(res.headers.vary, 'Authorization', name);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', name);
    }
    assert.deepEqual(answers.map(([, res]) => res.status), [200, 404, 400, 413]);
  });
});

describe('§4d#12 refusals made outside the routes carry the same caching and nosniff headers', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({
      yaml: 'server:\n  headers_timeout_s: 1\n  request_timeout_s: 1.5\nauth:\n  max_failures_per_minute: 3\nrouting:\n  retries: 0\n  ttfb_timeout_s: 0.5\n',
    });
  });
  after(async () => {
    await stack.close();
  });

  const raw = async (pieces: string[], gapMs = 0): Promise<RawResponse> => parseRawResponse((await rawExchange(stack.url, pieces, { gapMs, timeoutMs: 5_000, until: hasWholeResponse })).text);

  test('malformed HTTP, timeouts, URL and coding refusals, rate limits, the auth lockout and upstream failures: no-store, Vary: Authorization and nosniff on each', async () => {
    const answers: Array<[string, number, RawResponse]> = [];
    answers.push(['not HTTP', 400, await raw(['HELLO WORLD\r\n\r\n'])]);
    answers.push(['bad X-Request-Id', 400, await raw(['GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: a\rb\r\n\r\n'])]);
    answers.push(['malformed percent-encoding', 400, await raw(['GET /v1/models/% HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'])]);
    answers.push(['bad Host', 400, await raw([`GET /v1/models HTTP/1.1\r\nHost: a?b\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n\r\n`])]);
    answers.push(['slow headers', 408, await raw(['GET /health HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n'], 1_500)]);
    answers.push(['long path parameter', 414, await call(stack.url, { method: 'DELETE', path: `/admin/keys/${'a'.repeat(1_100)}`, headers: { authorization: `Bearer ${MASTER_KEY}` } })]);
    answers.push(['Content-Encoding', 415, await post(stack.url, chat(), { 'content-encoding': 'gzip' })]);
    const limited = await createKey(stack.url, { name: 'one-a-minute', rpm_limit: 1 });
    const limitedHeaders = { authorization: `Bearer ${limited.key}`, 'content-type': 'application/json' };
    assert.equal((await call(stack.url, { headers: limitedHeaders, body: chat() })).status, 200);
    answers.push(['key rate limit', 429, await call(stack.url, { headers: limitedHeaders, body: chat() })]);
    stack.fake.enqueue({ kind: 'status', status: 500 });
    answers.push(['upstream 500', 502, await post(stack.url, chat())]);
    stack.fake.enqueue({ kind: 'delay-headers', ms: 2_000 });
    answers.push(['upstream timeout', 504, await post(stack.url, chat())]);
    for (let attempt = 0; attempt < 3; attempt++) await call(stack.url, { method: 'GET', path: '/v1/models', headers: { authorization: `Bearer sk-wrong-${attempt}` } });
    answers.push(['auth lockout', 429, await call(stack.url, { method: 'GET', path: '/v1/models', headers: { authorization: 'Bearer sk-wrong-again' } })]);
    for (const [name, status, res] of answers) {
      assert.equal(res.status, status, `${name}: ${res.body.slice(0, 200)}`);
      assert.equal(res.headers['cache-control'], 'no-store', `${name}: Cache-Control`);
      assert.equal(res.headers.vary, 'Authorization', `${name}: Vary`);
      assert.equal(res.headers['x-content-type-options'], 'nosniff', `${name}: X-Content-Type-Options`);
    }
  });
});
