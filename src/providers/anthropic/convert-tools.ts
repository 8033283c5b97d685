/**
 * OpenAI tools, legacy functions, `tool_choice`, `web_search_options` and JSON mode → Anthropic's
 * `tools` and `tool_choice` (names, schemas, strict tool use, structured outputs, tools a history needs).
 * Split from convert-request.ts, which decides how these meet thinking and assembles the request.
 */
import { invalidValue } from '../../errors/gateway-error.js';
import { readAllowedTools, readWebSearchOptions, unsupportedParameter } from '../chat-request-fields.js';
import type { ChatCompletionRequest, FunctionDefinition, ToolChoice } from '../../openai/types.js';
import type { ChatTarget } from '../provider.js';
import type { AnthropicMessageParam, AnthropicOutputFormat, AnthropicTool, AnthropicToolChoice, AnthropicWebSearchTool } from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';
import { claudeOutputFormat, claudeStrictToolSchema, type StrictBudget } from './output-format.js';
import { claudeGeneration } from './thinking-effort.js';

/** The tool that carries JSON-mode answers. A client tool of this name is refused, so a call to it is always ours. */
export const JSON_RESPONSE_TOOL = 'json_response';

/** OpenAI's search context size as the number of searches Claude may run (LiteLLM's mapping); budget holds read it too. */
export const SEARCH_USES = { low: 1, medium: 5, high: 10 } as const;

/**
 * OpenAI's `web_search_options` → Claude's web search server tool (Anthropic runs the searches, billed
 * per search; the answer's citations come back as `annotations`). Undefined when absent.
 */
export function webSearchTool(value: unknown): AnthropicWebSearchTool | undefined {
  const asked = readWebSearchOptions(value);
  if (asked === undefined) return undefined;
  const tool: AnthropicWebSearchTool = { type: 'web_search_20250305', name: 'web_search' };
  if (asked.size !== undefined) tool.max_uses = SEARCH_USES[asked.size];
  if (asked.place !== undefined) {
    const place: NonNullable<AnthropicWebSearchTool['user_location']> = { type: 'approximate' };
    for (const key of ['city', 'region', 'country', 'timezone'] as const) {
      const part = asked.place[key];
      if (typeof part === 'string' && part.length > 0) place[key] = part;
    }
    tool.user_location = place;
  }
  return tool;
}

/** What a tool made up for a conversation's earlier calls says of itself. */
const EARLIER_TOOL_DESCRIPTION = 'A tool called earlier in this conversation; not offered for this turn.';

/**
 * Anthropic answers 400 "Requests which include `tool_use` or `tool_result` blocks must define tools"
 * to a conversation with tool calls in its history and no `tools` (a closing turn after a tool loop;
 * OpenAI takes it). One definition per tool the history called, so Claude reads the history as it was,
 * sent with `tool_choice: none`. Undefined when the history has no tool block.
 */
export function toolsOfHistory(messages: readonly AnthropicMessageParam[]): AnthropicTool[] | undefined {
  const names = new Set<string>();
  let blocks = false;
  for (const message of messages) {
    if (typeof message.content === 'string') continue;
    for (const block of message.content) {
      if (block.type === 'tool_use') {
        blocks = true;
        if (ANTHROPIC_TOOL_NAME.test(block.name)) names.add(block.name);
      } else if (block.type === 'tool_result') blocks = true;
    }
  }
  if (!blocks) return undefined;
  // A result whose call is not in the history (or a call by a name Claude would refuse) still needs one tool.
  if (names.size === 0) names.add('earlier_tool');
  return [...names].map((name) => ({ name, description: EARLIER_TOOL_DESCRIPTION, input_schema: { type: 'object' } }));
}

/**
 * A client schema as `input_schema`. `$schema` goes: Anthropic validates against draft 2020-12 and has
 * failed requests naming draft-07 (what zod-to-json-schema emits).
 * @see https://github.com/anthropics/anthropic-sdk-python/issues/1001
 */
function objectSchema(schema: Record<string, unknown>): AnthropicTool['input_schema'] {
  const { $schema: _dialect, ...rest } = schema;
  return { ...rest, type: 'object' };
}

/**
 * Anthropic's rule for tool names. The characters are the tool-use guide's ("Must match the regex
 * ^[a-zA-Z0-9_-]{1,64}$"); the length is the API reference's (`name`: minLength 1, maxLength 128),
 * which is what the API enforces now: its 400 reads "tools.16.custom.name: String should match
 * pattern '^[a-zA-Z0-9_-]{1,128}$'" (it said {1,64} until 2025, as the guide still does). The SDK's
 * `Tool.name` is a plain string. Refused, never rewritten, for the reasons given for Gemini's rule.
 * @see https://platform.claude.com/docs/en/api/messages (tools[].name)
 * @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use (Specifying client tools)
 * @see https://github.com/modelcontextprotocol/modelcontextprotocol/issues/1345 (the API's 400)
 */
const ANTHROPIC_TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;

/**
 * `strict: true` → Claude's strict tool use, on the models that have it (as structured outputs: 4.5
 * and later, or a name too new to place) and for a schema within Claude's subset and the request's
 * limits; else the tool goes without it, and a warning says why. No parameters is the closed empty object.
 */
function strictSchema(definition: FunctionDefinition, param: string, target: ChatTarget, budget: StrictBudget): AnthropicTool['input_schema'] | undefined {
  if (definition.strict !== true) return undefined;
  const generation = claudeGeneration(target.model);
  if (generation !== undefined && generation < 45) {
    target.warnings.push(`${param}.strict: ${target.model} has no strict tool use (Claude 4.5 and later do), ignored`);
    return undefined;
  }
  const parameters = definition.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
  const schema = claudeStrictToolSchema(parameters, budget);
  if (schema === undefined) {
    target.warnings.push(`${param}.strict: the schema is outside Claude's strict subset, or past its limits for one request (20 strict tools, 24 optional and 16 union-typed properties in all), ignored`);
  }
  return schema;
}

export function convertFunction(definition: FunctionDefinition, param: string, target: ChatTarget, budget: StrictBudget): AnthropicTool {
  if (!isRecord(definition) || typeof definition.name !== 'string') throw invalidValue(param, 'expected a function with a name');
  if (!ANTHROPIC_TOOL_NAME.test(definition.name)) {
    throw invalidValue(`${param}.name`, 'anthropic needs a tool name of 1 to 128 characters, only letters, digits, underscores and dashes');
  }
  if (definition.name === JSON_RESPONSE_TOOL) throw invalidValue(`${param}.name`, `'${JSON_RESPONSE_TOOL}' is reserved by the proxy for JSON mode on anthropic`);
  const parameters = definition.parameters;
  let schema: AnthropicTool['input_schema'];
  if (parameters === undefined || parameters === null) schema = { type: 'object', properties: {} };
  else if (!isRecord(parameters) || (parameters.type !== undefined && parameters.type !== 'object')) throw invalidValue(`${param}.parameters`, 'anthropic needs an object schema');
  else schema = objectSchema(parameters);
  const strict = strictSchema(definition, param, target, budget);
  const tool: AnthropicTool = { name: definition.name, input_schema: strict ?? schema };
  if (typeof definition.description === 'string' && definition.description.length > 0) tool.description = definition.description;
  if (strict !== undefined) tool.strict = true;
  return tool;
}

/**
 * `allowed_tools`, where Claude can say it exactly: every tool named is `auto` or `any`, and one
 * tool `required` is that tool. Otherwise a 400: Claude has no way to show every tool and let some
 * be called, and sending only the allowed ones would change what the model sees (and the prompt
 * cache OpenAI keeps the full list for).
 */
function allowedToolsChoice(choice: Record<string, unknown>, offered: readonly string[]): AnthropicToolChoice {
  const allowed = readAllowedTools(choice, offered);
  if (allowed.all) return { type: allowed.mode === 'auto' ? 'auto' : 'any' };
  const [only] = allowed.names;
  if (allowed.mode === 'required' && allowed.names.length === 1 && only !== undefined) return { type: 'tool', name: only };
  throw unsupportedParameter(
    'tool_choice',
    'anthropic',
    "with allowed_tools the model sees every tool and may call only some, and Claude cannot limit its calls to a subset (sending only those tools would change what it sees); name every tool, or one with mode 'required', or send only the tools it may call",
  );
}

export function convertToolChoice(choice: ToolChoice | undefined, param: string, offered: readonly string[]): AnthropicToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') return { type: 'tool', name: choice.function.name };
  // openai 6.x forms Claude has no counterpart for: named, not misread as another choice.
  if (isRecord(choice) && choice.type === 'allowed_tools') return allowedToolsChoice(choice, offered);
  if (isRecord(choice) && choice.type === 'custom') throw unsupportedParameter(param, 'anthropic', 'Claude takes no custom tools');
  throw invalidValue(param, "expected 'auto', 'none', 'required' or {type: 'function', function: {name}}");
}

/** JSON mode's tool, or undefined when the client asked for text. */
export function jsonTool(request: ChatCompletionRequest): AnthropicTool | undefined {
  const format = request.response_format;
  if (format === undefined || format === null || !isRecord(format) || format.type === 'text') return undefined;
  if (format.type === 'json_object') {
    return { name: JSON_RESPONSE_TOOL, description: 'Respond with a JSON object.', input_schema: { type: 'object' } };
  }
  if (format.type === 'json_schema' && isRecord(format.json_schema)) {
    const spec = format.json_schema;
    const schema = spec.schema;
    if (schema !== undefined && (!isRecord(schema) || (schema.type !== undefined && schema.type !== 'object'))) {
      throw invalidValue('response_format.json_schema.schema', 'anthropic JSON mode needs a schema whose root is an object');
    }
    const description = typeof spec.description === 'string' && spec.description.length > 0 ? spec.description : `Respond with a JSON object (${String(spec.name)}).`;
    return { name: JSON_RESPONSE_TOOL, description, input_schema: schema === undefined ? { type: 'object' } : objectSchema(schema) };
  }
  throw invalidValue('response_format', "expected type 'text', 'json_object' or 'json_schema'");
}

/**
 * A `json_schema` with `strict: true` → strict tool use on JSON mode's forced tool (OpenAI's strict
 * means the answer follows the schema; Claude's, that the tool input does), where the model and the
 * schema allow it (strictSchema: else a warning says why). A schema-less `json_schema` means any
 * object: nothing to be strict about.
 */
export function strictJsonSchema(request: ChatCompletionRequest, target: ChatTarget, budget: StrictBudget): AnthropicTool['input_schema'] | undefined {
  const format = request.response_format;
  if (!isRecord(format) || format.type !== 'json_schema' || !isRecord(format.json_schema)) return undefined;
  const { strict, schema } = format.json_schema;
  if (strict !== true || !isRecord(schema)) return undefined;
  return strictSchema({ name: JSON_RESPONSE_TOOL, parameters: schema, strict }, 'response_format.json_schema', target, budget);
}

/** Claude's structured output for the client's json_schema, when the model has them (4.5 and later, or a name too new to place) and the schema fits. */
export function structuredOutput(request: ChatCompletionRequest, model: string, budget: StrictBudget): AnthropicOutputFormat | undefined {
  const format = request.response_format;
  if (!isRecord(format) || format.type !== 'json_schema' || !isRecord(format.json_schema)) return undefined;
  const generation = claudeGeneration(model);
  if (generation !== undefined && generation < 45) return undefined;
  return claudeOutputFormat(format.json_schema.schema, budget);
}
