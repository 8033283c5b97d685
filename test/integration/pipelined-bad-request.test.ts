// A malformed request pipelined behind good ones on a keep-alive connection: the answers owed to
// the good ones go out first, in order, and only then the 400 for the bad one, and the connection
// closes. (Writing the 400 at once put it where the first answer belonged: the client read it as
// that request's answer, and the real answers were lost with the connection.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY } from '../support/gateway-harness.js';
import { splitResponses } from '../support/hostile-input.js';
import { rawExchange, splitSse, startStack, type Stack } from '../support/reliability-support.js';

describe('a bad request pipelined behind good ones', () => {
  let stack: Stack;
  let host: string;
  before(async () => {
    stack = await startStack();
    host = new URL(stack.url).host;
  });
  after(async () => {
    await stack.close();
  });

  const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${CLIENT_KEY}\r\n\r\n`;

  test('a NUL in a header, a lowercase method or a bare LF after two good requests: 200, 200, then 400, then close', async () => {
    const bad = [`GET /health HTTP/1.1\r\nhost: ${host}\r\nx-request-id: a\u0000b\r\n\r\n`, `get /health HTTP/1.1\r\nhost: ${host}\r\n\r\n`, `GET /health HTTP/1.1\nhost: ${host}\r\nx\n\r\n`];
    for (const request of bad) {
      const exchange = await rawExchange(stack.url, [get('/v1/models') + get('/health') + request], { timeoutMs: 5000 });
      const { responses, rest } = splitResponses(exchange.bytes, ['GET', 'GET', 'GET']);
      assert.deepEqual(
        responses.map((res) => res.status),
        [200, 200, 400],
        JSON.stringify(request),
      );
      assert.equal((JSON.parse(responses[0]?.body ?? '') as { object: string }).object, 'list', 'the first answer is the model list');
      assert.equal((JSON.parse(responses[1]?.body ?? '') as { status: string }).status, 'healthy', 'the second is /health');
      assert.equal(responses[2]?.headers.connection, 'close');
      assert.equal(rest.length, 0);
      assert.ok(exchange.closedByServer, 'the connection closes after the 400');
    }
  });

  /** Connections the gateway still holds, polled until none or 4 s pass. */
  async function openConnectionsSettled(): Promise<number> {
    const server = stack.gateway.app.app.server;
    const open = () => new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    const deadline = Date.now() + 4000;
    while ((await open()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    return open();
  }

  test('a SEARCH with a 500 KB upload to an unknown path, a request pipelined behind it: 404 at once, and the connection is closed, not left half-read for good', async () => {
    const upload = `{"a":"${'x'.repeat(500_000)}"}`;
    const exchange = await rawExchange(
      stack.url,
      [`SEARCH /v1/models/ HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${CLIENT_KEY}\r\ncontent-length: ${upload.length}\r\n\r\n${upload}GET /health HTTP/1.1\r\nhost: ${host}\r\n\r\n`],
      { timeoutMs: 8000 },
    );
    const { responses } = splitResponses(exchange.bytes, ['SEARCH', 'GET']);
    assert.equal(responses[0]?.status, 404);
    assert.equal(responses[0]?.headers.connection, 'close', 'the answer says the connection closes');
    assert.ok(exchange.ms < 2500, `answered and closed in ${exchange.ms} ms (not at the request timeout)`);
    assert.equal(await openConnectionsSettled(), 0, 'the server closed its side');
  });

  test('an unread upload refused behind an answer that closes the connection: the connection is still closed (not leaked)', async () => {
    const upload = `{"a":"${'x'.repeat(100_000)}"}`;
    // Bad JSON (an answer with Connection: close), then a keyless upload whose 401 is queued behind it and never written.
    const exchange = await rawExchange(
      stack.url,
      [
        `POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${CLIENT_KEY}\r\ntransfer-encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n` +
          `POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\ntransfer-encoding: chunked\r\n\r\n${Buffer.byteLength(upload).toString(16)}\r\n${upload}\r\n0\r\n\r\n`,
      ],
      { timeoutMs: 5000 },
    );
    assert.match(exchange.text, /^HTTP\/1\.1 400/);
    assert.equal(await openConnectionsSettled(), 0, 'the server closed its side');
  });

  test('a stream under way is finished whole before the 400 for garbage sent behind it', async () => {
    stack.fake.enqueue({ kind: 'slow-stream', delayMs: 100 });
    const body = JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const exchange = await rawExchange(
      stack.url,
      [`POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${CLIENT_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'X-Bad\r\n: header\r\n\r\n'],
      { gapMs: 250, timeoutMs: 8000 },
    );
    const { responses, rest } = splitResponses(exchange.bytes, ['POST', 'GET']);
    assert.deepEqual(responses.map((res) => res.status), [200, 400]);
    assert.equal(splitSse(responses[0]?.body ?? '').data.at(-1), '[DONE]', 'the stream ended whole');
    assert.equal(rest.length, 0);
  });
});
