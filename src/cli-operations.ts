// `llm-proxy check-config` (validate and print the resolved config, secrets masked) and
// `llm-proxy models` (list or search the catalog offline: no network, no database).
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { refuseRepeatedOptions } from './cli-fail.js';
import { ModelCatalog } from './catalog/model-catalog.js';
import { ModelDirectory } from './catalog/model-directory.js';
import { compileModelIndex, searchModels } from './catalog/model-search.js';
import { buildModelViews, type ModelView, type ViewSource } from './catalog/model-view.js';
import type { Environment } from './config/config-env.js';
import { ConfigError } from './config/config-error.js';
import { loadConfig } from './config/config-loader.js';
import { configuredSecrets } from './config/config-secrets.js';
import { configWarnings, servingProblem } from './server/config-warnings.js';
import { KNOWN_PROVIDER_KINDS, type Config } from './config/config-schema.js';
import { maskKey, maskUrl } from './logging/redactor.js';
import { buildProviders } from './providers/provider-registry.js';
import { routerFor } from './routing/model-router.js';

/** Field names whose values are secrets wherever they appear. */
const SECRET_FIELD = /(?:^|_)(?:key|keys|secret|token|password)$/i;

/** A copy of `value` with secrets masked: known secrets anywhere, secret-named fields, URL credentials and secret query values. */
export function maskConfig(value: unknown, secrets: ReadonlySet<string>, field = ''): unknown {
  if (typeof value === 'string') {
    if (secrets.has(value) || SECRET_FIELD.test(field)) return maskKey(value);
    return maskUrl(value);
  }
  if (Array.isArray(value)) return value.map((item) => maskConfig(item, secrets, field));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = maskConfig(item, secrets, key);
    return out;
  }
  return value;
}

function load(env: Environment): { config: Config; file: string | undefined } {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`llm-proxy: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

export function checkConfigCommand(argv: string[], env: Environment = process.env): void {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } } });
  const { config, file } = load(env);
  // What the server itself would refuse to start with (0.0.0.0 without a strong master key) fails here too.
  const problem = servingProblem(config);
  if (problem !== undefined) {
    process.stderr.write(`llm-proxy: the server would not start: ${problem}\n`);
    process.exit(1);
  }
  const masked = maskConfig(config, new Set(configuredSecrets(config)));
  const setup = buildProviders(config);
  process.stdout.write(values.json === true ? `${JSON.stringify(masked, null, 2)}\n` : toYaml(masked));
  process.stderr.write(
    `configuration OK (${file ?? 'defaults and environment'}); providers configured: ${setup.providers.map((provider) => provider.name).join(', ') || 'none'}\n`,
  );
  // Valid, and the server starts with it: said, not refused (discovery may still offer the name).
  for (const { message } of configWarnings(config)) process.stderr.write(`warning: ${message}\n`);
}

/** Every model of the built-in catalog (plus config patches), as if each provider kind were configured. */
function wholeCatalog(catalog: ModelCatalog): ModelView[] {
  const sources: ViewSource[] = [];
  for (const kind of KNOWN_PROVIDER_KINDS) {
    for (const entry of catalog.forKind(kind)) sources.push({ id: entry.id, provider: { name: kind }, entry, discovered: undefined });
  }
  return buildModelViews(sources);
}

function table(models: readonly ModelView[]): string {
  const columns = ['id', 'provider', 'context_length', 'input_cost', 'output_cost', 'capabilities'] as const;
  const cells = models.map((model) => columns.map((column) => {
    const value = model[column];
    if (Array.isArray(value)) return value.join(',') || '-';
    return value === null || value === undefined ? '-' : String(value);
  }));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => (line[index] ?? '').length)));
  const format = (line: readonly string[]) => line.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ').trimEnd();
  return [format(columns), ...cells.map(format)].join('\n');
}

/**
 * `models` options. --capability gathers every value, as /api/models/search does with a repeated
 * or comma-separated `capability` (a model needs every one); the others are given once.
 */
const MODELS_OPTIONS = {
  search: { type: 'string' },
  provider: { type: 'string' },
  capability: { type: 'string', multiple: true },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export function modelsCommand(argv: string[], env: Environment = process.env): void {
  const { values, tokens } = parseArgs({ args: argv, options: MODELS_OPTIONS, tokens: true });
  refuseRepeatedOptions(tokens, 'llm-proxy models --help', MODELS_OPTIONS);
  const { config } = load(env);
  const catalog = ModelCatalog.builtin(config.model_catalog);
  const setup = buildProviders(config);
  let views: ModelView[];
  if (values.all === true || setup.providers.length === 0) {
    views = wholeCatalog(catalog);
  } else {
    const router = routerFor(config, setup.providers, catalog);
    views = [...new ModelDirectory(router, catalog, { statusOf: () => undefined }).index().models];
  }
  const query: Record<string, string | string[]> = {};
  if (values.search !== undefined) query.q = values.search;
  if (values.provider !== undefined) query.provider = values.provider;
  if (values.capability !== undefined) query.capability = values.capability;
  const result = searchModels(compileModelIndex(views), query);
  if (values.json === true) process.stdout.write(`${JSON.stringify({ models: result.models, count: result.count }, null, 2)}\n`);
  else process.stdout.write(`${table(result.models)}\n${result.count} model${result.count === 1 ? '' : 's'}\n`);
}
