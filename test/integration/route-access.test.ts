// RELIABILITY §4d#13 (every route goes through auth; a route-table test fails on any route missing
// it) and §4d#12 (every API answer carries Cache-Control: no-store and Vary: Authorization). Every
// operation of /openapi.json is called without a key, with a client key and with the master key;
// openapi-docs.test.ts proves the document holds every route of the table, so a new route lands
// here too, and fails until it is given its access in the lists below.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, MASTER_KEY } from '../support/gateway-harness.js';
import { assertError, call, chat, post, startStack, type RawResponse, type Stack } from '../support/reliability-support.js';

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

  /** no-store on everything but the dashboard page (revalidated, no-cache); Vary: Authorization on all. */
  function assertCachingHeaders(operation: Operation, res: RawResponse): void {
    assert.equal(res.headers.vary, 'Authorization', `${operation.name}: Vary`);
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
    }
    assert.deepEqual(answers.map(([, res]) => res.status), [200, 404, 400, 413]);
  });
});
