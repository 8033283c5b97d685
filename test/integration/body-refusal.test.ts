// A body refused while it is still arriving (over the cap, chunked) still gets its 413: the proxy
// answers, shuts its side and drains the upload until the client closes (a lingering close), where
// closing at once with the client's bytes unread made the kernel reset the connection and the
// client lose the answer.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

const MiB = 1024 * 1024;
const ONE_MIB = Buffer.alloc(MiB, 0x20);

/** Sends a chunked body of `sizeMb` MiB on a raw socket until an answer arrives; resolves with its status (0: none) and how long the socket lived. */
function chunkedUpload(url: string, sizeMb: number): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let received = '';
    let written = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), ms: Date.now() - started }));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const pump = (): void => {
      while (received === '' && written < sizeMb && !socket.destroyed) {
        written++;
        socket.write(`${MiB.toString(16)}\r\n`);
        const more = socket.write(ONE_MIB);
        socket.write('\r\n');
        if (!more) return void socket.once('drain', pump);
      }
      if (written >= sizeMb && !socket.destroyed) socket.end('0\r\n\r\n');
    };
    pump();
  });
}

describe('a body refused mid-upload', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({});
  });
  after(() => gateway.close());

  test('one chunked upload over the cap reads its 413, and the connection closes soon after', async () => {
    const { status, ms } = await chunkedUpload(gateway.url, 50);
    assert.equal(status, 413);
    assert.ok(ms < 5_000, `the connection lived ${ms} ms`);
  });

  test('ten at once all read their 413, and the proxy still serves', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => chunkedUpload(gateway.url, 50)));
    assert.deepEqual(results.map((result) => result.status), Array.from({ length: 10 }, () => 413));
    const health = await fetch(`${gateway.url}/health`);
    assert.equal(health.status, 200);
  });
});
