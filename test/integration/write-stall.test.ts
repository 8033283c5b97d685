// RELIABILITY §4b#21, its last clause: a client that leaves its socket full (stops reading) for
// `server.write_stall_s` (default 60 s) is dropped, and the upstream stream it held is aborted, so a
// stalled reader cannot hold an upstream call and its buffers for good. 4b#21's backpressure test
// (reliability-faults.test.ts) covers the pause before that.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { eventually, startGateway, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { configFile, JSON_AUTH, chat } from '../support/reliability-support.js';

describe('§4b#21 a client that stops reading for write_stall_s', () => {
  test('is dropped and its upstream stream aborted; the usage row says client_disconnected', { timeout: 20_000 }, async () => {
    let upstreamClosedAt = 0;
    const sockets = new Set<Socket>();
    const chunk = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4', choices: [{ index: 0, delta: { content: 'x'.repeat(4000) }, finish_reason: null }] })}\n\n`;
    // Streams as fast as it is let (it honours backpressure), until the proxy hangs up.
    const firehose = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      res.on('close', () => (upstreamClosedAt = Date.now()));
      pump();
    });
    firehose.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => firehose.listen(0, '127.0.0.1', resolve));
    const gateway = await startGateway({
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `http://127.0.0.1:${(firehose.address() as AddressInfo).port}/v1`,
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CONFIG: configFile('server:\n  write_stall_s: 0.5\n'),
    });
    const url = new URL(gateway.url);
    let clientClosed = false;
    const req = httpRequest({ host: url.hostname, port: url.port, path: '/v1/chat/completions', method: 'POST', headers: { ...JSON_AUTH, 'x-request-id': 'stalled-reader' }, agent: false });
    req.on('error', () => undefined);
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        req.on('response', resolve);
        req.on('error', reject);
        req.end(chat({ stream: true }));
      });
      assert.equal(res.statusCode, 200);
      res.on('error', () => undefined);
      res.on('close', () => (clientClosed = true));
      // Never read: the sockets fill, the proxy's write returns false, the stall timer runs.
      res.pause();
      const stalledAt = Date.now();
      await eventually(() => upstreamClosedAt > 0, 5000);
      assert.ok(upstreamClosedAt - stalledAt < 4000, `upstream aborted ${upstreamClosedAt - stalledAt} ms after the client stopped reading`);
      await eventually(() => gateway.usage.recent().some((record) => record.requestId === 'stalled-reader'), 3000);
      const record = gateway.usage.recent().find((entry) => entry.requestId === 'stalled-reader');
      assert.equal(record?.status, 'client_disconnected');
      // The client's connection was closed by the proxy (its buffered bytes drain, then the end).
      res.resume();
      await eventually(() => clientClosed, 3000);
      assert.equal((await fetch(`${gateway.url}/health`)).status, 200, 'still serving');
    } finally {
      // Without the drop, the stream is still open: a graceful close would wait for it.
      req.destroy();
      await gateway.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => firehose.close(() => resolve()));
    }
  });
});
