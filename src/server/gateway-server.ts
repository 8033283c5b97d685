// One listener, many generations. A config reload builds a new Services + Fastify app (a
// generation) around the state that must survive it (SharedServices: store, Redis, counters,
// caches, usage writer, metrics), then points the listener at it: every new request goes to the
// new generation, while requests and streams already in flight finish on the old one, which is
// closed once its last one has ended. The node:http server is created once, from the first
// generation's Fastify options (timeouts, header limits, client-error handling), and never closed
// by a reload; SIGTERM drains every generation (see shutdown()).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyServerFactory } from 'fastify';
import { buildApp, type App } from '../app.js';
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/config-loader.js';
import type { Config } from '../config/config-schema.js';
import { configWarnings, servingProblem } from './config-warnings.js';
import { changedProviders, configErrorField, keepRestartOnly } from '../config/reload.js';
import { awaitDrain, type ShutdownResult } from '../http/graceful-shutdown.js';
import { connectHandler } from '../http/plugins/error-handler.js';
import { faultedReload, refusedReload, type ReloadHandler, type ReloadOutcome } from '../http/routes/admin-reload.js';
import { UnusedConnections } from '../http/unused-connections.js';
import { bootstrapMasterKey } from '../keys/master-key-bootstrap.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { configuredHosts, configuredSecrets } from '../config/config-secrets.js';
import { breakerOptions, createRedactor, createServices, createSharedServices, type ServiceOverrides, type SharedServices } from '../services.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type ClientErrorListener = (...args: unknown[]) => void;

/** The longest a start waits for Redis before it listens anyway. */
const REDIS_WAIT_MS = 2_000;
/** While draining, connections that went idle after their last answer are closed this often. */
const IDLE_SWEEP_MS = 100;
/** How long connections idle when a drain starts stay open, to answer a request already on its way with 503. */
const IDLE_GRACE_MS = 1_000;
/**
 * The longest a drain keeps accepting the connections already queued before it closes the listener.
 * It stops sooner, at the first turn of the loop that accepts none. 10 ms took in only 3 of 5 queued
 * connections on a slow machine (each accepted one's request is answered in between), resetting 2.
 */
const ACCEPT_QUEUE_MS = 200;

interface Generation {
  id: number;
  built: App;
  handler: Handler;
  clientErrorListeners: ClientErrorListener[];
  inflight: number;
  /** Set while retiring: called when the last request on this generation ends. */
  idle: (() => void) | undefined;
  /** Bound once per generation, so counting a request allocates nothing. */
  onResponseClose: () => void;
}

/** The part of the overrides that a cluster worker supplies (state kept by the primary). */
export type ProcessOverrides = Pick<ServiceOverrides, 'localRateLimiter' | 'sharedMemoryCache' | 'spoolFile' | 'uiSessions' | 'usageRetention'>;

export interface GatewayServerOptions {
  overrides?: ProcessOverrides;
  /** Fields on every log line of this process (a cluster worker: its slot). */
  logFields?: Record<string, unknown>;
  /** What POST /admin/reload runs; default: this process's own reload. A worker asks the primary. */
  reloadAll?: ReloadHandler;
  /** Told when a reload generates a master key (no key configured any more and none stored). */
  onGeneratedKey?: (key: string, file: string) => void;
}

export interface MasterKeySetup {
  digest: Buffer | undefined;
  /** Set when this call generated the key: the one time it can be shown. */
  generated?: { key: string; file: string };
}

/**
 * The master key a config serves with: the configured ones, or else the generated key whose
 * hash is stored beside the database (made on the first start; a cluster's primary makes it
 * before any worker starts, so workers only read it).
 */
export function masterKeySetup(config: Config): MasterKeySetup {
  if (config.auth.api_keys.length > 0 || config.auth.master_key !== undefined) return { digest: undefined };
  const bootstrapped = bootstrapMasterKey(config.storage.db_path);
  return { digest: bootstrapped.digest, ...(bootstrapped.generated === undefined ? {} : { generated: { key: bootstrapped.generated, file: bootstrapped.file } }) };
}

function sameDigest(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

/**
 * A config to reload to (restart-only settings already put back), or why there is none. `warnings`:
 * what the process that loaded it logs and answers (a worker given its primary's config has none).
 */
export type ReloadSource = { config: Config; restartRequired: string[]; warnings?: string[] } | { error: string; param: string | null };

/** Loads and checks the config for a reload; a refusal carries the message and the field it names. */
export function loadForReload(running: Config): ReloadSource {
  let next: Config;
  try {
    next = loadConfig().config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { error: error.message, param: configErrorField(error.message) };
  }
  const restartRequired = keepRestartOnly(running, next);
  const problem = servingProblem(next);
  if (problem !== undefined) return { error: problem, param: 'auth.master_key' };
  return { config: next, restartRequired, warnings: configWarnings(next).map((warning) => warning.message) };
}

function createListener(options: Record<string, unknown>, handler: Handler, logger: Logger): Server {
  // As Fastify builds its own server (lib/server.js): the same http options and timeouts.
  const server = createServer((options.http ?? {}) as object, handler);
  // A CONNECT gets a JSON 405; Node's own reaction is to drop the connection unanswered.
  server.on('connect', connectHandler(logger));
  // An `Expect` other than 100-continue: Node's own answer is a bare 417 with no body and none of
  // our headers. RFC 9110 lets a server ignore it, so the request is served as any other.
  server.on('checkExpectation', handler);
  if (typeof options.keepAliveTimeout === 'number') server.keepAliveTimeout = options.keepAliveTimeout;
  if (typeof options.requestTimeout === 'number') server.requestTimeout = options.requestTimeout;
  if (typeof options.connectionTimeout === 'number') server.setTimeout(options.connectionTimeout);
  if (typeof options.maxRequestsPerSocket === 'number' && options.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
  return server;
}

/** The client-error listeners on `server` that were not in `before`. */
function listenersAdded(server: Server, before: readonly unknown[]): ClientErrorListener[] {
  const known = new Set(before);
  return server.listeners('clientError').filter((listener) => !known.has(listener)) as ClientErrorListener[];
}

export class GatewayServer {
  private server: Server | undefined;
  /** The listener's connections that have sent nothing yet: swept with the idle ones during a drain. */
  private unused: UnusedConnections | undefined;
  private current!: Generation;
  private readonly retiring = new Set<Generation>();
  private nextId = 1;
  private reloading: Promise<ReloadOutcome> | undefined;
  private stopping: Promise<ShutdownResult> | undefined;
  private masterKeyDigest: Buffer | undefined;

  private constructor(
    private config: Config,
    readonly shared: SharedServices,
    private readonly options: GatewayServerOptions,
  ) {}

  /** Builds the first generation (not listening yet). */
  static async create(config: Config, masterKeyDigest: Buffer | undefined, options: GatewayServerOptions = {}): Promise<GatewayServer> {
    let logging: Pick<ServiceOverrides, 'logger' | 'redactor'> = {};
    if (options.logFields !== undefined) {
      const redactor = createRedactor(config);
      logging = { redactor, logger: createLogger(config.logging.level, redactor).child(options.logFields) };
    }
    const shared = createSharedServices(config, { ...options.overrides, ...logging });
    const gateway = new GatewayServer(config, shared, options);
    gateway.masterKeyDigest = masterKeyDigest;
    gateway.current = await gateway.build(config, undefined, masterKeyDigest);
    return gateway;
  }

  /** The generation serving new requests. */
  get app(): App {
    return this.current.built;
  }

  get listener(): Server {
    return this.server as Server;
  }

  async listen(port: number, host: string): Promise<void> {
    const redis = this.shared.redis;
    if (redis !== undefined && redis.client.status !== 'ready') {
      // Shared limits count in Redis from the first request (until it is ready, each process counts
      // alone); a Redis that is down only delays the start by this much.
      await Promise.race([once(redis.client, 'ready').catch(() => undefined), sleep(REDIS_WAIT_MS, undefined, { ref: false })]);
    }
    const server = this.listener;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A deep accept queue (the kernel caps it at net.core.somaxconn): with Node's default of 511, a
      // burst of new connections (2,000 streams opened in 2.5 s, RELIABILITY §4c) overflowed it, and
      // each dropped SYN cost its client a 1, 3 or 7 s retransmit before the first byte.
      server.listen({ port, host, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.startBackground(this.current);
  }

  private readonly dispatch: Handler = (req, res) => {
    const generation = this.current;
    generation.inflight++;
    res.on('close', generation.onResponseClose);
    generation.handler(req, res);
  };

  private async build(config: Config, health: ServiceOverrides['health'], masterKeyDigest: Buffer | undefined): Promise<Generation> {
    const services = createServices(config, {
      shared: this.shared,
      ...(health === undefined ? {} : { health }),
      ...(masterKeyDigest === undefined ? {} : { masterKeyDigest }),
    });
    const made: { handler?: Handler } = {};
    const before = this.server?.listeners('clientError') ?? [];
    let built: App;
    try {
      built = buildApp(services, { serverFactory: this.serverFactory(made), reload: this.options.reloadAll ?? (() => this.reload()) });
    } catch (error) {
      await services.close();
      throw error;
    }
    const server = this.listener;
    // Fastify adds its client-error handler to the server it is given; only the serving generation's
    // is attached (a new one's from swap()).
    const added = listenersAdded(server, before);
    if (before.length > 0) for (const listener of added) server.off('clientError', listener);
    const generation: Generation = {
      id: this.nextId++,
      built,
      handler: made.handler as Handler,
      clientErrorListeners: added,
      inflight: 0,
      idle: undefined,
      onResponseClose: () => {
        if (--generation.inflight === 0) generation.idle?.();
      },
    };
    try {
      await built.app.ready();
    } catch (error) {
      await built.app.close().catch(() => undefined);
      await services.close();
      throw error;
    }
    return generation;
  }

  /**
   * The server factory a generation's Fastify keeps in its options for as long as it lives. Made
   * here, apart from build(), so that its closure holds nothing of the previous generation: one
   * that shared build()'s scope kept the previous generation's client-error listener, hence that
   * whole app, and so every generation before it (~0.6 MB per reload, never freed).
   */
  private serverFactory(made: { handler?: Handler }): FastifyServerFactory {
    return (fastifyHandler, fastifyOptions) => {
      made.handler = fastifyHandler as Handler;
      if (this.server === undefined) {
        this.server = createListener(fastifyOptions as Record<string, unknown>, this.dispatch, this.shared.logger);
        this.unused = new UnusedConnections(this.server);
      }
      return this.server;
    };
  }

  private startBackground(generation: Generation): void {
    const { services, lifecycle } = generation.built;
    void services.discovery.start();
    // Shed new work with 503 before an out-of-memory crash (RELIABILITY 4b#24).
    lifecycle.watchHeap();
    services.probe.start();
  }

  /**
   * Re-reads the config file and the environment, or applies `given` (a cluster worker: the config
   * its primary loaded and checked); one reload at a time.
   */
  reload(given?: ReloadSource): Promise<ReloadOutcome> {
    if (this.stopping !== undefined) return Promise.resolve(faultedReload('the server is shutting down', 'stopping'));
    const previous = this.reloading ?? Promise.resolve(undefined);
    const run = previous.then(() => this.reloadNow(given ?? loadForReload(this.config)));
    this.reloading = run;
    void run.finally(() => {
      if (this.reloading === run) this.reloading = undefined;
    });
    return run;
  }

  private async reloadNow(loaded: ReloadSource): Promise<ReloadOutcome> {
    const { logger } = this.shared;
    if ('error' in loaded) {
      logger.error({ component: 'reload', err: loaded.error }, 'configuration reload refused; the running configuration stays');
      return refusedReload(loaded.error, loaded.param);
    }
    const next = loaded.config;
    const running = this.config;
    const previousLevel = logger.level;
    try {
      const key = masterKeySetup(next);
      if (key.generated !== undefined) this.options.onGeneratedKey?.(key.generated.key, key.generated.file);
      // A rotated master key ends the dashboard sessions signed in with the old one (each worker
      // clears its own copy: every worker reloads the same config).
      const rotated = next.auth.master_key !== running.auth.master_key || !sameDigest(key.digest, this.masterKeyDigest);
      this.shared.redactor.extend(configuredSecrets(next), configuredHosts(next));
      logger.level = next.logging.level;
      // Breaker state carries over for deployments whose provider did not change.
      let health: ServiceOverrides['health'];
      if (isDeepStrictEqual(breakerOptions(running), breakerOptions(next))) {
        health = this.current.built.services.health;
        for (const provider of changedProviders(running, next)) health.forgetProvider(provider);
      }
      const generation = await this.build(next, health, key.digest);
      const retiring = this.current;
      this.swap(generation);
      // Only now: a build that failed leaves the running key, so the next reload still sees a rotation.
      this.masterKeyDigest = key.digest;
      this.config = next;
      if (rotated) {
        this.shared.uiSessions.clear();
        // The retired generation still runs the requests it had: one whose key was checked before the
        // swap but whose body comes after (held back on purpose, perhaps) must not act as the old key.
        retiring.built.services.keys.retireMaster();
        logger.info({ component: 'reload' }, 'the master key changed: dashboard sessions ended');
      }
    } catch (error) {
      logger.level = previousLevel;
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ component: 'reload', err: message }, 'configuration reload failed; the running configuration stays');
      return refusedReload(message, null);
    }
    if (loaded.restartRequired.length > 0) {
      logger.warn({ component: 'reload', settings: loaded.restartRequired }, 'these settings changed but need a restart; they keep their running values');
    }
    const warnings = loaded.warnings ?? [];
    for (const warning of warnings) logger.warn({ component: 'reload' }, warning);
    logger.info({ component: 'reload', generation: this.current.id, providers: this.current.built.services.providerSetup.providers.map((provider) => provider.name) }, 'configuration reloaded');
    return { reloaded: true, restartRequired: loaded.restartRequired, processes: 1, warnings };
  }

  private swap(next: Generation): void {
    const server = this.listener;
    const old = this.current;
    for (const listener of old.clientErrorListeners) server.off('clientError', listener);
    for (const listener of next.clientErrorListeners) if (!server.listeners('clientError').includes(listener)) server.on('clientError', listener);
    this.current = next;
    if (this.stopping !== undefined) next.built.lifecycle.leaving = true;
    if (server.listening) this.startBackground(next);
    this.retire(old);
  }

  /** Stops the old generation's background work now and closes it when its last request has ended. */
  private retire(generation: Generation): void {
    const { services, lifecycle } = generation.built;
    services.discovery.stop();
    services.probe.stop();
    lifecycle.stop();
    this.retiring.add(generation);
    const release = () => {
      generation.idle = undefined;
      void this.release(generation);
    };
    if (generation.inflight === 0) release();
    else generation.idle = release;
  }

  private async release(generation: Generation): Promise<void> {
    this.retiring.delete(generation);
    try {
      await generation.built.app.close();
      await generation.built.services.close();
    } catch (error) {
      this.shared.logger.warn({ component: 'reload', err: error instanceof Error ? error.message : String(error) }, 'error while closing the previous configuration');
    }
    this.shared.logger.debug({ component: 'reload', generation: generation.id }, 'previous configuration closed');
  }

  /**
   * Graceful shutdown across generations (RELIABILITY 4b#22), as http/graceful-shutdown.ts does for
   * one app: not ready at once, still serving for `delayMs` (server.shutdown_delay_s), then no new
   * connections, in-flight work gets up to `deadlineMs`, streams still open then end with the
   * `server_shutting_down` event, then every generation and the shared services close (usage
   * flushed). Never rejects; a second call returns the first one's result.
   */
  shutdown(deadlineMs: number, delayMs = 0): Promise<ShutdownResult> {
    this.stopping ??= this.drain(deadlineMs, delayMs);
    return this.stopping;
  }

  /**
   * The shutdown delay: readiness is false and answers say `Connection: close` (so kept-alive
   * clients reconnect), while the listener still accepts and serves, for as long as the
   * orchestrator takes to stop sending new connections here (Kubernetes removes a stopping pod's
   * endpoints asynchronously; Envoy's --drain-time-s likewise keeps accepting while it discourages:
   * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/operations/draining).
   */
  private async serveOn(delayMs: number): Promise<void> {
    for (const { built } of [this.current, ...this.retiring]) built.lifecycle.leaving = true;
    this.shared.logger.info({ delay_s: delayMs / 1000 }, 'shutdown delay: not ready, still serving');
    await sleep(delayMs);
  }

  private async drain(deadlineMs: number, delayMs: number): Promise<ShutdownResult> {
    // Not ready from the signal on, also while a reload in progress finishes first (swap() marks
    // the generation it brings in the same way).
    for (const { built } of [this.current, ...this.retiring]) built.lifecycle.leaving = true;
    await this.reloading?.catch(() => undefined);
    const { logger } = this.shared;
    const server = this.listener;
    // A stop before the listener opened (during the start) has no one to serve on for.
    if (delayMs > 0 && server.listening) await this.serveOn(delayMs);
    const generations = [this.current, ...this.retiring];
    // Closed below, all together: a retiring generation no longer closes itself when it goes idle.
    for (const generation of this.retiring) generation.idle = undefined;
    for (const { built } of generations) {
      built.lifecycle.leaving = true;
      built.lifecycle.draining = true;
      built.lifecycle.stop();
    }
    const streams = generations.map(({ built }) => built.streams);
    logger.info({ deadline_s: deadlineMs / 1000, streams: streams.reduce((sum, registry) => sum + registry.size, 0) }, 'draining: not ready, no new connections');
    // http's close() would also close every idle kept-alive connection at once, so a request its
    // client sent on one in the same instant met a reset with no answer: that step is held back for
    // this one call (they are given IDLE_GRACE_MS, in which a request on them gets 503 with
    // Connection: close; then idle ones are swept). The rest of it stays: it clears node's
    // connection-check interval, which net's close() alone leaves running for good.
    // Connections that completed their handshake but wait in the kernel's accept queue would be
    // reset by closing the listener now: they are accepted first (acceptQueued), and their requests
    // answered 503 with Connection: close.
    // close() also stops node's header/request timeout checks; they go on until the drain ends.
    const resumeCheck = resumableConnectionCheck(server);
    let checking: NodeJS.Timeout | undefined;
    const closed = server.listening
      ? acceptQueued(server).then(
          () =>
            new Promise<void>((resolve) => {
              closeKeepingIdle(server, () => resolve());
              checking = resumeCheck?.();
            }),
        )
      : Promise.resolve();
    let sweep: NodeJS.Timeout | undefined;
    // Connections that never sent a request are not idle to node (and the header-timeout check
    // would keep them for headers_timeout_s): they go with the idle ones.
    const closeIdle = () => {
      server.closeIdleConnections();
      this.unused?.close();
    };
    const grace = setTimeout(() => {
      closeIdle();
      sweep = setInterval(closeIdle, IDLE_SWEEP_MS);
    }, IDLE_GRACE_MS);
    const { interrupted, drained } = await awaitDrain(closed, deadlineMs, streams, () => server.closeAllConnections(), logger);
    clearTimeout(grace);
    clearInterval(sweep);
    clearInterval(checking);
    for (const { built } of generations) {
      try {
        await built.app.close();
        await built.services.close();
      } catch (error) {
        logger.error({ err: error instanceof Error ? error.message : String(error) }, 'error while closing services');
      }
    }
    try {
      await this.shared.close();
    } catch (error) {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'error while closing services');
    }
    logger.info({ interrupted }, 'shutdown complete');
    return { interrupted, drained };
  }
}

/** http's close() (one 'close' event, the connection-check interval cleared) without its closing of idle connections. */
function closeKeepingIdle(server: Server, callback: () => void): void {
  server.closeIdleConnections = () => undefined;
  try {
    server.close(callback);
  } finally {
    delete (server as Partial<Server>).closeIdleConnections;
  }
}

/**
 * node:http checks header and request timeouts (headers_timeout_s, request_timeout_s) on an
 * interval that its close() clears, so a client that opened a connection before the drain and
 * sends its headers slowly (slowloris) would hold the drain until its deadline. Returns what starts
 * node's own check again, with the server's own values and interval (the same 408 and close as
 * before the drain); undefined when the listener never listened or this Node keeps its timer
 * elsewhere. Read before close(), which also unsets the interval's period.
 */
function resumableConnectionCheck(server: Server): (() => NodeJS.Timeout) | undefined {
  const symbol = Object.getOwnPropertySymbols(server).find((candidate) => candidate.description === 'http.server.connectionsCheckingInterval');
  const timer: unknown = symbol === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[symbol];
  if (typeof timer !== 'object' || timer === null) return undefined;
  const { _onTimeout: check, _idleTimeout: intervalMs } = timer as { _onTimeout?: unknown; _idleTimeout?: unknown };
  if (typeof check !== 'function' || typeof intervalMs !== 'number' || intervalMs <= 0) return undefined;
  return () => setInterval(() => (check as () => void)(), intervalMs).unref();
}

/**
 * Takes turns of the event loop (each poll phase accepts one queued connection) until a turn
 * accepts none, for at most ACCEPT_QUEUE_MS: under a steady stream of new connections the queue
 * never empties, and what arrives after the last turn is reset by the close.
 */
async function acceptQueued(server: Server): Promise<void> {
  let accepted = 0;
  const count = () => accepted++;
  server.on('connection', count);
  const until = performance.now() + ACCEPT_QUEUE_MS;
  try {
    let before: number;
    do {
      before = accepted;
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (accepted > before && performance.now() < until);
  } finally {
    server.off('connection', count);
  }
}
