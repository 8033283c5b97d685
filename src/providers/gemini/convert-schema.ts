// JSON Schema (OpenAI `parameters`, `response_format.json_schema.schema`) → the OpenAPI subset Gemini
// accepts in `responseSchema` and function `parameters`. Gemini answers 400 to keywords outside it, so
// they are removed; what can be expressed another way is rewritten (refs inlined, const → enum, type
// lists → nullable/anyOf), as the official SDK's own `processJsonSchema` does.
// @see https://ai.google.dev/api/caching#Schema
// @see https://ai.google.dev/gemini-api/docs/structured-output
import { invalidRequest, type GatewayError } from '../../errors/gateway-error.js';
import type { GeminiSchema } from './gemini-wire.js';
import { isRecord } from './gemini-wire.js';

/** JSON Schema type names → Gemini's `Type` enum. */
const TYPES: Readonly<Record<string, string>> = {
  string: 'STRING',
  number: 'NUMBER',
  integer: 'INTEGER',
  boolean: 'BOOLEAN',
  array: 'ARRAY',
  object: 'OBJECT',
};

/** The only `format` values Gemini accepts, per type. Others (email, uri, ...) are rejected upstream. */
const FORMATS: Readonly<Record<string, readonly string[]>> = {
  STRING: ['enum', 'date-time'],
  INTEGER: ['int32', 'int64'],
  NUMBER: ['float', 'double'],
};

/**
 * Keywords of one kind of value: Gemini refuses them on a schema of another type ("properties: only
 * allowed for OBJECT type"). `format` depends on the type too (FORMATS).
 */
const ONLY_FOR: Readonly<Record<string, readonly string[]>> = {
  items: ['ARRAY'],
  minItems: ['ARRAY'],
  maxItems: ['ARRAY'],
  properties: ['OBJECT'],
  required: ['OBJECT'],
  propertyOrdering: ['OBJECT'],
  minProperties: ['OBJECT'],
  maxProperties: ['OBJECT'],
  enum: ['STRING'],
  pattern: ['STRING'],
  minLength: ['STRING'],
  maxLength: ['STRING'],
  minimum: ['NUMBER', 'INTEGER'],
  maximum: ['NUMBER', 'INTEGER'],
};

/**
 * Keywords copied as they are, when of their JSON Schema type (a `pattern: 0` or `minItems: -1`
 * went as sent, and Gemini answers 400 to it). Anything not here or handled below is dropped
 * (additionalProperties, $schema, default, examples, strict, ...).
 */
const COPIED_TEXT = ['title', 'description', 'pattern'] as const;
const COPIED_COUNTS = ['minItems', 'maxItems', 'minProperties', 'maxProperties', 'minLength', 'maxLength'] as const;
const COPIED_BOUNDS = ['minimum', 'maximum'] as const;

function unsupportedSchema(param: string, detail: string): GatewayError {
  return invalidRequest(`Unsupported schema in '${param}': ${detail}.`, 'unsupported_schema', param);
}

interface Context {
  param: string;
  definitions: Record<string, unknown>;
  /** The refs being expanded, to refuse recursion (Gemini schemas cannot refer to themselves). */
  expanding: string[];
  /** Subschemas converted inside `$ref` expansions so far, shared by the whole conversion. */
  expanded: { count: number };
  /** How deep this subschema sits, `$ref` expansions included. */
  depth: number;
  /** Give each object its properties' order as written (`propertyOrdering`): a response schema's. */
  ordered: boolean;
}

/**
 * Inlining copies a definition wherever it is referenced, so a few hundred bytes of definitions that
 * each refer twice to the next expand to 2^depth subschemas (depth 18 took 1.3 s, each level doubles
 * it), and a chain of 8,000 refs recursed once per link into a stack overflow. Both are refused past
 * these bounds, far beyond a real tool or response schema.
 */
export const MAX_REF_DEPTH = 64;
export const MAX_EXPANDED_NODES = 20_000;
/**
 * The body's nesting is bounded (MAX_JSON_DEPTH), but each of 64 nested `$ref`s may add a
 * definition's own depth: 64 definitions 50 levels deep each (an 82 KB request) recursed ~3,200
 * times and overflowed the stack, a 500 instead of a 400.
 */
export const MAX_SCHEMA_DEPTH = 128;

function resolveRef(ref: string, context: Context): { name: string; schema: unknown } {
  const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
  const name = match?.[1]?.replace(/~1/g, '/').replace(/~0/g, '~');
  if (name === undefined || !Object.hasOwn(context.definitions, name)) {
    throw unsupportedSchema(context.param, `the reference '${ref.slice(0, 100)}' does not point into $defs`);
  }
  if (context.expanding.includes(name)) throw unsupportedSchema(context.param, `'${name.slice(0, 100)}' refers to itself, and Gemini schemas cannot be recursive`);
  if (context.expanding.length >= MAX_REF_DEPTH) throw unsupportedSchema(context.param, `$ref expansions nest deeper than ${MAX_REF_DEPTH} levels`);
  return { name, schema: context.definitions[name] };
}

/** Sets an own data property, as a spread does (`__proto__` from JSON.parse is a plain key, never the prototype). */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Merges `allOf` members into one schema: properties and required lists combined, later keywords win.
 * Built in place: re-spreading the merged schema for each member made 10,000 members take 28 s.
 */
function mergeAllOf(node: Record<string, unknown>): Record<string, unknown> {
  const { allOf, ...rest } = node;
  if (!Array.isArray(allOf)) return rest;
  const merged: Record<string, unknown> = {};
  const properties: Record<string, unknown> = {};
  const required: unknown[] = [];
  for (const member of [...allOf, rest]) {
    if (!isRecord(member)) continue;
    for (const key of Object.keys(member)) if (key !== 'properties' && key !== 'required') put(merged, key, member[key]);
    put(merged, 'properties', properties);
    put(merged, 'required', required);
    if (isRecord(member.properties)) for (const key of Object.keys(member.properties)) put(properties, key, member.properties[key]);
    if (Array.isArray(member.required)) for (const name of member.required as unknown[]) required.push(name);
  }
  if (isRecord(merged.properties) && Object.keys(merged.properties).length === 0) delete merged.properties;
  if (Array.isArray(merged.required) && merged.required.length === 0) delete merged.required;
  return merged;
}

function convertNode(input: unknown, context: Context): GeminiSchema {
  // `true` / `{}` accept anything: Gemini has no such schema, so the type is left open.
  if (!isRecord(input)) return {};
  if (context.depth > MAX_SCHEMA_DEPTH) throw unsupportedSchema(context.param, `it nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
  if (context.expanding.length > 0 && ++context.expanded.count > MAX_EXPANDED_NODES) {
    throw unsupportedSchema(context.param, `its $ref expansions come to more than ${MAX_EXPANDED_NODES} subschemas`);
  }
  let node: Record<string, unknown> = input;
  let expanding = context.expanding;

  if (typeof node.$ref === 'string') {
    const { name, schema } = resolveRef(node.$ref, context);
    const { $ref: _ref, ...siblings } = node;
    node = { ...(isRecord(schema) ? schema : {}), ...siblings };
    expanding = [...expanding, name];
  }
  if (node.allOf !== undefined) node = mergeAllOf(node);
  const inner: Context = { ...context, expanding, depth: context.depth + 1 };

  const out: GeminiSchema = {};
  let nullable = node.nullable === true;

  // anyOf / oneOf: a `null` member becomes nullable; one member left is inlined.
  const union = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined;
  if (union !== undefined) {
    const members = union.filter((member) => {
      if (isRecord(member) && member.type === 'null') {
        nullable = true;
        return false;
      }
      return true;
    });
    const { anyOf: _anyOf, oneOf: _oneOf, ...rest } = node;
    const only = members[0];
    if (members.length === 1 && only !== undefined) {
      // nullable goes in with the rest: set afterwards it would sit beside the member's own anyOf.
      return convertNode({ ...(isRecord(only) ? only : {}), ...rest, ...(nullable ? { nullable: true } : {}) }, inner);
    }
    // Only `null` members: nullable is all that is left (an empty anyOf allows nothing).
    if (members.length > 0) out.anyOf = members.map((member) => convertNode(member, inner));
    node = rest;
  }

  // Type lists: ["string", "null"] → STRING + nullable; several real types → anyOf.
  let type: string | undefined;
  if (Array.isArray(node.type)) {
    const types = node.type.filter((t): t is string => typeof t === 'string');
    if (types.includes('null')) nullable = true;
    const real = types.filter((t) => t !== 'null');
    if (real.length === 1) type = TYPES[real[0] as string];
    else if (real.length > 1) out.anyOf = real.map((t) => (TYPES[t] === undefined ? {} : { type: TYPES[t] as string }));
  } else if (typeof node.type === 'string') {
    if (node.type === 'null') nullable = true;
    else type = TYPES[node.type];
  }

  // const → a one-value enum (Gemini enums are strings only).
  let values: unknown[] | undefined = Array.isArray(node.enum) ? node.enum : node.const !== undefined ? [node.const] : undefined;
  // A null among the values is `nullable` (OpenAI's structured outputs write an optional enum
  // `type: ["string", "null"], enum: ["a", null]`); left in, it cost the strings their enum.
  if (values?.includes(null) === true) {
    nullable = true;
    values = values.filter((value) => value !== null);
    if (values.length === 0) values = undefined;
  }
  if (values !== undefined && values.every((value) => typeof value === 'string')) {
    if (type === undefined && out.anyOf === undefined) type = 'STRING';
    if (type === 'STRING') out.enum = values as string[];
    values = undefined;
  }

  // No type, but properties or items: an object or an array, as JSON Schema reads them (MCP servers
  // leave the type out); Gemini refuses properties without type OBJECT, a 400 for the whole request.
  if (type === undefined && out.anyOf === undefined) {
    if (isRecord(node.properties) && Object.keys(node.properties).length > 0) type = 'OBJECT';
    else if ((node.items !== undefined && !Array.isArray(node.items)) || (Array.isArray(node.prefixItems) && node.prefixItems.length > 0)) type = 'ARRAY';
  }
  // A keyword of another type's values is left out (`items` on a string); untyped, it is kept (a type list's members get it by type).
  const fits = (key: string): boolean => type === undefined || ONLY_FOR[key]?.includes(type) !== false;

  if (type !== undefined) out.type = type;
  if (typeof node.format === 'string' && type !== undefined && FORMATS[type]?.includes(node.format)) out.format = node.format;
  for (const key of COPIED_TEXT) {
    const value = node[key];
    if (typeof value === 'string' && fits(key)) out[key] = value;
  }
  for (const key of COPIED_COUNTS) {
    const value = node[key];
    if (Number.isSafeInteger(value) && (value as number) >= 0 && fits(key)) out[key] = value as number;
  }
  for (const key of COPIED_BOUNDS) {
    const value = node[key];
    if (typeof value === 'number' && Number.isFinite(value) && fits(key)) out[key] = value;
  }
  if (values !== undefined && values.length > 0) {
    // Non-string enums cannot be expressed; the allowed values are kept for the model to read.
    const listed = values.map((value) => JSON.stringify(value)).join(', ');
    out.description = `${out.description === undefined ? '' : `${out.description} `}Allowed values: ${listed}.`;
  }
  if (nullable) out.nullable = true;

  if (isRecord(node.properties) && fits('properties')) {
    const properties: Record<string, GeminiSchema> = {};
    for (const [name, schema] of Object.entries(node.properties)) properties[name] = convertNode(schema, inner);
    // Gemini rejects an empty `properties` ("should be non-empty for OBJECT type").
    if (Object.keys(properties).length > 0) {
      out.properties = properties;
      if (Array.isArray(node.required)) {
        const required = node.required.filter((name): name is string => typeof name === 'string' && Object.hasOwn(properties, name));
        if (required.length > 0) out.required = required;
      }
      if (Array.isArray(node.propertyOrdering)) out.propertyOrdering = node.propertyOrdering.filter((name): name is string => typeof name === 'string');
      // Gemini writes an answer's keys in alphabetical order unless told otherwise; OpenAI writes
      // them as the schema lists them, which clients rely on (a `reasoning` field before `answer`).
      else if (context.ordered && Object.keys(properties).length > 1) out.propertyOrdering = Object.keys(properties);
    }
  }
  if (!fits('items')) {
    // Not an array: no items.
  } else if (node.items !== undefined && !Array.isArray(node.items)) out.items = convertNode(node.items, inner);
  else if (Array.isArray(node.prefixItems) && node.prefixItems.length > 0) out.items = convertNode(node.prefixItems[0], inner);
  return out.anyOf === undefined ? out : foldIntoMembers(out);
}


/**
 * Gemini refuses a schema with any keyword beside `anyOf` ("When using any_of, it must be the only
 * field set"), so `{type: "object", properties, anyOf}`, a nullable union or a type list with
 * `items` was a 400 for the whole request. The other keywords move into each member, as JSON Schema
 * reads them (they apply to every member): a member's own keyword wins, properties and required are
 * merged, and a keyword of one kind of value goes only to members of that type.
 */
function foldIntoMembers(schema: GeminiSchema): GeminiSchema {
  const { anyOf, ...siblings } = schema;
  if (anyOf === undefined || Object.keys(siblings).length === 0) return schema;
  return { anyOf: anyOf.map((member) => foldInto(member, siblings)) };
}

function foldInto(member: GeminiSchema, siblings: GeminiSchema): GeminiSchema {
  // A member that is a union itself has only `anyOf` (folded when it was converted).
  if (member.anyOf !== undefined) return { anyOf: member.anyOf.map((inner) => foldInto(inner, siblings)) };
  const type = member.type ?? siblings.type;
  const merged: Record<string, unknown> = { ...member };
  if (type !== undefined) merged.type = type;
  for (const [key, value] of Object.entries(siblings)) {
    if (key === 'type' || Object.hasOwn(merged, key)) continue;
    const only = ONLY_FOR[key];
    if (only !== undefined && (type === undefined || !only.includes(type))) continue;
    if (key === 'format' && (type === undefined || FORMATS[type]?.includes(value as string) !== true)) continue;
    merged[key] = value;
  }
  if (type === 'OBJECT' && siblings.properties !== undefined && member.properties !== undefined) {
    const properties = { ...siblings.properties, ...member.properties };
    merged.properties = properties;
    const required = [...new Set([...(siblings.required ?? []), ...(member.required ?? [])])].filter((name) => Object.hasOwn(properties, name));
    if (required.length > 0) merged.required = required;
  }
  return merged as GeminiSchema;
}

/** Converts a client JSON Schema; `param` names it in errors (recursive or dangling `$ref` → 400). */
/** `ordered`: a response schema, whose objects keep their properties' order (see Context.ordered). */
export function convertGeminiSchema(schema: unknown, param: string, ordered = false): GeminiSchema {
  const root = isRecord(schema) ? schema : {};
  const definitions = { ...(isRecord(root.definitions) ? root.definitions : {}), ...(isRecord(root.$defs) ? root.$defs : {}) };
  return convertNode(root, { param, definitions, expanding: [], expanded: { count: 0 }, depth: 0, ordered });
}
