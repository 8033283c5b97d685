// A stand-in Redis that speaks just enough RESP for ioredis's handshake (AUTH, SELECT, CLIENT
// SETINFO, the INFO ready check) and answers +OK to anything else, with replies by command that the
// test sets: for the connection problems a real server is awkward to stage (a refused password, a
// missing database number, a server that hangs once connected) without a redis-server of one's own.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

const INFO = '# Server\r\nredis_version:7.0.0\r\nloading:0\r\n';

export interface FakeRedis {
  port: number;
  /** Raw RESP replies by lower-case command name (auth, select, evalsha…); others get +OK, INFO its ready-check answer. */
  replies: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Enough of RESP for ioredis's handshake: AUTH, SELECT, CLIENT SETINFO, INFO; then +OK to anything.
 * `hangAfterReady`: after the INFO ready check, never answer again (`CLIENT PAUSE ALL`, a wedged server).
 */
export async function fakeRedis(replies: FakeRedis['replies'], options: { hangAfterReady?: boolean } = {}): Promise<FakeRedis> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let hanging = false;
    socket.on('data', (data: Buffer) => {
      for (const [, command] of data.toString().matchAll(/\*\d+\r\n\$\d+\r\n(\w+)\r\n/g)) {
        if (hanging) return;
        const name = command?.toLowerCase();
        hanging = options.hangAfterReady === true && name === 'info';
        const reply = name === undefined ? undefined : fake.replies[name];
        if (reply !== undefined) socket.write(reply);
        else if (name === 'info') socket.write(`$${Buffer.byteLength(INFO)}\r\n${INFO}\r\n`);
        else socket.write('+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeRedis = {
    port: (server.address() as AddressInfo).port,
    replies,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return fake;
}
