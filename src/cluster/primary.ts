// The cluster primary (`--workers N`): it does what must happen once (the generated master key,
// database migrations), forks N workers that share the port, keeps the state they must agree on
// when no Redis keeps it (rate-limit counters, the memory response cache), relays key changes,
// restarts a worker that dies, turns SIGHUP into one reload on every worker, and on SIGTERM/SIGINT
// lets every worker drain before it exits. It serves no HTTP itself.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import { MemoryCacheStore } from '../cache/memory-cache-store.js';
import type { Config } from '../config/config-schema.js';
import { stopTimes } from '../http/graceful-shutdown.js';
import { faultedReload, refusedReload, type ReloadOutcome } from '../http/routes/admin-reload.js';
import { createLogger, type Logger } from '../logging/logger.js';
import type { ProcessFaults } from '../logging/process-faults.js';
import { MemoryRateLimiter } from '../rate-limit/memory-rate-limiter.js';
import { loadForReload, masterKeySetup } from '../server/gateway-server.js';
import { onReloadSignal } from '../server/reload-signal.js';
import { onStopSignals } from '../server/stop-signals.js';
import { configuredHosts, configuredSecrets } from '../config/config-secrets.js';
import { createRedactor, instanceRegistry, SERVER_SQLITE_BUSY_TIMEOUT_MS } from '../services.js';
import { RedisConnection } from '../store/redis-connection.js';
import { SqlStore, storeOptions } from '../store/sql-store.js';
import { isMessage, type PrimaryMessage, type ReplyValue, type WorkerMessage } from './messages.js';

/** A worker that dies sooner than this after starting counts as a crash loop: restarts back off. */
const STABLE_AFTER_MS = 5_000;
const MAX_RESTART_DELAY_MS = 10_000;
/** Before the cluster first listens, a worker's start is tried this often (exits that are no verdict on the start: see failsTheStart) before the start fails. */
export const MAX_START_ATTEMPTS = 5;
/**
 * server.worker_reload_timeout_s by default. A worker's reload is a synchronous build (well under a
 * second idle, a few seconds under heavy load): one that has not answered by then is stuck, and
 * every later reload (SIGHUP, POST /admin/reload) queues behind this one, so it must not be long.
 */
const DEFAULT_RELOAD_TIMEOUT_S = 15;
/** A worker not listening this long after its fork is named in the log, with the step it is at (a slow start under load, or a stuck one). */
const START_WARN_MS = 15_000;
/** server.worker_start_timeout_s by default: a worker not listening by then is ended, so a stuck start fails loudly instead of waiting forever. */
const DEFAULT_START_TIMEOUT_S = 120;

export interface PrimaryHooks {
  /** Called once every worker listens (the first time): the address line and the generated-key banner. */
  /** `port`: the one the workers bound (the configured one, or the free port chosen for 0). */
  onListening(logger: Logger, port: number): void;
  /** The start was stopped before every worker listened (its announcement, a generated key's banner, never came). */
  onStoppedBeforeListening(): void;
  /** Shows a master key a reload generated. */
  onGeneratedKey(key: string, file: string): void;
  /** The process's fault handling, told of the primary's logger. */
  faults: ProcessFaults;
}

interface Slot {
  index: number;
  worker: Worker;
  startedAt: number;
  crashes: number;
  /**
   * Set once the worker listens: only then does it take reloads (a message sent sooner, before its
   * handler exists, is lost, and the reload waited out its deadline for it with every later one queued).
   */
  ready: boolean;
  /** Told to stop (restarted on the running config): later reloads leave it out, its replacement starts on the running config. */
  leaving: boolean;
  /** The config it was last given (at init, or by a reload). */
  config: Config | undefined;
  /** How far its start has come, for the log should it not listen in time. */
  step: string;
  /** The start's warning and deadline, cleared once it listens or exits. */
  startTimers: NodeJS.Timeout[];
  /** Ended by the primary's start deadline (server.worker_start_timeout_s), not by someone else's signal. */
  endedByPrimary: boolean;
  /** Why its start failed, as the worker said before it exited. */
  failure: string | undefined;
}

/** How a worker that had not listened ended, and what the rest of the cluster was doing then. */
export interface StartExit {
  code: number | null;
  signal: string | null;
  /** The primary's start deadline ended it. */
  endedByPrimary: boolean;
  /** The primary had told it to go (restarted on the running config). */
  leaving: boolean;
  /** Another worker listens: the port, the database and the config work. */
  othersListening: boolean;
}

/**
 * Before the cluster first listens: whether a worker's exit fails the whole start (exit 1) or the
 * worker is started again. A failure that would come again stops at once: the worker exited with a
 * code, having said why (the port taken, the database path unusable: every try fails the same way),
 * or it never listened in server.worker_start_timeout_s. An exit that says nothing about the start
 * is restarted (a bounded number of times, MAX_START_ATTEMPTS): a signal the primary did not send
 * (the OOM killer's SIGKILL, an operator's `kill`), exit 0 (an operator's SIGTERM it took cleanly),
 * one told to go by the primary, or any failure while another worker listens (that one shows the
 * start works: this one ran out of memory, lost a lock race).
 */
export function failsTheStart(exit: StartExit): boolean {
  if (exit.leaving || exit.othersListening) return false;
  if (exit.endedByPrimary) return true;
  if (exit.signal !== null) return false;
  return exit.code !== 0;
}

/**
 * A worker stopped cleanly: it exited 0, or the stop signal ended it while it was still starting
 * (loading its modules, before it has a handler for the signal), with nothing to drain yet.
 */
function stoppedCleanly(slot: Slot, code: number | null, signal: string | null): boolean {
  return code === 0 || (!slot.ready && (signal === 'SIGTERM' || signal === 'SIGINT'));
}

function send(worker: Worker, message: PrimaryMessage): void {
  if (worker.isConnected()) worker.send(message, undefined, () => undefined);
}

export async function runPrimary(config: Config, count: number, hooks: PrimaryHooks): Promise<void> {
  const redactor = createRedactor(config);
  const logger = createLogger(config.logging.level, redactor);
  hooks.faults.report({ logger });
  let running = config;

  // What the workers share when Redis does not hold it (with REDIS_URL, the limiter is their fallback).
  const limiter = new MemoryRateLimiter();
  const pruneTimer = setInterval(() => limiter.prune(Date.now()), 60_000);
  pruneTimer.unref();
  const cache = new MemoryCacheStore(config.cache.max_mb * 1024 * 1024);
  const cacheSecret = randomBytes(32).toString('hex');
  // Every worker's cache lookups: /health/cache on any worker reports the cluster's, as its entries are.
  const cacheLookups = { hits: 0, misses: 0 };
  // Gathers every worker's registry for /metrics (prom-client's cluster protocol).
  const aggregator = new AggregatorRegistry();

  const slots = new Map<number, Slot>();
  const reloadWaits = new Map<number, { worker: Worker; resolve(outcome: ReloadOutcome): void }>();
  const pongWaits = new Map<number, () => void>();
  let nextPingId = 1;
  let nextReloadId = 1;
  let stopping = false;
  let announced = false;

  // With Redis, the cluster registers as one instance, here, and tells its workers the count
  // (what divides their limits while Redis is away); the workers' own connections never register.
  const redis = config.storage.redis_url === undefined ? undefined : new RedisConnection({ url: config.storage.redis_url }, logger);
  const fleet = redis === undefined ? undefined : instanceRegistry(config, redis, logger, (count) => {
    for (const slot of slots.values()) send(slot.worker, { llmp: 1, t: 'instances', count });
  });
  fleet?.start();

  const reply = (worker: Worker, id: number, value: ReplyValue) => send(worker, { llmp: 1, t: 'reply', id, value });

  /**
   * Asks one worker to apply `target`. `answered` is false when the worker gave no answer in time:
   * it may still apply it later, so only a restart makes its config known again.
   */
  const askReload = (slot: Slot, target: Config, restartRequired: string[]): Promise<{ outcome: ReloadOutcome; answered: boolean }> =>
    new Promise((resolve) => {
      const { worker } = slot;
      const id = nextReloadId++;
      const timeoutS = reloadTimeoutS();
      const timer = setTimeout(() => settle(faultedReload(`worker ${slot.index}: did not answer within ${timeoutS} s (server.worker_reload_timeout_s)`, 'worker'), false), timeoutS * 1000);
      const settle = (outcome: ReloadOutcome, answered: boolean) => {
        clearTimeout(timer);
        reloadWaits.delete(id);
        // Only an applied config is the worker's: one that failed keeps what it ran.
        if (outcome.reloaded) slot.config = target;
        resolve({ outcome, answered });
      };
      // Named by its worker: the answer says where the reload failed.
      reloadWaits.set(id, { worker, resolve: (outcome) => settle(outcome.reloaded ? outcome : { ...outcome, error: `worker ${slot.index}: ${outcome.error ?? 'it could not reload'}` }, true) });
      send(worker, { llmp: 1, t: 'reload', id, config: target, restartRequired });
    });

  const reloadTimeoutS = () => running.server.worker_reload_timeout_s ?? DEFAULT_RELOAD_TIMEOUT_S;

  /** Resolves true once `slot`'s worker answers a ping (its event loop runs), false after `timeoutMs` without one. */
  const ping = (slot: Slot, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      const id = nextPingId++;
      const timer = setTimeout(() => {
        pongWaits.delete(id);
        resolve(false);
      }, timeoutMs);
      pongWaits.set(id, () => {
        clearTimeout(timer);
        pongWaits.delete(id);
        resolve(true);
      });
      send(slot.worker, { llmp: 1, t: 'ping', id });
    });

  /**
   * Ends a worker whose config is not the running one (it could not be switched back, or never
   * answered): its replacement starts on the running config. SIGTERM lets it drain; SIGKILL after
   * the drain's own limits, for one whose event loop never comes back. One that gave no answer is
   * pinged first: one that answers no ping either is stuck (no drain would ever run, and the
   * connections handed to it meanwhile would hang), so it is killed at once.
   */
  const restartOnRunning = (slot: Slot, reason: string, answered = true) => {
    const { worker } = slot;
    slot.leaving = true;
    // A stop ends every worker anyway, each after its drain.
    if (stopping || worker.isDead()) return;
    logger.warn({ component: 'reload', worker: slot.index, pid: worker.process.pid, reason }, 'restarting a worker on the running configuration');
    const { delayMs, deadlineMs } = stopTimes(running.server);
    setTimeout(() => {
      if (!worker.isDead()) worker.process.kill('SIGKILL');
    }, delayMs + deadlineMs + 20_000).unref();
    // Sent before the SIGTERM: a live worker answers it whatever its drain does next.
    const alive = answered ? undefined : ping(slot, Math.min(5, reloadTimeoutS()) * 1000);
    worker.process.kill('SIGTERM');
    void alive?.then((answers) => {
      if (answers || worker.isDead()) return;
      logger.warn({ component: 'reload', worker: slot.index, pid: worker.process.pid }, 'the worker answers nothing (its event loop is stuck): killing it');
      worker.process.kill('SIGKILL');
    });
  };

  /** Brings a worker to the running config (a replacement that started on an older one, or one switched back). */
  const toRunning = async (slot: Slot) => {
    const target = running;
    const { outcome, answered } = await askReload(slot, target, []);
    if (!outcome.reloaded && running === target) restartOnRunning(slot, outcome.error ?? 'it could not apply the running configuration', answered);
  };

  /**
   * Checks the config once here, then reloads every worker, all or nothing: the primary records the
   * new config only once every worker runs it. Should one fail (its build, no answer, it died), the
   * workers that took it go back to the running one, and the answer says which worker failed and why.
   */
  const reloadNow = async (): Promise<ReloadOutcome> => {
    const loaded = loadForReload(running);
    if ('error' in loaded) {
      logger.error({ component: 'reload', err: loaded.error }, 'configuration reload refused; the running configuration stays');
      return refusedReload(loaded.error, loaded.param);
    }
    try {
      // Made here, once, so the workers only read it.
      const key = masterKeySetup(loaded.config);
      if (key.generated !== undefined) hooks.onGeneratedKey(key.generated.key, key.generated.file);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ component: 'reload', err: message }, 'configuration reload refused; the running configuration stays');
      return refusedReload(message, null);
    }
    // Before any worker has them: a failure's log line must not show the new secrets either.
    redactor.extend(configuredSecrets(loaded.config), configuredHosts(loaded.config));
    // A worker still starting gets the running config when it listens (see 'listening').
    const ready = [...slots.values()].filter((slot) => slot.ready && !slot.leaving);
    const answers = await Promise.all(ready.map((slot) => askReload(slot, loaded.config, loaded.restartRequired)));
    // A worker's refusal of the config itself says more than another worker's fault (a 400, not a 503).
    const failures = answers.map((answer) => answer.outcome).filter((outcome) => !outcome.reloaded);
    const failed = failures.find((outcome) => outcome.fault === undefined) ?? failures[0];
    if (failed !== undefined) {
      const back = ready.filter((_slot, index) => answers[index]?.outcome.reloaded === true);
      await Promise.all(back.map(toRunning));
      ready.forEach((slot, index) => {
        if (answers[index]?.answered === false) restartOnRunning(slot, answers[index].outcome.error ?? 'it did not answer', false);
      });
      const error = failed.error ?? 'a worker could not reload';
      logger.error({ component: 'reload', err: error, switched_back: back.length, workers: slots.size }, 'configuration reload failed on a worker; every worker keeps the running configuration');
      return { ...refusedReload(error, failed.param ?? null, loaded.restartRequired), ...(failed.fault === undefined ? {} : { fault: failed.fault }) };
    }
    running = loaded.config;
    logger.level = running.logging.level;
    // A replacement that listened while this reload ran started on the config before it.
    for (const slot of slots.values()) if (slot.ready && !slot.leaving && !ready.includes(slot) && slot.config !== running) void toRunning(slot);
    if (loaded.restartRequired.length > 0) {
      logger.warn({ component: 'reload', settings: loaded.restartRequired }, 'these settings changed but need a restart; they keep their running values');
    }
    // Checked and logged here, once: a worker given this config reports none of its own.
    const warnings = loaded.warnings ?? [];
    for (const warning of warnings) logger.warn({ component: 'reload' }, warning);
    logger.info({ component: 'reload', workers: ready.length }, 'configuration reloaded on every worker');
    return { reloaded: true, restartRequired: loaded.restartRequired, processes: ready.length, warnings };
  };
  let reloading: Promise<ReloadOutcome> = Promise.resolve({ reloaded: true, restartRequired: [], processes: 0, warnings: [] });
  const reloadAll = (): Promise<ReloadOutcome> => {
    if (stopping) return Promise.resolve(faultedReload('the server is shutting down', 'stopping'));
    reloading = reloading.then(reloadNow, reloadNow);
    return reloading;
  };

  const handle = (slot: Slot, message: WorkerMessage) => {
    const { worker } = slot;
    switch (message.t) {
      case 'init':
        slot.step = 'asking the primary for its config (answered)';
        slot.config = running;
        reply(worker, message.id, { slot: slot.index, cacheSecret, config: running, ...(fleet === undefined ? {} : { instances: fleet.instances() }) });
        return;
      case 'rl.consume':
        reply(worker, message.id, limiter.consume(message.key, message.limit, message.cost, message.now));
        return;
      case 'rl.adjust':
        limiter.adjust(message.key, message.delta, { windowStart: message.windowStart });
        return;
      case 'cache.get':
        void cache.get(message.key).then((answer) => reply(worker, message.id, answer ?? null));
        return;
      case 'cache.set':
        void cache.set(message.key, message.answer, message.ttlMs);
        return;
      case 'metrics':
        aggregator.clusterMetrics().then(
          (text) => reply(worker, message.id, { text }),
          (error: unknown) => reply(worker, message.id, { error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      case 'cache.count':
        cacheLookups.hits += message.hits;
        cacheLookups.misses += message.misses;
        return;
      case 'cache.stats':
        void cache.stats().then((stats) => reply(worker, message.id, { ...stats, ...cacheLookups }));
        return;
      case 'key.changed':
      case 'ui.session':
      case 'ui.session.deleted':
        // News for every other worker, passed on as it came.
        for (const other of slots.values()) if (other !== slot) send(other.worker, message);
        return;
      case 'reload.request':
        void reloadAll().then((outcome) => reply(worker, message.id, outcome));
        return;
      case 'reload.done':
        reloadWaits.get(message.id)?.resolve(message.outcome);
        return;
      case 'pong':
        pongWaits.get(message.id)?.();
        return;
      case 'starting':
        slot.step = message.step;
        return;
      case 'start.failed':
        slot.failure = message.reason;
        return;
      case 'listening':
        for (const timer of slot.startTimers) clearTimeout(timer);
        slot.ready = true;
        // Reloaded while it started (a replacement for a worker that died): it catches up now.
        if (slot.config !== running) void toRunning(slot);
        // Counted by the workers listening now: one that listened and died before the rest did is not counted twice with its replacement.
        if (!announced && [...slots.values()].filter((other) => other.ready).length >= count) {
          announced = true;
          hooks.onListening(logger, message.port);
        }
        return;
    }
  };

  const fork = (index: number, crashes: number) => {
    const worker = cluster.fork();
    const slot: Slot = { index, worker, startedAt: Date.now(), crashes, ready: false, leaving: false, config: undefined, step: 'loading its modules', startTimers: [], endedByPrimary: false, failure: undefined };
    slots.set(index, slot);
    // Nothing else bounds a start: a worker whose event loop is stuck, or whose 'listening' never
    // comes, would leave the primary waiting in silence (before the first announcement, forever).
    const timeoutS = running.server.worker_start_timeout_s ?? DEFAULT_START_TIMEOUT_S;
    const startLog = () => ({ worker: index, pid: worker.process.pid, step: slot.step });
    if (timeoutS * 1000 > START_WARN_MS) {
      slot.startTimers.push(setTimeout(() => logger.warn({ ...startLog(), after_s: START_WARN_MS / 1000 }, 'a worker is still starting'), START_WARN_MS).unref());
    }
    slot.startTimers.push(
      setTimeout(() => {
        logger.error({ ...startLog(), worker_start_timeout_s: timeoutS }, 'a worker did not listen within server.worker_start_timeout_s; ending it');
        slot.endedByPrimary = true;
        worker.process.kill('SIGKILL');
      }, timeoutS * 1000).unref(),
    );
    worker.on('message', (message: unknown) => {
      if (isMessage<WorkerMessage>(message)) handle(slot, message);
    });
    worker.on('exit', (code, signal) => {
      for (const timer of slot.startTimers) clearTimeout(timer);
      if (slots.get(index) === slot) slots.delete(index);
      const how = signal === null ? `code ${code}` : signal;
      for (const wait of reloadWaits.values()) if (wait.worker === worker) wait.resolve(faultedReload(`exited while applying it (${how})`, 'worker'));
      if (stopping) return;
      // Its last message (why its start failed) can still be in the channel: decided once that has closed.
      if (worker.isConnected()) worker.once('disconnect', () => afterExit(slot, code, signal));
      else afterExit(slot, code, signal);
    });
  };

  /** Starts `slot`'s worker again, or, before the cluster first listened, fails the start (see failsTheStart). */
  const afterExit = (slot: Slot, code: number | null, signal: string | null) => {
    if (stopping) return;
    const { index, worker, crashes } = slot;
    const fields = { worker: index, pid: worker.process.pid, code, signal, ...(slot.failure === undefined ? {} : { reason: slot.failure }) };
    let streak: number;
    if (!announced) {
      const othersListening = [...slots.values()].some((other) => other.ready);
      if (failsTheStart({ code, signal, endedByPrimary: slot.endedByPrimary, leaving: slot.leaving, othersListening })) {
        // A worker that cannot start (a port in use, a bad database path) would fail the same way again.
        logger.error(fields, 'a worker failed to start; stopping');
        void stop(1);
        return;
      }
      streak = crashes + 1;
      if (streak >= MAX_START_ATTEMPTS) {
        logger.error({ ...fields, attempts: streak }, `a worker failed to start ${streak} times; stopping`);
        void stop(1);
        return;
      }
    } else {
      const lived = Date.now() - slot.startedAt;
      streak = lived < STABLE_AFTER_MS ? crashes + 1 : 0;
    }
    const delay = streak === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** streak);
    logger.warn({ ...fields, restart_in_ms: delay, ...(announced ? {} : { while_starting: true }) }, 'worker exited; starting a new one');
    // Not unref'd: with every worker gone at once (the OOM killer), this timer is all that keeps the
    // primary running, and it exited 0 in silence with no worker left.
    setTimeout(() => {
      if (!stopping) fork(index, streak);
    }, delay);
  };

  const stop = async (failure: number) => {
    if (stopping) return;
    stopping = true;
    const { delayMs, deadlineMs } = stopTimes(running.server);
    logger.info({ workers: slots.size }, 'shutting down: every worker drains');
    // A backstop only: each worker ends its own streams at the deadline.
    const force = setTimeout(() => {
      for (const slot of slots.values()) slot.worker.process.kill('SIGKILL');
      process.exit(1);
    }, delayMs + deadlineMs + 20_000);
    force.unref();
    const exits = [...slots.values()].map(
      (slot) =>
        new Promise<boolean>((resolve) => {
          if (slot.worker.isDead()) return resolve(stoppedCleanly(slot, slot.worker.process.exitCode, slot.worker.process.signalCode));
          slot.worker.once('exit', (code, signal) => resolve(stoppedCleanly(slot, code, signal)));
          slot.worker.process.kill('SIGTERM');
        }),
    );
    const clean = (await Promise.all(exits)).every(Boolean);
    clearInterval(pruneTimer);
    await cache.close();
    await fleet?.close();
    await redis?.close();
    if (!announced) hooks.onStoppedBeforeListening();
    logger.info({ clean }, 'shutdown complete');
    // Let pino's asynchronous destination write the last lines.
    logger.flush(() => process.exit(failure !== 0 ? failure : clean ? 0 : 1));
  };

  // Under the CLI, its parent passes the signal on too: one stop either way (see stop-signals.ts).
  onStopSignals(() => void stop(0));
  // Those that came during the start (its modules) are applied now: a worker not yet listening takes the result when it does.
  if (onReloadSignal(() => void reloadAll()) > 0) {
    logger.info('SIGHUP came while the primary was starting: reloading the configuration now');
    void reloadAll();
  }

  // Migrations once, before the workers open the database together (SQLite has no migration lock).
  // The workers' short busy_timeout, not the 5 s default: better-sqlite3 waits for another process's
  // write lock synchronously, and the migration asks for it again on timers for up to 10 s, so at
  // 5 s the primary heard no signal for 10 s (a stop then came after the wait, past `docker stop`'s
  // 10 s). A stop meanwhile ends the start (stop() above): the migration is one transaction.
  const store = new SqlStore({ ...storeOptions(config.storage), busyTimeoutMs: SERVER_SQLITE_BUSY_TIMEOUT_MS }, logger);
  try {
    await store.ready();
  } catch (error) {
    if (!stopping) logger.warn({ component: 'store', err: error instanceof Error ? error.message : String(error) }, 'database not ready at start; the workers retry on first use');
  } finally {
    await store.close().catch(() => undefined);
  }
  // Stopped while it started (a stop kept since its modules loaded, or one during the migrations).
  if (stopping) return;
  logger.info({ workers: count }, 'starting workers');
  for (let index = 0; index < count; index++) fork(index, 0);
}
