// A CONNECT request gets a JSON 405 from the process's listener (src/server/gateway-server.ts):
// with no 'connect' listener, Node closed the connection without any answer. An Upgrade request
// needs no listener of its own: Node serves it as an ordinary request.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MASTER_KEY } from '../support/gateway-harness.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { assertError, hasWholeResponse, parseRawResponse, rawExchange } from '../support/reliability-support.js';

describe('CONNECT and Upgrade requests', () => {
  let gateway: GatewayProcess;
  before(async () => {
    gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, 'routing:\n  discovery_interval_s: 0\n');
  });
  after(async () => {
    await gateway.cleanup();
  });

  test('CONNECT is answered with an OpenAI-shaped 405, then the connection closes', async () => {
    const exchange = await rawExchange(gateway.url, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Request-Id: tunnel-1\r\n\r\n']);
    assert.ok(exchange.closedByServer, exchange.text);
    const answer = parseRawResponse(exchange.text);
    const error = assertError(answer, { status: 405, code: 'method_not_allowed', param: null, type: 'invalid_request_error' });
    assert.match(error.message, /CONNECT/);
    assert.equal(answer.headers['x-request-id'], 'tunnel-1');
    assert.equal(answer.headers.connection, 'close');
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.equal(answer.headers.allow, 'GET, HEAD, POST, PATCH, DELETE');
    // Bytes sent after the request (a TLS hello) change nothing, and the process keeps serving.
    const eager = await rawExchange(gateway.url, ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01\x02\x00\x01']);
    assert.equal(parseRawResponse(eager.text).status, 405, eager.text);
    const health = parseRawResponse((await rawExchange(gateway.url, ['GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'])).text);
    assert.equal(health.status, 200, health.body);
  });

  test('an Upgrade request is answered as the same request without it', async () => {
    const exchange = await rawExchange(gateway.url, ['GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'], { until: hasWholeResponse });
    assertError(parseRawResponse(exchange.text), { status: 401, code: 'invalid_api_key' });
  });
});
