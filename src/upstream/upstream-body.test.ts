// The streaming body against a real local server: chunks in order, backpressure, dump (the
// connection is reused when little is left, closed when more is), destroy and aborts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { CallAbort } from './call-signal.js';
import { StreamingHandler, UpstreamBody, type UpstreamResponse } from './upstream-body.js';

type Route = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Route>();
const sockets = new Set<Socket>();
let closedSockets = 0;
const server = createServer((req, res) => routes.get(req.url ?? '')?.(req, res));
server.on('connection', (socket: Socket) => {
  sockets.add(socket);
  socket.on('close', () => {
    sockets.delete(socket);
    closedSockets++;
  });
});
let origin = '';
let agent: Agent;

before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });
});

after(async () => {
  await agent.close();
  server.closeAllConnections();
  server.close();
});

function call(path: string, signal: CallAbort = new CallAbort()): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const handler = new StreamingHandler(signal, resolve, reject);
    if (handler.done) return;
    agent.dispatch({ origin, path, method: 'GET' }, handler);
  });
}

test('chunks arrive in order and the body ends', async () => {
  routes.set('/three', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('one ');
    setTimeout(() => {
      res.write('two ');
      res.end('three');
    }, 20);
  });
  const answer = await call('/three');
  assert.equal(answer.status, 200);
  assert.equal(answer.headers['content-type'], 'text/plain');
  let text = '';
  for await (const chunk of answer.body) text += chunk.toString();
  assert.equal(text, 'one two three');
  assert.equal(answer.body.readableEnded, true);
});

test('the chunks of one socket read reach the reader joined, not one by one', async () => {
  // An SSE upstream sends one HTTP chunk per event: twenty, written at once, arrive in one read.
  routes.set('/events', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let index = 0; index < 20; index++) res.write(`data: {"n":${index}}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  const answer = await call('/events');
  let reads = 0;
  let text = '';
  for await (const chunk of answer.body) {
    reads++;
    text += chunk.toString();
  }
  assert.equal(text.split('\n\n').length - 1, 21);
  // One per event was ~20 scanner passes, generator steps and writes per stream.
  assert.ok(reads <= 2, `${reads} reads for 21 events`);
});

test('a reader that falls behind pauses the connection; reading again resumes it', async () => {
  let produced = 0;
  routes.set('/firehose', (_req, res) => {
    res.writeHead(200);
    const piece = Buffer.alloc(16 * 1024, 0x61);
    const pump = (): void => {
      while (!res.destroyed && produced < 64 * 1024 * 1024) {
        produced += piece.length;
        if (!res.write(piece)) return;
      }
      if (!res.destroyed) res.end();
    };
    res.on('drain', pump);
    pump();
  });
  const answer = await call('/firehose');
  await sleep(300);
  const stalled = produced;
  await sleep(300);
  // Queued in the body at most ~64 KiB, plus the kernel's socket buffers: far from the 64 MiB on offer.
  assert.ok(produced - stalled < 1024 * 1024, `the server kept writing: ${produced - stalled} bytes`);
  assert.ok(produced < 24 * 1024 * 1024, `${produced} bytes produced while nothing was read`);
  let read = 0;
  for await (const chunk of answer.body) read += chunk.length;
  assert.equal(read, 64 * 1024 * 1024);
});

test('dump reads a small rest and keeps the connection; a rest over the limit closes it', async () => {
  routes.set('/tail', (_req, res) => {
    res.writeHead(200);
    res.write('data: [DONE]\n\n');
    setTimeout(() => res.end(': trailing comment\n\n'), 20);
  });
  routes.set('/long', (_req, res) => {
    res.writeHead(200);
    res.write('data: [DONE]\n\n');
    const timer = setInterval(() => res.write(Buffer.alloc(32 * 1024, 0x62)), 5);
    res.on('close', () => clearInterval(timer));
  });
  const first = await call('/tail');
  const iterator = first.body.chunks(false);
  assert.equal((await iterator.next()).value?.toString(), 'data: [DONE]\n\n');
  await iterator.return?.();
  assert.equal(first.body.destroyed, false, 'stopping without destroyOnReturn leaves the call alone');
  const socketsBefore = sockets.size;
  const closedBefore = closedSockets;
  await first.body.dump(64 * 1024);
  // The connection went back to the pool: the next call uses it.
  const again = await call('/tail');
  for await (const chunk of again.body) void chunk;
  assert.equal(sockets.size, socketsBefore);
  assert.equal(closedSockets, closedBefore);

  const long = await call('/long');
  const reader = long.body.chunks(false);
  await reader.next();
  const closing = closedSockets;
  await long.body.dump(64 * 1024);
  assert.equal(long.body.destroyed, true, 'more than the limit was left: the call was aborted');
  await sleep(100);
  assert.ok(closedSockets > closing, 'the connection was closed');
});

test('destroy aborts the call; the reader sees the end', async () => {
  let serverSawClose = false;
  routes.set('/endless', (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write('tick\n'), 5);
    res.on('close', () => {
      clearInterval(timer);
      serverSawClose = true;
    });
  });
  const answer = await call('/endless');
  const reader = answer.body.chunks(false);
  await reader.next();
  const pending = reader.next();
  answer.body.destroy();
  await pending;
  assert.deepEqual(await reader.next(), { value: undefined, done: true });
  await sleep(100);
  assert.equal(serverSawClose, true);
});

test('the signal aborts before the headers (the call rejects) and after them (the reader rejects)', async () => {
  routes.set('/slow-headers', (_req, res) => {
    const timer = setTimeout(() => res.end('late'), 2_000);
    res.on('close', () => clearTimeout(timer));
  });
  const early = new CallAbort();
  const waiting = call('/slow-headers', early);
  setTimeout(() => early.abort(), 30);
  await assert.rejects(waiting, { name: 'AbortError' });

  const already = new CallAbort();
  already.abort(new Error('gone before the call'));
  await assert.rejects(call('/three', already), /gone before the call/);

  routes.set('/drip', (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write('drop\n'), 10);
    res.on('close', () => clearInterval(timer));
  });
  const late = new CallAbort();
  const answer = await call('/drip', late);
  const reader = answer.body.chunks(false);
  await reader.next();
  late.abort(new Error('client left'));
  await assert.rejects(async () => {
    for (;;) if ((await reader.next()).done === true) break;
  }, /client left/);
});

test('chunks that arrived with a failure reach the reader before the failure', async () => {
  const controller = { paused: false, aborted: false, reason: null, pause() {}, resume() {}, abort() {} };
  const body = new UpstreamBody(controller);
  const reading = body.read();
  // One socket read: the last events, then the connection breaks.
  body.push(Buffer.from('data: {"a":1}\n\n'));
  body.push(Buffer.from('data: {"b":2}\n\n'));
  body.fail(new Error('connection reset'));
  assert.equal((await reading).value?.toString(), 'data: {"a":1}\n\ndata: {"b":2}\n\n');
  await assert.rejects(body.read(), /connection reset/);
});
