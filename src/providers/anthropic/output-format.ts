// Claude's structured outputs, for the schemas OpenAI clients send: `response_format: json_schema` →
// `output_config.format`, and a tool's `strict: true` → Claude's strict tool use (`strict: true`
// beside `input_schema`, generally available: no beta header). The first serves the calls where the
// forced-tool JSON mode cannot: Claude does not think while a tool call is forced, so a client that
// asked for JSON and for reasoning lost the reasoning. Claude 4.5 and later constrain their text (or
// the tool's input) to the schema instead. Pure.
//
// Claude takes a subset of JSON Schema, and refuses (400) what lies outside it, so a schema is sent
// only when it fits: objects closed (`additionalProperties` absent or false: Claude needs false and
// it is set), no recursion, literals that are primitives; and across all the strict schemas of one
// request (strict tools and the output format) at most 20 strict tools, 24 optional properties and
// 16 union-typed ones (`StrictBudget`). Constraints Claude does not enforce (minimum, maxLength,
// pattern, …) move into the description, as Anthropic's SDK does (`transformJSONSchema`), so the
// model still reads them. A schema that does not fit keeps the forced tool (and the warning that
// thinking is off), or the tool goes without `strict` (and a warning says so).
// @see https://platform.claude.com/docs/en/build-with-claude/structured-outputs (JSON Schema limitations, Schema complexity limits)
// @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/strict-tool-use
import { isRecord } from '../../json/guards.js';
import type { AnthropicInputSchema, AnthropicOutputFormat } from './anthropic-wire.js';

/** String formats Claude enforces (the SDK's list); another format is described, not enforced. */
const STRING_FORMATS: ReadonlySet<string> = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'uri', 'ipv4', 'ipv6', 'uuid']);

/**
 * What Claude's limits leave for one request's strict schemas: they hold across every tool with
 * `strict: true` and the output format together. One budget per request; a schema that fits takes its share.
 */
export class StrictBudget {
  tools = 20;
  optional = 24;
  unions = 16;
}
/** Deeper or larger than this is not a schema a model should fill; and refs expanded in place could multiply. */
const MAX_DEPTH = 32;
const MAX_NODES = 2_000;

/** Keywords with no meaning for the output: dropped, not described. */
const DROPPED = new Set(['$schema', '$id', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly']);

class DoesNotFit extends Error {}

interface Walk {
  defs: Record<string, unknown>;
  /** The definitions being expanded: a $ref back into one is recursion. */
  open: Set<string>;
  optional: number;
  unions: number;
  nodes: number;
}

const REF = /^#\/(\$defs|definitions)\/([^/]+)$/;

function primitive(value: unknown): boolean {
  return value === null || typeof value !== 'object';
}

function describe(strict: Record<string, unknown>, rest: Record<string, unknown>): void {
  const left = Object.entries(rest).filter(([key]) => !DROPPED.has(key));
  if (left.length === 0) return;
  const said = `{${left.map(([key, value]) => `${key}: ${JSON.stringify(value)}`).join(', ')}}`;
  strict.description = typeof strict.description === 'string' && strict.description !== '' ? `${strict.description}\n\n${said}` : said;
}

function convert(schema: unknown, walk: Walk, depth: number): Record<string, unknown> {
  if (!isRecord(schema) || depth > MAX_DEPTH || ++walk.nodes > MAX_NODES) throw new DoesNotFit();
  const { $ref, $defs: _defs, definitions: _definitions, enum: literals, const: constant, type, anyOf, oneOf, allOf, description, title, properties, required, additionalProperties, items, minItems, format, ...rest } = schema;
  const strict: Record<string, unknown> = {};
  if ($ref !== undefined) {
    const match = typeof $ref === 'string' ? REF.exec($ref) : null;
    // `#` (the root) and refs outside the definitions are recursion or external: not Claude's.
    if (match === null) throw new DoesNotFit();
    const name = match[2] as string;
    if (walk.open.has(name) || !(name in walk.defs)) throw new DoesNotFit();
    // Expanded in place: Claude takes local refs, but inlining proves there is no cycle and counts each use.
    walk.open.add(name);
    const expanded = convert(walk.defs[name], walk, depth + 1);
    walk.open.delete(name);
    return expanded;
  }
  if (literals !== undefined) {
    if (!Array.isArray(literals) || literals.length === 0 || !literals.every(primitive)) throw new DoesNotFit();
    strict.enum = literals;
  }
  if (constant !== undefined) {
    if (!primitive(constant)) throw new DoesNotFit();
    strict.const = constant;
  }
  const union = anyOf ?? oneOf;
  if (union !== undefined) {
    if (!Array.isArray(union) || union.length === 0) throw new DoesNotFit();
    strict.anyOf = union.map((member) => convert(member, walk, depth + 1));
  } else if (allOf !== undefined) {
    if (!Array.isArray(allOf) || allOf.length === 0) throw new DoesNotFit();
    strict.allOf = allOf.map((member) => convert(member, walk, depth + 1));
  }
  if (type !== undefined) {
    if (Array.isArray(type)) {
      if (type.length === 0 || !type.every((each) => typeof each === 'string')) throw new DoesNotFit();
    } else if (typeof type !== 'string') throw new DoesNotFit();
    if (strict.enum === undefined && strict.const === undefined) strict.type = type;
  }
  if (strict.type === undefined && strict.enum === undefined && strict.const === undefined && strict.anyOf === undefined && strict.allOf === undefined) throw new DoesNotFit();
  if (typeof description === 'string') strict.description = description;
  if (typeof title === 'string') strict.title = title;
  const types = Array.isArray(type) ? type : [type];
  if (types.includes('object')) {
    // Claude closes every object; a schema that opens one (a map, extra keys) would lose its meaning.
    if (additionalProperties !== undefined && additionalProperties !== false) throw new DoesNotFit();
    if (properties !== undefined && !isRecord(properties)) throw new DoesNotFit();
    // `{type: "object"}` means any object; closed, it would mean only `{}`.
    if ((properties === undefined || Object.keys(properties).length === 0) && additionalProperties !== false) throw new DoesNotFit();
    if (required !== undefined && (!Array.isArray(required) || !required.every((name) => typeof name === 'string'))) throw new DoesNotFit();
    const needed = new Set(required as string[] | undefined);
    const converted: Record<string, unknown> = {};
    for (const [name, property] of Object.entries(properties ?? {})) {
      if (!needed.has(name)) walk.optional++;
      if (isRecord(property) && (Array.isArray(property.type) || property.anyOf !== undefined || property.oneOf !== undefined)) walk.unions++;
      converted[name] = convert(property, walk, depth + 1);
    }
    strict.properties = converted;
    strict.additionalProperties = false;
    if (required !== undefined) strict.required = required;
  }
  if (types.includes('array') && items !== undefined) strict.items = convert(items, walk, depth + 1);
  if (types.includes('array') && (minItems === 0 || minItems === 1)) strict.minItems = minItems;
  else if (minItems !== undefined) rest.minItems = minItems;
  if (types.includes('string') && typeof format === 'string' && STRING_FORMATS.has(format)) strict.format = format;
  else if (format !== undefined) rest.format = format;
  describe(strict, rest);
  return strict;
}

/**
 * The schema in Claude's strict subset, or undefined when it does not fit (its root must be an
 * object) or would pass what the budget leaves; a schema that fits takes its share of the budget.
 */
export function claudeStrictSchema(schema: unknown, budget: StrictBudget): Record<string, unknown> | undefined {
  if (!isRecord(schema)) return undefined;
  const defs = { ...(isRecord(schema.definitions) ? schema.definitions : {}), ...(isRecord(schema.$defs) ? schema.$defs : {}) };
  const walk: Walk = { defs, open: new Set(), optional: 0, unions: 0, nodes: 0 };
  let converted: Record<string, unknown>;
  try {
    converted = convert(schema, walk, 0);
  } catch (error) {
    if (error instanceof DoesNotFit) return undefined;
    throw error;
  }
  if (converted.type !== 'object' || walk.optional > budget.optional || walk.unions > budget.unions) return undefined;
  budget.optional -= walk.optional;
  budget.unions -= walk.unions;
  return converted;
}

/**
 * Claude's output format for a JSON schema, or undefined when the schema does not fit Claude's
 * subset, or what the request's strict tools left of the budget (the caller keeps the forced tool then).
 */
export function claudeOutputFormat(schema: unknown, budget: StrictBudget = new StrictBudget()): AnthropicOutputFormat | undefined {
  const converted = claudeStrictSchema(schema, budget);
  return converted === undefined ? undefined : { type: 'json_schema', schema: converted };
}

/**
 * A tool's input schema for Claude's strict tool use, or undefined when it does not fit, or the
 * request already has as many strict tools, optional or union-typed properties as Claude takes.
 */
export function claudeStrictToolSchema(schema: unknown, budget: StrictBudget): AnthropicInputSchema | undefined {
  if (budget.tools === 0) return undefined;
  const converted = claudeStrictSchema(schema, budget);
  if (converted === undefined) return undefined;
  budget.tools -= 1;
  return { ...converted, type: 'object' };
}
