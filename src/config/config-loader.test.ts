import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { test } from 'node:test';
import { DEFAULT_POOL_SIZE } from '../store/database.js';
import { storeOptions } from '../store/sql-store.js';
import { redisUrlProblem } from './config-checks.js';
import { ConfigError } from './config-error.js';
import { interpolateEnv } from './config-interpolation.js';
import { loadConfig } from './config-loader.js';

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'llm-proxy-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
}

test('defaults with no file and no env', () => {
  const { config } = loadConfig({});
  assert.equal(config.server.port, 8000);
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.body_limit_mb, 10);
  assert.equal(config.limits.default_rpm, 600);
  assert.equal(config.limits.default_tpm, 0);
  assert.equal(config.storage.db_path, './data/llm-proxy.db');
  assert.deepEqual(config.providers, {});
});

test('environment variables of the contract', () => {
  const { config } = loadConfig({
    PORT: '9000',
    HOST: '0.0.0.0',
    LLM_PROXY_API_KEYS: ' k1, k2 ,,',
    LLM_PROXY_MASTER_KEY: 'master',
    OPENAI_API_KEY: 'sk-a',
    OPENAI_BASE_URL: 'http://127.0.0.1:1/v1',
    AZURE_OPENAI_API_KEY: 'az',
    AZURE_OPENAI_ENDPOINT: 'https://x.openai.azure.com',
    AZURE_OPENAI_API_VERSION: '2024-06-01',
    OLLAMA_BASE_URL: 'http://127.0.0.1:11434',
    GROQ_API_KEY: 'gsk',
    LLM_PROXY_RPM: '5',
    LLM_PROXY_TPM: '1000',
    LLM_PROXY_CACHE: 'off',
    LLM_PROXY_CACHE_TTL: '30',
    LLM_PROXY_BODY_LIMIT_MB: '2',
    LLM_PROXY_LOG_LEVEL: 'warn',
  });
  assert.equal(config.server.port, 9000);
  assert.deepEqual(config.auth.api_keys, ['k1', 'k2']);
  assert.equal(config.auth.master_key, 'master');
  assert.deepEqual(config.providers.openai, { api_key: 'sk-a', base_url: 'http://127.0.0.1:1/v1' });
  assert.deepEqual(config.providers.azure, { api_key: 'az', base_url: 'https://x.openai.azure.com', api_version: '2024-06-01' });
  assert.deepEqual(config.providers.ollama, { base_url: 'http://127.0.0.1:11434' });
  assert.deepEqual(config.providers.groq, { api_key: 'gsk' });
  assert.equal(config.limits.default_rpm, 5);
  assert.equal(config.limits.default_tpm, 1000);
  assert.equal(config.cache.backend, 'off');
  assert.equal(config.cache.ttl_s, 30);
  assert.equal(config.server.body_limit_mb, 2);
  assert.equal(config.logging.level, 'warn');
});

test('YAML file with ${ENV} interpolation, env over file', () => {
  const path = file(`
server: { port: 8100, body_limit_mb: \${BODY_MB} }
providers:
  openai: { api_key: \${MY_KEY} }
  gpu-box: { type: openai-compatible, base_url: "\${GPU_URL:-http://127.0.0.1:8001/v1}", models: [llama-local] }
aliases: { fast: gpu-box/llama-local }
`);
  const { config } = loadConfig({ LLM_PROXY_CONFIG: path, MY_KEY: 'sk-from-env', PORT: '8200', BODY_MB: '3' });
  assert.equal(config.server.body_limit_mb, 3);
  assert.equal(config.server.port, 8200);
  assert.equal(config.providers.openai?.api_key, 'sk-from-env');
  assert.equal(config.providers['gpu-box']?.base_url, 'http://127.0.0.1:8001/v1');
  assert.deepEqual(config.aliases, { fast: 'gpu-box/llama-local' });
});

test('errors name the field and the fix', () => {
  assert.throws(() => loadConfig({ PORT: 'eighty' }), (error: unknown) => error instanceof ConfigError && /PORT/.test(error.message));
  assert.throws(() => loadConfig({ PORT: '70000' }), (error: unknown) => error instanceof ConfigError && /server\.port \(or PORT\)/.test(error.message));
  assert.throws(() => loadConfig({ LLM_PROXY_CACHE: 'disk' }), (error: unknown) => error instanceof ConfigError && /cache\.backend/.test(error.message));
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: file('server: { prot: 1 }') }),
    (error: unknown) => error instanceof ConfigError && /server\.prot/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: file('providers: { mybox: { base_url: "http://x" } }') }),
    (error: unknown) => error instanceof ConfigError && /providers\.mybox\.type/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: file('providers: { openai: { base_url: "ftp://x" } }') }),
    (error: unknown) => error instanceof ConfigError && /providers\.openai\.base_url/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: file('providers: { openai: { api_key: ${UNSET_VAR} } }') }),
    (error: unknown) => error instanceof ConfigError && /UNSET_VAR/.test(error.message),
  );
  assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: '/nonexistent/config.yaml' }), (error: unknown) => error instanceof ConfigError && /cannot read/.test(error.message));
  assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: file('[1, 2]') }), (error: unknown) => error instanceof ConfigError && /mapping/.test(error.message));
});

test('models[].timeouts.connect_s: optional, a positive number of seconds', () => {
  const group = (timeouts: string) => file(`models:\n  - name: g\n    timeouts: ${timeouts}\n    deployments: [{ provider: openai, model: m }]\n`);
  const loaded = loadConfig({ LLM_PROXY_CONFIG: group('{ connect_s: 0.5, ttfb_s: 20 }') });
  assert.equal(loaded.config.models?.[0]?.timeouts?.connect_s, 0.5);
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: group('{ ttfb_s: 20 }') }).config.models?.[0]?.timeouts?.connect_s, undefined);
  for (const bad of ['0', '-1', '"fast"']) {
    assert.throws(
      () => loadConfig({ LLM_PROXY_CONFIG: group(`{ connect_s: ${bad} }`) }),
      (error: unknown) => error instanceof ConfigError && /models\.0\.timeouts\.connect_s: /.test(error.message),
      `connect_s: ${bad}`,
    );
  }
});

test('interpolation leaves other strings alone and does not pollute prototypes', () => {
  const value = interpolateEnv(JSON.parse('{"a":"x","__proto__":{"polluted":true}}'), {});
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((value as Record<string, unknown>).a, 'x');
});

test('server.body_buffer_budget_mb: optional, and never below body_limit_mb', () => {
  assert.equal(loadConfig({}).config.server.body_buffer_budget_mb, undefined);
  const fits = loadConfig({ LLM_PROXY_CONFIG: file('server: { body_limit_mb: 4, body_buffer_budget_mb: 4 }\n') });
  assert.equal(fits.config.server.body_buffer_budget_mb, 4);
  // The env limit raised over a file budget: one body at the limit would never fit.
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: file('server: { body_buffer_budget_mb: 16 }\n'), LLM_PROXY_BODY_LIMIT_MB: '32' }),
    (error: unknown) => error instanceof ConfigError && /server\.body_buffer_budget_mb: 16 is less than server\.body_limit_mb \(32\)/.test(error.message),
  );
});

test('a refused value is described, never printed: a key in the wrong place stays out of the message', () => {
  const secret = 'sk-proj-realsecretkey0123456789';
  for (const [text, env, field] of [
    ['providers: { openai: ${OK} }', { OK: secret }, 'providers.openai'],
    ['auth: { api_keys: sk-client-secret-one,sk-client-secret-two }', {}, 'auth.api_keys'],
    ['metrics: { token: 98765432109876 }', {}, 'metrics'],
  ] as const) {
    assert.throws(
      () => loadConfig({ ...env, LLM_PROXY_CONFIG: file(text) }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes(field) &&
        !error.message.includes(secret) &&
        !error.message.includes('sk-client-secret') &&
        !error.message.includes('98765432109876') &&
        !error.message.includes('9.87654'),
    );
  }
  // So is a variable that should hold a number: the schema names the field and describes the value.
  for (const [name, field] of [['LLM_PROXY_RPM', 'limits.default_rpm'], ['PORT', 'server.port'], ['LLM_PROXY_CACHE_TTL', 'cache.ttl_s']] as const) {
    assert.throws(
      () => loadConfig({ [name]: secret }),
      (error: unknown) => error instanceof ConfigError && error.message.includes(`${field} (or ${name})`) && /got a string of 31 characters/.test(error.message) && !error.message.includes(secret),
    );
  }
  // A small number is still shown: it is what a port or a limit looks like.
  assert.throws(() => loadConfig({ PORT: '70000' }), (error: unknown) => error instanceof ConfigError && /got 70000/.test(error.message));
});

test('a value brought in by ${ENV} is not expanded again', () => {
  const { config } = loadConfig({ KEYX: 'abc${HOME}def${NOPE}', LLM_PROXY_CONFIG: file('providers: { openai: { api_key: "pre-${KEYX}" } }') });
  assert.equal(config.providers.openai?.api_key, 'pre-abc${HOME}def${NOPE}');
});

test('seconds that feed a timer stop at 24.8 days: Node would turn a longer timer into 1 ms', () => {
  for (const setting of ['probe_interval_s: 2592000', 'discovery_interval_s: 2592000', 'total_timeout_s: 3000000', 'cooldown_s: 9999999']) {
    assert.throws(
      () => loadConfig({ LLM_PROXY_CONFIG: file(`routing: { ${setting} }`) }),
      (error: unknown) => error instanceof ConfigError && error.message.includes(`routing.${setting.split(':')[0]}`),
      setting,
    );
  }
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: file('routing: { probe_interval_s: 2147483 }') }).config.routing.probe_interval_s, 2147483);
});

test('a lone ${VAR} takes its field\'s type: digits stay a string where a string is expected', () => {
  const path = file(`
server: { port: \${PORT_X}, workers: \${WORKERS_X} }
providers:
  openai: { api_key: \${DIGIT_KEY}, models: [\${MODEL_X}], discover: \${DISCOVER_X} }
aliases: { fast: \${MODEL_X} }
condense: { model: "\${MODEL_X}" }
cache: { multiple_choices: \${TRUE_X} }
`);
  const env = { LLM_PROXY_CONFIG: path, PORT_X: '8100', WORKERS_X: '2', DIGIT_KEY: '0123456789', MODEL_X: '1234', DISCOVER_X: 'false', TRUE_X: 'true' };
  const { config } = loadConfig(env);
  assert.equal(config.server.port, 8100);
  assert.equal(config.server.workers, 2);
  assert.equal(config.providers.openai?.api_key, '0123456789');
  assert.deepEqual(config.providers.openai?.models, ['1234']);
  assert.equal(config.providers.openai?.discover, false);
  assert.equal(config.aliases.fast, '1234');
  assert.equal(config.condense?.model, '1234');
  assert.equal(config.cache.multiple_choices, true);
  // A union of a number and a word takes either.
  assert.equal(loadConfig({ ...env, WORKERS_X: 'auto' }).config.server.workers, 'auto');
  // A string field keeps `true` as a word; a number field still refuses a word, naming the field.
  assert.equal(loadConfig({ ...env, DIGIT_KEY: 'true' }).config.providers.openai?.api_key, 'true');
  assert.throws(() => loadConfig({ ...env, PORT_X: 'eighty' }), (error: unknown) => error instanceof ConfigError && /server\.port \(or PORT\): Expected integer/.test(error.message));
});

test('a union field refused lists what it takes, under the field path', () => {
  const refused = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    assert.fail('the configuration was accepted');
  };
  const groups = file('routing: { strategy: fastest }\nmodels:\n  - name: g\n    context_policy: drop\n    deployments: [{ provider: openai, model: m }]\n');
  const message = refused({ LLM_PROXY_CONFIG: groups });
  assert.match(message, /routing\.strategy: Expected one of "weighted-random", "least-busy", "lowest-latency", "lowest-cost"; got a string of 7 characters/);
  assert.match(message, /models\.0\.context_policy: Expected one of "error", "truncate", "condense", "fallback"; got/);
  assert.match(refused({ LLM_PROXY_CACHE: 'disk' }), /cache\.backend \(or LLM_PROXY_CACHE\): Expected one of "off", "memory", "redis"; got/);
  assert.match(refused({ LLM_PROXY_WORKERS: 'many' }), /server\.workers \(or LLM_PROXY_WORKERS\): Expected a whole number from 1 to 256, or auto \(one per core\); got/);
  assert.match(refused({ LLM_PROXY_CONFIG: file('model_catalog: { m: { input_cost: -1 } }') }), /model_catalog\.m\.input_cost: Expected a number from 0 to 1000000 or null; got -1/);
});

test('REDIS_URL: another scheme or a database number that is not a whole number is refused, without printing the password', () => {
  for (const url of ['redis://:hunter2-pw@127.0.0.1:6379/abc', 'redis://:hunter2-pw@127.0.0.1:6379/1.5', 'http://:hunter2-pw@127.0.0.1:6379', 'redis://:hunter2-pw@127.0.0.1:6379?db=x']) {
    assert.throws(
      () => loadConfig({ REDIS_URL: url }),
      (error: unknown) => error instanceof ConfigError && /REDIS_URL/.test(error.message) && !error.message.includes('hunter2-pw'),
      url,
    );
  }
  for (const url of ['redis://127.0.0.1:6379', 'redis://:pw@127.0.0.1:6379/2', 'rediss://h:6380/0', 'redis://h:1?db=3', '127.0.0.1:6379', '/tmp/redis.sock']) {
    assert.equal(redisUrlProblem(url), undefined, url);
  }
});

test('storage.expected_instances (LLM_PROXY_EXPECTED_INSTANCES): a whole number from 1, and only with REDIS_URL', () => {
  const redis = { REDIS_URL: 'redis://127.0.0.1:6379' };
  assert.equal(loadConfig({ ...redis, LLM_PROXY_EXPECTED_INSTANCES: '3' }).config.storage.expected_instances, 3);
  assert.equal(loadConfig(redis).config.storage.expected_instances, undefined);
  for (const value of ['0', '2.5']) {
    assert.throws(() => loadConfig({ ...redis, LLM_PROXY_EXPECTED_INSTANCES: value }), /storage\.expected_instances \(or LLM_PROXY_EXPECTED_INSTANCES\)/, value);
  }
  assert.throws(() => loadConfig({ LLM_PROXY_EXPECTED_INSTANCES: '3' }), /needs REDIS_URL/);
});

test('storage.database_pool_size (LLM_PROXY_DATABASE_POOL_SIZE): a whole number from 1 to 1000, the store\'s pool size', () => {
  const postgres = { DATABASE_URL: 'postgres://127.0.0.1:5432/test' };
  assert.equal(loadConfig(postgres).config.storage.database_pool_size, undefined);
  assert.equal(storeOptions(loadConfig(postgres).config.storage).poolSize, undefined, 'the store applies its default');
  assert.equal(DEFAULT_POOL_SIZE, 10);
  const { config } = loadConfig({ ...postgres, LLM_PROXY_DATABASE_POOL_SIZE: '4' });
  assert.equal(config.storage.database_pool_size, 4);
  assert.equal(storeOptions(config.storage).poolSize, 4);
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: file('storage:\n  db_path: ./data/x.db\n  database_pool_size: 6\n') }).config.storage.database_pool_size, 6);
  for (const value of ['0', '2.5', '1001', '-3']) {
    assert.throws(() => loadConfig({ ...postgres, LLM_PROXY_DATABASE_POOL_SIZE: value }), /storage\.database_pool_size \(or LLM_PROXY_DATABASE_POOL_SIZE\)/, value);
  }
  assert.throws(() => loadConfig({ ...postgres, LLM_PROXY_DATABASE_POOL_SIZE: '1e2' }), /storage\.database_pool_size \(or LLM_PROXY_DATABASE_POOL_SIZE\): write it in plain decimal digits/);
  assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: file('storage:\n  db_path: ./data/x.db\n  database_pool_size: many\n') }), /storage\.database_pool_size/);
});

/** Asserts that `env` is refused with `message` (a whole string, or a pattern). */
function assertRefused(env: Record<string, string>, message: string | RegExp): void {
  assert.throws(() => loadConfig(env), { name: 'ConfigError', message });
}

test('upstream URL guard: a refused base_url names the provider, the variable or field, the reason and the fix', () => {
  assertRefused(
    { OLLAMA_BASE_URL: 'http://ollama:11434' },
    "providers.ollama.base_url (or OLLAMA_BASE_URL): the upstream URL guard refuses provider 'ollama': http:// to ollama would send the provider's key in clear text, and the name may lead into a private network; " +
      'use https:// to a public host, or, if this provider is on your own network on purpose, set providers.ollama.allow_private_network: true in the config file (or LLM_PROXY_PRIVATE_UPSTREAMS=ollama).',
  );
  assertRefused(
    { OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'http://169.254.169.254/v1' },
    /^providers\.openai\.base_url \(or OPENAI_BASE_URL\): .*169\.254\.169\.254 is a private destination \(169\.254\.0\.0\/16, link-local, where cloud metadata services answer\); .*LLM_PROXY_PRIVATE_UPSTREAMS=openai/,
  );
  assertRefused({ AZURE_OPENAI_API_KEY: 'k', AZURE_OPENAI_ENDPOINT: 'https://0x7f.1' }, /^providers\.azure\.base_url \(or AZURE_OPENAI_ENDPOINT\): .*127\.0\.0\.1 written in another form.*; write it as 127\.0\.0\.1\.$/);
  // The URL itself is not printed: it may carry a key in its query.
  assertRefused(
    { LLM_PROXY_CONFIG: file('providers: { gpu-box: { type: openai-compatible, base_url: "http://10.0.0.5:8000/v1?key=secret-in-query" } }') },
    /^(?!.*secret-in-query)providers\.gpu-box\.base_url: the upstream URL guard refuses provider 'gpu-box': 10\.0\.0\.5 is a private destination .*set providers\.gpu-box\.allow_private_network: true/,
  );
  assertRefused({ LLM_PROXY_CONFIG: file('providers: { openai: { base_url: "https://user:pw@api.example.com/v1" } }') }, /providers\.openai\.base_url: .*user name or password; remove it/);
});

test('upstream URL guard: the opt-in, by YAML field, by name in LLM_PROXY_PRIVATE_UPSTREAMS, or *', () => {
  const byName = loadConfig({ OLLAMA_BASE_URL: 'http://ollama:11434', LLM_PROXY_PRIVATE_UPSTREAMS: 'ollama' }).config;
  assert.equal(byName.providers.ollama?.allow_private_network, true);
  const everyone = loadConfig({ OLLAMA_BASE_URL: 'http://ollama:11434', OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'http://10.0.0.7/v1', LLM_PROXY_PRIVATE_UPSTREAMS: '*' }).config;
  assert.equal(everyone.providers.openai?.allow_private_network, true);
  const yaml = loadConfig({ LLM_PROXY_CONFIG: file('providers:\n  gpu: { type: openai-compatible, base_url: "http://10.0.0.5:8000/v1", allow_private_network: true }\n  public: { type: openai-compatible, base_url: "https://api.example.com/v1" }\n') }).config;
  assert.equal(yaml.providers.gpu?.allow_private_network, true);
  assert.equal(yaml.providers.public?.allow_private_network, undefined);
  // One provider's opt-in is not another's.
  assertRefused({ OLLAMA_BASE_URL: 'http://ollama:11434', OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'http://10.0.0.7/v1', LLM_PROXY_PRIVATE_UPSTREAMS: 'ollama' }, /^providers\.openai\.base_url/);
  assertRefused(
    { OLLAMA_BASE_URL: 'http://ollama:11434', LLM_PROXY_PRIVATE_UPSTREAMS: 'olama' },
    "LLM_PROXY_PRIVATE_UPSTREAMS: 'olama' is not a configured provider; name configured ones (ollama), comma-separated, or * for all.",
  );
});

test('upstream URL guard: loopback written as such needs no opt-in (local Ollama, vLLM, tests)', () => {
  for (const url of ['http://localhost:11434', 'http://127.0.0.1:11434', 'http://[::1]:11434', 'https://api.example.com']) {
    assert.equal(loadConfig({ OLLAMA_BASE_URL: url }).config.providers.ollama?.base_url, url);
  }
});

test('storage.db_path: an in-memory or URI name is refused, not made a file of that name', () => {
  for (const [env, setting] of [
    [{ LLM_PROXY_DB: ':memory:' }, 'LLM_PROXY_DB'],
    [{ LLM_PROXY_CONFIG: file('storage: { db_path: "file::memory:?cache=shared" }') }, 'storage.db_path'],
    [{ LLM_PROXY_DB: 'file:data/llm-proxy.db' }, 'LLM_PROXY_DB'],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && error.message.includes(setting) && /not a file path/.test(error.message) && /DATABASE_URL/.test(error.message),
      JSON.stringify(env),
    );
  }
  assert.equal(loadConfig({ LLM_PROXY_DB: './memory.db' }).config.storage.db_path, './memory.db');
});

test('LLM_PROXY_SPOOL_DIR sets storage.spool_dir (where unwritten usage records wait); unset by default', () => {
  assert.equal(loadConfig({}).config.storage.spool_dir, undefined);
  assert.equal(loadConfig({ LLM_PROXY_SPOOL_DIR: '/var/lib/llm-proxy' }).config.storage.spool_dir, '/var/lib/llm-proxy');
});

test('a model group deployment on a provider nobody configured is refused, naming the field and the names there are', () => {
  const group = (provider: string) => file(`providers:\n  gpu-box: { type: openai-compatible, base_url: "http://127.0.0.1:8001/v1" }\nmodels:\n  - name: g\n    deployments: [{ provider: openai, model: m }, { provider: ${provider}, model: m }]\n`);
  // A typo would leave the deployment out, and a group of typos would answer every request 404.
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: group('opneai') }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /^models\.0\.deployments\.1\.provider: 'opneai' is neither a provider of the config \(gpu-box\) nor a built-in one \(openai, .*anthropic.*\);/.test(error.message),
  );
  // A built-in provider without its key is accepted (start-up says it is not configured), as is one of the file's own.
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: group('anthropic') }).config.models?.[0]?.deployments[1]?.provider, 'anthropic');
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: group('gpu-box') }).config.models?.[0]?.deployments[1]?.provider, 'gpu-box');
  // openai-compatible is a type, not a provider: no deployment can name it unless a provider is called so.
  assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: group('openai-compatible') }), /models\.0\.deployments\.1\.provider: 'openai-compatible' is neither/);
});

test('two model groups of one name are refused: the later one took the name and the first one\'s deployments were never used', () => {
  const groups = file('models:\n  - name: g\n    deployments: [{ provider: openai, model: a }]\n  - name: h\n    deployments: [{ provider: openai, model: b }]\n  - name: g\n    deployments: [{ provider: openai, model: c }]\n');
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: groups }),
    (error: unknown) => error instanceof ConfigError && error.message === "models.2.name: 'g' is already the name of models.0; put both groups' deployments in one group.",
  );
});

test('an alias chain that comes back to where it started is refused, naming the alias and the chain', () => {
  assert.throws(
    () => loadConfig({ LLM_PROXY_CONFIG: file('aliases: { fast: quick, quick: speedy, speedy: fast }') }),
    (error: unknown) => error instanceof ConfigError && error.message === 'aliases.fast: the chain fast → quick → speedy → fast comes back to fast, so it reaches no model; point one of them at a model.',
  );
  // A chain that ends at a model, and two aliases of one model, stay accepted.
  assert.deepEqual(loadConfig({ LLM_PROXY_CONFIG: file('aliases: { fast: quick, quick: gpt-4o-mini, cheap: gpt-4o-mini }') }).config.aliases, { fast: 'quick', quick: 'gpt-4o-mini', cheap: 'gpt-4o-mini' });
});

test('a key with a line break or surrounding space (a secret file\'s trailing newline) is refused naming the field, not sent', () => {
  const config = file('providers:\n  openai: { api_key: "${PROVIDER_KEY}" }\nauth: { master_key: "${MASTER}", api_keys: ["${CLIENT}"] }\nmetrics: { token: "${TOKEN}" }\n');
  const good = { PROVIDER_KEY: 'sk-provider-0123456789', MASTER: 'master-key-0123456789-0123456789', CLIENT: 'client-key-0123456789', TOKEN: 'metrics-token-0123456789' };
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: config, ...good }).config.auth.api_keys[0], 'client-key-0123456789');
  // Sent as a header, such a key failed every call as "could not be reached". (Client and master
  // keys take no space or control character anywhere: the test after this one.)
  for (const [variable, field] of [['PROVIDER_KEY', 'providers.openai.api_key'], ['TOKEN', 'metrics.token']] as const) {
    for (const bad of [`${good[variable]}\n`, ` ${good[variable]}`, `${good[variable].slice(0, 8)}\t${good[variable].slice(8)}`]) {
      assert.throws(
        () => loadConfig({ LLM_PROXY_CONFIG: config, ...good, [variable]: bad }),
        (error: unknown) =>
          error instanceof ConfigError &&
          new RegExp(`^  ${field.replace(/\./g, '\\.')}: Expected a key (of 16 or more characters )?with no line break, tab or other control character and no space at either end \\(a secret file's trailing newline\\?\\); got a string of ${bad.length} characters$`, 'm').test(error.message) &&
          !error.message.includes(bad.trim()),
        `${variable}=${JSON.stringify(bad)}`,
      );
    }
  }
});

test('a client or master key that no request can present (a space, non-ASCII, over 512 characters) is refused at start, not 401 on every call', () => {
  for (const [env, field] of [
    [{ LLM_PROXY_MASTER_KEY: 'correct horse battery staple' }, 'auth.master_key (or LLM_PROXY_MASTER_KEY)'],
    [{ LLM_PROXY_API_KEYS: 'good-key,clé-secrète' }, 'auth.api_keys'],
    [{ LLM_PROXY_API_KEYS: `k${'x'.repeat(512)}` }, 'auth.api_keys'],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && error.message.includes(field) && !error.message.includes('horse') && !error.message.includes('secrète'),
      field,
    );
  }
  assert.equal(loadConfig({ LLM_PROXY_MASTER_KEY: `sk-${'x'.repeat(509)}` }).config.auth.master_key?.length, 512);
});

/** The message of the ConfigError `env` is refused with. */
function refusal(env: Record<string, string>): string {
  let message = '';
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => error instanceof ConfigError && (message = error.message).length > 0,
    JSON.stringify(env),
  );
  return message;
}

test('a number variable takes plain decimal digits only: hex, exponents and spaces are refused naming the variable', () => {
  for (const [name, bad] of [
    ['PORT', '0x1F40'],
    ['PORT', '1e3'],
    ['PORT', ' 80'],
    ['PORT', '80 '],
    ['PORT', '+80'],
    ['LLM_PROXY_RPM', '0b11'],
    ['LLM_PROXY_TPM', '1_000'],
    ['LLM_PROXY_BODY_LIMIT_MB', '.5'],
    ['LLM_PROXY_CACHE_TTL', 'Infinity'],
    ['LLM_PROXY_WORKERS', '0x4'],
    ['LLM_PROXY_WORKERS', '2e0'],
  ] as const) {
    const message = refusal({ [name]: bad });
    assert.match(message, new RegExp(`\\(or ${name}\\): `), `${name}=${JSON.stringify(bad)}: ${message}`);
    assert.match(message, /digits/, message);
    assert.ok(!message.includes(bad.trim()) || bad.trim().length < 3, message);
  }
  assert.equal(loadConfig({ PORT: '8080' }).config.server.port, 8080);
  assert.equal(loadConfig({ LLM_PROXY_BODY_LIMIT_MB: '0.5' }).config.server.body_limit_mb, 0.5);
  assert.equal(loadConfig({ LLM_PROXY_WORKERS: '3' }).config.server.workers, 3);
  // An empty value is an unset one, as before.
  assert.equal(loadConfig({ PORT: '' }).config.server.port, 8000);
});

test('LLM_PROXY_API_KEYS holding only commas is refused: it names no key, and none would have meant a generated master key', () => {
  for (const bad of [',', ' , ,', ',,,']) {
    assert.match(refusal({ LLM_PROXY_API_KEYS: bad }), /^auth\.api_keys \(or LLM_PROXY_API_KEYS\): .*no key/);
  }
  assert.deepEqual(loadConfig({ LLM_PROXY_API_KEYS: 'k1,' }).config.auth.api_keys, ['k1']);
});

test('cache TTLs and size have upper bounds, refused naming the field and the limit', () => {
  assert.match(refusal({ LLM_PROXY_CACHE_TTL: '1000000000000' }), /cache\.ttl_s \(or LLM_PROXY_CACHE_TTL\): .*31536000/);
  assert.match(refusal({ LLM_PROXY_CONFIG: file('cache:\n  ttl_by_model: { gpt-4: 1000000000000 }\n') }), /cache\.ttl_by_model\.gpt-4: .*31536000/);
  assert.equal(loadConfig({ LLM_PROXY_CACHE_TTL: '31536000' }).config.cache.ttl_s, 31_536_000);
  assert.match(refusal({ LLM_PROXY_CONFIG: file('cache:\n  max_mb: 10000000\n') }), /cache\.max_mb: .*1048576/);
  // In memory, the cache lives in this process's heap: one that could fill it would leave no room to serve.
  const message = refusal({ LLM_PROXY_CONFIG: file('cache:\n  max_mb: 500000\n') });
  assert.match(message, /^cache\.max_mb: 500000 MB is more than half of this process's heap limit \(\d+ MB\)/);
  assert.match(message, /LLM_PROXY_CACHE=redis|--max-old-space-size/);
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: file('cache:\n  max_mb: 500000\n'), REDIS_URL: 'redis://127.0.0.1:6379' }).config.cache.max_mb, 500_000);
  assert.equal(loadConfig({ LLM_PROXY_CONFIG: file('cache:\n  max_mb: 512\n') }).config.cache.max_mb, 512);
});

test('the default memory cache shrinks to a quarter of a small heap; a chosen size or Redis is kept', () => {
  const loader = pathToFileURL(join(import.meta.dirname, 'config-loader.js')).href;
  const sizeIn = (heapMb: number, env: Record<string, string>): number => {
    const script = `import { loadConfig } from ${JSON.stringify(loader)}; process.stdout.write(String(loadConfig(${JSON.stringify(env)}).config.cache.max_mb));`;
    return Number(execFileSync(process.execPath, [`--max-old-space-size=${heapMb}`, '--input-type=module', '-e', script], { encoding: 'utf8' }));
  };
  const small = sizeIn(200, {});
  // V8 adds its young generation to the limit it reports, so a quarter of 200 MB is a little more than 50.
  assert.ok(small >= 50 && small < 64, `default cache in a 200 MB heap: ${small} MB`);
  assert.equal(sizeIn(200, { LLM_PROXY_CONFIG: file('cache:\n  max_mb: 90\n') }), 90);
  assert.equal(sizeIn(200, { REDIS_URL: 'redis://127.0.0.1:6379' }), 256);
  assert.equal(loadConfig({}).config.cache.max_mb, Math.min(256, Math.floor(getHeapStatistics().heap_size_limit / 1_048_576 / 4)));
});
