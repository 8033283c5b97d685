// An answer on a connection that closes after it (the client's `Connection: close`) to a request
// whose body is still arriving: a GET's body, which Fastify never reads. Node destroyed the socket
// as soon as the answer was written, so the rest of the upload met a closed socket and the kernel
// reset the connection, which can destroy the end of an answer the client has not read yet (the
// client-input fuzz saw a 147 KB /metrics answer cut at 47 KB). The answer now goes out, the
// proxy's side is shut, and the rest of the upload is read and dropped (a lingering close).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY } from '../support/gateway-harness.js';
import { startStack, type Stack } from '../support/reliability-support.js';

interface Exchange {
  answer: string;
  /** The socket's error, if the connection was reset. */
  error: NodeJS.ErrnoException | undefined;
  /** Milliseconds from the proxy's FIN to the connection's close. */
  closedAfterEndMs: number;
}

describe('Connection: close with a body still arriving', () => {
  let stack: Stack;
  let port: number;
  let host: string;
  before(async () => {
    stack = await startStack();
    const url = new URL(stack.url);
    port = Number(url.port);
    host = url.host;
  });
  after(async () => {
    await stack.close();
  });

  /** Sends the head and `first` bytes of a `total`-byte body; the rest only once the answer and the proxy's FIN are in, in two writes. */
  function exchange(total: number, first: number): Promise<Exchange> {
    return new Promise((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      const chunks: Buffer[] = [];
      let error: NodeJS.ErrnoException | undefined;
      let endedAt = 0;
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (err) => (error = err));
      socket.on('end', () => {
        endedAt = Date.now();
        const rest = total - first;
        if (rest === 0) {
          socket.end();
          return;
        }
        socket.write('y'.repeat(Math.floor(rest / 2)));
        setTimeout(() => {
          if (!socket.destroyed) socket.end('z'.repeat(rest - Math.floor(rest / 2)));
        }, 100);
      });
      socket.on('close', () => resolve({ answer: Buffer.concat(chunks).toString('latin1'), error, closedAfterEndMs: Date.now() - endedAt }));
      socket.write(`GET /v1/models HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${CLIENT_KEY}\r\nconnection: close\r\ncontent-length: ${total}\r\n\r\n${'x'.repeat(first)}`);
    });
  }

  function assertWholeAnswer(answer: string): void {
    const head = answer.indexOf('\r\n\r\n');
    assert.ok(head > 0, answer.slice(0, 200));
    assert.match(answer, /^HTTP\/1\.1 200 /);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(answer.slice(0, head))?.[1]);
    assert.equal(answer.length - head - 4, length, 'the whole answer arrived');
    assert.equal((JSON.parse(answer.slice(head + 4)) as { object: string }).object, 'list');
  }

  test('the rest of the upload is read and dropped after the answer: no reset, the whole answer', async () => {
    for (let round = 0; round < 3; round++) {
      const { answer, error } = await exchange(400_000, 1_000);
      assertWholeAnswer(answer);
      assert.equal(error, undefined, `the connection was reset: ${error?.code}`);
    }
  });

  test('a body that had all arrived changes nothing: the connection closes at once', async () => {
    const { answer, error, closedAfterEndMs } = await exchange(2_000, 2_000);
    assertWholeAnswer(answer);
    assert.equal(error, undefined);
    assert.ok(closedAfterEndMs < 1_000, `closed ${closedAfterEndMs} ms after the answer`);
  });
});
