// The Chat Completions request schema (TypeBox, compiled once) and its mapping to OpenAI-style
// 400s: `invalid_type` for a wrong type, `invalid_value` for a value out of range, `param` as the path.
import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { invalidType, invalidValue, modelNotFound, type GatewayError } from '../errors/gateway-error.js';
import { OPENROUTER_DATETIME, OPENROUTER_FETCH_ENGINES, OPENROUTER_SERVER_TOOLS, OPENROUTER_WEB_FETCH, OPENROUTER_WEB_SEARCH, type ChatCompletionRequest } from './types.js';
import { describeSchema, describeUnion, type DescribedSchema } from '../json/union-description.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const open = { additionalProperties: true } as const;

const ContentPartSchema = Type.Object({ type: Type.String({ minLength: 1 }) }, open);

export const ChatMessageSchema = Type.Object(
  {
    role: Type.Union(['system', 'developer', 'user', 'assistant', 'tool', 'function'].map((role) => Type.Literal(role))),
    content: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(ContentPartSchema)]))),
    name: Type.Optional(Type.String()),
    tool_call_id: Type.Optional(Type.String()),
    tool_calls: Type.Optional(
      Type.Array(
        Type.Union([
          Type.Object(
            {
              id: Type.String(),
              type: Type.Optional(Type.Literal('function')),
              function: Type.Object({ name: Type.String(), arguments: Type.String() }, open),
            },
            open,
          ),
          // A custom tool's call (openai 6.x `ChatCompletionMessageCustomToolCall`): free text, no JSON arguments.
          Type.Object({ id: Type.String(), type: Type.Literal('custom'), custom: Type.Object({ name: Type.String(), input: Type.String() }, open) }, open),
        ]),
      ),
    ),
    function_call: Type.Optional(Type.Object({ name: Type.String(), arguments: Type.String() }, open)),
  },
  open,
);

const FunctionSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    description: Type.Optional(Type.String()),
    parameters: Type.Optional(Type.Object({}, open)),
  },
  open,
);

/** Upper bound for max_tokens when the catalog does not know the model's own limit. */
export const MAX_OUTPUT_TOKENS_CEILING = 1_000_000;

/**
 * OpenRouter's WebFetchServerToolConfig. The engines are the documented ones only: each has its own
 * price a page, which the budget hold needs (src/rate-limit/web-search-bound.ts). Fields OpenRouter
 * adds later pass as sent.
 */
const WebFetchConfigSchema = Type.Object(
  {
    engine: Type.Optional(Type.Union(OPENROUTER_FETCH_ENGINES.map((engine) => Type.Literal(engine)))),
    max_uses: Type.Optional(Type.Integer({ minimum: 0 })),
    max_content_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
    allowed_domains: Type.Optional(Type.Array(Type.String())),
    blocked_domains: Type.Optional(Type.Array(Type.String())),
  },
  open,
);

export const ChatCompletionRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256 }),
    messages: Type.Array(ChatMessageSchema, { minItems: 1, maxItems: 100_000 }),
    stream: Type.Optional(Nullable(Type.Boolean())),
    stream_options: Type.Optional(Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, open))),
    max_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: MAX_OUTPUT_TOKENS_CEILING }))),
    max_completion_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: MAX_OUTPUT_TOKENS_CEILING }))),
    temperature: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 2 }))),
    top_p: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1 }))),
    n: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 128 }))),
    stop: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })]))),
    presence_penalty: Type.Optional(Nullable(Type.Number({ minimum: -2, maximum: 2 }))),
    frequency_penalty: Type.Optional(Nullable(Type.Number({ minimum: -2, maximum: 2 }))),
    seed: Type.Optional(Nullable(Type.Integer())),
    user: Type.Optional(Type.String({ maxLength: 512 })),
    logprobs: Type.Optional(Nullable(Type.Boolean())),
    top_logprobs: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 20 }))),
    logit_bias: Type.Optional(Nullable(Type.Record(Type.String(), Type.Number({ minimum: -100, maximum: 100 })))),
    response_format: Type.Optional(
      Type.Object({ type: Type.Union([Type.Literal('text'), Type.Literal('json_object'), Type.Literal('json_schema')]) }, open),
    ),
    tools: Type.Optional(
      Type.Array(
        Type.Union([
          Type.Object({ type: Type.Literal('function'), function: FunctionSchema }, open),
          // openai 6.x `ChatCompletionCustomTool` (GPT-5's free-text tools): OpenAI-format hosts get it as sent; translators refuse it.
          Type.Object({ type: Type.Literal('custom'), custom: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }, open) }, open),
          // OpenRouter's server tools: only OpenRouter takes them (src/http/chat-pipeline.ts refuses them elsewhere).
          Type.Object({ type: Type.Literal(OPENROUTER_WEB_SEARCH), parameters: Type.Optional(Type.Object({}, open)) }, open),
          Type.Object({ type: Type.Literal(OPENROUTER_WEB_FETCH), parameters: Type.Optional(WebFetchConfigSchema) }, open),
          Type.Object({ type: Type.Literal(OPENROUTER_DATETIME), parameters: Type.Optional(Type.Object({ timezone: Type.Optional(Type.String({ minLength: 1 })) }, open)) }, open),
        ]),
        { maxItems: 128 },
      ),
    ),
    tool_choice: Type.Optional(
      Type.Union([
        Type.Literal('none'),
        Type.Literal('auto'),
        Type.Literal('required'),
        Type.Object({ type: Type.Literal('function'), function: Type.Object({ name: Type.String() }, open) }, open),
        Type.Object({ type: Type.Literal('custom'), custom: Type.Object({ name: Type.String() }, open) }, open),
        Type.Object(
          {
            type: Type.Literal('allowed_tools'),
            allowed_tools: Type.Object({ mode: Type.Union([Type.Literal('auto'), Type.Literal('required')]), tools: Type.Array(Type.Object({}, open)) }, open),
          },
          open,
        ),
      ]),
    ),
    parallel_tool_calls: Type.Optional(Type.Boolean()),
    functions: Type.Optional(Type.Array(FunctionSchema, { maxItems: 128 })),
    function_call: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('auto'), Type.Object({ name: Type.String() }, open)]),
    ),
    metadata: Type.Optional(Nullable(Type.Record(Type.String(), Type.String()))),
  },
  open,
);

const check = TypeCompiler.Compile(ChatCompletionRequestSchema);

/** Fields whose every failure is a value problem (OpenAI answers `invalid_value` for "100" as well as -1). */
const VALUE_FIELDS = new Set(['max_tokens', 'max_completion_tokens', 'n', 'top_logprobs']);

const RANGE_ERRORS = new Set<ValueErrorType>([
  ValueErrorType.NumberMaximum,
  ValueErrorType.NumberMinimum,
  ValueErrorType.NumberExclusiveMaximum,
  ValueErrorType.NumberExclusiveMinimum,
  ValueErrorType.IntegerMaximum,
  ValueErrorType.IntegerMinimum,
  ValueErrorType.ArrayMaxItems,
  ValueErrorType.ArrayMinItems,
  ValueErrorType.StringMaxLength,
  ValueErrorType.StringMinLength,
]);

/** `/messages/0/role` → `messages[0].role`, the form OpenAI's `param` uses. */
export function toParam(pointer: string): string {
  let out = '';
  for (const segment of pointer.split('/').slice(1)) {
    const name = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(name) ? `[${name}]` : out.length === 0 ? name : `.${name}`;
  }
  return out;
}

function describe(error: ValueError): string {
  return error.message.charAt(0).toLowerCase() + error.message.slice(1);
}

/** TypeBox says "Expected array"; our type messages already say "expected …". */
function expectedType(error: ValueError): string {
  return describe(error).replace(/^expected /, '');
}

/**
 * Whether a schema, or a member of a union (nested unions included), is a plain one of the value's
 * JSON type, so the value failed a constraint (range, length), not its type: `temperature: 3`
 * against number|null is a value error, `temperature: "hot"` a type error. Enum members (`const`)
 * never count: a role outside the list is the wrong kind of value (RELIABILITY 4a#5).
 */
function acceptsTypeOf(schema: TSchema, value: unknown): boolean {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  const pending: TSchema[] = [schema];
  while (pending.length > 0) {
    const member = pending.pop() as TSchema;
    if (Array.isArray(member.anyOf)) {
      pending.push(...(member.anyOf as TSchema[]));
      continue;
    }
    if (member.const !== undefined) continue;
    if (member.type === kind || (member.type === 'integer' && kind === 'number')) return true;
  }
  return false;
}

export function mapSchemaError(error: ValueError): GatewayError {
  const param = toParam(error.path) || 'body';
  const top = param.split(/[.[]/)[0] ?? param;
  if (error.value === undefined && error.type !== ValueErrorType.Union) return invalidType(param, `a required field (${describeSchema(error.schema as DescribedSchema)})`);
  // An over-long model name is a name nothing serves: 404, as for any unknown model (RELIABILITY 4a#9).
  if (param === 'model' && error.type === ValueErrorType.StringMaxLength) return modelNotFound(String(error.value));
  // An empty list where a non-empty one is required counts as missing (`messages: []`, RELIABILITY 4a#5).
  if (error.type === ValueErrorType.ArrayMinItems && Array.isArray(error.value) && error.value.length === 0) return invalidType(param, 'a non-empty array');
  if (VALUE_FIELDS.has(top) || RANGE_ERRORS.has(error.type)) return invalidValue(param, describe(error));
  if (error.type === ValueErrorType.Union && acceptsTypeOf(error.schema, error.value)) return invalidValue(param, describe(error));
  // A word outside a list (`role: "bogus"`) names the words it takes, not "union value".
  const union = error.type === ValueErrorType.Union ? describeUnion(error.schema as DescribedSchema) : undefined;
  return invalidType(param, union ?? expectedType(error));
}

/**
 * Whether an object form is the one a value's `type` names: its `type` constant is the value's, or,
 * for a value without one, the form does not require it (a tool call's `type` may be left out).
 */
function typeFits(member: TSchema, value: unknown): boolean {
  const property = (member.properties as Record<string, TSchema> | undefined)?.type;
  const kind = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).type : undefined;
  if (kind === undefined) return property === undefined || !((member.required as string[] | undefined) ?? []).includes('type');
  return property !== undefined && property.const === kind;
}

/**
 * A union's own error names only the union (`messages[0].content`: "expected union value"). When
 * exactly one member takes the value's JSON type, the value failed inside that member, and the
 * member's first error names the field itself (`messages[0].content[0].type`: expected string).
 */
function narrowUnion(error: ValueError): ValueError {
  let current = error;
  while (current.type === ValueErrorType.Union) {
    const { value } = current;
    const members = (current.schema.anyOf ?? []) as TSchema[];
    let taking = members.flatMap((member, index) => (acceptsTypeOf(member, value) ? [index] : []));
    // Several object forms (a function or a custom tool): the one its `type` names.
    if (taking.length > 1) taking = taking.filter((index) => typeFits(members[index] as TSchema, value));
    const inner = taking.length === 1 ? current.errors[taking[0] as number]?.First() : undefined;
    if (inner === undefined) break;
    current = inner;
  }
  return current;
}

/** The most specific error: the first that is not a union's, else the first union's, narrowed. */
function pickError(compiled: { Errors(value: unknown): Iterable<ValueError> }, body: unknown): ValueError | undefined {
  let first: ValueError | undefined;
  for (const error of compiled.Errors(body)) {
    first ??= error;
    if (error.type !== ValueErrorType.Union) return error;
  }
  return first === undefined ? undefined : narrowUnion(first);
}

/** The tool types a chat request may name; OpenRouter's server tools only reach OpenRouter (src/http/chat-pipeline.ts). */
const TOOL_TYPES: ReadonlySet<string> = new Set(['function', 'custom', ...OPENROUTER_SERVER_TOOLS]);

/**
 * A tool whose `type` is none the proxy takes (`openrouter:image_generation`, OpenRouter's tools that
 * run other models, a misspelling) fails the tools union as a whole: named here by its type, with the
 * types taken, not as "expected union value".
 */
function unknownToolType(error: ValueError): GatewayError | undefined {
  const index = error.type === ValueErrorType.Union ? /^\/tools\/(\d+)$/.exec(error.path)?.[1] : undefined;
  const type: unknown = index === undefined || typeof error.value !== 'object' || error.value === null ? undefined : (error.value as Record<string, unknown>).type;
  if (typeof type !== 'string' || TOOL_TYPES.has(type)) return undefined;
  return invalidValue(
    `tools[${index as string}].type`,
    `the tool type '${type.slice(0, 64)}' is not one the proxy takes: it takes 'function' and 'custom' tools, and on OpenRouter deployments OpenRouter's server tools ${[...OPENROUTER_SERVER_TOOLS].join(', ')}`,
  );
}

/** Checks a parsed body against the schema; returns the typed request or throws a 400. */
export function validateChatRequest(body: unknown): ChatCompletionRequest {
  return validateAgainst<ChatCompletionRequest>(check, body, unknownToolType);
}

/**
 * The same checking and 400s for another endpoint's compiled schema (/v1/messages, /v1/completions).
 * `explain` may word an error better than the schema's mapping (it runs only on a refused body).
 */
export function validateAgainst<T>(
  compiled: { Check(value: unknown): boolean; Errors(value: unknown): Iterable<ValueError> },
  body: unknown,
  explain?: (error: ValueError) => GatewayError | undefined,
): T {
  if (compiled.Check(body)) return body as T;
  const error = pickError(compiled, body);
  if (error === undefined) throw invalidType('body', 'a JSON object');
  throw explain?.(error) ?? mapSchemaError(error);
}
