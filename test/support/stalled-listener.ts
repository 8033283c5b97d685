// A 127.0.0.1 port whose TCP handshake never completes, for connect-timeout tests. A worker thread
// listens with a backlog of 1 and then blocks its event loop, so nothing is ever accepted; we fill
// the kernel's accept queue with sockets of our own, after which Linux drops every new SYN and a
// connect waits (retransmitting) until its timeout.
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface StalledListener {
  url: string;
  close(): Promise<void>;
}

const LISTENER = `
const { parentPort } = require('node:worker_threads');
const server = require('node:net').createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
`;

/** Resolves true when the socket connects within `ms`, false when its handshake is still pending. */
function connects(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startStalledListener(): Promise<StalledListener> {
  const worker = new Worker(LISTENER, { eval: true });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (value: number) => resolve(value));
    worker.once('error', reject);
  });
  const fillers: Socket[] = [];
  const close = async () => {
    for (const socket of fillers) socket.destroy();
    await worker.terminate();
  };
  // The queue holds backlog + 1 connections on Linux; stop at the first that does not connect.
  let stalled = false;
  while (!stalled && fillers.length < 16) {
    const socket = connect(port, '127.0.0.1');
    // Reset when the worker ends; nothing to handle.
    socket.on('error', () => undefined);
    fillers.push(socket);
    stalled = !(await connects(socket, 200));
  }
  if (!stalled) {
    await close();
    throw new Error('the accept queue never filled: connects to it would not stall');
  }
  return { url: `http://127.0.0.1:${port}`, close };
}
