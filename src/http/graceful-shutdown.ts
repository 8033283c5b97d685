// Graceful shutdown (RELIABILITY 4b#22): readiness goes false, the listener stops accepting,
// in-flight requests and streams get up to a deadline, the streams still open then end with one
// `server_shutting_down` error event, and the services close (usage flushed). The server's own
// stop (SIGTERM/SIGINT in main.ts and each worker) is GatewayServer.shutdown (src/server), which
// drains with awaitDrain from here; gracefulShutdown does the same for a bare App, as tests run one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { GatewayError } from '../errors/gateway-error.js';
import type { App } from '../app.js';
import type { Config } from '../config/config-schema.js';
import type { Logger } from '../logging/logger.js';
import type { StreamRegistry } from './stream-response.js';

/** Whether this instance is taking new work: /health/ready reads it. */
export class Lifecycle {
  /**
   * A shutdown has started: /health/ready answers 503 and answers say `Connection: close`, but
   * requests are still served (server.shutdown_delay_s) until `draining` is set as well.
   */
  leaving = false;
  /** The listener is closing: new requests on accepted connections get 503 `server_shutting_down`. */
  draining = false;
  /** Heap above the shedding threshold (RELIABILITY 4b#24): new work is refused with 503 until it falls. */
  overloaded = false;
  private heapTimer: NodeJS.Timeout | undefined;

  /**
   * Samples the heap once per `intervalMs` (not per request) and sets `overloaded` while used heap
   * is above `ratio` of V8's limit. `read` is for tests.
   */
  watchHeap(ratio = 0.85, intervalMs = 1000, read: () => number = heapRatio): void {
    if (this.heapTimer !== undefined) return;
    this.heapTimer = setInterval(() => {
      this.overloaded = read() > ratio;
    }, intervalMs);
    this.heapTimer.unref();
  }

  stop(): void {
    clearInterval(this.heapTimer);
    this.heapTimer = undefined;
  }
}

function heapRatio(): number {
  return process.memoryUsage().heapUsed / getHeapStatistics().heap_size_limit;
}

export function overloadedError(): GatewayError {
  return new GatewayError({
    status: 503,
    type: 'service_unavailable_error',
    code: 'server_overloaded',
    message: 'The server is low on memory; retry the request shortly.',
    retryable: true,
    retryAfterMs: 2000,
  });
}

/**
 * While draining, an answer says `Connection: close` only when it is the last request read on its
 * connection: with HTTP/1.1 pipelining, the answers to requests read after it are queued behind it
 * and would be dropped unsent when the connection closes after it; the last of them says it
 * instead. An answer queued behind one still being written decides when its turn comes, once what
 * was sent with it has been read. Node's parser for the connection holds the last request it read.
 * `then` is told whether this answer is the last (Fastify's own close() marks every request that
 * arrives after it with `Connection: close`, which a queued answer that is not the last drops).
 * Runs from app.ts's onSend hook, only once a shutdown has started (`leaving`).
 */
export function closeIfLast(request: IncomingMessage, response: ServerResponse, then: (last: boolean) => void): void {
  const decide = () => {
    const { parser } = request.socket as Socket & { parser?: { incoming?: unknown } | null };
    then(parser?.incoming === undefined || parser.incoming === null || parser.incoming === request);
  };
  if (response.socket !== null) return decide();
  const socket = request.socket;
  const turn = () => {
    socket.off('close', gone);
    decide();
  };
  const gone = () => {
    response.off('socket', turn);
    then(true);
  };
  response.once('socket', turn);
  socket.once('close', gone);
}

export interface ShutdownResult {
  /** Streams ended with the error event at the deadline. */
  interrupted: number;
  /** True when everything finished before the deadline. */
  drained: boolean;
}

export function shuttingDownError(): GatewayError {
  return new GatewayError({
    status: 503,
    type: 'service_unavailable_error',
    code: 'server_shutting_down',
    message: 'The server is shutting down; retry the request.',
    retryable: true,
    retryAfterMs: 1000,
  });
}

/**
 * A stop's two periods, from the running config: `delayMs` of serving on, not ready
 * (server.shutdown_delay_s, default 0), then the drain's `deadlineMs` (server.shutdown_timeout_s,
 * default 30), which starts only after the delay.
 */
export function stopTimes(server: Config['server']): { delayMs: number; deadlineMs: number } {
  return { delayMs: (server.shutdown_delay_s ?? 0) * 1000, deadlineMs: (server.shutdown_timeout_s ?? 30) * 1000 };
}

/** Time given to interrupted streams to write their last event and record their usage. */
const INTERRUPT_GRACE_MS = 2_000;

function settled(promise: Promise<unknown>): Promise<void> {
  return promise.then(
    () => undefined,
    () => undefined,
  );
}

/**
 * Drains `app` and closes its services. Never rejects; safe to call twice (the second call
 * returns the first one's result).
 */
export function gracefulShutdown(target: App & { lifecycle: Lifecycle }, deadlineMs: number): Promise<ShutdownResult> {
  const running = inProgress.get(target);
  if (running !== undefined) return running;
  const result = drain(target, deadlineMs);
  inProgress.set(target, result);
  return result;
}

const inProgress = new WeakMap<App, Promise<ShutdownResult>>();

async function drain(target: App & { lifecycle: Lifecycle }, deadlineMs: number): Promise<ShutdownResult> {
  const { app, services, streams, lifecycle } = target;
  const logger = services.logger;
  lifecycle.leaving = true;
  lifecycle.draining = true;
  lifecycle.stop();
  logger.info({ deadline_s: deadlineMs / 1000, streams: streams.size }, 'draining: not ready, no new connections');
  // Fastify stops listening and closes idle sockets (app.ts also those that never sent a byte);
  // requests still arriving on busy kept-alive sockets get 503 from health-probes.ts. It resolves
  // once the busy connections have ended (hijacked streams included).
  const closed = settled(app.close());
  const { interrupted, drained } = await awaitDrain(closed, deadlineMs, [streams], () => app.server.closeAllConnections(), logger);
  try {
    await services.close();
  } catch (error) {
    logger.error({ err: error instanceof Error ? error.message : String(error) }, 'error while closing services');
  }
  logger.info({ interrupted }, 'shutdown complete');
  return { interrupted, drained };
}

/**
 * Waits for `closed` (every connection ended) up to `deadlineMs`. At the deadline, the streams
 * still open end with one `server_shutting_down` event and get a short grace to write it and
 * record their usage; whatever is still open after that (a non-streaming call) is cut by `cutAll`.
 * Shared with the reload-aware server (src/server/gateway-server.ts), which drains several apps.
 */
export async function awaitDrain(closed: Promise<void>, deadlineMs: number, streams: readonly StreamRegistry[], cutAll: () => void, logger: Logger): Promise<ShutdownResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), deadlineMs);
  });
  const first = await Promise.race([closed.then(() => 'closed' as const), deadline]);
  clearTimeout(timer);
  if (first === 'closed') return { interrupted: 0, drained: true };
  let interrupted = 0;
  for (const registry of streams) interrupted += registry.interrupt(shuttingDownError());
  logger.warn({ interrupted }, 'shutdown deadline reached: ending the streams still open');
  const open = () => streams.reduce((sum, registry) => sum + registry.size, 0);
  const until = Date.now() + INTERRUPT_GRACE_MS;
  while (open() > 0 && Date.now() < until) await sleep(10);
  // Whatever is still open (a non-streaming call past the deadline) is cut.
  const cut = await Promise.race([closed.then(() => false), sleep(Math.max(0, until - Date.now()) + 50).then(() => true)]);
  if (cut) {
    cutAll();
    await closed;
  }
  return { interrupted, drained: false };
}
