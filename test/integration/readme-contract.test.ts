// README.md is the user's front door: every config key, environment variable, route, response
// header, metric, CLI flag and example it shows must be what the code does, and the other way
// round. Each test reads README.md and compares it with the live schema, loader, route table,
// metric registry and CLI, so a change to either side that leaves the other behind fails here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import type { Environment } from '../../src/config/config-env.js';
import { defaultConfig, loadConfig } from '../../src/config/config-loader.js';
import { ConfigSchema, type Config } from '../../src/config/config-schema.js';
import { RESTART_ONLY } from '../../src/config/reload.js';
import { isRecord } from '../../src/json/guards.js';
import { buildProviders } from '../../src/providers/provider-registry.js';
import { servingProblem } from '../../src/server/config-warnings.js';
import { startGateway, type Gateway } from '../support/gateway-harness.js';
import { codeSpans, fencedBlocks, proseOf, readmeText, section, spansOf, tableRows } from '../support/readme.js';
import { documentedPath, pathMatches, routesOf } from '../support/route-table.js';

const README = readmeText();
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

// ---------------------------------------------------------------- configuration keys

interface SchemaNode {
  type?: string;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** Every key path the schema accepts: `server.port`, `providers.*.api_key`, `models[].deployments[].weight`. */
function schemaPaths(node: SchemaNode, path = '', out = new Set<string>()): Set<string> {
  for (const member of node.anyOf ?? []) schemaPaths(member, path, out);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const at = path === '' ? key : `${path}.${key}`;
    out.add(at);
    schemaPaths(child, at, out);
  }
  for (const child of Object.values(node.patternProperties ?? {})) schemaPaths(child, `${path}.*`, out);
  if (node.items !== undefined) schemaPaths(node.items, `${path}[]`, out);
  return out;
}

/** Key paths a parsed YAML document shows, in the schema's spelling (lists as `[]`). */
function documentPaths(value: unknown, path = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) documentPaths(item, `${path}[]`, out);
  else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      const at = path === '' ? key : `${path}.${key}`;
      out.add(at);
      documentPaths(item, at, out);
    }
  }
  return out;
}

/** A schema path as a pattern over concrete paths: a record's `*` is any one key. */
function pathPattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/[.[\]]/g, '\\$&').replace(/\\\.\*/g, '\\.[^.]+')}$`);
}

/** The README's YAML blocks that are configuration (the nginx block and others are not YAML at all). */
const YAML_BLOCKS = fencedBlocks(README).filter((block) => block.lang === 'yaml');
const CONFIG_TOP_LEVEL = new Set(Object.keys((ConfigSchema as SchemaNode).properties ?? {}));

/** What a `${VAR}` of an example stands for here: long enough for a token (16+) or a key. */
const FROM_ENV = 'value-from-the-environment-0123456789';

/** `${VAR}` references of a block, each given that value. */
function referenceEnv(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => [match[1] as string, FROM_ENV]));
}

/** A YAML example as the loader sees it once its `${VAR}`s are filled. */
function parseExample(text: string): unknown {
  return parseYaml(text.replace(/\$\{[^}]*\}/g, FROM_ENV)) as unknown;
}

describe('README: configuration keys', () => {
  const paths = [...schemaPaths(ConfigSchema as SchemaNode)];
  const shown = new Set<string>();
  for (const block of YAML_BLOCKS) for (const path of documentPaths(parseExample(block.body))) shown.add(path);
  const spans = codeSpans(README);

  test('every key the schema accepts, at every depth, is documented', () => {
    const undocumented = paths.filter((path) => {
      const pattern = pathPattern(path);
      if ([...shown].some((at) => pattern.test(at))) return false;
      // Written out in the prose (`server.trust_proxy`, `providers.<name>.models`).
      const dotted = new RegExp(`(?<![\\w.])${path.replace(/[.[\]]/g, '\\$&').replace(/\\\.\*/g, '\\.[^.\\s`]+').replace(/\\\[\\\]/g, '(?:\\[\\])?')}(?![\\w])`);
      if (dotted.test(README)) return false;
      // Under a record or a list (a model_catalog entry's fields, a provider's): its own name in code
      // (`discover: false`), or inside its parent's (`modalities: {input, output}`).
      const [parent, leaf] = path.split(/\.|\[\]/).filter((part) => part !== '' && part !== '*').slice(-2) as [string, string];
      const named = (span: string) => new RegExp(`^${leaf}\\b(?!\\.)`).test(span) || new RegExp(`^${parent}\\b.*\\b${leaf}\\b`).test(span);
      return !(/\*|\[\]/.test(path) && spans.some(named));
    });
    assert.deepEqual(undocumented, []);
  });

  test('every config key the README names exists in the schema (no stale names)', () => {
    const named = spans.flatMap((span) => {
      const match = /^([a-z_]+)\.([A-Za-z0-9_.*<>-]+)/.exec(span);
      return match !== null && CONFIG_TOP_LEVEL.has(match[1] as string) ? [`${match[1]}.${match[2]}`] : [];
    });
    assert.ok(named.length > 20, `${named.length} config keys named in the README`);
    const stale = named.filter((name) => {
      if (name.endsWith('.*')) return !paths.some((path) => path.startsWith(name.slice(0, -1)));
      const concrete = name.replace(/<[^>]+>/g, 'x');
      return !paths.some((path) => pathPattern(path).test(concrete));
    });
    assert.deepEqual(stale, []);
  });

  test('every YAML example parses and passes the schema, alone over the defaults and all together in one file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-readme-'));
    // Listening beyond loopback needs a master key of 32+ characters: the README says so beside that example.
    const strongMaster = { LLM_PROXY_MASTER_KEY: 'readme-example-master-key-0123456789' };
    try {
      const merged: Record<string, unknown> = {};
      for (const block of YAML_BLOCKS) {
        const file = join(dir, `line-${block.line}.yaml`);
        writeFileSync(file, block.body);
        const parsed = parseExample(block.body);
        assert.ok(isRecord(parsed) && Object.keys(parsed).every((key) => CONFIG_TOP_LEVEL.has(key)), `README line ${block.line}: a config block`);
        let config: Config;
        try {
          config = loadConfig({ ...referenceEnv(block.body), ...strongMaster, LLM_PROXY_CONFIG: file }).config;
        } catch (error) {
          assert.fail(`README line ${block.line}: ${(error as Error).message}`);
        }
        assert.equal(servingProblem(config), undefined, `README line ${block.line}`);
        for (const [key, value] of Object.entries(parsed)) merged[key] = isRecord(value) && isRecord(merged[key]) ? { ...merged[key], ...value } : value;
      }
      // The blocks as one file (JSON is YAML): each section once, later blocks adding to earlier ones.
      const whole = join(dir, 'all.yaml');
      writeFileSync(whole, JSON.stringify(merged));
      const config = loadConfig({ ...strongMaster, LLM_PROXY_CONFIG: whole }).config;
      assert.equal(servingProblem(config), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the Config file example shows the defaults of server, routing, limits and logging', () => {
    const example = YAML_BLOCKS[0];
    assert.ok(example !== undefined && /defaults/.test(example.body.split('\n')[0] ?? ''), 'the first YAML block says which values are the defaults');
    const shownValues = parseExample(example.body) as Record<string, Record<string, unknown>>;
    const defaults = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
    for (const sectionName of ['server', 'routing', 'limits', 'logging']) {
      for (const [key, value] of Object.entries(defaults[sectionName] ?? {})) {
        assert.deepEqual(shownValues[sectionName]?.[key], value, `README shows ${sectionName}.${key} as its default`);
      }
    }
  });
});

describe('README: cross-references', () => {
  test('every "see X" names a section or a bold term of the README', () => {
    const headings = [...README.matchAll(/^#{2,4} (.+)$/gm)].map((match) => (match[1] as string).replace(/`/g, ''));
    const terms = [...README.matchAll(/\*\*([^*]+)\*\*/g)].map((match) => (match[1] as string).replace(/:$/, ''));
    const references = [...proseOf(README).matchAll(/\b[Ss]ee ([A-Z][A-Za-z]+(?: [A-Za-z]+)*)/g)].map((match) => match[1] as string);
    assert.ok(references.length > 15, `${references.length} references`);
    // "see Model catalog for each model's rates": the longest start of it that names something.
    const dangling = references.filter((reference) => {
      const words = reference.split(' ');
      return !words.some((_, count) => {
        const name = words.slice(0, count + 1).join(' ');
        return headings.some((heading) => heading.startsWith(name) && name.length >= 5) || terms.includes(name);
      });
    });
    assert.deepEqual(dangling, []);
  });
});

describe('README: what a reload applies, and the catalog it ships', () => {
  test('the settings it says need a restart are those a reload keeps (src/config/reload.ts)', () => {
    const sentence = /\*\*Needs a restart:\*\*([\s\S]*?)\. A reload/.exec(README)?.[1] ?? '';
    const named = spansOf(sentence);
    const storage = [...schemaPaths(ConfigSchema as SchemaNode)].filter((path) => /^storage\.[a-z_]+$/.test(path));
    // `storage.*` stands for every storage key; the spans after it name them by variable or key.
    const expanded = named.flatMap((span) => (span === 'storage.*' ? storage : span === 'cache' || /^[a-z]+\.[a-z_]+$/.test(span) ? [span] : []));
    assert.deepEqual([...new Set(expanded)].sort(), [...RESTART_ONLY].sort());
  });

  test('the built-in catalog\'s size, as the README gives it', () => {
    const { models } = JSON.parse(readFileSync(join(ROOT, 'src/catalog/builtin-models.json'), 'utf8')) as { models: Array<{ provider: string }> };
    const stated = /\((\d+) models from (\d+)\s+providers/.exec(README);
    assert.deepEqual([Number(stated?.[1]), Number(stated?.[2])], [models.length, new Set(models.map((model) => model.provider)).size]);
    assert.ok(README.includes(`${models.length} built-in models`), 'the feature table says the same');
  });
});

// ---------------------------------------------------------------- environment variables

/** Every variable the loader reads, found by handing it an environment that notes each name asked for. */
function variablesRead(): Set<string> {
  const read = new Set<string>();
  const env = new Proxy({} as Environment, {
    get(_target, name) {
      if (typeof name === 'string') read.add(name);
      return undefined;
    },
  });
  loadConfig(env);
  return read;
}

/** Upper-case names of the README that are not the proxy's variables, and why they are there. */
const NOT_OURS: Readonly<Record<string, string>> = {
  ANTHROPIC_AUTH_TOKEN: "Claude Code's own variable",
  ANTHROPIC_MODEL: "Claude Code's own variable",
  ANTHROPIC_DEFAULT_HAIKU_MODEL: "Claude Code's own variable",
  NODE_OPTIONS: "node's own",
  API_KEY_INVALID: "a Gemini error reason",
  FAILED_PRECONDITION: 'a Gemini error status',
  MAX_TOKENS: 'a Gemini finish reason',
  MALFORMED_FUNCTION_CALL: 'a Gemini finish reason',
  UNEXPECTED_TOOL_CALL: 'a Gemini finish reason',
  CLOSE_WAIT: 'a TCP state',
};

/**
 * The variables `npm run load` reads (its support module and heap probe), documented under Load
 * figures, those the client-input fuzz and upstream chaos suites read (runs, seeds, scope), under Tests,
 * and the test runner's (its per-file limit), under Development.
 */
const LOAD_VARIABLE = /^(?:LOAD|FUZZ|CHAOS|TEST)_[A-Z_]+$/;

describe('README: environment variables', () => {
  const read = variablesRead();
  const prose = README;
  /** Names written in the README, but those a `${NAME}` in an example makes up. */
  const mentioned = new Set([...prose.matchAll(/(?<!\$\{)\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g)].map((match) => match[1] as string));
  for (const word of ['PORT', 'HOST']) if (new RegExp(`\`${word}\``).test(prose)) mentioned.add(word);
  /** The `<NAME>_API_KEY`, `<NAME>_BASE_URL` row: the hosts it names. */
  const templated = tableRows(section(README, 'Providers'), 'provider')
    .filter((row) => (row[1] ?? '').includes('<NAME>_'))
    .flatMap((row) => (row[0] ?? '').split(',').map((name) => name.trim().toUpperCase()))
    .flatMap((name) => [`${name}_API_KEY`, `${name}_BASE_URL`]);

  test('every variable the code reads is documented', () => {
    assert.ok(read.size > 30, `${read.size} variables read`);
    const undocumented = [...read].filter((name) => !mentioned.has(name) && !templated.includes(name));
    assert.deepEqual(undocumented, []);
  });

  test('every variable the README names is read by the code (or is named as someone else\'s)', () => {
    const bench = [...readdirSync(join(ROOT, 'bench')).filter((file) => file.endsWith('.mjs')).map((file) => join('bench', file)), 'test/support/load-support.ts', 'test/integration/client-input-fuzz.test.ts', 'test/integration/upstream-chaos.test.ts', 'scripts/run-tests.mjs']
      .map((file) => readFileSync(join(ROOT, file), 'utf8'))
      .join('\n');
    const stale = [...mentioned].filter((name) => {
      if (read.has(name) || Object.hasOwn(NOT_OURS, name)) return false;
      return !(LOAD_VARIABLE.test(name) && bench.includes(`process.env.${name}`));
    });
    assert.deepEqual(stale, []);
  });

  test('the variables table gives each variable\'s config key and the default the loader uses', () => {
    const baseline = loadConfig({}).config;
    const rows = tableRows(section(README, 'Configuration'), 'variable');
    let defaults = 0;
    let keys = 0;
    for (const [names = '', shownDefaults = '', meaning = ''] of rows) {
      const variables = spansOf(names).filter((name) => read.has(name));
      const values = spansOf(shownDefaults);
      variables.forEach((variable, index) => {
        const paths = configPathsOf(variable, baseline);
        if (paths.length === 0) return; // LLM_PROXY_CONFIG names a file, not a field
        assert.ok(paths.some((path) => spansOf(meaning).includes(path.join('.'))), `${variable}: its row names ${paths.map((path) => path.join('.')).join(' or ')}`);
        keys++;
        const actual = paths.length === 1 ? (paths[0] as string[]).reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), baseline) : undefined;
        // A default the code applies later (LLM_PROXY_WORKERS: 1) or none (`none`) is not in the loaded config.
        if (actual === undefined || values.length !== variables.length) return;
        assert.equal(String(actual), values[index], `${variable}: README says ${values[index]}, the loader ${String(actual)}`);
        defaults++;
      });
    }
    assert.ok(defaults >= 9 && keys >= 14, `${defaults} defaults and ${keys} keys checked`);
  });
});

/** The config fields a variable sets: those that change when it is set (to a value its field takes; REDIS_URL also moves the cache). */
function configPathsOf(variable: string, baseline: Config): string[][] {
  const extra: Environment = variable === 'LLM_PROXY_EXPECTED_INSTANCES' ? { REDIS_URL: 'redis://127.0.0.1:6390' } : {};
  const base = Object.keys(extra).length === 0 ? baseline : loadConfig(extra).config;
  for (const sample of ['7', 'off', 'debug', 'sample-value']) {
    try {
      const changed = differences(base, loadConfig({ ...extra, [variable]: sample }).config);
      if (changed.length > 0) return changed;
    } catch {
      // Not a value this field takes: the next sample.
    }
  }
  return [];
}

function differences(a: unknown, b: unknown, path: string[] = []): string[][] {
  if (isRecord(a) && isRecord(b)) return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((key) => differences(a[key], b[key], [...path, key]));
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

describe('CONTRACT.md: its environment variables work as it says', () => {
  test('listen, keys, storage, shared state, cache, limits, body limit and logs', () => {
    const defaults = loadConfig({}).config;
    assert.equal(defaults.server.port, 8000);
    assert.equal(defaults.server.host, '127.0.0.1');
    assert.equal(defaults.storage.db_path, './data/llm-proxy.db');
    assert.equal(defaults.limits.default_rpm, 600);
    assert.equal(defaults.limits.default_tpm, 0);
    assert.equal(defaults.server.body_limit_mb, 10);
    const { config } = loadConfig({
      PORT: '9100',
      HOST: '::1',
      LLM_PROXY_API_KEYS: 'k1,k2',
      LLM_PROXY_MASTER_KEY: 'admin-key',
      LLM_PROXY_DB: '/tmp/elsewhere.db',
      DATABASE_URL: 'postgres://127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6390',
      LLM_PROXY_CACHE_TTL: '90',
      LLM_PROXY_RPM: '7',
      LLM_PROXY_TPM: '700',
      LLM_PROXY_BODY_LIMIT_MB: '3',
      LLM_PROXY_LOG_LEVEL: 'error',
    });
    assert.deepEqual(
      [config.server.port, config.server.host, config.auth.api_keys, config.auth.master_key, config.storage.db_path, config.storage.database_url, config.storage.redis_url],
      [9100, '::1', ['k1', 'k2'], 'admin-key', '/tmp/elsewhere.db', 'postgres://127.0.0.1:5432/test', 'redis://127.0.0.1:6390'],
    );
    // "REDIS_URL puts cache and rate-limit counters in Redis": the cache unless another backend is chosen.
    assert.equal(config.cache.backend, 'redis');
    assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390', LLM_PROXY_CACHE: 'memory' }).config.cache.backend, 'memory');
    assert.deepEqual([config.cache.ttl_s, config.limits.default_rpm, config.limits.default_tpm, config.server.body_limit_mb, config.logging.level], [90, 7, 700, 3, 'error']);
    for (const backend of ['off', 'memory']) assert.equal(loadConfig({ LLM_PROXY_CACHE: backend }).config.cache.backend, backend);
    assert.throws(() => loadConfig({ LLM_PROXY_CACHE: 'redis' }), /needs REDIS_URL/);
  });

  test('every provider from its variables alone; a provider with no key is not configured, and says which variable to set', () => {
    const hosts = ['openai', 'anthropic', 'gemini', 'mistral', 'groq', 'deepseek', 'together', 'openrouter', 'xai', 'fireworks'];
    const env: Record<string, string> = {};
    for (const host of hosts) Object.assign(env, { [`${host.toUpperCase()}_API_KEY`]: `key-${host}`, [`${host.toUpperCase()}_BASE_URL`]: `http://127.0.0.1:9/${host}` });
    Object.assign(env, { AZURE_OPENAI_API_KEY: 'key-azure', AZURE_OPENAI_ENDPOINT: 'https://x.openai.azure.com', AZURE_OPENAI_API_VERSION: '2024-06-01', OLLAMA_BASE_URL: 'http://127.0.0.1:11434' });
    const { config } = loadConfig(env);
    for (const host of hosts) assert.deepEqual(config.providers[host], { api_key: `key-${host}`, base_url: `http://127.0.0.1:9/${host}` }, host);
    assert.deepEqual(config.providers.azure, { api_key: 'key-azure', base_url: 'https://x.openai.azure.com', api_version: '2024-06-01' });
    assert.deepEqual(config.providers.ollama, { base_url: 'http://127.0.0.1:11434' });
    assert.deepEqual(buildProviders(config).providers.map((provider) => provider.name).sort(), [...hosts, 'azure', 'ollama'].sort());
    const keyless = buildProviders(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }).config);
    assert.deepEqual(keyless.providers, []);
    assert.match(keyless.notConfigured.openai ?? '', /OPENAI_API_KEY/);
  });

  test('LLM_PROXY_CONFIG: a YAML file with ${ENV} interpolation, validated with an error naming the bad field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-contract-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, 'aliases: { fast: "${FAST_MODEL}" }\nlimits: { default_rpm: 12, default_tpm: 0 }\n');
      const { config } = loadConfig({ LLM_PROXY_CONFIG: file, FAST_MODEL: 'openai/gpt-4o-mini' });
      assert.deepEqual([config.aliases, config.limits.default_rpm], [{ fast: 'openai/gpt-4o-mini' }, 12]);
      writeFileSync(file, 'limits: { default_rpm: lots, default_tpm: 0 }\n');
      assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: file }), /limits\.default_rpm/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- routes, headers, metrics

/** `METHOD /path` as the README writes it, in the spelling of the route table (`{id}`, `{*}`). */
function normalise(method: string, path: string): string {
  return `${method} ${path.replace(/\{[^}*]+\}/g, '{}').replace(/\{\*\}/g, '{}')}`;
}

/** `METHOD /path`s the README writes that are not the proxy's routes, and why. */
const NOT_ROUTES: Readonly<Record<string, string>> = {
  'GET /models': "a provider's own model list, which discovery reads",
  'GET /v1/messages': 'the example of a wrong method, answered 404 in Anthropic\'s shape',
};

/** Every `METHOD /path` the README writes, prose and examples. */
function routesNamed(): Array<[string, string]> {
  return [...README.matchAll(/\b(GET|POST|PUT|PATCH|DELETE)\s+`?(\/[A-Za-z0-9_./{}*%-]*)/g)]
    .map((match): [string, string] => [match[1] as string, (match[2] as string).replace(/[.]$/, '')])
    .filter(([method, path]) => !Object.hasOwn(NOT_ROUTES, `${method} ${path}`));
}

interface CurlCall {
  line: number;
  method: string;
  path: string;
  body: string | undefined;
}

/** A shell block's commands as words, the way sh splits them: quotes, line continuations, comments, `$ ` prompts. */
function shellCommands(text: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const endWord = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let index = 0; index < text.length; index++) {
    const char = text[index] as string;
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else word = (word ?? '') + char;
    } else if (char === "'" || char === '"') {
      quote = char;
      word ??= '';
    } else if (char === '\\' && text[index + 1] === '\n') index++;
    else if (char === '#' && word === undefined) {
      while (index + 1 < text.length && text[index + 1] !== '\n') index++;
    } else if (char === '\n') {
      endWord();
      if (words.length > 0) commands.push(words);
      words = [];
    } else if (char === ' ' || char === '\t') endWord();
    else word = (word ?? '') + char;
  }
  endWord();
  if (words.length > 0) commands.push(words);
  return commands.map((command) => (command[0] === '$' ? command.slice(1) : command));
}

/** The curl commands of the README's shell and console blocks, with their method as curl sends it. */
function curlCalls(): CurlCall[] {
  const calls: CurlCall[] = [];
  for (const block of fencedBlocks(README).filter((candidate) => candidate.lang === 'bash' || candidate.lang === 'console')) {
    for (const words of shellCommands(block.body).filter((command) => command[0] === 'curl')) {
      const url = words.map((word) => /^(?:https?:\/\/)?(?:localhost|127\.0\.0\.1):8000(\/[^\s]*)?$/.exec(word)).find((match) => match !== null);
      assert.ok(url !== undefined && url !== null, `README line ${block.line}: a curl command without the proxy's address: ${words.join(' ')}`);
      const after = (flag: string) => words[words.indexOf(flag) + 1];
      const body = words.includes('-d') ? after('-d') : undefined;
      const method = words.includes('-X') ? (after('-X') as string) : words.includes('-G') || body === undefined ? 'GET' : 'POST';
      calls.push({ line: block.line, method, path: (url[1] ?? '/').split('?')[0] as string, body: words.includes('-G') ? undefined : body });
    }
  }
  return calls;
}

describe('README: routes, response headers and metrics', () => {
  let gateway: Gateway;
  let routes: Array<[string, string]>;

  before(async () => {
    // As main.ts builds it: with something to reload, so POST /admin/reload is in the table.
    gateway = await startGateway({ LLM_PROXY_RPM: '0' }, { reload: async () => ({ reloaded: true, restartRequired: [], processes: 1, warnings: [] }) });
    routes = routesOf(gateway.app.app.printRoutes({ commonPrefix: false }));
  });
  after(async () => {
    await gateway.close();
  });

  test('the Endpoints table lists every route of the app, and no other', () => {
    const table = tableRows(section(README, 'Endpoints'), 'method and path').map((row) => {
      const [method, path] = (spansOf(row[0] ?? '')[0] ?? '').split(' ');
      return normalise(method ?? '', path ?? '');
    });
    // Swagger UI registers two of its files by name beside its wildcard; the table's /docs/{*} stands for them.
    const registered = routes.filter(([, url]) => !url.startsWith('/docs/static/')).map(([method, url]) => normalise(method, documentedPath(url)));
    assert.ok(registered.length >= 30, `${registered.length} routes`);
    assert.deepEqual([...new Set(table)].sort(), [...new Set(registered)].sort());
    assert.equal(new Set(table).size, table.length, 'each route once');
  });

  test('every METHOD /path the README names is a route of the app', () => {
    const named = routesNamed();
    assert.ok(named.length > 40, `${named.length} mentions`);
    const missing = named.filter(([method, path]) => !routes.some(([routeMethod, url]) => routeMethod === method && pathMatches(url, path)));
    assert.deepEqual(missing, []);
  });

  test('every curl example calls a route with the method it shows, and its JSON body parses', () => {
    const calls = curlCalls();
    assert.ok(calls.length >= 10, `${calls.length} curl commands`);
    for (const call of calls) {
      assert.ok(
        routes.some(([method, url]) => method === call.method && pathMatches(url, call.path)),
        `README line ${call.line}: ${call.method} ${call.path} is no route`,
      );
      if (call.body !== undefined && call.body.trimStart().startsWith('{')) assert.doesNotThrow(() => JSON.parse(call.body as string), `README line ${call.line}: its body`);
    }
    // The examples' Python calls too.
    for (const block of fencedBlocks(README).filter((candidate) => candidate.lang === 'python')) {
      for (const [, method, path] of block.body.matchAll(/requests\.(get|post)\("http:\/\/localhost:8000(\/[^"?]*)/g)) {
        assert.ok(routes.some(([routeMethod, url]) => routeMethod === (method as string).toUpperCase() && pathMatches(url, path as string)), `README line ${block.line}: ${method} ${path}`);
      }
    }
  });

  test('every JSON example parses', () => {
    const json = fencedBlocks(README).filter((block) => block.lang === 'json');
    const answers = fencedBlocks(README)
      .filter((block) => block.lang === 'console')
      .flatMap((block) => block.body.split('\n').filter((line) => line.startsWith('{')).map((body) => ({ line: block.line, body })));
    assert.ok(json.length + answers.length >= 3);
    for (const block of [...json, ...answers]) assert.doesNotThrow(() => JSON.parse(block.body), `README line ${block.line}`);
  });

  test('the query parameters and body fields of the proxy\'s own API are documented, and the search and condense tables are exactly the document\'s', async () => {
    const res = await fetch(`${gateway.url}/openapi.json`, { headers: { authorization: 'Bearer your-api-key' } });
    const doc = (await res.json()) as { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>> };
    const fields = (path: string, method: string) => {
      const operation = doc.paths[path]?.[method];
      return [
        ...(operation?.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name),
        ...Object.keys(operation?.requestBody?.content['application/json']?.schema.properties ?? {}),
      ];
    };
    // A span names a field as itself, as `field=…`, `field: …`, or in a URL's query (`?group_by=day&sort=cost`).
    const named = new Set(codeSpans(README).flatMap((span) => [span, ...[...span.matchAll(/(?:^|[?&{,\s"])([a-z_]+)(?==|":|:)/g)].map((match) => match[1] as string)]));
    for (const block of fencedBlocks(README)) for (const match of block.body.matchAll(/"([a-z_]+)":/g)) named.add(match[1] as string);
    // The OpenAI and Anthropic request bodies are those APIs' own, documented by their providers.
    const ours = Object.keys(doc.paths).filter((path) => !path.startsWith('/v1/'));
    const missing = ours.flatMap((path) => Object.keys(doc.paths[path] ?? {}).flatMap((method) => fields(path, method).filter((field) => !named.has(field)).map((field) => `${method.toUpperCase()} ${path} ${field}`)));
    assert.deepEqual(missing, []);
    const firstColumn = (header: string) => tableRows(README, header).flatMap((row) => spansOf(row[0] ?? ''));
    assert.deepEqual(firstColumn('search parameter').sort(), fields('/api/models/search', 'get').sort());
    assert.deepEqual(
      firstColumn('field').sort(),
      fields('/api/condense', 'post').sort(),
    );
  });

  test('every X- response header the code sets is documented, and every X- header the README names exists', () => {
    const source = sourceFiles(join(ROOT, 'src')).map((file) => readFileSync(file, 'utf8')).join('\n');
    const inCode = new Set([...source.matchAll(/['"`](x-[a-z0-9-]+)['"`]/gi)].map((match) => (match[1] as string).toLowerCase()));
    const inReadme = new Set([...proseOf(README).matchAll(/(?<![\w-])(X-[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])(?![A-Za-z0-9-])/gi)].map((match) => (match[1] as string).toLowerCase()));
    assert.ok(inCode.size > 20, `${inCode.size} header names in the code`);
    assert.deepEqual([...inCode].filter((name) => !inReadme.has(name)), []);
    // The X-Forwarded-* family is the balancer's, read through Fastify's trustProxy.
    const external = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
    assert.deepEqual([...inReadme].filter((name) => !inCode.has(name) && !external.has(name)), []);
  });

  test('the metrics list is the registry: every series with its labels, and every llm_proxy_ name the README writes exists', async () => {
    const node = new Registry();
    collectDefaultMetrics({ register: node, prefix: 'llm_proxy_' });
    const nodeNames = new Set(node.getMetricsAsArray().map((metric) => metric.name));
    const registry = gateway.app.services.metrics.registry;
    const own = registry
      .getMetricsAsArray()
      .filter((metric) => !nodeNames.has(metric.name))
      .map((metric) => {
        const labels = (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
        return `${metric.name.replace(/^llm_proxy_/, '')}${labels.length === 0 ? '' : `{${labels.join(',')}}`}`;
      });
    const metricsBullet = /- \*\*Metrics:\*\*[\s\S]*?Label values never hold keys/.exec(section(README, 'Operations'))?.[0] ?? '';
    // Series names, not the label values the bullet also quotes (`unmatched`, `spool_full`).
    const listed = spansOf(metricsBullet.slice(metricsBullet.indexOf('Series, all prefixed'))).filter((span) => /^[a-z_]+(?:\{[a-z_,]+\}|_(?:total|seconds|requests|streams|state|records))$/.test(span));
    assert.ok(own.length >= 18, `${own.length} series`);
    assert.deepEqual([...listed].sort(), [...own].sort());
    const written = new Set([...README.matchAll(/\bllm_proxy_[a-z0-9_]+/g)].map((match) => match[0]));
    const all = new Set(registry.getMetricsAsArray().map((metric) => metric.name));
    assert.deepEqual([...written].filter((name) => !all.has(name)), []);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return entry.endsWith('.ts') && !entry.endsWith('.test.ts') ? [path] : [];
  });
}

// ---------------------------------------------------------------- error codes

describe('README: error codes', () => {
  const source = sourceFiles(join(ROOT, 'src')).map((file) => readFileSync(file, 'utf8')).join('\n');
  /** The codes the code gives: written as a field or assigned, or handed to an error factory (its own defaults aside). */
  const given = new Set([
    ...[...source.matchAll(/\bcode: '([a-z][a-z_]+)'/g)].map((match) => match[1] as string),
    ...[...source.matchAll(/^\s+(?:let )?code = '([a-z][a-z_]+)'/gm)].map((match) => match[1] as string),
    ...[...source.matchAll(/\b(?:invalidRequest|authentication|permissionDenied|rateLimited|serviceUnavailable)\([^;]*?,\s*'([a-z][a-z_]+)'/g)].map((match) => match[1] as string),
  ]);

  test('every error code the code gives is documented', () => {
    assert.ok(given.size > 40, `${given.size} codes`);
    const spans = new Set(codeSpans(README));
    assert.deepEqual([...given].filter((code) => !spans.has(code)), []);
  });

  test('every code of the Errors table is one the code gives', () => {
    const table = tableRows(section(README, 'Errors'), 'status').flatMap((row) => spansOf(row[2] ?? '')).filter((span) => /^[a-z]+_[a-z_]+$/.test(span));
    assert.ok(table.length > 30, `${table.length} codes in the table`);
    assert.deepEqual(table.filter((code) => !source.includes(`'${code}'`)), []);
  });
});

// ---------------------------------------------------------------- CLI

/** What `llm-proxy … --help` prints: the general text and each command's. */
function helpText(): string {
  return ['--help', 'start --help', 'keys --help', 'check-config --help', 'models --help', 'usage --help']
    .map((args) => {
      const result = spawnSync(process.execPath, [CLI, ...args.split(' ')], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      assert.equal(result.status, 0, result.stderr);
      return result.stdout;
    })
    .join('\n');
}

/** `--flag` words of a text. */
function flags(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((match) => match[0]));
}

describe('README: the CLI', () => {
  /** Where the README shows the CLI: the Operations bullet and every line or span that runs `llm-proxy`. */
  const cliBullet = /- \*\*CLI\*\*[\s\S]*?(?=\n- \*\*)/.exec(section(README, 'Operations'))?.[0] ?? '';
  const cliLines = [
    ...fencedBlocks(README).flatMap((block) => block.body.split('\n')),
    ...codeSpans(README),
  ].filter((line) => /^(?:\$ )?(?:npx )?llm-proxy(?:\s|$)/.test(line.trim()));
  const documented = `${cliBullet}\n${cliLines.join('\n')}`;

  test('every command and flag of the help is documented, and every one the README shows exists', () => {
    const help = helpText();
    const helpCommands = new Set([...help.matchAll(/^\s+llm-proxy \[?([a-z][a-z-]*)/gm)].map((match) => match[1] as string));
    assert.deepEqual([...helpCommands].sort(), ['check-config', 'keys', 'models', 'start', 'usage']);
    for (const command of helpCommands) assert.ok(new RegExp(`\`(?:llm-proxy )?${command}\\b|llm-proxy ${command}\\b`).test(documented), `llm-proxy ${command}`);
    for (const action of ['create', 'list', 'revoke']) assert.ok(documented.includes(`keys ${action}`) || documented.includes(`keys create|list|revoke`), `keys ${action}`);
    const inHelp = flags(help);
    const inReadme = flags(documented);
    assert.deepEqual([...inHelp].filter((flag) => !inReadme.has(flag)), []);
    assert.deepEqual([...inReadme].filter((flag) => !inHelp.has(flag)), []);
  });

  test('every flag the help lists is one the command takes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-readme-cli-'));
    const env = { PATH: process.env.PATH, LLM_PROXY_DB: join(dir, 'llm-proxy.db') };
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
    try {
      const runs = [
        ['keys', 'create', '--name', 'readme', '--models', 'gpt-4o-mini', '--model', 'vendor/model,v2', '--rpm', '60', '--tpm', '1000', '--budget', '5', '--period', 'monthly', '--expires', '2099-01-01'],
        ['keys', 'list', '--json'],
        ['check-config', '--json'],
        ['models', '--search', 'gpt', '--provider', 'openai', '--capability', 'vision', '--all', '--json'],
        ['usage', 'rebuild-rollup', '--since', '2026-01-01'],
      ];
      for (const args of runs) {
        const result = run(args);
        assert.equal(result.status, 0, `llm-proxy ${args.join(' ')}: ${result.stderr}`);
      }
      const id = (JSON.parse(run(['keys', 'list', '--json']).stdout) as { keys: Array<{ id: string }> }).keys[0]?.id;
      assert.equal(run(['keys', 'revoke', id as string]).status, 0);
      // The one flag not run above starts a server: what it accepts is pinned by cli-start.test.ts.
      const exercised = flags(runs.flat().join(' '));
      assert.deepEqual([...flags(helpText())].filter((flag) => !exercised.has(flag)).sort(), ['--help', '--workers']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- layout and dependencies

/** The folders a reader looks for: each of src/, test/ and the top level (dot folders and build output left out). */
function folders(): string[] {
  const under = (dir: string) =>
    readdirSync(join(ROOT, dir), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => `${dir === '' ? '' : `${dir}/`}${entry.name}/`);
  const top = under('').filter((name) => !['node_modules/', 'dist/', 'data/', 'test-results/'].includes(name));
  return [...top, ...under('src'), ...under('test')];
}

describe('README: layout and dependencies', () => {
  test('Layout names every folder of the repository, src/ and test/', () => {
    const block = fencedBlocks(section(README, 'Layout'))[0]?.body ?? '';
    // Named anywhere in the block (`test/support/` in another folder's line counts); a line's own
    // folder, at its start, must exist.
    const named = new Set([...block.matchAll(/(?<![\w./-])((?:[a-z][a-z-]*\/)+)/g)].map((match) => match[1] as string));
    const shown = (folder: string) => [...named].some((name) => name.startsWith(folder));
    assert.deepEqual(folders().filter((folder) => !shown(folder)), []);
    const heads = [...block.matchAll(/^((?:[a-z][a-z-]*\/)+)/gm)].map((match) => match[1] as string);
    assert.deepEqual(heads.filter((name) => !statSync(join(ROOT, name), { throwIfNoEntry: false })?.isDirectory()), []);
  });

  test('Dependencies gives a reason for every package in package.json, and names no other', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const rows = tableRows(section(README, 'Dependencies, and why each is there'), 'package');
    const named = new Map<string, string>();
    for (const [cell = '', why = ''] of rows) for (const name of cell.replace(/\s*\(.*\)\s*$/, '').split(',')) named.set(name.trim(), why);
    const runtime = Object.keys(manifest.dependencies ?? {});
    const development = Object.keys(manifest.devDependencies ?? {});
    assert.deepEqual([...runtime, ...development].filter((name) => !named.has(name)), []);
    assert.deepEqual([...named.keys()].filter((name) => !runtime.includes(name) && !development.includes(name)), []);
    // A package only the build, tests or benchmark use says so; a runtime one does not.
    for (const name of development) assert.match(named.get(name) ?? '', /\(dev\)/, `${name} is a devDependency`);
    for (const name of runtime) assert.doesNotMatch(named.get(name) ?? '', /\(dev\)/, `${name} is a runtime dependency`);
  });
});
