// Loads the configuration: defaults, then the YAML file (LLM_PROXY_CONFIG, with ${ENV} interpolation),
// then the environment variables of CONTRACT.md. The only module that reads process.env.
// The parts: config-env.ts (variables), config-interpolation.ts (${ENV} in the file), config-checks.ts
// (refusals past the schema), config-error.ts (the error and how it shows values).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import { Value } from '@sinclair/typebox/value';
import type YAML from 'yaml';
import { ConfigSchema, KNOWN_PROVIDER_KINDS, type Config } from './config-schema.js';
import { trustProxyProblem } from './trust-proxy.js';
import { vetUpstreamUrl } from '../upstream/url-guard.js';
import { priceChangesProblem } from '../catalog/catalog-patch.js';
import { isRecord } from '../json/guards.js';
import { checkAliasCycles, checkModelGroups, describeErrors, redisUrlProblem, sqlitePathProblem } from './config-checks.js';
import { ConfigError, shownValue } from './config-error.js';
import { applyPrivateUpstreams, baseUrlVariable, configFromEnv, stringFromEnv, type Environment } from './config-env.js';
import { interpolateEnv, protectEnvReferences } from './config-interpolation.js';

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

/** The config for a command that cannot go on without it: a refused one is `fail`ed with its message. */
export function loadConfigOrFail(fail: (message: string) => never): Config {
  try {
    return loadConfig().config;
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

/** Builds and validates the configuration; throws ConfigError with a message naming the bad field. */
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
