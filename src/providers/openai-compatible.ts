// The OpenAI-format family: OpenAI, Azure OpenAI, Ollama and the OpenAI-compatible hosts, as one
// codec and one preset table. Bodies and streams pass through; only the model name and the usage
// request are changed on the way out (and a host's own names, host-request-fit.ts). The one answer
// read and converted is a tools-only host's to a legacy functions request (legacy-functions.ts).
import { invalidValue, upstreamBadResponse, upstreamError, upstreamStreamError, type GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse } from '../openai/types.js';
import type { SseEvent } from '../streaming/sse-decoder.js';
import type { ChatCodec, ChatTarget, DiscoveredModel, ProviderKind, UpstreamRequestSpec } from './provider.js';
import { createOpenAiEmbeddingsCodec } from './openai-embeddings.js';
import { azurePath, azureTakesNewFields, type AzureApi } from './azure-api.js';
import { stripCacheControl, stripToolMessageMarkers } from './cache-control-strip.js';
import { warnIgnored } from './chat-request-fields.js';
import { fitGroqRequest, fitMaxTokensAndRoles, fitMistralRequest, fitReasoningOutputLimit, fitXaiRequest } from './host-request-fit.js';
import { isRecord } from '../json/guards.js';
import { convertAnswerToLegacy, convertChunksToLegacy, usesLegacyFunctions } from './legacy-functions.js';

export type OpenAiFamilyKind = Exclude<ProviderKind, 'anthropic' | 'gemini'>;

interface Preset {
  /** Default base URL, `/v1` (or the host's equivalent) included. */
  baseUrl: string | undefined;
  /** Whether the host needs a key to be usable. */
  requiresKey: boolean;
  /** The host accepts `stream_options.include_usage` (others send usage unasked, or never). */
  streamOptions: boolean;
  /** The host answers 400 to `cache_control` markers (LiteLLM's, for Claude): they are taken out, with a warning. */
  refusesCacheControl?: true;
  /** The host's names for OpenAI's fields, and what it has none for dropped (src/providers/host-request-fit.ts). */
  fit?: (request: ChatCompletionRequest, target: ChatTarget) => ChatCompletionRequest | undefined;
  /** The host hangs on a marker set on a `role: "tool"` message itself: that one is taken out, with a warning. */
  hangsOnToolMessageMarkers?: true;
  /** The most stop sequences the host documents; more (only /v1/messages can send them) is a 400 naming the client's field, before the call. */
  maxStopSequences?: number;
  /**
   * The host takes no legacy `functions`: its fit sends them as tools, and a legacy request's answer
   * is read and converted back to the legacy style (src/providers/legacy-functions.ts).
   */
  toolsOnly?: true;
}

/** One row per host. A new OpenAI-compatible host is one line here. */
export const OPENAI_FAMILY_PRESETS: Record<OpenAiFamilyKind, Preset> = {
  // "Up to 4 sequences" (the chat API's `stop`).
  openai: { baseUrl: 'https://api.openai.com/v1', requiresKey: true, streamOptions: true, maxStopSequences: 4 },
  azure: { baseUrl: undefined, requiresKey: true, streamOptions: true, maxStopSequences: 4 },
  // Ollama and DeepSeek ignore max_completion_tokens and take no developer role: max_tokens and system are sent.
  ollama: { baseUrl: 'http://127.0.0.1:11434/v1', requiresKey: false, streamOptions: true, fit: fitMaxTokensAndRoles },
  // Mistral rejects unknown fields, reports usage in the last chunk by itself and takes functions only as tools.
  mistral: { baseUrl: 'https://api.mistral.ai/v1', requiresKey: true, streamOptions: false, refusesCacheControl: true, fit: fitMistralRequest, toolsOnly: true },
  // Groq answers 400 to `reasoning_content` on an assistant message (a DeepSeek answer replayed), to the token-level fields and to n > 1.
  groq: { baseUrl: 'https://api.groq.com/openai/v1', requiresKey: true, streamOptions: true, fit: fitGroqRequest },
  deepseek: { baseUrl: 'https://api.deepseek.com/v1', requiresKey: true, streamOptions: true, fit: fitMaxTokensAndRoles },
  together: { baseUrl: 'https://api.together.xyz/v1', requiresKey: true, streamOptions: true },
  openrouter: { baseUrl: 'https://openrouter.ai/api/v1', requiresKey: true, streamOptions: true, hangsOnToolMessageMarkers: true },
  // xAI answers 400 to a `name` on any message but a user's.
  xai: { baseUrl: 'https://api.x.ai/v1', requiresKey: true, streamOptions: true, fit: fitXaiRequest },
  fireworks: { baseUrl: 'https://api.fireworks.ai/inference/v1', requiresKey: true, streamOptions: true },
  'openai-compatible': { baseUrl: undefined, requiresKey: false, streamOptions: true },
};

/**
 * The outgoing body: the client's request with the upstream model name, and usage always asked for
 * where the host takes `stream_options`; where it does not, the client's own are not sent either.
 */
export function convertOpenAiRequest(request: ChatCompletionRequest, target: ChatTarget, streamOptions: boolean): string {
  const askUsage = target.stream && streamOptions;
  const dropOptions = !streamOptions && request.stream_options !== undefined;
  // The common case (same model name, no stream_options of the client's) serialises the request
  // itself, with no copy of it: a stringified object ends in `}`, so the usage request is appended.
  if (request.model === target.model && !dropOptions && (!askUsage || request.stream_options === undefined)) {
    const json = JSON.stringify(request);
    return askUsage ? `${json.slice(0, -1)},"stream_options":{"include_usage":true}}` : json;
  }
  const body: Record<string, unknown> = { ...request, model: target.model };
  if (askUsage) {
    // Copied, then set: a spread followed by a property the source may lack is V8's slow path (see heldOutcome in src/routing/chat-stream.ts).
    const options: Record<string, unknown> = { ...(isRecord(request.stream_options) ? request.stream_options : {}) };
    options.include_usage = true;
    body.stream_options = options;
  } else if (dropOptions) {
    delete body.stream_options;
  }
  return JSON.stringify(body);
}

/** Checks an upstream answer has the shape of a chat completion (it passes through as bytes). */
export function parseOpenAiResponse(body: unknown, target: ChatTarget): ChatCompletionResponse {
  if (!isRecord(body) || !Array.isArray(body.choices)) throw upstreamBadResponse(target.provider, 'an answer that is not a chat completion');
  return body as unknown as ChatCompletionResponse;
}

/** Groq's own status for its flex tier at capacity (`capacity_exceeded`): a wait mends it, as a 503's does. */
const GROQ_CAPACITY_EXCEEDED = 498;

/** The codes and types OpenAI-format hosts give a rate limit (OpenAI: code `rate_limit_exceeded`, type `requests`/`tokens`). */
const RATE_LIMITED = new Set(['rate_limit_exceeded', 'rate_limit_error']);

/**
 * OpenAI answers an account out of credit with 429 `insufficient_quota`, which no wait mends: read
 * as the 402 other hosts send for it (an operator's billing problem, the next deployment tried).
 * Groq's 498 is read as the 503 it means; as a 4xx it was the client's bad request, never retried.
 * Status 200 is an error event inside a stream: a rate limit there is the 429 it would have been
 * before the headers (its deployment cooled, not counted as broken).
 */
export function parseOpenAiErrorStatus(status: number, body: unknown): number | undefined {
  if (status === GROQ_CAPACITY_EXCEEDED) return 503;
  if (status === 200) {
    if (!isRecord(body) || !isRecord(body.error)) return undefined;
    const { code, type } = body.error;
    return (typeof code === 'string' && RATE_LIMITED.has(code)) || (typeof type === 'string' && RATE_LIMITED.has(type)) ? 429 : undefined;
  }
  if (status !== 429 || !isRecord(body) || !isRecord(body.error)) return undefined;
  const { code, type } = body.error;
  return code === 'insufficient_quota' || type === 'insufficient_quota' ? 402 : undefined;
}

/**
 * The request without the `thinking_blocks` the proxy's Claude answers carry (replayed by the client
 * with each assistant turn): no OpenAI-format host knows the field, and a conversation may move from
 * Claude to another model. Undefined when no message has them (the common case: nothing copied).
 */
export function withoutThinkingBlocks(request: ChatCompletionRequest): ChatCompletionRequest | undefined {
  const messages = request.messages;
  if (!Array.isArray(messages) || !messages.some((message) => isRecord(message) && message.thinking_blocks !== undefined)) return undefined;
  return {
    ...request,
    messages: messages.map((message) => {
      if (!isRecord(message) || message.thinking_blocks === undefined) return message;
      const { thinking_blocks: _blocks, ...rest } = message;
      return rest;
    }),
  };
}

/** Azure's prompt filter (`content_filter`) and OpenAI's moderation refusal (`content_policy_violation`). */
const CONTENT_POLICY_CODES: ReadonlySet<unknown> = new Set(['content_filter', 'content_policy_violation']);

export function parseOpenAiContentPolicyCode(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const { code } = body.error;
  return CONTENT_POLICY_CODES.has(code) ? (code as string) : undefined;
}

export function parseOpenAiContentPolicyDetail(body: unknown): Record<string, unknown> | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const { innererror } = body.error;
  return isRecord(innererror) ? innererror : undefined;
}

/**
 * A validation list as pydantic/FastAPI servers write it (`[{loc, msg}]`: Mistral's 422 for a field
 * it refuses), as `body.messages.1.assistant.reasoning_content: Extra inputs are not permitted; …`.
 */
function validationMessage(detail: unknown): string | undefined {
  if (typeof detail === 'string') return detail;
  if (!Array.isArray(detail)) return undefined;
  const parts: string[] = [];
  for (const item of detail.slice(0, 10)) {
    if (!isRecord(item) || typeof item.msg !== 'string') continue;
    parts.push(Array.isArray(item.loc) ? `${item.loc.join('.')}: ${item.msg}` : item.msg);
  }
  return parts.length === 0 ? undefined : parts.join('; ');
}

/**
 * The message of an OpenAI-format host's error body: OpenAI's `error.message`, Ollama's `error`
 * string, a top-level `message` (Mistral, vLLM), a validation `detail` list (Mistral's 422, nested
 * in `message` or at the top), or the first entry of an error list (Google's OpenAI-compatible API).
 */
export function parseOpenAiErrorMessage(body: unknown): string | undefined {
  if (Array.isArray(body)) return body.length > 0 && isRecord(body[0]) ? parseOpenAiErrorMessage(body[0]) : undefined;
  if (!isRecord(body)) return undefined;
  const error = body.error;
  if (isRecord(error) && typeof error.message === 'string') return error.message;
  if (typeof error === 'string') return error;
  const message = body.message;
  if (typeof message === 'string') return message;
  return validationMessage(body.detail) ?? (isRecord(message) ? validationMessage(message.detail) : validationMessage(message));
}

/** An error event in an OpenAI-format stream → a rate limit's 429 (see parseOpenAiErrorStatus), else a broken stream. */
export function convertOpenAiStreamError(parsed: Record<string, unknown>, provider: string): GatewayError {
  const message = parseOpenAiErrorMessage(parsed) ?? 'an error event';
  return parseOpenAiErrorStatus(200, parsed) === 429 ? upstreamError(429, provider, message) : upstreamStreamError(provider, message);
}

/** Events → chunks, for when a caller needs objects rather than the pass-through bytes. */
export async function* convertOpenAiStream(events: AsyncIterable<SseEvent>, target: ChatTarget): AsyncGenerator<ChatCompletionChunk> {
  for await (const event of events) {
    if (event.data === '[DONE]') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(event.data);
    } catch {
      throw upstreamStreamError(target.provider, 'an event that is not JSON');
    }
    if (isRecord(parsed) && parsed.error !== undefined) throw convertOpenAiStreamError(parsed, target.provider);
    if (!isRecord(parsed) || !Array.isArray(parsed.choices)) throw upstreamStreamError(target.provider, 'an event that is not a chunk');
    const chunk = parsed as unknown as ChatCompletionChunk;
    if (!target.includeUsage && chunk.usage) {
      if (chunk.choices.length === 0) continue;
      delete chunk.usage;
    }
    yield chunk;
  }
}

/**
 * `GET /models` → discovered models; undefined when the body is not a list. Together answers a bare
 * array of models rather than OpenAI's `{"data": [...]}`: read as a list when it holds a model (an
 * empty or error array says nothing, so the last list is kept).
 */
export function parseOpenAiModelList(body: unknown): DiscoveredModel[] | undefined {
  if (Array.isArray(body)) {
    const models = modelsOf(body);
    return models.length > 0 ? models : undefined;
  }
  if (!isRecord(body)) return undefined;
  // Ollama with no model pulled answers `{"object":"list","data":null}` (a nil Go slice).
  const data = body.data === null && body.object === 'list' ? [] : body.data;
  return Array.isArray(data) ? modelsOf(data) : undefined;
}

function modelsOf(data: readonly unknown[]): DiscoveredModel[] {
  const models: DiscoveredModel[] = [];
  for (const item of data) {
    if (!isRecord(item) || typeof item.id !== 'string' || item.id.length === 0 || item.id.length > 256) continue;
    const model: DiscoveredModel = { id: item.id };
    if (typeof item.owned_by === 'string') model.ownedBy = item.owned_by;
    if (typeof item.created === 'number') model.created = item.created;
    // OpenRouter, Together and some hosts report context windows in their list; Groq and Mistral under their own names.
    const window = item.context_length ?? item.context_window ?? item.max_context_length;
    if (typeof window === 'number') model.contextLength = window;
    if (typeof item.max_completion_tokens === 'number') model.maxOutputTokens = item.max_completion_tokens;
    models.push(model);
  }
  return models;
}

export interface OpenAiCodecOptions {
  kind: OpenAiFamilyKind;
  /** Azure's `api-version`. */
  apiVersion?: string;
  /** Azure's v1 API (the base URL ends in /openai/v1) rather than its deployment paths. */
  azureV1?: boolean;
}

export function createOpenAiCodec(options: OpenAiCodecOptions): ChatCodec {
  const preset = OPENAI_FAMILY_PRESETS[options.kind];
  const azure = options.kind === 'azure';
  const azureApi: AzureApi = { v1: options.azureV1 === true, apiVersion: options.apiVersion };
  const modernAzure = azure && azureTakesNewFields(options.apiVersion);
  const streamOptions = azure ? modernAzure : preset.streamOptions;
  // An Azure api-version from before max_completion_tokens gets the limit as max_tokens, as DeepSeek and Ollama do.
  const fit = azure && !modernAzure ? fitMaxTokensAndRoles : preset.fit;
  // Azure's deployment API puts the deployment in the path; everyone else takes the model in the body.
  const chatPath = azure ? (model: string) => azurePath('chat/completions', model, azureApi) : () => '/chat/completions';
  const noHeaders: Record<string, string> = {};
  const embeddings = createOpenAiEmbeddingsCodec({ kind: options.kind, ...(azure ? { azureApi } : {}) });
  return {
    passthrough: true,
    ...(embeddings === undefined ? {} : { embeddings }),
    authHeaders(apiKey): Record<string, string> {
      if (apiKey === undefined) return {};
      return azure ? { 'api-key': apiKey } : { authorization: `Bearer ${apiKey}` };
    },
    buildChatRequest(request, target): UpstreamRequestSpec {
      const stops = request.stop;
      if (preset.maxStopSequences !== undefined && Array.isArray(stops) && stops.length > preset.maxStopSequences) {
        throw invalidValue('stop', `${options.kind} takes at most ${preset.maxStopSequences} stop sequences, got ${stops.length}`);
      }
      let sent = withoutThinkingBlocks(request) ?? request;
      if (target.stripCacheMarkers === true) {
        sent = stripCacheControl(sent, true) ?? sent;
      } else if (preset.refusesCacheControl === true) {
        const stripped = stripCacheControl(sent);
        if (stripped !== undefined) {
          sent = stripped;
          warnIgnored(target, options.kind, 'cache_control');
        }
      } else if (preset.hangsOnToolMessageMarkers === true) {
        const stripped = stripToolMessageMarkers(sent);
        if (stripped !== undefined) {
          sent = stripped;
          warnIgnored(target, options.kind, "cache_control on a 'tool' message (mark its content part instead)");
        }
      }
      if (fit !== undefined) sent = fit(sent, target) ?? sent;
      else if (target.reasoningOutputLimit === true && (options.kind === 'openai' || modernAzure)) sent = fitReasoningOutputLimit(sent) ?? sent;
      // Mistral sends its usage unasked; an Azure api-version older than stream_options sends none (estimated, and no usage chunk).
      if (azure && !streamOptions && isRecord(request.stream_options)) warnIgnored(target, `${target.provider} (Azure api-version ${options.apiVersion ?? ''})`, 'stream_options');
      return { path: chatPath(target.model), method: 'POST', headers: noHeaders, body: convertOpenAiRequest(sent, target, streamOptions) };
    },
    ...(preset.toolsOnly === true
      ? {
          convertsAnswerTo: usesLegacyFunctions,
          parseChatResponse: (body: unknown, target: ChatTarget) => {
            const response = parseOpenAiResponse(body, target);
            return target.legacyFunctions === true ? convertAnswerToLegacy(response) : response;
          },
          convertStream: (events: AsyncIterable<SseEvent>, target: ChatTarget) => {
            const chunks = convertOpenAiStream(events, target);
            return target.legacyFunctions === true ? convertChunksToLegacy(chunks) : chunks;
          },
        }
      : { parseChatResponse: parseOpenAiResponse, convertStream: convertOpenAiStream }),
    parseErrorMessage: parseOpenAiErrorMessage,
    parseErrorStatus: parseOpenAiErrorStatus,
    parseContentPolicyCode: parseOpenAiContentPolicyCode,
    parseContentPolicyDetail: parseOpenAiContentPolicyDetail,
    ...(azure
      ? {}
      : {
          listModels: {
            request: (): UpstreamRequestSpec => ({ path: '/models', method: 'GET', headers: noHeaders }),
            parse: parseOpenAiModelList,
          },
        }),
  };
}
