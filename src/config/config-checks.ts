// What the schema alone cannot say of a config: its refusals spelled out (field, variable, forms
// taken), storage values a driver would misread, model groups naming no provider, alias cycles.
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigSchema, KNOWN_PROVIDER_KINDS, type Config } from './config-schema.js';
import { describeUnion } from '../json/union-description.js';
import { ConfigError, shownName, shownValue } from './config-error.js';
import { ENV_NAMES } from './config-env.js';
import type { SchemaNode } from './config-interpolation.js';

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

/**
 * What ioredis would misread in a Redis URL, described without its password: another scheme
 * (`http://h:6379` becomes a Unix socket path) or a database number that is not a whole number
 * (`/abc`: SELECT NaN fails unhandled and the connection carries on in database 0). A bare
 * `host:port` and a socket path are ioredis's own forms and pass.
 */
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

/** A union spelled out (`one of "error", "truncate", …`) rather than TypeBox's "Expected union value". */
function describeError(error: ValueError): string {
  const union = error.type === ValueErrorType.Union ? describeUnion(error.schema as SchemaNode) : undefined;
  return union === undefined ? error.message : `Expected ${union}`;
}

export function describeErrors(config: unknown, source: string): string {
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

/**
 * Model groups: one a name, and a deployment's provider is one the config names or a built-in one.
 * The router leaves out a deployment whose provider does not exist, so a typo (`opneai`) dropped it
 * without a word, and a group of such deployments answered every request 404. A built-in provider
 * without its key passes (start-up logs it as not configured).
 */
export function checkModelGroups(config: Config): void {
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
export function checkAliasCycles(aliases: Readonly<Record<string, string>>): void {
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
