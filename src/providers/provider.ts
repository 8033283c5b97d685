// The provider contract: what a provider codec must translate, and the configured provider
// instance the router sends requests to. Codecs are pure (no I/O, env or clock); the shared
// upstream client does the HTTP.
import type { ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse } from '../openai/types.js';
import type { SseEvent } from '../streaming/sse-decoder.js';
import type { EmbeddingsCodec } from './embeddings-codec.js';

/** Every provider kind we speak. One string-literal union; no constants file. */
export type ProviderKind =
  | 'openai'
  | 'azure'
  | 'anthropic'
  | 'gemini'
  | 'ollama'
  | 'mistral'
  | 'groq'
  | 'deepseek'
  | 'together'
  | 'openrouter'
  | 'xai'
  | 'fireworks'
  | 'openai-compatible';

/** What a codec needs to know about one call. Built per request by the router. */
export interface ChatTarget {
  /** The configured provider's name, for messages. */
  provider: string;
  /** The model name the upstream expects. */
  model: string;
  stream: boolean;
  /** The client asked for a usage chunk (`stream_options.include_usage`). */
  includeUsage: boolean;
  requestId: string;
  /** Unix seconds, for ids and `created` the proxy has to make up. */
  created: number;
  /** A sink for fields that were dropped: they go out in `X-LLM-Proxy-Warnings`. */
  warnings: string[];
  /** The catalog's max output tokens for the model, for providers that require a limit. */
  defaultMaxTokens?: number;
  /**
   * The request sets `max_tokens` and the catalog marks the model as reasoning: OpenAI's reasoning
   * models refuse that field and take only `max_completion_tokens`. Unset otherwise.
   */
  reasoningOutputLimit?: boolean;
  /** The client used the legacy `functions`/`function_call` fields: answer in that style. */
  legacyFunctions?: boolean;
  /**
   * The request's `cache_control` markers came from translating another API's request (/v1/messages),
   * and this model does not cache on markers: send none, without a warning (the client never wrote them in the chat form).
   */
  stripCacheMarkers?: boolean;
  /** The request turned on the provider's web search (set by a codec that reads its citations from the whole answer). */
  webSearch?: boolean;
}

/** The provider-specific part of an upstream HTTP call. The client adds the origin, auth and timeouts. */
export interface UpstreamRequestSpec {
  /** Appended to the provider's base URL; may carry a query string. */
  path: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string;
}

/** A model as a provider's list endpoint reports it. */
export interface DiscoveredModel {
  id: string;
  name?: string;
  ownedBy?: string;
  created?: number;
  contextLength?: number;
  maxOutputTokens?: number;
}

export interface ChatCodec {
  /** True when the upstream speaks OpenAI's format, so bodies and streams can pass through. */
  readonly passthrough: boolean;
  /**
   * A translating codec that carries the chat request's `cache_control` markers to the provider
   * (Anthropic), so the budget hold prices their writes; a pass-through one carries them as sent.
   */
  readonly keepsCacheControl?: boolean;
  /** The web image URLs the provider does not fetch itself: the proxy downloads them and sends them inline (src/providers/inline-images.ts). */
  readonly inlinesImageUrl?: (url: string) => boolean;
  /**
   * A pass-through codec's answer to this request must be read and converted all the same: the
   * host answers in another style than the client asked in (Mistral, which takes only tools, asked
   * with legacy functions). The answer then goes through parseChatResponse and convertStream.
   */
  readonly convertsAnswerTo?: (request: ChatCompletionRequest) => boolean;
  /** Headers that carry the credential and protocol version. */
  authHeaders(apiKey: string | undefined): Record<string, string>;
  buildChatRequest(request: ChatCompletionRequest, target: ChatTarget): UpstreamRequestSpec;
  parseChatResponse(body: unknown, target: ChatTarget): ChatCompletionResponse;
  convertStream(events: AsyncIterable<SseEvent>, target: ChatTarget): AsyncIterable<ChatCompletionChunk>;
  /** Pulls a human-readable message out of an upstream error body, if it has one. */
  parseErrorMessage(body: unknown): string | undefined;
  /** A wait the provider states in its error body rather than a header (Gemini's RetryInfo). */
  parseRetryAfterMs?(body: unknown): number | undefined;
  /**
   * The status an error body means when the provider's HTTP status says otherwise (Gemini's bad key is a 400).
   * Asked with 200 for an error event inside a stream (a rate limit there: 429).
   */
  parseErrorStatus?(status: number, body: unknown): number | undefined;
  /**
   * The error body's code when the client must see it as the provider gave it: a refusal under the
   * provider's content policy (Azure's `content_filter`), which clients written for it branch on.
   */
  parseContentPolicyCode?(body: unknown): string | undefined;
  /** That refusal's detail as the provider gives it (Azure's `innererror`: `content_filter_result` and its code). */
  parseContentPolicyDetail?(body: unknown): Record<string, unknown> | undefined;
  /** POST /v1/embeddings; absent when the provider serves no embeddings. */
  readonly embeddings?: EmbeddingsCodec;
  /** The list endpoint, for discovery. */
  readonly listModels?: {
    request(): UpstreamRequestSpec;
    /**
     * undefined when the body is not a list (a 200 carrying an error object): discovery then keeps
     * the last known list and marks it stale, where an empty array would wipe it.
     */
    parse(body: unknown): DiscoveredModel[] | undefined;
  };
}

/** A provider as configured: a codec plus where and with what key to reach it. */
export interface ProviderInstance {
  name: string;
  kind: ProviderKind;
  baseUrl: URL;
  apiKey: string | undefined;
  codec: ChatCodec;
  /** Names served without discovery: configured models and built-in catalog entries. */
  staticModels: readonly string[];
  /** The admin let this provider reach private addresses (src/upstream/url-guard.ts). */
  allowPrivateNetwork?: boolean;
}

/** Whether the answer to `request` goes to the client as the upstream's bytes (see ChatCodec.convertsAnswerTo). */
export function passesThrough(codec: ChatCodec, request: ChatCompletionRequest): boolean {
  return codec.passthrough && codec.convertsAnswerTo?.(request) !== true;
}
