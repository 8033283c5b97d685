// The server, loaded by the entry point (main.ts, or cli.ts for `llm-proxy start`) once it holds
// SIGHUP: load the config, then serve: in this process (GatewayServer: one listener whose app a
// reload swaps), or with `--workers N` / LLM_PROXY_WORKERS as a node:cluster primary whose workers
// each run a GatewayServer on the shared port. The only file that starts listening.
import cluster from 'node:cluster';
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { fail, refuseRepeatedOptions } from './cli-fail.js';
import { runPrimary } from './cluster/primary.js';
import { runWorker } from './cluster/worker.js';
import { loadConfigOrFail } from './config/config-loader.js';
import type { Config } from './config/config-schema.js';
import { configWarnings, servingProblem } from './server/config-warnings.js';
import { stopTimes } from './http/graceful-shutdown.js';
import { afterLogWritten, type Logger } from './logging/logger.js';
import { ProcessFaults } from './logging/process-faults.js';
import { GatewayServer, masterKeySetup, type MasterKeySetup } from './server/gateway-server.js';
import { onReloadSignal } from './server/reload-signal.js';
import { keepStopSignals, onStopSignals } from './server/stop-signals.js';

// First, so a fault while the config loads is reported too (to stderr, until a logger exists).
const faults = new ProcessFaults();
faults.install();

/**
 * `--workers N|auto` (after `llm-proxy start` or `npm start --`) over LLM_PROXY_WORKERS / server.workers.
 * Anything else stops the start: a mistyped `--wrokers 4` must not start one process unannounced,
 * nor `--workers 2 --workers 4` four.
 */
function workerCount(argv: readonly string[], configured: Config['server']['workers']): number {
  const takes = 'start takes only --workers N|auto (llm-proxy start --help)';
  let values: { workers?: string | undefined };
  try {
    const parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { workers: { type: 'string' } }, tokens: true });
    values = parsed.values;
    refuseRepeatedOptions(parsed.tokens, 'llm-proxy start --help');
    const extra = parsed.positionals.filter((positional, index) => !(index === 0 && positional === 'start'));
    if (extra.length > 0) fail(`unexpected argument ${JSON.stringify(extra[0])}; ${takes}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') fail(`--workers needs a count: --workers N|auto`);
    const option = /'(-[^']*)'/.exec((error as Error).message)?.[1];
    fail(`${option === undefined ? (error as Error).message.split('\n')[0] : `unknown option ${option}`}; ${takes}`);
  }
  const raw = typeof values.workers === 'string' ? values.workers : configured === undefined ? '1' : String(configured);
  if (raw === 'auto') return availableParallelism();
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 256) fail(`--workers must be a whole number from 1 to 256, or auto; got ${JSON.stringify(raw)}`);
  return count;
}

/** `port`: the one bound, which differs from the configured one when that is 0 (any free port). */
function addressOf(config: Config, port = config.server.port): string {
  const { host } = config.server;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** What the config may get wrong without being refused (a condense.model that routes nowhere, weak client keys on a public port). */
function warnAboutConfig(logger: Logger, config: Config): void {
  for (const { component, message } of configWarnings(config)) logger.warn({ component }, message);
}

/** Written straight to stderr, not through the log: the one time a generated key is ever shown. */
function showGeneratedKey(key: string, file: string, address: string): void {
  process.stderr.write(
    // Names the variables: a provider's key (OPENAI_API_KEY) is an "API key" to the reader too.
    `\n  No client or master key is configured (LLM_PROXY_API_KEYS, LLM_PROXY_MASTER_KEY), so llm-proxy\n` +
      `  generated a master key. It is shown only this once:\n\n` +
      `      ${key}\n\n` +
      `  Send it as "Authorization: Bearer <key>" to ${address}/v1 (it is a client key too),\n` +
      `  and sign in with it to the dashboard at ${address}/ui.\n` +
      `  Only its SHA-256 is kept, in ${file}; delete that file to generate a new one,\n` +
      `  or set LLM_PROXY_MASTER_KEY / LLM_PROXY_API_KEYS to choose your own keys.\n\n`,
  );
}

/** Resolves once a generated key has been shown. */
function announce(logger: Logger, config: Config, port: number, generated: { key: string; file: string } | undefined, usesStoredKey: boolean, workers?: number): Promise<void> {
  const address = addressOf(config, port);
  logger.info({ address, dashboard: `${address}/ui`, docs: `${address}/docs`, ...(workers === undefined ? {} : { workers }) }, 'llm-proxy listening');
  if (generated === undefined) {
    if (usesStoredKey) logger.info('using the generated master key whose hash is stored next to the database (delete master-key.sha256 to make a new one)');
    return Promise.resolve();
  }
  // Shown at once, the key would land among the start-up lines still on their way to stdout and
  // scroll away under them: after them, it is the last thing on the screen.
  return new Promise((resolve) =>
    afterLogWritten(logger, () => {
      showGeneratedKey(generated.key, generated.file, address);
      resolve();
    }),
  );
}

/**
 * A master key made by this start and never shown (the start failed before it listened: the port
 * taken, the database unreadable) would leave only its hash behind, a key nobody has: its hash file
 * goes, so the next start makes and shows a new one.
 */
async function forgettingKeyOnFailure<T>(key: MasterKeySetup, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (key.generated !== undefined) rmSync(key.generated.file, { force: true });
    throw error;
  }
}

async function runSingle(config: Config): Promise<void> {
  const key = masterKeySetup(config);
  await forgettingKeyOnFailure(key, () => startSingle(config, key));
}

async function startSingle(config: Config, key: MasterKeySetup): Promise<void> {
  // The handler comes first: a stop while the server is still being built (migrations, the app)
  // would otherwise end the process by the signal's default action (exit 143). It waits for the
  // build, closes it and exits 0, as a cluster primary does with a worker still starting.
  let stop: ((signal: string) => void) | undefined;
  let stopSignal: string | undefined;
  let spool: (() => void) | undefined;
  // An exit with no drain still keeps the usage records already made (the spool file, written next start).
  onStopSignals(
    (signal) => (stop === undefined ? (stopSignal = signal) : stop(signal)),
    () => spool?.(),
  );
  const gateway = await GatewayServer.create(config, key.digest, { onGeneratedKey: (generated, file) => showGeneratedKey(generated, file, addressOf(config)) });
  const { services } = gateway.app;
  const { logger } = services;
  // The shared logger: its redactor learns each reload's secrets too.
  faults.report({ logger: gateway.shared.logger, beforeExit: () => gateway.shared.spoolUsageNow() });
  let announced = false;
  const shutdown = async (signal: string) => {
    const { delayMs, deadlineMs } = stopTimes(gateway.app.services.config.server);
    logger.info({ signal }, 'shutting down');
    // A backstop only: the drain itself ends streams at the deadline and cuts what is left.
    const force = setTimeout(() => {
      gateway.shared.spoolUsageNow();
      process.exit(1);
    }, delayMs + deadlineMs + 15_000);
    force.unref();
    try {
      await gateway.shutdown(deadlineMs, delayMs);
    } finally {
      // Stopped before it was announced: the master key this start generated was never shown.
      if (!announced && key.generated !== undefined) rmSync(key.generated.file, { force: true });
      process.exit(0);
    }
  };
  stop = (signal) => void shutdown(signal);
  spool = () => gateway.shared.spoolUsageNow();
  if (stopSignal !== undefined) {
    await shutdown(stopSignal);
    return;
  }
  for (const provider of services.providerSetup.providers) {
    logger.info({ provider: provider.name, kind: provider.kind, base_url: provider.baseUrl.origin }, 'provider configured');
  }
  for (const [name, reason] of Object.entries(services.providerSetup.notConfigured)) {
    logger.info({ provider: name, reason }, 'provider not configured');
  }
  if (services.providerSetup.providers.length === 0) {
    logger.warn('no provider is configured, so every chat request will fail: set OPENAI_API_KEY (or another provider key) and restart');
  }
  if (key.digest === undefined && config.auth.master_key === undefined) {
    // Client keys alone make no master key (one is generated only when no key is configured), so
    // a key shown by an earlier first start no longer works either: say so once, at start, naming the
    // variable and the file's field alike (keys from the file alone are the same case).
    logger.warn('no master key: client keys are set (LLM_PROXY_API_KEYS or auth.api_keys) without a master key (LLM_PROXY_MASTER_KEY or auth.master_key), so the admin API (/admin/*), the dashboard (/ui) and /metrics (unless metrics.token is set) refuse every key; set LLM_PROXY_MASTER_KEY (or auth.master_key) to use them');
  }
  warnAboutConfig(logger, config);

  // A refused config is logged by reload() with its reason; the running one stays.
  if (onReloadSignal(() => void gateway.reload()) > 0) {
    logger.info('SIGHUP came while the server was starting: reloading the configuration now');
    void gateway.reload();
  }

  await gateway.listen(config.server.port, config.server.host);
  await announce(logger, config, (gateway.listener.address() as AddressInfo).port, key.generated, key.digest !== undefined);
  announced = true;
}

async function main(): Promise<void> {
  // From here on a stop has something to undo (a generated key file, migrations, workers): kept
  // for the server's handler, which drains what has started and exits 0. Until now it exited 0 at once.
  keepStopSignals();
  if (cluster.isWorker) {
    // The primary hands over the config it checked, so a worker restarted after a bad edit still starts.
    await runWorker(fail, faults);
    return;
  }
  const config = loadConfigOrFail(fail);
  const problem = servingProblem(config);
  if (problem !== undefined) fail(problem.replace(/^auth\.master_key: /, ''));
  const workers = workerCount(process.argv.slice(2), config.server.workers);
  if (workers <= 1) {
    await runSingle(config);
    return;
  }
  // Made once here, before any worker starts, so workers only read its hash.
  const key = masterKeySetup(config);
  let boundPort = config.server.port;
  await forgettingKeyOnFailure(key, () => runPrimary(config, workers, {
    faults,
    onListening: (logger, port) => {
      boundPort = port;
      warnAboutConfig(logger, config);
      void announce(logger, config, port, key.generated, key.digest !== undefined, workers);
    },
    onGeneratedKey: (generated, file) => showGeneratedKey(generated, file, addressOf(config, boundPort)),
    // As a start that failed: the key this start generated was never shown, so its hash goes.
    onStoppedBeforeListening: () => {
      if (key.generated !== undefined) rmSync(key.generated.file, { force: true });
    },
  }));
}


main().catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
