// Connections a server accepted that have not sent a byte (a client's pre-opened or pooled
// connection, a fetch aborted before its request went out). node:http counts them neither as idle
// (closeIdleConnections() leaves them) nor as busy, and its close() stops the header-timeout check
// that would have closed them: a closing server then waited for them until the client gave up.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export class UnusedConnections {
  /** Every open connection; which of them are unused is read at close time (bytesRead). */
  private readonly sockets = new Set<Socket>();

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /**
   * Closes the connections that have sent nothing yet; one with a request begun (headers still
   * coming) is left to the headers timeout, one with an answer in flight to its answer.
   */
  close(): void {
    for (const socket of this.sockets) {
      if (socket.bytesRead === 0 && !socket.destroyed) socket.destroy();
    }
  }
}
