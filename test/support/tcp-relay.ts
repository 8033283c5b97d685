// A 127.0.0.1 port that relays TCP to a real service (Redis) until cut: a cut drops every relayed
// connection and refuses new ones, as a service that went away does; restore lets clients reconnect.
// It can also keep a reply in flight (holdRepliesAfter) for as long as a test needs to act meanwhile.
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpRelay {
  /** `scheme://127.0.0.1:<relay port>` plus the target URL's path. */
  url: string;
  cut(): void;
  restore(): void;
  /**
   * From now on, a connection whose client sends `marker` (e.g. `\r\ninfo\r\n`, a RESP command name)
   * gets nothing more of what the target sends until release(), its end included. Resolves once
   * `connections` connections have sent it.
   */
  holdRepliesAfter(marker: string, connections?: number): Promise<void>;
  /** Passes on what was held, and the target's end if it came meanwhile. */
  release(): void;
  close(): Promise<void>;
}

interface Held {
  chunks: Buffer[];
  ended: boolean;
  client: Socket;
}

export async function startTcpRelay(targetUrl: string): Promise<TcpRelay> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const held = new Set<Held>();
  let hold: { marker: string; wanted: number; seen: number; reached: () => void } | undefined;
  let cut = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  // Half-open allowed: a client that ends its side (a `disconnect()`) can still be sent a held reply.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    track(upstream);
    let holding: Held | undefined;
    client.on('data', (chunk: Buffer) => {
      if (hold === undefined || holding !== undefined || !chunk.toString('latin1').toLowerCase().includes(hold.marker)) return;
      holding = { chunks: [], ended: false, client };
      held.add(holding);
      if (++hold.seen === hold.wanted) hold.reached();
    });
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (holding !== undefined && held.has(holding)) holding.chunks.push(chunk);
      else client.write(chunk);
    });
    upstream.on('end', () => {
      if (holding !== undefined && held.has(holding)) holding.ended = true;
      else client.end();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (holding === undefined || !held.has(holding)) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${target.protocol}//127.0.0.1:${port}${target.pathname}`,
    cut() {
      cut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      cut = false;
    },
    holdRepliesAfter(marker, connections = 1) {
      return new Promise<void>((reached) => {
        hold = { marker: marker.toLowerCase(), wanted: connections, seen: 0, reached };
      });
    },
    release() {
      hold = undefined;
      const released = [...held];
      held.clear();
      for (const { chunks, ended, client } of released) {
        for (const chunk of chunks) client.write(chunk);
        if (ended) client.end();
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
