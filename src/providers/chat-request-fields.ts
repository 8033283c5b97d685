// What the translated providers (Anthropic, Gemini) share when reading an OpenAI chat request:
// the fields a codec handles itself, data URLs, and the warnings and errors for what it cannot take.
import { invalidRequest, invalidValue, type GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';
import type { ChatTarget } from './provider.js';
import { isRecord } from '../json/guards.js';

/** Fields every translated codec reads (or deliberately drops with its own warning). */
const HANDLED_FIELDS = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'user',
  'logprobs',
  'top_logprobs',
  'logit_bias',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'functions',
  'function_call',
  'modalities',
]);

/** Records that a field was dropped: it reaches the client in `X-LLM-Proxy-Warnings`. */
export function warnIgnored(target: ChatTarget, provider: string, field: string): void {
  target.warnings.push(`${field}: not supported by ${provider}, ignored`);
}

/** The shared fields and a codec's own (Anthropic's top-level `cache_control`). */
export function handledFields(...own: string[]): ReadonlySet<string> {
  return new Set([...HANDLED_FIELDS, ...own]);
}

/**
 * `modalities` with `audio`: the client asks for a spoken answer (`message.audio`), which neither
 * translator can give; dropped, the client would get text where it waits for audio. `["text"]`
 * alone is the default and taken without a word; `audio` (the voice) is warned about as any field.
 */
export function refuseAudioOutput(request: ChatCompletionRequest, provider: string): void {
  const modalities = (request as { modalities?: unknown }).modalities;
  if (Array.isArray(modalities) && modalities.includes('audio')) throw unsupportedParameter('modalities', provider, 'it answers in text only, not audio');
}

/** The 400 for a field the provider cannot honour and that cannot be dropped without changing the answer asked for. */
export function unsupportedParameter(param: string, provider: string, detail: string): GatewayError {
  return invalidRequest(`The parameter '${param}' is not supported by ${provider}: ${detail}.`, 'unsupported_parameter', param);
}

/** Any other top-level field the client sent is dropped with a warning naming it, never misapplied. */
export function warnUnknownFields(request: ChatCompletionRequest, target: ChatTarget, provider: string, handled: ReadonlySet<string> = HANDLED_FIELDS): void {
  for (const [field, value] of Object.entries(request)) {
    if (handled.has(field) || value === undefined || value === null) continue;
    // A marker the client never wrote in the chat form (ChatTarget.stripCacheMarkers) is not news to it.
    if (field === 'cache_control' && target.stripCacheMarkers === true) continue;
    warnIgnored(target, provider, field.slice(0, 64));
  }
}

/**
 * Tool names seen so far in one request, for the providers that refuse two tools of one name
 * (Anthropic: "Tool names must be unique", Gemini: "Duplicate function declaration"). OpenAI takes
 * them, so only translators check. The second one is named, before any upstream call.
 */
export class ToolNames {
  private readonly seen = new Set<string>();

  constructor(private readonly provider: string) {}

  add(name: string, param: string): void {
    if (this.seen.has(name)) throw invalidValue(param, `another tool is already named '${name.slice(0, 64)}' (${this.provider} needs tool names to be unique)`);
    this.seen.add(name);
  }
}

/** openai 6.x `tool_choice` `allowed_tools`, read against the request's function tools. */
export interface AllowedTools {
  mode: 'auto' | 'required';
  /** The tools named, each once, in the client's order. */
  names: string[];
  /** Whether they are every tool offered: then it means plain `auto` or `required`. */
  all: boolean;
}

/**
 * Reads `{type: 'allowed_tools', allowed_tools: {mode, tools}}`. OpenAI's meaning: the model sees
 * every tool in `tools` and may call only these (`auto`: or answer in text; `required`: call one or
 * more). A name that is not a function tool of the request, or none at all, is a 400 naming it.
 * @see node_modules/openai/resources/chat/completions/completions.d.ts (ChatCompletionAllowedTools)
 */
export function readAllowedTools(choice: Record<string, unknown>, offered: readonly string[]): AllowedTools {
  const spec = choice.allowed_tools;
  if (!isRecord(spec) || (spec.mode !== 'auto' && spec.mode !== 'required') || !Array.isArray(spec.tools)) {
    throw invalidValue('tool_choice.allowed_tools', "expected {mode: 'auto' or 'required', tools: [...]}");
  }
  if (spec.tools.length === 0) throw invalidValue('tool_choice.allowed_tools.tools', 'expected at least one tool');
  const known = new Set(offered);
  const names: string[] = [];
  spec.tools.forEach((tool: unknown, index) => {
    const name = isRecord(tool) && tool.type === 'function' && isRecord(tool.function) && typeof tool.function.name === 'string' ? tool.function.name : undefined;
    if (name === undefined || !known.has(name)) throw invalidValue(`tool_choice.allowed_tools.tools[${index}]`, "expected {type: 'function', function: {name}} naming a function tool of this request");
    if (!names.includes(name)) names.push(name);
  });
  return { mode: spec.mode, names, all: names.length === known.size };
}

export function unsupportedContent(param: string, detail: string): GatewayError {
  return invalidRequest(`Unsupported content in '${param}': ${detail}.`, 'unsupported_content', param);
}

export interface DataUrl {
  mediaType: string;
  data: string;
}

/** `data:<type>[;params];base64,<data>` → parts; undefined when not a base64 data URL (neither provider takes others). */
export function parseDataUrl(url: string): DataUrl | undefined {
  if (!url.startsWith('data:')) return undefined;
  const comma = url.indexOf(',');
  if (comma < 0) return undefined;
  const params = url.slice(5, comma).split(';');
  if (params[params.length - 1]?.toLowerCase() !== 'base64') return undefined;
  return { mediaType: (params[0] ?? '').trim().toLowerCase(), data: url.slice(comma + 1) };
}

/**
 * The text of a message that may only hold text (system, assistant, tool). Assistant `refusal`
 * parts carry no input for the model and are skipped; any other part is refused with `refused`.
 */
export function textOfMessage(content: ChatMessage['content'], param: string, refused: string): string[] {
  const texts: string[] = [];
  forEachTextPart(content, param, refused, (text) => {
    if (text.length > 0) texts.push(text);
  });
  return texts;
}

/**
 * The same walk, handing each text on with its part (undefined for string content) and param path,
 * for a codec that reads more of the part than its text (Anthropic's `cache_control`). Empty texts
 * are passed too: the caller decides what an empty part carrying more means.
 */
export function forEachTextPart(
  content: ChatMessage['content'],
  param: string,
  refused: string,
  visit: (text: string, part: Record<string, unknown> | undefined, partParam: string) => void,
): void {
  if (content === undefined || content === null) return;
  if (typeof content === 'string') {
    if (content.length > 0) visit(content, undefined, param);
    return;
  }
  content.forEach((part, index) => {
    const record = part as Record<string, unknown>;
    if (part.type === 'refusal') return;
    if (part.type !== 'text' || typeof record.text !== 'string') throw unsupportedContent(`${param}[${index}]`, refused);
    if (record.text.length > 0 || record.cache_control !== undefined) visit(record.text, record, `${param}[${index}]`);
  });
}

/** A tool call's `arguments` (a JSON string) as the object Claude and Gemini take; absent or empty is no arguments. */
export function parseToolArguments(raw: unknown, param: string): Record<string, unknown> {
  if (raw === undefined || raw === null || raw === '') return {};
  if (typeof raw !== 'string') throw invalidValue(param, 'expected a JSON string');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidValue(param, 'the arguments are not valid JSON');
  }
  if (!isRecord(parsed)) throw invalidValue(param, 'the arguments must be a JSON object');
  return parsed;
}

/** OpenAI's `web_search_options`, checked: how much to search, and the place to search from. */
export interface WebSearchAsked {
  size?: 'low' | 'medium' | 'high';
  /** `user_location.approximate`: city, region, country, timezone. */
  place?: Record<string, unknown>;
}

/** `web_search_options` as OpenAI checks it (400 naming the field), or undefined when absent. */
export function readWebSearchOptions(value: unknown): WebSearchAsked | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalidValue('web_search_options', 'expected an object');
  const asked: WebSearchAsked = {};
  const size = value.search_context_size;
  if (size !== undefined && size !== null) {
    if (size !== 'low' && size !== 'medium' && size !== 'high') throw invalidValue('web_search_options.search_context_size', "expected 'low', 'medium' or 'high'");
    asked.size = size;
  }
  const location = value.user_location;
  if (location !== undefined && location !== null) {
    const approximate = isRecord(location) ? location.approximate : undefined;
    if (!isRecord(location) || location.type !== 'approximate' || !isRecord(approximate)) {
      throw invalidValue('web_search_options.user_location', "expected {type: 'approximate', approximate: {city, region, country, timezone}}");
    }
    asked.place = approximate;
  }
  return asked;
}

