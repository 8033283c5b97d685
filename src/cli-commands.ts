// The `llm-proxy` command (its entry is cli.ts): `start` runs the server (server-main.ts); `keys create|list|revoke` manage
// virtual keys in the same store the server uses, configured the same way (env and LLM_PROXY_CONFIG).
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config/config-loader.js';
import type { Config } from './config/config-schema.js';
import { isGatewayError } from './errors/gateway-error.js';
import { describeKey, parseKeySettings } from './http/routes/admin-keys.js';
import { KeyChangeBus } from './keys/key-change-bus.js';
import { VirtualKeyService } from './keys/virtual-keys.js';
import type { Logger } from './logging/logger.js';
import { missingStartFlags, relaunchWithFlags, stopWithParent } from './server/node-flags.js';
import { releaseReloadSignals } from './server/reload-signal.js';
import { RedisConnection } from './store/redis-connection.js';
import { SqlStore } from './store/sql-store.js';
import { CHECK_CONFIG_HELP, checkConfigCommand, MODELS_HELP, modelsCommand } from './cli-operations.js';

/** The keys commands' lines, in the general help and in `keys --help`. */
const KEYS_USAGE = `  llm-proxy keys create [options]   make a virtual key; its secret is printed once
      --name NAME                   a label for people
      --models a,b,c                models the key may use (default: all)
      --rpm N / --tpm N             requests / tokens per minute (default: LLM_PROXY_RPM / LLM_PROXY_TPM; 0 = none)
      --budget USD                  most the key may spend
      --period daily|weekly|monthly when the budget starts again (default: never)
      --expires ISO-8601            when the key stops working (UTC; a date alone is that day's start)
  llm-proxy keys list [--json]      every key: id, name, prefix, limits, spend, state (never a secret)
  llm-proxy keys revoke ID          revoke a key (running servers refuse it within a second)
`;

const HELP = `llm-proxy: one OpenAI-compatible endpoint in front of many LLM providers.

Usage:
  llm-proxy [start]                 run the server (PORT, HOST, provider keys from the environment)
      --workers N|auto              N processes on one port (default: LLM_PROXY_WORKERS, else 1;
                                    auto = one per core); SIGHUP reloads the config, SIGTERM drains
${KEYS_USAGE}  llm-proxy check-config [--json]   validate the configuration and print it, secrets masked (exit 1 if invalid)
  llm-proxy models [--search Q] [--provider P] [--capability C] [--all] [--json]
                                    list or search the model catalog offline
  llm-proxy COMMAND --help          help for one command
  llm-proxy --help                  this text

The keys commands use the server's store: LLM_PROXY_DB (SQLite, default ./data/llm-proxy.db) or
DATABASE_URL (PostgreSQL), and REDIS_URL, if set, to announce revocations at once.
`;

const START_HELP = `llm-proxy [start] [--workers N|auto]

Runs the server on HOST:PORT (default 127.0.0.1:8000) with the configuration of the environment and
LLM_PROXY_CONFIG (a YAML file). Providers are configured by their keys (OPENAI_API_KEY, ...); with no
key configured at all, the first start makes a master key and prints it once.

  --workers N|auto   N processes on one port (default: LLM_PROXY_WORKERS, else 1; auto = one per core)

Signals (to this process, not to npm): SIGHUP reloads the configuration; SIGTERM or SIGINT drains
(after server.shutdown_delay_s of serving on, default 0, in-flight requests and streams get
server.shutdown_timeout_s, default 30) and exits 0; a second one a second later ends it at once.
`;

const KEYS_HELP = `llm-proxy keys create|list|revoke

${KEYS_USAGE}
They use the server's store: LLM_PROXY_DB (SQLite, default ./data/llm-proxy.db) or DATABASE_URL
(PostgreSQL), and REDIS_URL, if set, to announce revocations at once.
`;

/** `llm-proxy COMMAND --help`: each command's own text; the general one for anything else. */
const COMMAND_HELP: Readonly<Record<string, string>> = {
  start: START_HELP,
  keys: KEYS_HELP,
  'check-config': CHECK_CONFIG_HELP,
  models: MODELS_HELP,
};

function fail(message: string): never {
  process.stderr.write(`llm-proxy: ${message}\n`);
  process.exit(1);
}

function option(values: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function numberOption(values: Record<string, string | boolean | undefined>, name: string): number | undefined {
  const raw = option(values, name);
  if (raw === undefined) return undefined;
  // Decimal digits only, as the environment's numbers: Number() reads `0x10` as 16 and `1e3` as 1000.
  if (!/^-?\d+(\.\d+)?$/.test(raw)) fail(`--${name} takes a number in decimal digits (--${name} 60), not ${JSON.stringify(raw)}.`);
  return Number(raw);
}

/** The options of `keys`, for parseArgs and for reading its argv first. */
const KEYS_OPTIONS = {
  name: { type: 'string' },
  models: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  budget: { type: 'string' },
  period: { type: 'string' },
  expires: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/**
 * `keys` argv with each value joined to its flag (`--rpm=-5`), so a value that starts with a dash
 * reaches our checks (parseArgs called `--rpm -5` "ambiguous"), and parseArgs' other refusals
 * said in our words: a flag with no value, an unknown flag.
 */
function keysArguments(argv: readonly string[]): string[] {
  const flags = new Set(Object.keys(KEYS_OPTIONS).map((name) => `--${name}`));
  const out: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    const name = argument.slice(2);
    if (argument.startsWith('--') && !argument.includes('=') && !flags.has(argument) && argument !== '--') fail(`keys has no option ${argument}; see llm-proxy keys --help`);
    if (!flags.has(argument) || KEYS_OPTIONS[name as keyof typeof KEYS_OPTIONS].type !== 'string') {
      out.push(argument);
      continue;
    }
    const value = argv[index + 1];
    if (value === undefined || flags.has(value)) fail(`${argument} needs a value (${argument} ${name === 'rpm' || name === 'tpm' || name === 'budget' ? 'N' : 'VALUE'}); see llm-proxy keys --help`);
    out.push(`${argument}=${value}`);
    index++;
  }
  return out;
}

/** The `keys create` flag of each key setting, so a refusal names what the user typed. */
const FLAG_OF: Readonly<Record<string, string>> = {
  name: '--name',
  models: '--models',
  rpm_limit: '--rpm',
  tpm_limit: '--tpm',
  max_budget: '--budget',
  budget_period: '--period',
  expires_at: '--expires',
};

/**
 * Runs the admin API's parser on flags: its refusals name the JSON field (`'budget_period'`) and
 * offer `null`, which no flag takes; said again with the flag (`--period`) and without null.
 */
function asFlags<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const param = isGatewayError(error) ? error.param?.replace(/\[\d+\]$/, '') : undefined;
    const flag = param === undefined || param === null ? undefined : FLAG_OF[param];
    if (flag === undefined || !isGatewayError(error)) throw error;
    fail(error.message.replace(/'[^']*'/, flag).replace(/,? or null\b[^.]*/, ''));
  }
}

interface KeysContext {
  store: SqlStore;
  keys: VirtualKeyService;
  close(): Promise<void>;
}

async function openKeys(config: Config, logger: Logger): Promise<KeysContext> {
  const store = new SqlStore({ dbPath: config.storage.db_path, ...(config.storage.database_url === undefined ? {} : { databaseUrl: config.storage.database_url }) }, logger);
  await store.ready();
  const keys = new VirtualKeyService(store.keys, logger);
  let redis: RedisConnection | undefined;
  let bus: KeyChangeBus | undefined;
  if (config.storage.redis_url !== undefined) {
    redis = new RedisConnection({ url: config.storage.redis_url }, logger);
    // Announcements need a connected client; without Redis, servers still see changes by their database poll.
    await Promise.race([once(redis.client, 'ready'), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    bus = new KeyChangeBus(keys, store.keys, logger, { redis, channel: `${config.storage.redis_prefix ?? 'llm-proxy:'}key-changes` });
  }
  return {
    store,
    keys,
    async close() {
      await bus?.close();
      await redis?.close();
      await store.close();
    },
  };
}

function table(rows: Array<Record<string, unknown>>): string {
  const columns = ['id', 'name', 'prefix', 'state', 'rpm_limit', 'tpm_limit', 'max_budget', 'budget_period', 'spend', 'expires_at'];
  const cells = rows.map((row) => columns.map((column) => (row[column] === null || row[column] === undefined ? '-' : String(row[column]))));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => (line[index] ?? '').length)));
  const format = (line: string[]) => line.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd();
  return [format(columns), ...cells.map(format)].join('\n');
}

async function keysCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: keysArguments(argv), allowPositionals: true, options: KEYS_OPTIONS });
  const [action, id] = positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') fail(`unknown keys command ${JSON.stringify(action ?? '')}; see llm-proxy --help`);
  if (action === 'revoke' && id === undefined) fail('keys revoke needs a key id (llm-proxy keys list shows them)');

  let config: Config;
  try {
    config = loadConfig().config;
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const logger = pino({ level: 'warn', base: { service: 'llm-proxy-cli' } }, pino.destination(2));
  const context = await openKeys(config, logger);
  try {
    if (action === 'create') {
      const models = option(values, 'models');
      const body: Record<string, unknown> = {};
      const name = option(values, 'name');
      if (name !== undefined) body.name = name;
      if (models !== undefined) {
        const list = models.split(',').map((model) => model.trim()).filter((model) => model.length > 0);
        // An empty list is a key that may use no model (an unset shell variable, most likely), while no --models is every model.
        if (list.length === 0) fail('--models needs at least one model name (leave it out for every model)');
        body.models = list;
      }
      const rpm = numberOption(values, 'rpm');
      if (rpm !== undefined) body.rpm_limit = rpm;
      const tpm = numberOption(values, 'tpm');
      if (tpm !== undefined) body.tpm_limit = tpm;
      const budget = numberOption(values, 'budget');
      if (budget !== undefined) body.max_budget = budget;
      const period = option(values, 'period');
      if (period !== undefined) body.budget_period = period;
      const expires = option(values, 'expires');
      if (expires !== undefined) body.expires_at = expires;
      const settings = asFlags(() => parseKeySettings(body));
      if (settings.expiresAt != null && settings.expiresAt <= Date.now()) fail('--expires must be in the future');
      const { record, key } = await context.keys.create(settings);
      process.stdout.write(`${JSON.stringify({ ...describeKey(record), key }, null, 2)}\n`);
      process.stderr.write('The key is shown only this once: store it now.\n');
    } else if (action === 'list') {
      const rows = (await context.keys.list()).map((key) => describeKey(key));
      process.stdout.write(values.json === true ? `${JSON.stringify({ keys: rows, count: rows.length }, null, 2)}\n` : `${table(rows)}\n`);
    } else {
      const record = await context.keys.revoke(id as string);
      if (record === undefined) fail(`no key has the id ${JSON.stringify(id)}`);
      process.stdout.write(`${JSON.stringify(describeKey(record), null, 2)}\n`);
    }
  } finally {
    await context.close();
  }
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // Only the server takes SIGHUP as a reload: cli.ts holds it until the command is known.
  if ((command !== undefined && command !== 'start') || rest.includes('--help') || rest.includes('-h')) releaseReloadSignals();
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write((command !== undefined && Object.hasOwn(COMMAND_HELP, command) ? COMMAND_HELP[command] : undefined) ?? HELP);
    return;
  }
  if (command === undefined || command === 'start') {
    // The GC flags of `npm start` can only be given when node starts: run again with them if missing.
    const missing = missingStartFlags(process.execArgv);
    if (missing.length > 0) await relaunchWithFlags(missing);
    stopWithParent();
    // server-main.ts starts the server when it is loaded (SIGHUP is held already, by cli.ts).
    await import('./server-main.js');
    return;
  }
  if (command === 'check-config') {
    checkConfigCommand(rest);
    return;
  }
  if (command === 'models') {
    modelsCommand(rest);
    return;
  }
  if (command === 'keys') {
    await keysCommand(rest);
    return;
  }
  fail(`unknown command ${JSON.stringify(command)}; see llm-proxy --help`);
}

run(process.argv.slice(2)).catch((error: unknown) => {
  if (isGatewayError(error)) fail(error.message);
  fail(error instanceof Error ? error.message : String(error));
});
