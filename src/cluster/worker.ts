// A cluster worker: the whole gateway (GatewayServer) on the shared port, with the state that must
// be exact across workers kept by the primary when Redis does not keep it: rate-limit counters and
// the memory response cache (over IPC), key changes relayed to the other workers at once, and
// reloads run on every worker together (the primary checks the config once, then asks each one).
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { CachedAnswer } from '../cache/cached-answer.js';
import type { CacheStore, CacheStoreStats } from '../cache/cache-store.js';
import { stopTimes } from '../http/graceful-shutdown.js';
import type { ReloadOutcome } from '../http/routes/admin-reload.js';
import { UiSessionStore, type UiSession } from '../keys/ui-sessions.js';
import type { Logger } from '../logging/logger.js';
import { countedByFallback, MemoryRateLimiter, type RateLimitDecision, type RateLimiter, type Reservation } from '../rate-limit/memory-rate-limiter.js';
import { GatewayServer, masterKeySetup } from '../server/gateway-server.js';
import type { ProcessFaults } from '../logging/process-faults.js';
import { onReloadSignal } from '../server/reload-signal.js';
import { onStopSignals } from '../server/stop-signals.js';
import { usageSpoolFile } from '../usage/batched-usage-writer.js';
import { isMessage, type MetricsText, type PrimaryMessage, type ReplyValue, type WorkerInit, type WorkerMessage, type WorkerNotice, type WorkerRequest } from './messages.js';

/** How often a worker tells the primary its cache lookups (as the Redis store flushes its counts). */
const COUNT_FLUSH_MS = 1000;
/** A rate-limit or cache question the primary has not answered in this long is decided locally. */
const ASK_TIMEOUT_MS = 2_000;
/** How long an answer to a question given up on is still taken (the primary answers every one it gets, in order). */
const LATE_REPLY_MS = 60_000;
/** A reload runs on every worker; a slow provider list or database may take a while. */
const RELOAD_TIMEOUT_MS = 60_000;
/** prom-client gives up on a worker that does not answer in 5 s. */
const METRICS_TIMEOUT_MS = 6_000;

/** A request as the caller writes it: the link adds the id its reply is matched by. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Question = WithoutId<WorkerRequest>;

interface Pending {
  resolve(value: ReplyValue): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** A question given up on whose answer still matters: what the primary did must be undone. */
interface Late {
  handle(value: ReplyValue): void;
  timer: NodeJS.Timeout;
}

/** The worker's side of the IPC channel: `process` in a cluster worker, a fake primary in tests. */
export interface PrimaryChannel {
  readonly connected: boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  once(event: 'disconnect', listener: () => void): unknown;
  /** A failed send goes to `callback`, not to an 'error' event that would end the process. */
  send(message: WorkerMessage, callback: (error: Error | null) => void): void;
}

const processChannel: PrimaryChannel = {
  get connected() {
    return process.connected;
  },
  on: (event, listener) => process.on(event, listener),
  once: (event, listener) => process.once(event, listener),
  send: (message, callback) => {
    if (process.send === undefined) callback(new Error('the primary process is gone'));
    else process.send(message, undefined, {}, callback);
  },
};

/** The worker's end of the IPC channel: questions with replies, and notices. */
export class PrimaryLink {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly late = new Map<number, Late>();
  private readonly handlers = new Map<PrimaryMessage['t'], (message: PrimaryMessage) => void>();

  constructor(
    private readonly channel: PrimaryChannel = processChannel,
    private readonly askTimeoutMs = ASK_TIMEOUT_MS,
  ) {
    channel.on('message', (message: unknown) => {
      if (!isMessage<PrimaryMessage>(message)) return;
      if (message.t === 'reply') this.settle(message.id, message.value);
      // Answered here, from the first moment the link exists: only a stuck event loop leaves it unanswered.
      else if (message.t === 'ping') this.notify({ llmp: 1, t: 'pong', id: message.id });
      else this.handlers.get(message.t)?.(message);
    });
    channel.once('disconnect', () => {
      for (const [id, waiting] of this.pending) {
        clearTimeout(waiting.timer);
        waiting.reject(new Error('the primary process is gone'));
        this.pending.delete(id);
      }
      for (const late of this.late.values()) clearTimeout(late.timer);
      this.late.clear();
    });
  }

  private settle(id: number, value: ReplyValue): void {
    const waiting = this.pending.get(id);
    if (waiting !== undefined) {
      this.pending.delete(id);
      clearTimeout(waiting.timer);
      waiting.resolve(value);
      return;
    }
    const late = this.late.get(id);
    if (late === undefined) return;
    this.late.delete(id);
    clearTimeout(late.timer);
    late.handle(value);
  }

  on<T extends PrimaryMessage['t']>(type: T, handler: (message: Extract<PrimaryMessage, { t: T }>) => void): void {
    this.handlers.set(type, handler as (message: PrimaryMessage) => void);
  }

  get connected(): boolean {
    return this.channel.connected;
  }

  notify(message: WorkerNotice): void {
    if (this.channel.connected) this.channel.send(message, () => undefined);
  }

  /** A notice that must arrive: rejects when it could not be sent. */
  tell(message: WorkerNotice): Promise<void> {
    if (!this.channel.connected) return Promise.reject(new Error('the primary process is gone'));
    return new Promise((resolve, reject) => this.channel.send(message, (error) => (error === null ? resolve() : reject(error))));
  }

  /**
   * Sends `question` and waits up to `timeoutMs` for its reply. A reply after that is dropped, or
   * given to `onLateReply` (for LATE_REPLY_MS): the caller has gone on without it, and whatever
   * the primary did for it may need undoing.
   */
  ask(question: Question, timeoutMs = this.askTimeoutMs, onLateReply?: (value: ReplyValue) => void): Promise<ReplyValue> {
    if (!this.channel.connected) return Promise.reject(new Error('the primary process is gone'));
    const id = this.nextId++;
    return new Promise<ReplyValue>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        if (onLateReply !== undefined) this.late.set(id, { handle: onLateReply, timer: setTimeout(() => this.late.delete(id), LATE_REPLY_MS).unref() });
        reject(new Error('the primary process did not answer in time'));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolvePromise, reject, timer });
      this.channel.send({ ...question, id } as WorkerMessage, (error) => {
        if (error === null) return;
        clearTimeout(timer);
        // Never sent: the primary counted nothing for it, late or not.
        this.pending.delete(id);
        reject(error);
      });
    });
  }
}

/**
 * Rate limits counted by the primary, so N workers enforce one limit, not N. Should the primary
 * not answer, this worker decides alone (and says so once), as the Redis limiter does; each
 * reservation is settled by the counter that made it. A count the primary makes after this worker
 * gave up on it is taken back when its answer comes, so the request is counted once, here.
 */
export class IpcRateLimiter implements RateLimiter {
  private readonly fallback = new MemoryRateLimiter();
  private warned = false;

  constructor(
    private readonly link: Pick<PrimaryLink, 'ask' | 'notify'>,
    private readonly logger: () => Logger,
  ) {}

  async consume(key: string, limit: number, cost: number, now: number): Promise<RateLimitDecision> {
    try {
      return (await this.link.ask({ llmp: 1, t: 'rl.consume', key, limit, cost, now }, undefined, (late) => this.withdraw(key, cost, late as RateLimitDecision))) as RateLimitDecision;
    } catch (error) {
      if (!this.warned) {
        this.warned = true;
        this.logger().warn({ component: 'rate-limit', err: (error as Error).message }, 'cluster primary not answering: this worker counts limits alone');
      }
      return countedByFallback(this.fallback.consume(key, limit, cost, now));
    }
  }

  /** The primary counted `cost` after this worker had counted the request alone: the primary's count goes. */
  private withdraw(key: string, cost: number, late: RateLimitDecision): void {
    if (late.allowed && cost > 0) this.link.notify({ llmp: 1, t: 'rl.adjust', key, delta: -cost, windowStart: late.windowStart });
  }

  adjust(key: string, delta: number, reservation: Reservation): void {
    if (reservation.fallback !== undefined) this.fallback.adjust(key, delta, reservation.fallback);
    // Sent only while the primary is there: once it is gone, so are its counters.
    else this.link.notify({ llmp: 1, t: 'rl.adjust', key, delta, windowStart: reservation.windowStart });
  }
}

/** The memory response cache kept by the primary: every worker reads and fills the same entries. */
export class IpcCacheStore implements CacheStore {
  readonly backend = 'memory' as const;
  /** Lookups since the last notice: sent once a second (not one message per request) and before a stats question. */
  private pendingHits = 0;
  private pendingMisses = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly link: PrimaryLink) {
    this.timer = setInterval(() => this.flushCounts(), COUNT_FLUSH_MS);
    this.timer.unref();
  }

  private flushCounts(): void {
    if ((this.pendingHits === 0 && this.pendingMisses === 0) || !this.link.connected) return;
    // Notices and questions share one ordered channel: the primary counts these before a stats question sent after.
    this.link.notify({ llmp: 1, t: 'cache.count', hits: this.pendingHits, misses: this.pendingMisses });
    this.pendingHits = 0;
    this.pendingMisses = 0;
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const value = await this.link.ask({ llmp: 1, t: 'cache.get', key });
    return value === null ? undefined : (value as CachedAnswer);
  }

  async set(key: string, answer: CachedAnswer, ttlMs: number): Promise<void> {
    if (!this.link.connected) throw new Error('the primary process is gone');
    this.link.notify({ llmp: 1, t: 'cache.set', key, answer, ttlMs });
  }

  countLookup(hit: boolean): void {
    if (hit) this.pendingHits++;
    else this.pendingMisses++;
  }

  async stats(): Promise<CacheStoreStats> {
    this.flushCounts();
    try {
      return (await this.link.ask({ llmp: 1, t: 'cache.stats' })) as CacheStoreStats;
    } catch {
      return { status: 'unavailable', entries: 0, sizeBytes: 0 };
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flushCounts();
  }
}


/** Dashboard sessions made on any worker are accepted by all: each new or ended one is announced. */
class ClusterUiSessions extends UiSessionStore {
  constructor(private readonly link: PrimaryLink) {
    super();
  }

  override create(master: string, now?: number): UiSession {
    const session = super.create(master, now);
    this.link.notify({ llmp: 1, t: 'ui.session', session });
    return session;
  }

  override delete(id: string): void {
    super.delete(id);
    this.link.notify({ llmp: 1, t: 'ui.session.deleted', id });
  }

  listen(): void {
    this.link.on('ui.session', (message) => this.adopt(message.session));
    this.link.on('ui.session.deleted', (message) => super.delete(message.id));
  }
}

/** Runs this worker until the primary (or a signal) tells it to stop; its config comes from the primary. */
export async function runWorker(fail: (message: string) => never, faults: ProcessFaults): Promise<void> {
  let gateway: GatewayServer | undefined;
  let stopping = false;
  const shutdown = (reason: string) => {
    if (stopping) return;
    stopping = true;
    // Stopped before it served: nothing to drain.
    if (gateway === undefined) process.exit(0);
    const running = gateway;
    const { delayMs, deadlineMs } = stopTimes(running.app.services.config.server);
    running.shared.logger.info({ reason, pid: process.pid }, 'worker shutting down');
    const force = setTimeout(() => {
      running.shared.spoolUsageNow();
      process.exit(1);
    }, delayMs + deadlineMs + 15_000);
    force.unref();
    void running.shutdown(deadlineMs, delayMs).finally(() => process.exit(0));
  };
  // The primary passes SIGTERM on, so a stop sent to the whole group or cgroup (Ctrl-C, systemd)
  // arrives twice: one drain either way (see stop-signals.ts).
  // An exit with no drain still keeps the usage records already made (this worker's spool file).
  onStopSignals(shutdown, () => gateway?.shared.spoolUsageNow());
  // Reloads are coordinated by the primary (SIGHUP to it); one sent to the whole group must not end a
  // worker. Held since its entry point loaded; one held meanwhile is ignored too (its config comes from the primary).
  onReloadSignal(() => undefined);
  // A worker whose primary is gone is ended at once by node:cluster itself (process.exit after this
  // event): the usage records not yet written go to its spool file first, whatever ended the primary.
  cluster.worker?.once('disconnect', () => gateway?.shared.spoolUsageNow());

  const link = new PrimaryLink();
  // A start that fails tells the primary why before it exits: the primary names the reason in its
  // own log line and stops the cluster's start at once (the same reason would end every worker).
  const failStart = async (reason: string): Promise<never> => {
    await link.tell({ llmp: 1, t: 'start.failed', reason }).catch(() => undefined);
    return fail(reason);
  };
  const serve = async (): Promise<void> => {
    // Asked for rather than pushed by the primary at fork: a message that arrives before this process listens would be lost.
    const init = (await link.ask({ llmp: 1, t: 'init' }, RELOAD_TIMEOUT_MS)) as WorkerInit;
    const { config } = init;
    const limiter = new IpcRateLimiter(link, () => (gateway as GatewayServer).shared.logger);
    // The primary registers the cluster in Redis as one instance and sends the count as it changes.
    let instances = init.instances ?? 1;
    link.on('instances', (message) => {
      instances = message.count;
    });
    const { digest } = masterKeySetup(config);
    const uiSessions = new ClusterUiSessions(link);
    uiSessions.listen();
    link.notify({ llmp: 1, t: 'starting', step: 'building its services' });
    const running = await GatewayServer.create(config, digest, {
      logFields: { worker: init.slot },
      overrides: {
        localRateLimiter: limiter,
        ...(config.storage.redis_url === undefined ? {} : { fleet: { instances: () => instances } }),
        sharedMemoryCache: { store: new IpcCacheStore(link), secret: Buffer.from(init.cacheSecret, 'hex') },
        spoolFile: usageSpoolFile(config.storage, init.slot),
        // One worker prunes old usage; a replacement keeps its slot, so the cluster never has none.
        usageRetention: init.slot === 0,
        uiSessions,
      },
      reloadAll: async () => (await link.ask({ llmp: 1, t: 'reload.request' }, RELOAD_TIMEOUT_MS)) as ReloadOutcome,
    });
    gateway = running;
    faults.report({ logger: running.shared.logger, beforeExit: () => running.shared.spoolUsageNow() });
    // /metrics answers for the whole cluster: the primary gathers every worker's registry (this one's through prom-client's listener).
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([running.shared.metrics.registry]);
    running.shared.metrics.renderFrom(async () => {
      const gathered = (await link.ask({ llmp: 1, t: 'metrics' }, METRICS_TIMEOUT_MS)) as MetricsText;
      if (gathered.text === undefined) throw new Error(`the workers' metrics could not be gathered: ${gathered.error ?? 'no answer'}`);
      return gathered.text;
    });
    const { virtualKeys } = running.shared;
    // A key changed here (revoked, limits edited) is dropped from every other worker's cache at once.
    virtualKeys.onChange((keyId) => link.notify({ llmp: 1, t: 'key.changed', keyId }));
    link.on('key.changed', (message) => virtualKeys.invalidate(message.keyId));
    link.on('reload', (message) => {
      void running.reload({ config: message.config, restartRequired: message.restartRequired }).then((outcome) => link.notify({ llmp: 1, t: 'reload.done', id: message.id, outcome }));
    });
    link.notify({ llmp: 1, t: 'starting', step: 'listening (waiting up to 2 s for Redis, then binding the port)' });
    try {
      await running.listen(config.server.port, config.server.host);
      // The primary counts the workers listening by this notice: one it never gets would leave its start waiting.
      await link.tell({ llmp: 1, t: 'listening', port: (running.listener.address() as AddressInfo).port });
    } catch (error) {
      await failStart(`worker ${init.slot} could not listen: ${error instanceof Error ? error.message : String(error)}`);
    }
    running.shared.logger.debug({ pid: process.pid }, 'worker listening');
  };
  try {
    await serve();
  } catch (error) {
    await failStart(error instanceof Error ? error.message : String(error));
  }
}
