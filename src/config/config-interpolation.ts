// `${NAME}` and `${NAME:-default}` in the YAML file: protected before parsing, then filled from the
// environment inside the parsed strings, a lone reference typed by its field's schema.
import { ConfigError } from './config-error.js';
import type { Environment } from './config-env.js';

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
export interface SchemaNode {
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
