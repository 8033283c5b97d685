// URLs the router refuses before any route or hook runs (a malformed percent-encoding, a path
// parameter over maxParamLength): answered as OpenAI-shaped JSON with an X-Request-Id, without
// echoing the path, and the server keeps serving (Fastify's `frameworkErrors`, src/app.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, eventually } from '../support/gateway-harness.js';
import {
  assertError,
  assertServing,
  call,
  chat,
  chatCalls,
  hasWholeResponse,
  JSON_AUTH,
  parseRawResponse,
  rawExchange,
  startStack,
  type RawResponse,
  type Stack,
} from '../support/reliability-support.js';

/** The exact error body, and that nothing of the path (nor Fastify's own wording) is in the answer. */
function assertRefused(res: RawResponse, status: number, code: string, path: string): void {
  const error = assertError(res, { status, code, param: null, type: 'invalid_request_error' });
  assert.deepEqual(Object.keys(JSON.parse(res.body) as object), ['error']);
  assert.equal(typeof error.message, 'string');
  const tail = path.slice(path.lastIndexOf('/') + 1);
  assert.ok(!res.body.includes(tail), `${path.slice(0, 60)}: the path is echoed: ${res.body}`);
  assert.ok(!/FST_|statusCode|Bad Request/.test(res.body), `Fastify's own body: ${res.body}`);
}

describe('malformed URLs refused by the router', () => {
  let stack: Stack;
  let url: string;

  before(async () => {
    stack = await startStack();
    url = stack.url;
  });
  after(async () => {
    await stack.close();
  });

  test('a malformed percent-encoding → 400 invalid_url, whatever the route, method or key', async () => {
    const from = stack.fake.requests.length;
    const cases: Array<[string, string, string | undefined]> = [
      ['GET', '/%', undefined],
      ['GET', '/%zz', undefined],
      ['GET', '/health/%ff%', undefined],
      ['GET', '/v1/models/%', undefined],
      ['GET', '/api/models/%E0%A4%A', undefined],
      ['DELETE', '/admin/keys/%', undefined],
      ['POST', '/v1/chat/completions%', chat()],
      ['POST', '/v1/messages%', chat()],
    ];
    for (const [method, path, body] of cases) {
      for (const headers of [JSON_AUTH, {}]) {
        const res = await call(url, { method, path, headers, ...(body === undefined ? {} : { body }) });
        assertRefused(res, 400, 'invalid_url', path);
      }
    }
    assert.equal(chatCalls(stack.fake, from), 0, 'the upstream saw nothing');
    await assertServing(url);
  });

  test('a path parameter over maxParamLength (1024) → 414 url_too_long, not echoed', async () => {
    for (const path of [`/admin/keys/${'a'.repeat(1100)}`, `/admin/keys/${'%41'.repeat(1100)}`]) {
      for (const method of ['GET', 'DELETE']) {
        assertRefused(await call(url, { method, path, headers: JSON_AUTH }), 414, 'url_too_long', path);
      }
    }
    await assertServing(url);
  });

  test("a client's own X-Request-Id is kept; a bodyless refusal keeps the connection; one with a body unread is answered whole", async () => {
    const own = await call(url, { method: 'GET', path: '/%', headers: { 'x-request-id': 'client-req-42' } });
    assertRefused(own, 400, 'invalid_url', '/%');
    assert.equal(own.headers['x-request-id'], 'client-req-42');
    assert.equal(own.headers['cache-control'], 'no-store');

    // Two requests on one connection: the refusal does not cost the client its keep-alive.
    const both = await rawExchange(url, [`GET /%25% HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`], {
      timeoutMs: 3000,
      until: (text) => text.includes('"status":"healthy"'),
    });
    const second = both.text.indexOf('HTTP/1.1', 1);
    assert.ok(second > 0, `two answers on one connection: ${both.text.slice(0, 400)}`);
    assertRefused(parseRawResponse(both.text.slice(0, second)), 400, 'invalid_url', '/%25%');
    assert.equal(parseRawResponse(both.text.slice(second)).status, 200);

    // A refused POST whose body is never read still gets its whole answer.
    const body = chat({}, 'x'.repeat(256 * 1024));
    const upload = await rawExchange(
      url,
      [`POST /v1/chat/completions% HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, body],
      { timeoutMs: 3000, until: hasWholeResponse },
    );
    assertRefused(parseRawResponse(upload.text), 400, 'invalid_url', '/v1/chat/completions%');
    await assertServing(url);
  });

  test('a refusal leaves the request-body budget whole: a metered body after it is served at once', async () => {
    const budget = stack.gateway.app.services.shared.bodyBudget;
    for (const path of ['/%', `/admin/keys/${'a'.repeat(1100)}`]) await call(url, { method: 'GET', path, headers: JSON_AUTH });
    await eventually(() => budget.held === 0);
    // Over 64 KiB, so metered; words, on a model whose window holds them.
    // Served at once: it never joins the line of bodies waiting for room (a clock bound flaked at load 10).
    let waited = 0;
    const watch = setInterval(() => (waited = Math.max(waited, budget.waiting)), 1);
    const res = await call(url, { headers: { ...JSON_AUTH, 'transfer-encoding': 'chunked' }, body: chat({ model: 'gpt-4o' }, 'hello world '.repeat(25_600)) }).finally(() => clearInterval(watch));
    assert.equal(res.status, 200, res.body);
    assert.equal(waited, 0, 'the body waited for room in the budget');
  });

  test('refusals are logged like any answer', async () => {
    const res = await call(url, { method: 'GET', path: '/health/%ff%' });
    const id = String(res.headers['x-request-id']);
    // Written when the response closes, which may be just after the client has read it.
    const accessLine = () => stack.gateway.logs.map((text) => JSON.parse(text) as { reqId?: string; msg?: string; status?: number }).find((entry) => entry.reqId === id && entry.msg === 'request');
    await eventually(() => accessLine() !== undefined);
    assert.equal(accessLine()?.status, 400, 'an access line with the status');
  });
});
