// Request bodies: strict UTF-8 JSON, bounded nesting, and no client-chosen upstream overrides.
// JSON.parse runs once; the object it makes drives auth, billing and forwarding alike (so a
// duplicate key cannot mean one thing to us and another upstream).
import { isUtf8 } from 'node:buffer';
import { invalidJson, invalidRequest, type GatewayError } from '../errors/gateway-error.js';

export const MAX_JSON_DEPTH = 64;

/**
 * Keys that would let a client choose where a request goes or with what credentials
 * (litellm PR #26996, Portkey custom_host). Refused at any depth.
 */
const FORBIDDEN_KEYS = new Set([
  'api_base',
  'base_url',
  'api_key',
  'api_version',
  'organization',
  'extra_headers',
  'custom_host',
  'azure_endpoint',
  'azure_ad_token',
  'aws_access_key_id',
  'aws_secret_access_key',
  'vertex_credentials',
]);

/** `*_url` keys are refused too, except the content-part fields that carry data for the model. */
const ALLOWED_URL_KEYS = new Set(['image_url', 'audio_url', 'video_url', 'file_url', 'document_url']);

/** A path step: a key, or `null` for any array index. */
type Step = string | null;

/**
 * Where a request carries JSON schemas: subtrees of the client's own property names (a tool may
 * have a parameter called `base_url`), so nothing under them is refused. Only these exact paths
 * from the body's root count: a `parameters` or `schema` key anywhere else is no schema and gets no
 * exemption (it did, and `{"parameters":{"api_key":…}}` went upstream).
 */
export interface SchemaPositions {
  /** The last key of every path: a key outside it starts no schema, checked without a walk. */
  leaves: ReadonlySet<string>;
  paths: ReadonlyArray<readonly Step[]>;
}

/** Builds positions from paths such as `tools[].function.parameters` (`[]`: any index). */
export function schemaPositions(...paths: string[]): SchemaPositions {
  const parsed = paths.map((path) => path.split('.').flatMap((part): Step[] => (part.endsWith('[]') ? [part.slice(0, -2), null] : [part])));
  return { leaves: new Set(parsed.map((steps) => steps.at(-1) ?? '')), paths: parsed };
}

/** OpenAI chat: function tools, legacy functions, structured output. */
export const CHAT_SCHEMAS = schemaPositions('tools[].function.parameters', 'functions[].parameters', 'response_format.json_schema.schema');

/**
 * Anthropic Messages: client tools and structured output (`output_config.format`, and the beta's
 * `output_format`, which an Anthropic upstream gets as sent). Also the client's data keyed by its
 * tools' own parameter names: a replayed call's `input` (`tool_use`, `server_tool_use`,
 * `mcp_tool_use`: an object here, where chat's `arguments` is a string) and a tool's `input_examples`.
 * @see https://docs.anthropic.com/en/docs/build-with-claude/structured-outputs
 */
export const MESSAGES_SCHEMAS = schemaPositions(
  'tools[].input_schema',
  'tools[].input_examples',
  'messages[].content[].input',
  'output_config.format.schema',
  'output_format.schema',
);

/** Bodies without schemas (completions, embeddings, condense): every key is checked. */
const NO_SCHEMAS = schemaPositions();

function forbidden(key: string): boolean {
  return FORBIDDEN_KEYS.has(key) || (key.endsWith('_url') && !ALLOWED_URL_KEYS.has(key));
}

/** Parses a request body. Throws 400 `invalid_json` for bad UTF-8, bad JSON or a non-object. */
export function parseJsonBody(raw: Buffer): Record<string, unknown> {
  if (!isUtf8(raw)) throw invalidJson('The request body is not valid UTF-8.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalidJson();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidJson('The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

interface Frame {
  value: object;
  depth: number;
  /** The parent frame and the key or index that leads here: the path is built only for an error. */
  parent: Frame | undefined;
  key: string | number | undefined;
  schema: boolean;
}

/** Longest key name an error message repeats: a client's 200 KB key is not echoed back whole. */
const MAX_KEY_SHOWN = 64;

/**
 * Whether `frame[key]` is the root of a schema. A path matches only at its own depth (the root is
 * depth 1), so walking the parents from `frame` compares steps without building the path.
 */
function startsSchema(positions: SchemaPositions, frame: Frame, key: string): boolean {
  if (!positions.leaves.has(key)) return false;
  for (const steps of positions.paths) {
    if (steps.length !== frame.depth || steps[steps.length - 1] !== key) continue;
    let current: Frame | undefined = frame;
    let index = steps.length - 2;
    for (; index >= 0 && current !== undefined; index--, current = current.parent) {
      const step = steps[index];
      if (step === null ? typeof current.key !== 'number' : current.key !== step) break;
    }
    if (index < 0) return true;
  }
  return false;
}

function pathOf(frame: Frame | undefined, key: string | number): string {
  const parts: Array<string | number> = [key];
  for (let current = frame; current !== undefined && current.key !== undefined; current = current.parent) parts.unshift(current.key);
  let out = '';
  for (const part of parts) {
    const shown = typeof part === 'string' && part.length > MAX_KEY_SHOWN ? `${part.slice(0, MAX_KEY_SHOWN)}…` : part;
    out += typeof shown === 'number' ? `[${shown}]` : out.length === 0 ? shown : `.${shown}`;
  }
  return out;
}

/**
 * A number JSON.parse made infinite (`1e309`): forwarded, JSON.stringify would send it on as
 * `null`, a value the client never chose (RELIABILITY 4a#12: never silently misapplied).
 */
function overflow(frame: Frame, key: string | number): GatewayError {
  const param = pathOf(frame, key);
  return invalidRequest(`The number at '${param}' is out of range: JSON numbers must be finite.`, 'invalid_value', param);
}

/**
 * One walk over the body: refuses nesting deeper than MAX_JSON_DEPTH, override keys at any
 * depth (outside the route's JSON-schema subtrees, `schemas`) and infinite numbers anywhere.
 * Iterative, so a 10k-deep array cannot blow the stack, and it allocates no path strings unless
 * it has an error to report.
 */
export function guardBody(body: Record<string, unknown>, schemas: SchemaPositions = NO_SCHEMAS): void {
  const stack: Frame[] = [{ value: body, depth: 1, parent: undefined, key: undefined, schema: false }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    if (frame.depth > MAX_JSON_DEPTH) {
      throw invalidRequest(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`, 'nesting_too_deep');
    }
    const value = frame.value;
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index];
        if (item !== null && typeof item === 'object') stack.push({ value: item, depth: frame.depth + 1, parent: frame, key: index, schema: frame.schema });
        else if (typeof item === 'number' && !Number.isFinite(item)) throw overflow(frame, index);
      }
      continue;
    }
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (!frame.schema && forbidden(key)) {
        const param = pathOf(frame, key);
        throw invalidRequest(
          `The field '${param}' is not allowed: the proxy chooses upstream endpoints and credentials, clients cannot.`,
          'forbidden_param',
          param,
        );
      }
      const item = (value as Record<string, unknown>)[key];
      if (item !== null && typeof item === 'object') {
        stack.push({ value: item, depth: frame.depth + 1, parent: frame, key, schema: frame.schema || startsSchema(schemas, frame, key) });
      } else if (typeof item === 'number' && !Number.isFinite(item)) {
        throw overflow(frame, key);
      }
    }
  }
}
