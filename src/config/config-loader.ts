// Loads the configuration: defaults, then the YAML file (LLM_PROXY_CONFIG, with ${ENV} interpolation),
// then the environment variables of CONTRACT.md. The only module that reads process.env.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type YAML from 'yaml';
import { ConfigSchema, KNOWN_PROVIDER_KINDS, type Config, type ProviderConfig } from './config-schema.js';
import { trustProxyProblem } from './trust-proxy.js';
import { parsePrivateUpstreams, vetUpstreamUrl } from '../upstream/url-guard.js';
import { priceChangesProblem } from '../catalog/catalog-patch.js';
import { isRecord } from '../json/guards.js';
import { describeUnion } from '../json/union-description.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

export function defaultConfig(): Config {
  return {
    server: { port: 8000, host: '127.0.0.1', body_limit_mb: 10, headers_timeout_s: 10, request_timeout_s: 60, keepalive_s: 15 },
    auth: { api_keys: [] },
    providers: {},
    aliases: {},
    model_catalog: {},
    routing: {
      retries: 1,
      connect_timeout_s: 10,
      ttfb_timeout_s: 120,
      idle_timeout_s: 120,
      max_response_mb: 20,
      discovery_interval_s: 600,
    },
    limits: { default_rpm: 600, default_tpm: 0 },
    cache: { backend: 'memory', ttl_s: 3600, max_mb: 256 },
    storage: { db_path: './data/llm-proxy.db' },
    logging: { level: 'info' },
  };
}

/** Env prefixes of the OpenAI-compatible hosts: `<NAME>_API_KEY`, `<NAME>_BASE_URL`. */
const HOSTED_KINDS = ['openai', 'anthropic', 'gemini', 'mistral', 'groq', 'deepseek', 'together', 'openrouter', 'xai', 'fireworks'] as const;

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PLACEHOLDER = /__LLMPROXY_ENV_(\d+)__/g;
/** A placeholder or a reference, matched together so a replacement is never matched again. */
const ANY_REFERENCE = new RegExp(`${PLACEHOLDER.source}|${ENV_REFERENCE.source}`, 'g');

interface Reference {
  name: string;
  fallback: string | undefined;
}

/**
 * `${NAME}` may stand anywhere, even unquoted in a flow mapping (`{ api_key: ${KEY} }`), where
 * YAML would read `{` as syntax. So references become plain placeholder words before parsing and
 * get their values after, inside the parsed strings; a value that stands alone takes its field's type.
 */
export function protectEnvReferences(text: string): { text: string; references: Reference[] } {
  const references: Reference[] = [];
  const replaced = text.replace(ENV_REFERENCE, (_match, name: string, fallback: string | undefined) => {
    references.push({ name, fallback });
    return `__LLMPROXY_ENV_${references.length - 1}__`;
  });
  return { text: replaced, references };
}

function resolveReference(reference: Reference, env: Environment, path: string): string {
  const found = env[reference.name];
  if (found !== undefined && found !== '') return found;
  if (reference.fallback !== undefined) return reference.fallback;
  throw new ConfigError(`${path || 'config'}: environment variable ${reference.name} is not set (use \${${reference.name}:-default} for a default).`);
}

/** The parts of a TypeBox (JSON Schema) node that say what a field holds. */
interface SchemaNode {
  type?: unknown;
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** The schema of `key` inside `schema` (a property, a record's value, an array's item), if known. */
function fieldSchema(schema: SchemaNode | undefined, key: string | number): SchemaNode | undefined {
  if (schema === undefined) return undefined;
  if (typeof key === 'number') return schema.items;
  const property = schema.properties?.[key];
  if (property !== undefined) return property;
  return schema.patternProperties === undefined ? undefined : Object.values(schema.patternProperties)[0];
}

/** Whether the field takes a number or a boolean (in any member of a union). */
function takes(schema: SchemaNode | undefined, kind: 'number' | 'boolean'): boolean {
  if (schema === undefined) return false;
  if (schema.anyOf !== undefined) return schema.anyOf.some((member) => takes(member, kind));
  if (kind === 'number') return schema.type === 'number' || schema.type === 'integer' || typeof schema.const === 'number';
  return schema.type === 'boolean' || typeof schema.const === 'boolean';
}

/**
 * A lone reference's value, typed by its field: PORT=8000 fills a number, but an all-digit key or
 * a model named 1234 stays the string its field expects.
 */
function typedForField(resolved: string, schema: SchemaNode | undefined): unknown {
  if (takes(schema, 'number') && /^-?\d+(\.\d+)?$/.test(resolved)) return Number(resolved);
  if (takes(schema, 'boolean') && (resolved === 'true' || resolved === 'false')) return resolved === 'true';
  return resolved;
}

/**
 * Puts the environment's values into every string of a parsed document. `schema` (the document's)
 * types lone references; without it they stay strings.
 */
export function interpolateEnv(value: unknown, env: Environment, references: readonly Reference[] = [], path = '', schema?: SchemaNode): unknown {
  if (typeof value === 'string') {
    const lookup = (index: string) => {
      const reference = references[Number(index)];
      return reference === undefined ? '' : resolveReference(reference, env, path);
    };
    const whole = /^__LLMPROXY_ENV_(\d+)__$/.exec(value);
    if (whole !== null) return typedForField(lookup(whole[1] as string), schema);
    // One pass over the text as written: a value brought in is never scanned again (a password
    // holding `${` must arrive as it is, not expanded or refused as an unset variable).
    return value.replace(ANY_REFERENCE, (_match, index: string | undefined, name: string | undefined, fallback: string | undefined) =>
      index !== undefined ? lookup(index) : resolveReference({ name: name as string, fallback }, env, path),
    );
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnv(item, env, references, `${path}[${index}]`, fieldSchema(schema, index)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
      out[key] = interpolateEnv(item, env, references, path ? `${path}.${key}` : key, fieldSchema(schema, key));
    }
    return out;
  }
  return value;
}

/** Deep merge for plain config objects; arrays and scalars from `over` replace. Own keys only. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const current = out[key];
    out[key] = isRecord(current) && isRecord(value) ? merge(current, value) : value;
  }
  return out;
}

/** A number as the environment variables take it: decimal digits, a `-` and a fraction at most. */
const DECIMAL = /^-?\d+(\.\d+)?$/;

/** An example of each number variable, for the refusal of a value written otherwise. */
const NUMBER_EXAMPLES: Readonly<Record<string, string>> = {
  PORT: '8000',
  LLM_PROXY_BODY_LIMIT_MB: '10',
  LLM_PROXY_WORKERS: '4',
  LLM_PROXY_RPM: '600',
  LLM_PROXY_TPM: '100000',
  LLM_PROXY_CACHE_TTL: '3600',
  LLM_PROXY_EXPECTED_INSTANCES: '3',
  LLM_PROXY_DATABASE_POOL_SIZE: '10',
};

/**
 * Refuses a number variable not written in plain decimal digits: Number() would take `0x1F40`,
 * `1e3`, ` 80` and `Infinity`, so a typo or a stray space started the proxy on another value than
 * the one meant. Named by its config path and variable (the `param` of a refused reload); the value
 * is described, not printed, since a key pasted into the wrong variable must not reach a terminal.
 */
function decimalRefusal(name: string, raw: string): ConfigError {
  const path = Object.entries(ENV_NAMES).find(([, variable]) => variable === name)?.[0].slice(1).replaceAll('/', '.') ?? name;
  return new ConfigError(
    `${path} (or ${name}): write it in plain decimal digits, as ${name}=${NUMBER_EXAMPLES[name] ?? '10'} (no hex, exponent, + sign, spaces or underscores); got ${shownValue(raw)}.`,
  );
}

function numberFromEnv(env: Environment, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!DECIMAL.test(raw)) throw decimalRefusal(name, raw);
  return Number(raw);
}

function stringFromEnv(env: Environment, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** The environment's part of the configuration, as a partial config to merge over the file. */
function configFromEnv(env: Environment): Record<string, unknown> {
  const server: Record<string, unknown> = {};
  const port = numberFromEnv(env, 'PORT');
  if (port !== undefined) server.port = port;
  const host = stringFromEnv(env, 'HOST');
  if (host !== undefined) server.host = host;
  const bodyLimit = numberFromEnv(env, 'LLM_PROXY_BODY_LIMIT_MB');
  if (bodyLimit !== undefined) server.body_limit_mb = bodyLimit;
  const workers = stringFromEnv(env, 'LLM_PROXY_WORKERS');
  const rawWorkers = env.LLM_PROXY_WORKERS ?? '';
  // A number written otherwise than in digits (`0x4`, `2e0`, ` 3`) is refused as the other number variables are.
  if (workers !== undefined && workers !== 'auto' && !DECIMAL.test(rawWorkers) && Number.isFinite(Number(rawWorkers))) throw decimalRefusal('LLM_PROXY_WORKERS', rawWorkers);
  // `auto` and a word stay strings, so the schema names "two" as invalid with the forms it takes.
  if (workers !== undefined) server.workers = workers === 'auto' || !DECIMAL.test(workers) ? workers : Number(workers);
  const trustProxy = stringFromEnv(env, 'LLM_PROXY_TRUST_PROXY');
  // As a lone `${VAR}` in the file: true/false and a hop count keep their type; anything else is an address list.
  if (trustProxy !== undefined) server.trust_proxy = trustProxy === 'true' || trustProxy === 'false' ? trustProxy === 'true' : /^\d+$/.test(trustProxy) ? Number(trustProxy) : trustProxy;

  const auth: Record<string, unknown> = {};
  const keys = stringFromEnv(env, 'LLM_PROXY_API_KEYS');
  if (keys !== undefined) {
    auth.api_keys = keys.split(',').map((key) => key.trim()).filter((key) => key.length > 0);
    // Only commas is no key at all: it would have started with a generated master key, or emptied the file's keys.
    if ((auth.api_keys as string[]).length === 0) {
      throw new ConfigError('auth.api_keys (or LLM_PROXY_API_KEYS): holds no key, only commas and spaces; list keys separated by commas (k1,k2), or leave the variable unset for none.');
    }
  }
  const master = stringFromEnv(env, 'LLM_PROXY_MASTER_KEY');
  if (master !== undefined) auth.master_key = master;

  const providers: Record<string, ProviderConfig> = {};
  for (const kind of HOSTED_KINDS) {
    const prefix = kind.toUpperCase();
    const apiKey = stringFromEnv(env, `${prefix}_API_KEY`);
    const baseUrl = stringFromEnv(env, `${prefix}_BASE_URL`);
    if (apiKey === undefined && baseUrl === undefined) continue;
    providers[kind] = { ...(apiKey === undefined ? {} : { api_key: apiKey }), ...(baseUrl === undefined ? {} : { base_url: baseUrl }) };
  }
  const azureKey = stringFromEnv(env, 'AZURE_OPENAI_API_KEY');
  const azureEndpoint = stringFromEnv(env, 'AZURE_OPENAI_ENDPOINT');
  const azureVersion = stringFromEnv(env, 'AZURE_OPENAI_API_VERSION');
  if (azureKey !== undefined || azureEndpoint !== undefined) {
    providers.azure = {
      ...(azureKey === undefined ? {} : { api_key: azureKey }),
      ...(azureEndpoint === undefined ? {} : { base_url: azureEndpoint }),
      ...(azureVersion === undefined ? {} : { api_version: azureVersion }),
    };
  }
  const ollama = stringFromEnv(env, 'OLLAMA_BASE_URL');
  if (ollama !== undefined) providers.ollama = { base_url: ollama };

  const limits: Record<string, unknown> = {};
  const rpm = numberFromEnv(env, 'LLM_PROXY_RPM');
  if (rpm !== undefined) limits.default_rpm = rpm;
  const tpm = numberFromEnv(env, 'LLM_PROXY_TPM');
  if (tpm !== undefined) limits.default_tpm = tpm;

  const cache: Record<string, unknown> = {};
  const cacheBackend = stringFromEnv(env, 'LLM_PROXY_CACHE');
  if (cacheBackend !== undefined) cache.backend = cacheBackend;
  const cacheTtl = numberFromEnv(env, 'LLM_PROXY_CACHE_TTL');
  if (cacheTtl !== undefined) cache.ttl_s = cacheTtl;

  const storage: Record<string, unknown> = {};
  const db = stringFromEnv(env, 'LLM_PROXY_DB');
  if (db !== undefined) storage.db_path = db;
  const spoolDir = stringFromEnv(env, 'LLM_PROXY_SPOOL_DIR');
  if (spoolDir !== undefined) storage.spool_dir = spoolDir;
  const databaseUrl = stringFromEnv(env, 'DATABASE_URL');
  if (databaseUrl !== undefined) storage.database_url = databaseUrl;
  const poolSize = numberFromEnv(env, 'LLM_PROXY_DATABASE_POOL_SIZE');
  if (poolSize !== undefined) storage.database_pool_size = poolSize;
  const redisUrl = stringFromEnv(env, 'REDIS_URL');
  if (redisUrl !== undefined) storage.redis_url = redisUrl;
  const expectedInstances = numberFromEnv(env, 'LLM_PROXY_EXPECTED_INSTANCES');
  if (expectedInstances !== undefined) storage.expected_instances = expectedInstances;
  const retention = numberFromEnv(env, 'LLM_PROXY_USAGE_RETENTION_DAYS');
  if (retention !== undefined) storage.usage_retention_days = retention;

  const logging: Record<string, unknown> = {};
  const level = stringFromEnv(env, 'LLM_PROXY_LOG_LEVEL');
  if (level !== undefined) logging.level = level;

  return { server, auth, providers, limits, cache, storage, logging };
}

/**
 * What ioredis would misread in a Redis URL, described without its password: another scheme
 * (`http://h:6379` becomes a Unix socket path) or a database number that is not a whole number
 * (`/abc`: SELECT NaN fails unhandled and the connection carries on in database 0). A bare
 * `host:port` and a socket path are ioredis's own forms and pass.
 */
/**
 * SQLite's special names, which better-sqlite3 would take as a plain file name (`:memory:` or
 * `file:…` made a file so named in the working directory). An in-memory database is not offered:
 * keys, budgets and usage must outlive a restart and be shared by the --workers processes and the
 * CLI, and the path also places the master key's hash and the usage spool.
 */
export function sqlitePathProblem(path: string): string | undefined {
  if (path !== ':memory:' && !path.startsWith('file:')) return undefined;
  return `${shownValue(path)} is not a file path: an in-memory SQLite database or a SQLite URI is not supported (keys, budgets and usage must outlive a restart and be shared by every worker and the CLI). Set a file path (a throwaway one such as /tmp/llm-proxy-test.db for tests), or DATABASE_URL to use PostgreSQL.`;
}

export function redisUrlProblem(value: string): string | undefined {
  if (!value.includes('://')) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL (redis://[:password@]host:port[/db]).';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `use redis:// or rediss:// (TLS), not ${url.protocol}//.`;
  const database = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : (url.searchParams.get('db') ?? '');
  if (database !== '' && !/^\d{1,9}$/.test(database)) return `the database number must be a whole number (redis://host:6379/2); got ${JSON.stringify(database.slice(0, 40))}.`;
  return undefined;
}

/** How an env variable is named for a config path, so an error can point at what the user set. */
const ENV_NAMES: Record<string, string> = {
  '/server/port': 'PORT',
  '/server/host': 'HOST',
  '/server/body_limit_mb': 'LLM_PROXY_BODY_LIMIT_MB',
  '/server/workers': 'LLM_PROXY_WORKERS',
  '/server/trust_proxy': 'LLM_PROXY_TRUST_PROXY',
  '/limits/default_rpm': 'LLM_PROXY_RPM',
  '/limits/default_tpm': 'LLM_PROXY_TPM',
  '/cache/backend': 'LLM_PROXY_CACHE',
  '/cache/ttl_s': 'LLM_PROXY_CACHE_TTL',
  '/storage/database_pool_size': 'LLM_PROXY_DATABASE_POOL_SIZE',
  '/storage/expected_instances': 'LLM_PROXY_EXPECTED_INSTANCES',
  '/storage/usage_retention_days': 'LLM_PROXY_USAGE_RETENTION_DAYS',
  '/logging/level': 'LLM_PROXY_LOG_LEVEL',
  '/auth/master_key': 'LLM_PROXY_MASTER_KEY',
};

/**
 * What a refused value was, without the value: a field meant for a key (or a key put in the wrong
 * place: `providers: { openai: ${OPENAI_API_KEY} }`) must not be printed at start-up, by
 * check-config or in a reload's answer. Types and sizes say enough to find the mistake.
 */
function shownValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) < 1_000_000 ? String(value) : 'a number';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'an object';
}

/** Key prefixes the redactor knows (src/logging/redactor.ts): the config loads before it exists. */
const KEY_SHAPED = /^(?:sk-|AIza|gsk_|xai_|fw_)/;

/**
 * A field name as shown in a message: a key can become one (`auth: { api_keys: sk-a,sk-b }` reads
 * `sk-b` as a property of `auth`), so a key-shaped or very long name is described instead.
 */
function shownName(name: string): string {
  return KEY_SHAPED.test(name) || name.length > 40 ? `<a ${name.length}-character name>` : name;
}

/** A union spelled out (`one of "error", "truncate", …`) rather than TypeBox's "Expected union value". */
function describeError(error: ValueError): string {
  const union = error.type === ValueErrorType.Union ? describeUnion(error.schema as SchemaNode) : undefined;
  return union === undefined ? error.message : `Expected ${union}`;
}

function describeErrors(config: unknown, source: string): string {
  const lines: string[] = [];
  for (const error of Value.Errors(ConfigSchema, config)) {
    const field = error.path === '' ? '(root)' : error.path.slice(1).split('/').map(shownName).join('.');
    const env = ENV_NAMES[error.path];
    const where = env === undefined ? field : `${field} (or ${env})`;
    // A field whose schema describes its forms says those; other unions list their members.
    const expected = typeof error.schema.description === 'string' ? `Expected ${error.schema.description}` : describeError(error);
    lines.push(`  ${where}: ${expected}; got ${shownValue(error.value)}`);
    if (lines.length >= 10) break;
  }
  return `Invalid configuration (${source}):\n${lines.join('\n')}`;
}

/** The variable that set a provider's base_url, when one did (the environment wins over the file). */
function baseUrlVariable(name: string, env: Environment): string | undefined {
  const variable =
    name === 'azure' ? 'AZURE_OPENAI_ENDPOINT' : name === 'ollama' ? 'OLLAMA_BASE_URL' : (HOSTED_KINDS as readonly string[]).includes(name) ? `${name.toUpperCase()}_BASE_URL` : undefined;
  return variable !== undefined && stringFromEnv(env, variable) !== undefined ? variable : undefined;
}

/**
 * LLM_PROXY_PRIVATE_UPSTREAMS (`*` or provider names) sets allow_private_network on those
 * providers. A name no provider has is refused: a typo would leave the opt-in silently unapplied.
 */
function applyPrivateUpstreams(config: Config, env: Environment): void {
  const chosen = parsePrivateUpstreams(stringFromEnv(env, 'LLM_PROXY_PRIVATE_UPSTREAMS'));
  if (chosen === undefined) return;
  if (chosen !== '*') {
    const unknown = chosen.find((name) => !Object.hasOwn(config.providers, name));
    if (unknown !== undefined) {
      const names = Object.keys(config.providers);
      throw new ConfigError(
        `LLM_PROXY_PRIVATE_UPSTREAMS: '${shownName(unknown)}' is not a configured provider; name configured ones (${names.length === 0 ? 'none is configured' : names.join(', ')}), comma-separated, or * for all.`,
      );
    }
  }
  for (const [name, provider] of Object.entries(config.providers)) {
    if (chosen === '*' || chosen.includes(name)) provider.allow_private_network = true;
  }
}

/**
 * Model groups: one a name, and a deployment's provider is one the config names or a built-in one.
 * The router leaves out a deployment whose provider does not exist, so a typo (`opneai`) dropped it
 * without a word, and a group of such deployments answered every request 404. A built-in provider
 * without its key passes (start-up logs it as not configured).
 */
function checkModelGroups(config: Config): void {
  const own = Object.keys(config.providers);
  const builtIn = KNOWN_PROVIDER_KINDS.filter((kind) => kind !== 'openai-compatible');
  const firstOfName = new Map<string, number>();
  (config.models ?? []).forEach((group, groupIndex) => {
    // The router keeps one group a name: a second of the same name replaced the first whole.
    const first = firstOfName.get(group.name);
    if (first !== undefined) {
      throw new ConfigError(`models.${groupIndex}.name: '${shownName(group.name)}' is already the name of models.${first}; put both groups' deployments in one group.`);
    }
    firstOfName.set(group.name, groupIndex);
    group.deployments.forEach((deployment, index) => {
      const name = deployment.provider;
      if (Object.hasOwn(config.providers, name) || (builtIn as readonly string[]).includes(name)) return;
      throw new ConfigError(
        `models.${groupIndex}.deployments.${index}.provider: '${shownName(name)}' is neither a provider of the config (${own.length === 0 ? 'none' : own.join(', ')}) nor a built-in one (${builtIn.join(', ')}); use one of those names, or add it under providers.`,
      );
    });
  });
}

/**
 * An alias that leads back to itself (`fast: quick`, `quick: fast`) reaches no model: the router
 * follows a few hops and then takes whatever name it stands on, so such a name answered 404, or the
 * model the loop happened to stop at.
 */
function checkAliasCycles(aliases: Readonly<Record<string, string>>): void {
  for (const start of Object.keys(aliases)) {
    const chain = [start];
    let name = aliases[start] as string;
    while (Object.hasOwn(aliases, name) && !chain.includes(name)) {
      chain.push(name);
      name = aliases[name] as string;
    }
    if (name !== start) continue;
    if (chain.length === 1) throw new ConfigError(`aliases.${shownName(start)}: an alias cannot point at itself.`);
    const shown = [...chain, start].map(shownName).join(' → ');
    throw new ConfigError(`aliases.${shownName(start)}: the chain ${shown} comes back to ${shownName(start)}, so it reaches no model; point one of them at a model.`);
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file it came from, if any (for reload and messages). */
  file: string | undefined;
}

const require = createRequire(import.meta.url);
let yamlModule: typeof YAML | undefined;
/** The YAML parser (72 files) is loaded when there is a file to read: a start from the environment alone never pays it. */
function parseYaml(text: string): unknown {
  yamlModule ??= require('yaml') as typeof YAML;
  return yamlModule.parse(text);
}

/** Builds and validates the configuration; throws ConfigError with a message naming the bad field. */
/** The config for a command that cannot go on without it: a refused one is `fail`ed with its message. */
export function loadConfigOrFail(fail: (message: string) => never): Config {
  try {
    return loadConfig().config;
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

export function loadConfig(env: Environment = process.env): LoadedConfig {
  const file = stringFromEnv(env, 'LLM_PROXY_CONFIG');
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`LLM_PROXY_CONFIG=${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
    let parsed: unknown;
    const protectedText = protectEnvReferences(text);
    try {
      parsed = parseYaml(protectedText.text);
    } catch (error) {
      throw new ConfigError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    }
    if (parsed === null || parsed === undefined) parsed = {};
    if (!isRecord(parsed)) throw new ConfigError(`${file}: the top level must be a mapping (key: value).`);
    fromFile = interpolateEnv(parsed, env, protectedText.references, '', ConfigSchema) as Record<string, unknown>;
  }
  const merged = merge(merge(defaultConfig() as unknown as Record<string, unknown>, fromFile), configFromEnv(env));
  if (!Value.Check(ConfigSchema, merged)) throw new ConfigError(describeErrors(merged, file ?? 'environment'));
  const config = merged as Config;
  for (const [name, provider] of Object.entries(config.providers)) {
    const kind = provider.type ?? name;
    if (!(KNOWN_PROVIDER_KINDS as readonly string[]).includes(kind)) {
      throw new ConfigError(
        `providers.${name}.type: '${name}' is not a known provider, so set type to one of ${KNOWN_PROVIDER_KINDS.join(', ')}.`,
      );
    }
  }
  applyPrivateUpstreams(config, env);
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.base_url === undefined) continue;
    // Described, not printed: a mistyped URL may still carry `?key=…`.
    if (!URL.canParse(provider.base_url)) throw new ConfigError(`providers.${name}.base_url: not a URL (with http:// or https://); got ${shownValue(provider.base_url)}.`);
    const verdict = vetUpstreamUrl(provider.base_url, provider.allow_private_network === true);
    if (verdict.allowed) continue;
    const variable = baseUrlVariable(name, env);
    const fix =
      verdict.remedy ??
      `use https:// to a public host, or, if this provider is on your own network on purpose, set providers.${name}.allow_private_network: true in the config file (or LLM_PROXY_PRIVATE_UPSTREAMS=${name})`;
    throw new ConfigError(`providers.${name}.base_url${variable === undefined ? '' : ` (or ${variable})`}: the upstream URL guard refuses provider '${name}': ${verdict.reason}; ${fix}.`);
  }
  checkModelGroups(config);
  checkAliasCycles(config.aliases);
  for (const [id, patch] of Object.entries(config.model_catalog ?? {})) {
    const problem = patch.price_changes === undefined ? undefined : priceChangesProblem(patch.price_changes);
    if (problem !== undefined) throw new ConfigError(`model_catalog.${id}.price_changes: ${problem}.`);
  }
  // A budget smaller than one body at the cap would refuse such a body forever, as 503 and retried.
  const { body_buffer_budget_mb: budget, body_limit_mb: bodyLimit } = config.server;
  if (budget !== undefined && budget < bodyLimit) {
    throw new ConfigError(`server.body_buffer_budget_mb: ${budget} is less than server.body_limit_mb (${bodyLimit}); one body at the limit must fit.`);
  }
  const dbPathProblem = sqlitePathProblem(config.storage.db_path);
  if (dbPathProblem !== undefined) throw new ConfigError(`storage.db_path (or LLM_PROXY_DB): ${dbPathProblem}`);
  const trustProblem = trustProxyProblem(config.server.trust_proxy);
  if (trustProblem !== undefined) throw new ConfigError(trustProblem);
  const redisProblem = config.storage.redis_url === undefined ? undefined : redisUrlProblem(config.storage.redis_url);
  if (redisProblem !== undefined) throw new ConfigError(`storage.redis_url (or REDIS_URL): ${redisProblem}`);
  // Without Redis each instance counts alone at the full limit by design: a divisor there would only cut limits.
  if (config.storage.expected_instances !== undefined && config.storage.redis_url === undefined) {
    throw new ConfigError('storage.expected_instances (or LLM_PROXY_EXPECTED_INSTANCES) divides limits while Redis is away, and needs REDIS_URL (or storage.redis_url) to be set.');
  }
  // REDIS_URL puts the cache in Redis (CONTRACT.md "shared state") unless a backend was chosen.
  const chosenBackend = stringFromEnv(env, 'LLM_PROXY_CACHE') ?? (isRecord(fromFile.cache) ? fromFile.cache.backend : undefined);
  if (chosenBackend === undefined && config.storage.redis_url !== undefined) config.cache.backend = 'redis';
  if (config.cache.backend === 'redis' && config.storage.redis_url === undefined) {
    throw new ConfigError('cache.backend (or LLM_PROXY_CACHE) is "redis", which needs REDIS_URL (or storage.redis_url) to be set.');
  }
  // A memory cache lives in the heap (the cluster primary's too): filled past half of it, it leaves
  // too little to serve, and from 85% every new request is shed with 503 until entries expire.
  // Only a size the operator chose: the default must not stop a start in a small container, so
  // there it shrinks to a quarter of the heap instead (256 MB fills a 512 MB heap past the shed line).
  const heapMb = Math.floor(getHeapStatistics().heap_size_limit / 1_048_576);
  const chosenSize = isRecord(fromFile.cache) && fromFile.cache.max_mb !== undefined;
  if (!chosenSize && config.cache.backend === 'memory') config.cache.max_mb = Math.max(1, Math.min(config.cache.max_mb, Math.floor(heapMb / 4)));
  if (chosenSize && config.cache.backend === 'memory' && config.cache.max_mb > heapMb / 2) {
    throw new ConfigError(
      `cache.max_mb: ${shownValue(config.cache.max_mb)} MB is more than half of this process's heap limit (${heapMb} MB), so a full cache would leave no room to serve; lower it, use LLM_PROXY_CACHE=redis, or raise the heap (NODE_OPTIONS=--max-old-space-size=MB).`,
    );
  }
  return { config, file };
}
