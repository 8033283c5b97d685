// What a config reload may change. Most settings take effect for new requests at once; the ones
// that name a listener, a connection or a process layout cannot change under a running process:
// a reload keeps their old values and says they need a restart.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from './config-schema.js';

/** Settings a reload cannot apply, as config paths (the server keeps their running values). */
export const RESTART_ONLY = [
  'server.port',
  'server.host',
  'server.workers',
  'storage.db_path',
  // The usage writer (and its spool file) is shared by every generation.
  'storage.spool_dir',
  'storage.database_url',
  'storage.database_pool_size',
  'storage.redis_url',
  'storage.redis_prefix',
  'storage.expected_instances',
  // The pruner runs in the shared part, started once.
  'storage.usage_retention_days',
  // The cache store and its key secret are shared by every generation (entries survive a reload).
  'cache',
] as const;

type Section = Record<string, unknown>;

function read(config: Config, path: string): unknown {
  let value: unknown = config;
  for (const part of path.split('.')) value = value === undefined || value === null ? undefined : (value as Section)[part];
  return value;
}

function write(config: Config, path: string, value: unknown): void {
  const parts = path.split('.');
  let target = config as unknown as Section;
  for (const part of parts.slice(0, -1)) target = target[part] as Section;
  const last = parts.at(-1) as string;
  if (value === undefined) delete target[last];
  else target[last] = structuredClone(value);
}

/**
 * The restart-only settings that differ between the running config and the new one; in `next`
 * they are put back to their running values, so what runs always matches what is reported.
 */
export function keepRestartOnly(running: Config, next: Config): string[] {
  const changed: string[] = [];
  for (const path of RESTART_ONLY) {
    const before = read(running, path);
    if (isDeepStrictEqual(before, read(next, path))) continue;
    changed.push(path);
    write(next, path, before);
  }
  return changed;
}

/** Providers whose settings (endpoint, key, type…) differ, so their deployments' health starts afresh. */
export function changedProviders(running: Config, next: Config): string[] {
  return Object.keys(next.providers).filter((name) => {
    const before = running.providers[name];
    return before !== undefined && !isDeepStrictEqual(before, next.providers[name]);
  });
}

/**
 * The field a config error names, for the `param` of an OpenAI-shaped error: the first
 * `  field (or ENV): …` line of a schema error, or the `field: …` (or `field (or ENV): …`) a semantic check starts with.
 */
export function configErrorField(message: string): string | null {
  const schemaLine = /^ {2}([A-Za-z0-9_.[\]()-]+?)(?: \(or [A-Z_]+\))?: /m.exec(message);
  if (schemaLine !== null && message.startsWith('Invalid configuration')) return schemaLine[1] as string;
  const named = /^([A-Za-z_][A-Za-z0-9_]*(?:[.[][A-Za-z0-9_\]-]+)*)(?:=[^:]*)?(?: \(or [A-Z_]+\))?: /.exec(message);
  return named === null ? null : (named[1] as string);
}
