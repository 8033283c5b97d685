// The lingering close after a refused upload keeps the process alive until the connection ends: a
// connection that stopped reading is no active handle, so an unref'd timer let a closing server's
// process go idle with close() never finished (seen as a test whose after hook never returned).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { lingeringClose } from './error-handler.js';

const timeouts = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

test('a lingering connection holds a referenced timer until it closes, then none', async () => {
  let before = 0;
  let during = 0;
  let lingered!: (request: IncomingMessage) => void;
  const lingering = new Promise<IncomingMessage>((resolve) => (lingered = resolve));
  const server = createServer((req, res) => {
    // Answered with the upload unread, as the error handler answers a refused body.
    res.writeHead(413, { 'content-type': 'application/json' }).end('{"error":{}}');
    res.once('finish', () => {
      before = timeouts();
      lingeringClose(req);
      during = timeouts();
      lingered(req);
    });
  });
  // As the app's clientErrorHandler does: the unfinished upload ends in a parse error when the client goes.
  server.on('clientError', (_error, socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  // Half-open allowed: the client stays until the test closes it, as one that is still uploading would.
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => undefined);
  let answer = '';
  const answered = new Promise<void>((resolve) =>
    client.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('{"error":{}}')) resolve();
    }),
  );
  client.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n`);
  client.write(Buffer.alloc(64 * 1024, 0x20));
  try {
    const request = await lingering;
    await answered;
    assert.match(answer, /^HTTP\/1\.1 413/);
    assert.equal(during, before + 1, 'the linger timer is referenced: it keeps the process alive');
    const closed = once(request.socket, 'close');
    client.destroy();
    await closed;
    assert.equal(timeouts(), before, 'the timer is cleared once the connection closes');
  } finally {
    client.destroy();
    server.close();
  }
});
