// A request that auth or a limit refuses before its body is read (a POST with a virtual key to
// /admin/keys, a wrong key, a 429) leaves its connection usable: a keep-alive client's next request
// on it is answered. A refused upload too large to drain still closes, and its answer says so.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';
import { hasWholeResponse, parseRawResponse, type RawResponse } from '../support/reliability-support.js';

/** Sends `requests` one after another on one connection, each once the answer before it is whole. */
function onOneConnection(url: string, requests: readonly string[]): Promise<{ answers: RawResponse[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const answers: RawResponse[] = [];
    let pending = '';
    let next = 0;
    const finish = (closed: boolean) => {
      socket.destroy();
      resolve({ answers, closed });
    };
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      if (!hasWholeResponse(pending)) return;
      answers.push(parseRawResponse(pending));
      pending = '';
      if (next < requests.length) socket.write(requests[next++] as string);
      else finish(false);
    });
    socket.write(requests[next++] as string);
  });
}

function request(method: string, path: string, key: string, body?: string, extraHeaders = ''): string {
  const length = body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n${length}${extraHeaders}\r\n${body ?? ''}`;
}

describe('refusals before the body is read', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({});
  });
  after(() => gateway.close());

  test('a 403 and 401s to requests with bodies keep the connection for the next request', async () => {
    const health = `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const { answers, closed } = await onOneConnection(gateway.url, [
      request('POST', '/admin/keys', CLIENT_KEY, '{"name":"not-allowed"}'),
      health,
      request('PATCH', '/admin/keys/0123456789abcdef', 'sk-wrong-key', '{"rpm_limit":5}'),
      health,
      request('POST', '/v1/chat/completions', 'sk-wrong-key', JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] })),
      health,
    ]);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [403, 200, 401, 200, 401, 200],
    );
    assert.equal(closed, false);
    for (const answer of answers) assert.notEqual(answer.headers.connection, 'close');
  });

  test('a body read whole and refused (not JSON, not an object, too deep, a bad field) keeps the connection for the next request', async () => {
    const health = `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const chat = (body: string) => request('POST', '/v1/chat/completions', CLIENT_KEY, body);
    const { answers, closed } = await onOneConnection(gateway.url, [
      chat('{"model":'),
      health,
      chat('[1,2]'),
      health,
      chat(`{"model":"gpt-4","messages":${'['.repeat(100)}${']'.repeat(100)}}`),
      health,
      chat('{"model":"gpt-4","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}'),
      health,
    ]);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [400, 200, 400, 200, 400, 200, 400, 200],
    );
    assert.deepEqual(
      answers.filter((_, index) => index % 2 === 0).map((answer) => (JSON.parse(answer.body) as { error: { code: string } }).error.code),
      ['invalid_json', 'invalid_json', 'nesting_too_deep', 'invalid_type'],
    );
    assert.equal(closed, false);
    for (const answer of answers) assert.notEqual(answer.headers.connection, 'close');
  });

  test('a refused upload too large to drain says Connection: close, then closes', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 0x20).toString('latin1');
    const { answers, closed } = await onOneConnection(gateway.url, [request('POST', '/admin/keys', CLIENT_KEY, body), `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`]);
    assert.equal(answers[0]?.status, 403);
    assert.equal(answers[0]?.headers.connection, 'close');
    assert.equal(answers.length, 1);
    assert.equal(closed, true);
  });
  test('a refused body that trickles instead of arriving is not drained for request_timeout_s: its connection closes within ~2 s', async () => {
    const socket = connect(Number(new URL(gateway.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    const started = Date.now();
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-wrong-key\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model"`);
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 200);
    try {
      const lived = await closed;
      assert.match(answer, /^HTTP\/1\.1 401 /);
      assert.ok(lived < 4_000, `the trickling socket lived ${lived} ms`);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});
