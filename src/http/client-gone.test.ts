import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { abortWhenClientLeaves } from './client-gone.js';

/** A server whose handler hands each response to `handle`; returns its port and a closer. */
async function serve(handle: (res: ServerResponse) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((_req, res) => handle(res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function counter(): { abort(): void; count: number } {
  return {
    count: 0,
    abort() {
      this.count++;
    },
  };
}

test('every watcher of a response is aborted once when the client leaves before the answer is finished', async () => {
  const first = counter();
  const second = counter();
  const third = counter();
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const server = await serve((res) => {
    abortWhenClientLeaves(res, first);
    abortWhenClientLeaves(res, second);
    abortWhenClientLeaves(res, third);
    res.write('partial');
    res.on('close', () => setImmediate(closed));
  });
  const req = httpRequest({ port: server.port, host: '127.0.0.1', path: '/' }, (res) => {
    res.once('data', () => req.destroy());
  });
  req.on('error', () => undefined);
  req.end();
  await done;
  assert.deepEqual([first.count, second.count, third.count], [1, 1, 1]);
  await server.close();
});

test('a finished answer aborts nothing, and a watcher added after an unfinished close is aborted at once', async () => {
  const finished = counter();
  const server = await serve((res) => {
    abortWhenClientLeaves(res, finished);
    res.end('whole');
  });
  const body = await new Promise<string>((resolve) => {
    httpRequest({ port: server.port, host: '127.0.0.1', path: '/' }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
    }).end();
  });
  assert.equal(body, 'whole');
  assert.equal(finished.count, 0);
  await server.close();

  const late = counter();
  let checked!: () => void;
  const after = new Promise<void>((resolve) => (checked = resolve));
  const second = await serve((res) => {
    res.write('partial');
    res.on('close', () => {
      // The client is gone and the answer unfinished: a call started now is stopped at once.
      abortWhenClientLeaves(res, late);
      checked();
    });
  });
  const req = httpRequest({ port: second.port, host: '127.0.0.1', path: '/' }, (res) => res.once('data', () => req.destroy()));
  req.on('error', () => undefined);
  req.end();
  await after;
  assert.equal(late.count, 1);
  await second.close();
});
