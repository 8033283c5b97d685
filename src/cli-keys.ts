// `llm-proxy keys create|list|revoke`: virtual keys in the store the server uses, configured the
// same way. Loaded by cli.ts only for this command, so --help and `start` do not load the store.
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { fail, refuseRepeatedOptions } from './cli-fail.js';
import { loadConfigOrFail } from './config/config-loader.js';
import type { Config } from './config/config-schema.js';
import { isGatewayError } from './errors/gateway-error.js';
import { describeKey, parseKeySettings } from './http/routes/admin-keys.js';
import { KeyChangeBus } from './keys/key-change-bus.js';
import { VirtualKeyService } from './keys/virtual-keys.js';
import type { Logger } from './logging/logger.js';
import { RedisConnection } from './store/redis-connection.js';
import { SqlStore, storeOptions } from './store/sql-store.js';

function option(values: Record<string, string | boolean | string[] | undefined>, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function numberOption(values: Record<string, string | boolean | string[] | undefined>, name: string): number | undefined {
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
  // One name per flag, repeatable: the way to give a name holding a comma, which --models splits at.
  model: { type: 'string', multiple: true },
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
  const store = new SqlStore(storeOptions(config.storage), logger);
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

type KeysAction = 'create' | 'list' | 'revoke';

/** The options each action reads; `--json` everywhere, since create and revoke print JSON anyway. */
const ACTION_OPTIONS: Readonly<Record<KeysAction, readonly string[]>> = {
  create: ['name', 'models', 'model', 'rpm', 'tpm', 'budget', 'period', 'expires', 'json'],
  list: ['json'],
  revoke: ['json'],
};

/**
 * Refuses words and flags the action would not read: `keys revoke A B` revoked A alone and left B
 * active without a word, and `keys list --name x` listed every key as if filtered.
 */
function checkActionArguments(action: KeysAction, values: Record<string, unknown>, extra: readonly string[]): void {
  const first = extra[0];
  if (first !== undefined) {
    if (action === 'revoke') fail(`keys revoke takes one key id, not also ${JSON.stringify(first)}; run it once for each key`);
    fail(`keys ${action} takes no argument, not ${JSON.stringify(first)}${action === 'create' ? ' (a name is --name NAME)' : ''}; see llm-proxy keys --help`);
  }
  for (const name of Object.keys(values)) {
    if (values[name] === undefined || ACTION_OPTIONS[action].includes(name)) continue;
    fail(`keys ${action} has no option --${name}${action === 'list' ? ' (it lists every key)' : ''}; see llm-proxy keys --help`);
  }
}

export async function keysCommand(argv: string[]): Promise<void> {
  const { values, positionals, tokens } = parseArgs({ args: keysArguments(argv), allowPositionals: true, options: KEYS_OPTIONS, tokens: true });
  refuseRepeatedOptions(tokens, 'llm-proxy keys --help', KEYS_OPTIONS);
  const [action, ...rest] = positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') fail(`unknown keys command ${JSON.stringify(action ?? '')}; see llm-proxy --help`);
  const id = action === 'revoke' ? rest.shift() : undefined;
  if (action === 'revoke' && id === undefined) fail('keys revoke needs a key id (llm-proxy keys list shows them)');
  checkActionArguments(action, values, rest);

  const config = loadConfigOrFail(fail);
  const logger = pino({ level: 'warn', base: { service: 'llm-proxy-cli' } }, pino.destination(2));
  const context = await openKeys(config, logger);
  try {
    if (action === 'create') {
      const models = option(values, 'models');
      const body: Record<string, unknown> = {};
      const name = option(values, 'name');
      if (name !== undefined) body.name = name;
      const list: string[] = [];
      if (models !== undefined) {
        list.push(...models.split(',').map((model) => model.trim()).filter((model) => model.length > 0));
        // An empty list is a key that may use no model (an unset shell variable, most likely), while no --models is every model.
        if (list.length === 0) fail('--models needs at least one model name (leave it out for every model)');
      }
      for (const model of values.model ?? []) {
        if (model.trim().length === 0) fail('--model needs a model name (leave it out for every model)');
        list.push(model.trim());
      }
      if (models !== undefined || values.model !== undefined) body.models = list;
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
