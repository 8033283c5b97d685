// A stand-in Redis that speaks just enough RESP for ioredis's handshake (AUTH, SELECT, CLIENT
// SETINFO, the INFO ready check) and answers +OK to anything else, with replies by command that the
// test sets: for the connection problems a real server is awkward to stage (a refused password, a
// missing database number, a server that hangs once connected) without a redis-server of one's own.
// It records every command it receives, answered or not: a test counts what was sent to Redis
// instead of inferring it from how long a call took.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

const INFO = '# Server\r\nredis_version:7.0.0\r\nloading:0\r\n';

export interface ReceivedCommand {
  /** Lower-case command name (`evalsha`, `ping`…). */
  name: string;
  args: string[];
}

export interface FakeRedis {
  port: number;
  /** Raw RESP replies by lower-case command name (auth, select, evalsha…); others get +OK, INFO its ready-check answer. */
  replies: Record<string, string>;
  /** Every command received, on any connection, in order of arrival (those a hanging server never answers too). */
  commands: ReceivedCommand[];
  close(): Promise<void>;
}

/**
 * The first whole command in `buffer` from `start` (a RESP array of bulk strings, as every client
 * sends), and where it ends; undefined while it has not all arrived (a command split across reads).
 */
function takeCommand(buffer: Buffer, start: number): { argv: string[]; end: number } | undefined {
  const line = (from: number) => {
    const end = buffer.indexOf('\r\n', from);
    return end < 0 ? undefined : { text: buffer.toString('latin1', from, end), next: end + 2 };
  };
  const head = line(start);
  if (head === undefined) return undefined;
  if (!head.text.startsWith('*')) throw new Error(`fake redis: a command that is not an array: ${head.text.slice(0, 40)}`);
  const argv: string[] = [];
  let at = head.next;
  for (let index = 0; index < Number(head.text.slice(1)); index++) {
    const size = line(at);
    if (size === undefined) return undefined;
    const end = size.next + Number(size.text.slice(1));
    if (buffer.length < end + 2) return undefined;
    argv.push(buffer.toString('utf8', size.next, end));
    at = end + 2;
  }
  return { argv, end: at };
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
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      let start = 0;
      for (let command = takeCommand(pending, start); command !== undefined; command = takeCommand(pending, start)) {
        start = command.end;
        const [first = '', ...args] = command.argv;
        const name = first.toLowerCase();
        fake.commands.push({ name, args });
        if (hanging) continue;
        hanging = options.hangAfterReady === true && name === 'info';
        const reply = fake.replies[name];
        if (reply !== undefined) socket.write(reply);
        else if (name === 'info') socket.write(`$${Buffer.byteLength(INFO)}\r\n${INFO}\r\n`);
        else socket.write('+OK\r\n');
      }
      pending = pending.subarray(start);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeRedis = {
    port: (server.address() as AddressInfo).port,
    replies,
    commands: [],
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return fake;
}
