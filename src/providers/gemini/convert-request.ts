/**
 * OpenAI chat request → Gemini GenerateContentRequest. Pure: no I/O; dropped fields go to `target.warnings`.
 *
 * | OpenAI field | Gemini | Decision |
 * | --- | --- | --- |
 * | `model` | URL path | the routed upstream name (`target.model`), URL-encoded by the codec |
 * | `messages` system / developer | `systemInstruction.parts` | hoisted in order; non-text parts → 400 `unsupported_content` |
 * | `messages` user / assistant | `contents` role `user` / `model` | consecutive same-role turns merged; empty text dropped; none left → 400 `invalid_value` |
 * | `messages` tool | user `functionResponse` part | name looked up from the earlier `tool_calls` id (unknown id → 400 `invalid_value`); a run of results sent in the order of their calls; a JSON-object result is the `response`, anything else `{output: ...}`; non-text parts → 400 |
 * | `messages` function (legacy) | user `functionResponse` part | name from `name` |
 * | `name` on user/assistant/system | — | dropped, warning |
 * | content `text` | `text` part | |
 * | content `image_url` data URL | `inlineData` | any base64 media type Gemini accepts |
 * | content `image_url` http(s) | `inlineData` | downloaded by the executor first (codec `inlinesImageUrl`, src/providers/inline-images.ts); one that reaches here is a 400 `unsupported_content` (`fileData.fileUri` takes uploaded files only); Gemini Files API URIs → `fileData` |
 * | content `input_audio` | `inlineData` `audio/<format>` | |
 * | content `file` data | `inlineData` | `file_id` → 400 `unsupported_content` |
 * | assistant `tool_calls` / `function_call` | `functionCall` parts | arguments JSON-parsed (invalid or non-object → 400 `invalid_value`); a call's `extra_content.google.thought_signature` (as answers carry it) is its `thoughtSignature`; without one, Gemini ≥ 3 gets Google's documented placeholder on the first call of a turn |
 * | `tools`, `functions` (legacy) | `tools[0].functionDeclarations` | `parameters` cleaned to Gemini's schema subset (see convert-schema.ts); an empty object schema is omitted; `strict: true` dropped, warning; a name outside Gemini's rule, or used twice → 400 `invalid_value` naming it |
 * | `tool_choice` / `function_call` | `toolConfig.functionCallingConfig` | auto → AUTO, none → NONE, required → ANY, named → ANY + `allowedFunctionNames`; `allowed_tools` → ANY (`required`) or VALIDATED (`auto`) + `allowedFunctionNames`, every function still declared (every tool named: AUTO / ANY) |
 * | `parallel_tool_calls: false` | — | no Gemini control: dropped, warning |
 * | `response_format` json_object | `responseMimeType: application/json` | |
 * | `response_format` json_schema | + `responseSchema` | each object gets `propertyOrdering` as written; cleaned: no additionalProperties/$schema/default/examples/strict, refs inlined (recursion → 400), const → enum, type lists → nullable/anyOf |
 * | `max_completion_tokens` / `max_tokens` | `maxOutputTokens` | |
 * | `temperature` | `temperature` | 0..2; outside → 400 `invalid_value` |
 * | `top_p` | `topP` | |
 * | `stop` | `stopSequences` | a string becomes a one-item list; more than 5 (Gemini's limit) → 400 `invalid_value` |
 * | `n` | `candidateCount` | sent when not 1 |
 * | `seed` | `seed` | |
 * | `presence_penalty`, `frequency_penalty` | `presencePenalty`, `frequencyPenalty` | |
 * | `logprobs`, `top_logprobs` | `responseLogprobs`, `logprobs` | |
 * | `modalities` with `image` | `responseModalities` | `["TEXT", "IMAGE"]` (or `["IMAGE"]` without `text`); with `audio` → 400 `unsupported_parameter`; text only: nothing sent |
 * | `reasoning_effort` | `thinkingConfig` | Gemini 2.5: `thinkingBudget` (Google's mapping); 3 and later: `thinkingLevel`, the nearest the model takes, with a warning when it differs; older models or an unknown effort: dropped, warning (thinking-config.ts) |
 * | `extra_body.google` (or `google`): `thinking_config`, `cached_content` | `thinkingConfig` (instead of `reasoning_effort`'s), `cachedContent` | Google's own OpenAI-compatible shape (google-extension.ts); another key: dropped, warning |
 * | `user` | — | dropped, warning |
 * | `logit_bias` | — | dropped, warning when non-empty |
 * | `stream` | URL path | `:streamGenerateContent?alt=sse` (codec) |
 * | `stream_options` | — | read by the router (`target.includeUsage`) |
 * | any other field | — | dropped, warning naming it |
 *
 * @see https://ai.google.dev/api/generate-content#request-body
 * @see https://ai.google.dev/gemini-api/docs/function-calling
 * @see https://ai.google.dev/gemini-api/docs/thought-signatures
 */
import { invalidRequest, invalidValue } from '../../errors/gateway-error.js';
import { toolChoiceOfFunctionCall } from '../legacy-functions.js';
import { handledFields, parseDataUrl, parseToolArguments, readAllowedTools, readWebSearchOptions, refuseAudioOutput, textOfMessage, ToolNames, unsupportedContent, warnIgnored, warnUnknownFields } from '../chat-request-fields.js';
import { googleExtension } from './google-extension.js';
import { thinkingConfigFor } from './thinking-config.js';
import type { ChatCompletionRequest, ChatMessage, FunctionDefinition, ToolChoice } from '../../openai/types.js';
import type { ChatTarget } from '../provider.js';
import { convertGeminiSchema } from './convert-schema.js';
import type {
  GeminiContent,
  GeminiFunctionDeclaration,
  GeminiGenerateContentRequest,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRole,
  GeminiThinkingConfig,
  GeminiToolConfig,
} from './gemini-wire.js';
import { isRecord } from './gemini-wire.js';

/**
 * Google's documented placeholder for function calls Gemini did not sign itself (history that went
 * through another format). Without a signature Gemini 3 answers 400.
 * @see https://ai.google.dev/gemini-api/docs/thought-signatures
 */
export const PLACEHOLDER_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';


/** Files uploaded through the Gemini Files API: the only URLs `fileData` takes. */
const FILES_API_URI = /^https:\/\/generativelanguage\.googleapis\.com\/v1(?:beta|alpha)?\/files\/[A-Za-z0-9_-]+$/;

export function isFilesApiUri(url: string): boolean {
  return FILES_API_URI.test(url);
}

/** Read here beyond the shared fields. */
const HANDLED = handledFields('reasoning_effort', 'google', 'extra_body', 'web_search_options');

/** `generationConfig.stopSequences` takes "up to 5" (the API reference). @see https://ai.google.dev/api/generate-content#generationconfig */
const MAX_STOP_SEQUENCES = 5;

function ignored(target: ChatTarget, field: string): void {
  warnIgnored(target, 'gemini', field);
}

/** A tool call's `extra_content.google.thought_signature` (Google's OpenAI-compatible field), if it has one. */
function signatureOf(call: Record<string, unknown>): string | undefined {
  const extra = call.extra_content;
  const google = isRecord(extra) ? extra.google : undefined;
  const signature = isRecord(google) ? google.thought_signature : undefined;
  return typeof signature === 'string' && signature.length > 0 ? signature : undefined;
}

/** Gemini 3 and later validate thought signatures on function calls in history. */
export function requiresThoughtSignature(model: string): boolean {
  const match = /^(?:models\/)?gemini-(\d+)/.exec(model);
  return match !== null && Number(match[1]) >= 3;
}

function convertImage(url: unknown, param: string): GeminiPart {
  if (typeof url !== 'string') throw invalidValue(`${param}.image_url.url`, 'expected a string');
  if (url.startsWith('data:')) {
    const parsed = parseDataUrl(url);
    if (parsed === undefined || parsed.mediaType.length === 0) throw invalidValue(`${param}.image_url.url`, 'a data URL must name its media type and be base64-encoded');
    return { inlineData: { mimeType: parsed.mediaType === 'image/jpg' ? 'image/jpeg' : parsed.mediaType, data: parsed.data } };
  }
  if (isFilesApiUri(url)) return { fileData: { fileUri: url } };
  if (/^https?:\/\//i.test(url)) {
    throw unsupportedContent(param, 'gemini does not fetch image URLs; send the image as a base64 data URL');
  }
  throw invalidValue(`${param}.image_url.url`, 'expected a base64 data URL');
}

function convertPart(part: Record<string, unknown>, param: string): GeminiPart | undefined {
  if (part.type === 'text') {
    if (typeof part.text !== 'string') throw invalidValue(`${param}.text`, 'expected a string');
    return part.text.length === 0 ? undefined : { text: part.text };
  }
  if (part.type === 'image_url') return convertImage(isRecord(part.image_url) ? part.image_url.url : undefined, param);
  if (part.type === 'input_audio') {
    const audio = isRecord(part.input_audio) ? part.input_audio : {};
    if (typeof audio.data !== 'string' || typeof audio.format !== 'string' || !/^[a-z0-9.+-]{1,20}$/i.test(audio.format)) {
      throw invalidValue(`${param}.input_audio`, 'expected {data, format}');
    }
    return { inlineData: { mimeType: `audio/${audio.format.toLowerCase()}`, data: audio.data } };
  }
  if (part.type === 'file') {
    const file = isRecord(part.file) ? part.file : {};
    if (typeof file.file_data !== 'string') throw unsupportedContent(param, 'gemini needs the file inline as file_data (file_id is not supported)');
    const parsed = parseDataUrl(file.file_data);
    if (parsed !== undefined && parsed.mediaType.length > 0) return { inlineData: { mimeType: parsed.mediaType, data: parsed.data } };
    if (typeof file.filename === 'string' && /\.pdf$/i.test(file.filename)) return { inlineData: { mimeType: 'application/pdf', data: file.file_data } };
    throw invalidValue(`${param}.file.file_data`, 'expected a base64 data URL naming the media type');
  }
  throw unsupportedContent(param, `gemini does not accept '${String(part.type).slice(0, 64)}' parts`);
}

function convertContent(content: ChatMessage['content'], param: string): GeminiPart[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content.length === 0 ? [] : [{ text: content }];
  const parts: GeminiPart[] = [];
  content.forEach((part, index) => {
    const converted = convertPart(part as Record<string, unknown>, `${param}[${index}]`);
    if (converted !== undefined) parts.push(converted);
  });
  return parts;
}

/** Text of a system, assistant or tool message; any other part is refused. */
function textOf(content: ChatMessage['content'], param: string): string[] {
  return textOfMessage(content, param, 'gemini accepts only text here');
}

/** A tool result → `functionResponse.response`, which must be an object. */
function functionResponseBody(content: ChatMessage['content'], param: string): Record<string, unknown> {
  const text = textOf(content, param).join('');
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed)) return parsed;
    return { output: parsed };
  } catch {
    return { output: text };
  }
}

interface ConvertedMessages {
  system: GeminiPart[];
  contents: GeminiContent[];
}

function convertMessages(messages: ChatMessage[], target: ChatTarget): ConvertedMessages {
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  // Gemini matches results to calls by function name and position; OpenAI by call id, in any order.
  // position: the call's place among all calls of the conversation, so merged assistant turns keep theirs.
  const callsById = new Map<string, { name: string; position: number }>();
  let callCount = 0;
  // The run of tool results being read, sent in the order of their calls when it ends: two calls of
  // one function answered in another order would otherwise each get the other's result.
  let results: Array<{ position: number; part: GeminiPart }> = [];
  const signCalls = requiresThoughtSignature(target.model);
  let namesDropped = false;

  const push = (role: GeminiRole, parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    // A loop, not push(...parts): a spread of 100k+ parts from a client would overflow the stack.
    if (last !== undefined && last.role === role) for (const part of parts) last.parts.push(part);
    else contents.push({ role, parts: [...parts] });
  };

  const flushResults = () => {
    if (results.length === 0) return;
    push('user', results.sort((a, b) => a.position - b.position).map((result) => result.part));
    results = [];
  };

  messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    if (!isRecord(message)) throw invalidValue(param, 'expected a message object');
    const role = message.role;
    if (role !== 'tool') flushResults();
    if (typeof message.name === 'string' && (role === 'user' || role === 'assistant' || role === 'system' || role === 'developer')) namesDropped = true;
    if (role === 'system' || role === 'developer') {
      for (const text of textOf(message.content, `${param}.content`)) system.push({ text });
      return;
    }
    if (role === 'user') {
      push('user', convertContent(message.content, `${param}.content`));
      return;
    }
    if (role === 'assistant') {
      const parts: GeminiPart[] = textOf(message.content, `${param}.content`).map((text) => ({ text }));
      const calls: GeminiPart[] = [];
      (message.tool_calls ?? []).forEach((call, callIndex) => {
        const callParam = `${param}.tool_calls[${callIndex}]`;
        if (!isRecord(call) || !isRecord(call.function) || typeof call.function.name !== 'string' || typeof call.id !== 'string') {
          throw invalidValue(callParam, 'expected {id, type: "function", function: {name, arguments}}');
        }
        callsById.set(call.id, { name: call.function.name, position: callCount++ });
        const part: GeminiPart = { functionCall: { name: call.function.name, args: parseToolArguments(call.function.arguments, `${callParam}.function.arguments`) } };
        // The signature the answer gave the call (Google's own OpenAI-compatible field), given back as it came.
        const signature = signatureOf(call);
        if (signature !== undefined) part.thoughtSignature = signature;
        calls.push(part);
      });
      if (isRecord(message.function_call) && typeof message.function_call.name === 'string') {
        calls.push({ functionCall: { name: message.function_call.name, args: parseToolArguments(message.function_call.arguments, `${param}.function_call.arguments`) } });
      }
      // Only the first call of a parallel set carries a signature, as Gemini itself sends them; the
      // placeholder stands in for one the client did not keep.
      const first = calls[0];
      if (signCalls && first !== undefined) first.thoughtSignature ??= PLACEHOLDER_THOUGHT_SIGNATURE;
      push('model', [...parts, ...calls]);
      return;
    }
    if (role === 'tool') {
      const id = message.tool_call_id;
      const call = typeof id === 'string' ? callsById.get(id) : undefined;
      if (call === undefined) throw invalidValue(`${param}.tool_call_id`, 'it does not match a tool call of an earlier assistant message');
      results.push({ position: call.position, part: { functionResponse: { name: call.name, response: functionResponseBody(message.content, `${param}.content`) } } });
      return;
    }
    if (role === 'function') {
      if (typeof message.name !== 'string' || message.name.length === 0) throw invalidValue(`${param}.name`, 'a function message must name its function');
      push('user', [{ functionResponse: { name: message.name, response: functionResponseBody(message.content, `${param}.content`) } }]);
      return;
    }
    throw invalidValue(`${param}.role`, `unknown role '${String(role).slice(0, 32)}'`);
  });
  flushResults();
  if (namesDropped) ignored(target, 'messages[].name');
  return { system, contents };
}

/**
 * Gemini's rule for function names, as its 400 states it: "Must start with a letter or an underscore.
 * Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a
 * maximum length of 64." (@google/genai's docs say 128, which Vertex takes; the Gemini API refuses 65.)
 * Names are refused here rather than rewritten: a rewrite would have to be undone in answers, streams,
 * replayed calls and tool_choice, and could make two names one.
 */
const GEMINI_FUNCTION_NAME = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/;

function convertFunction(definition: FunctionDefinition, param: string, target: ChatTarget, names: ToolNames): GeminiFunctionDeclaration {
  if (!isRecord(definition) || typeof definition.name !== 'string') throw invalidValue(param, 'expected a function with a name');
  if (!GEMINI_FUNCTION_NAME.test(definition.name)) {
    throw invalidValue(`${param}.name`, 'gemini needs a function name that starts with a letter or an underscore, holds only letters, digits, underscores, dots, colons and dashes, and is at most 64 characters long');
  }
  names.add(definition.name, `${param}.name`);
  if (definition.strict === true) ignored(target, `${param}.strict`);
  const declaration: GeminiFunctionDeclaration = { name: definition.name };
  if (typeof definition.description === 'string' && definition.description.length > 0) declaration.description = definition.description;
  if (definition.parameters !== undefined && definition.parameters !== null) {
    const parameters = convertGeminiSchema(definition.parameters, `${param}.parameters`);
    // A function without arguments is declared without parameters: Gemini rejects an empty OBJECT and
    // a schema with no type, and `parameters: {}` is a valid OpenAI way to declare no arguments.
    const empty = (parameters.type === 'OBJECT' || parameters.type === undefined) && parameters.properties === undefined && parameters.anyOf === undefined;
    if (!empty) declaration.parameters = parameters;
  }
  return declaration;
}

/**
 * `allowed_tools`: every function stays declared, and the calls are limited to the names, as OpenAI
 * means it. `required` → ANY, `auto` → VALIDATED (function calls or text, the calls limited to
 * `allowedFunctionNames`; AUTO takes no names); every tool named is plain AUTO or ANY.
 * @see https://ai.google.dev/api/caching#FunctionCallingConfig (allowedFunctionNames: mode ANY or VALIDATED)
 */
function allowedToolsConfig(choice: Record<string, unknown>, offered: readonly string[]): GeminiToolConfig {
  const allowed = readAllowedTools(choice, offered);
  if (allowed.all) return { functionCallingConfig: { mode: allowed.mode === 'auto' ? 'AUTO' : 'ANY' } };
  return { functionCallingConfig: { mode: allowed.mode === 'auto' ? 'VALIDATED' : 'ANY', allowedFunctionNames: allowed.names } };
}

function convertToolChoice(choice: ToolChoice | undefined, offered: readonly string[]): GeminiToolConfig | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
  // openai 6.x forms: named, not misread as another choice.
  if (isRecord(choice) && choice.type === 'allowed_tools') return allowedToolsConfig(choice, offered);
  if (isRecord(choice) && choice.type === 'custom') throw invalidRequest("The parameter 'tool_choice' is not supported by gemini: it takes no custom tools.", 'unsupported_parameter', 'tool_choice');
  throw invalidValue('tool_choice', "expected 'auto', 'none', 'required' or {type: 'function', function: {name}}");
}

function convertGenerationConfig(request: ChatCompletionRequest, target: ChatTarget, own: GeminiThinkingConfig | undefined): GeminiGenerationConfig {
  const config: GeminiGenerationConfig = {};
  const { temperature } = request;
  if (temperature !== undefined && temperature !== null) {
    if (typeof temperature !== 'number' || temperature < 0 || temperature > 2) {
      throw invalidValue('temperature', `gemini accepts a temperature from 0 to 2, got ${String(temperature).slice(0, 32)}`);
    }
    config.temperature = temperature;
  }
  if (typeof request.top_p === 'number') config.topP = request.top_p;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (typeof maxTokens === 'number') config.maxOutputTokens = maxTokens;
  if (typeof request.stop === 'string') config.stopSequences = [request.stop];
  else if (Array.isArray(request.stop) && request.stop.length > 0) {
    // Gemini answers 400 to more (it names its own field): said here, it names the client's, uncalled.
    if (request.stop.length > MAX_STOP_SEQUENCES) throw invalidValue('stop', `gemini takes at most ${MAX_STOP_SEQUENCES} stop sequences, got ${request.stop.length}`);
    config.stopSequences = request.stop;
  }
  if (typeof request.n === 'number' && request.n !== 1) config.candidateCount = request.n;
  if (typeof request.seed === 'number') config.seed = request.seed;
  if (typeof request.presence_penalty === 'number') config.presencePenalty = request.presence_penalty;
  if (typeof request.frequency_penalty === 'number') config.frequencyPenalty = request.frequency_penalty;
  if (request.logprobs === true) config.responseLogprobs = true;
  if (typeof request.top_logprobs === 'number') config.logprobs = request.top_logprobs;
  // Pictures asked for: Gemini's image models answer with them only when the request lists IMAGE
  // (some refuse a request without it). Text alone is Gemini's default, so nothing is sent then.
  const modalities = (request as { modalities?: unknown }).modalities;
  if (Array.isArray(modalities) && modalities.includes('image')) {
    config.responseModalities = modalities.includes('text') ? ['TEXT', 'IMAGE'] : ['IMAGE'];
  }
  const effort = request.reasoning_effort;
  if (own !== undefined) {
    // Google's endpoint refuses both; the client's own setting is the more precise.
    config.thinkingConfig = own;
    if (effort !== undefined && effort !== null) target.warnings.push("reasoning_effort: the request's own thinking_config is sent instead, ignored");
  } else if (effort !== undefined && effort !== null) {
    const thinking = thinkingConfigFor(target.model, effort);
    if ('dropped' in thinking) target.warnings.push(`reasoning_effort: ${thinking.dropped}, ignored`);
    else {
      config.thinkingConfig = thinking.config;
      if (thinking.note !== undefined) target.warnings.push(`reasoning_effort: ${thinking.note}`);
    }
  }

  const format = request.response_format;
  if (isRecord(format) && format.type !== 'text') {
    if (format.type === 'json_object') config.responseMimeType = 'application/json';
    else if (format.type === 'json_schema' && isRecord(format.json_schema)) {
      config.responseMimeType = 'application/json';
      if (format.json_schema.schema !== undefined) config.responseSchema = convertGeminiSchema(format.json_schema.schema, 'response_format.json_schema.schema', true);
    } else throw invalidValue('response_format', "expected type 'text', 'json_object' or 'json_schema'");
  }
  return config;
}

function warnDropped(request: ChatCompletionRequest, target: ChatTarget): void {
  if (typeof request.user === 'string' && request.user.length > 0) ignored(target, 'user');
  if (request.parallel_tool_calls === false) ignored(target, 'parallel_tool_calls');
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) ignored(target, 'logit_bias');
  refuseAudioOutput(request, 'gemini');
  warnUnknownFields(request, target, 'gemini', HANDLED);
}

/**
 * OpenAI's `web_search_options` → Grounding with Google Search. Gemini decides how much to search and
 * takes no location, so those options are checked as OpenAI would and then dropped, with a warning.
 */
function wantsWebSearch(value: unknown, target: ChatTarget): boolean {
  const asked = readWebSearchOptions(value);
  if (asked === undefined) return false;
  if (asked.size !== undefined) ignored(target, 'web_search_options.search_context_size');
  if (asked.place !== undefined) ignored(target, 'web_search_options.user_location');
  return true;
}

export function convertGeminiRequest(request: ChatCompletionRequest, target: ChatTarget): GeminiGenerateContentRequest {
  if (!Array.isArray(request.messages)) throw invalidValue('messages', 'expected an array');
  const google = googleExtension(request);
  const generationConfig = convertGenerationConfig(request, target, google?.thinkingConfig);
  const { system, contents } = convertMessages(request.messages, target);
  // Gemini answers 400 "contents is not specified"; said here, it names what the client can change.
  if (contents.length === 0) throw invalidValue('messages', 'gemini needs at least one user, assistant or tool message with content (system messages and empty content do not count)');
  const body: GeminiGenerateContentRequest = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };

  const declarations: GeminiFunctionDeclaration[] = [];
  const names = new ToolNames('gemini');
  (request.tools ?? []).forEach((tool, index) => {
    if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function)) throw invalidValue(`tools[${index}]`, "gemini accepts tools of type 'function'");
    declarations.push(convertFunction(tool.function, `tools[${index}].function`, target, names));
  });
  (request.functions ?? []).forEach((definition, index) => declarations.push(convertFunction(definition, `functions[${index}]`, target, names)));
  if (declarations.length > 0) {
    body.tools = [{ functionDeclarations: declarations }];
    const offered = declarations.map((declaration) => declaration.name);
    const toolConfig = convertToolChoice(request.tool_choice, offered) ?? convertToolChoice(toolChoiceOfFunctionCall(request.function_call), offered);
    if (toolConfig !== undefined) body.toolConfig = toolConfig;
  }
  if (wantsWebSearch(request.web_search_options, target)) {
    (body.tools ??= []).push({ googleSearch: {} });
    // The citations come with the whole answer, over its text: a stream keeps the text for them.
    target.webSearch = true;
  }
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  if (google?.cachedContent !== undefined) body.cachedContent = google.cachedContent;
  for (const field of google?.ignored ?? []) ignored(target, field);
  warnDropped(request, target);
  return body;
}
