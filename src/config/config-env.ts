// The environment variables of CONTRACT.md as a partial config to merge over the file, and what names
// them in a refusal. Read from the Environment passed in: config-loader.ts alone reads process.env.
import type { Config, ProviderConfig } from './config-schema.js';
import { parsePrivateUpstreams } from '../upstream/url-guard.js';
import { ConfigError, shownName, shownValue } from './config-error.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/** Env prefixes of the OpenAI-compatible hosts: `<NAME>_API_KEY`, `<NAME>_BASE_URL`. */
const HOSTED_KINDS = ['openai', 'anthropic', 'gemini', 'mistral', 'groq', 'deepseek', 'together', 'openrouter', 'xai', 'fireworks'] as const;

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

export function stringFromEnv(env: Environment, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** The environment's part of the configuration, as a partial config to merge over the file. */
export function configFromEnv(env: Environment): Record<string, unknown> {
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

/** How an env variable is named for a config path, so an error can point at what the user set. */
export const ENV_NAMES: Record<string, string> = {
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

/** The variable that set a provider's base_url, when one did (the environment wins over the file). */
export function baseUrlVariable(name: string, env: Environment): string | undefined {
  const variable =
    name === 'azure' ? 'AZURE_OPENAI_ENDPOINT' : name === 'ollama' ? 'OLLAMA_BASE_URL' : (HOSTED_KINDS as readonly string[]).includes(name) ? `${name.toUpperCase()}_BASE_URL` : undefined;
  return variable !== undefined && stringFromEnv(env, variable) !== undefined ? variable : undefined;
}

/**
 * LLM_PROXY_PRIVATE_UPSTREAMS (`*` or provider names) sets allow_private_network on those
 * providers. A name no provider has is refused: a typo would leave the opt-in silently unapplied.
 */
export function applyPrivateUpstreams(config: Config, env: Environment): void {
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
