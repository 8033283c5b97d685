import { isRecord } from '../../json/guards.js';
export { isRecord };
// Anthropic Messages API wire types, as documented for `anthropic-version: 2023-06-01`: the request we
// build, the response and stream events we read, the error body and the model list. Only the fields the
// proxy writes or reads are typed; everything the server may add is tolerated by the parsers.
// @see https://docs.anthropic.com/en/api/messages
// @see https://docs.anthropic.com/en/docs/build-with-claude/streaming
// @see https://docs.anthropic.com/en/api/errors

/** The API version we pin. 2026-10-21 rejects `temperature`/`top_p`, which OpenAI clients send. */
export const ANTHROPIC_VERSION = '2023-06-01';

// ---- Request ----

/**
 * A prompt-cache breakpoint: the prefix up to and including the block that carries it is cached
 * (5 minutes unless `ttl: "1h"`). On tools, system blocks, content blocks, or at the top (automatic).
 * @see https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
 */
export interface AnthropicCacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

export interface AnthropicTextBlockParam {
  type: 'text';
  text: string;
  cache_control?: AnthropicCacheControl;
}

export type AnthropicImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface AnthropicBase64ImageSource {
  type: 'base64';
  media_type: AnthropicImageMediaType;
  data: string;
}

export interface AnthropicUrlSource {
  type: 'url';
  url: string;
}

export interface AnthropicImageBlockParam {
  type: 'image';
  source: AnthropicBase64ImageSource | AnthropicUrlSource;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicBase64PdfSource {
  type: 'base64';
  media_type: 'application/pdf';
  data: string;
}

export interface AnthropicDocumentBlockParam {
  type: 'document';
  source: AnthropicBase64PdfSource;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolUseBlockParam {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolResultBlockParam {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<AnthropicTextBlockParam | AnthropicImageBlockParam>;
  is_error?: boolean;
  cache_control?: AnthropicCacheControl;
}

/** A thinking block replayed in an assistant turn, as Claude wrote it (its signature proves it). */
export type AnthropicThinkingBlockParam =
  | { type: 'thinking'; thinking: string; signature: string; cache_control?: undefined }
  | { type: 'redacted_thinking'; data: string; cache_control?: undefined };

export type AnthropicContentBlockParam =
  | AnthropicTextBlockParam
  | AnthropicImageBlockParam
  | AnthropicDocumentBlockParam
  | AnthropicToolUseBlockParam
  | AnthropicToolResultBlockParam
  | AnthropicThinkingBlockParam;

/** How thinking shows in the answer: summarised text, or only the signature (the default depends on the model). */
export type AnthropicThinkingDisplay = 'summarized' | 'omitted';

/** Extended thinking: a budget (Claude 4.5 and before, 4.6), adaptive (4.6 and later), or off. */
export type AnthropicThinkingConfig =
  | { type: 'enabled'; budget_tokens: number; display?: AnthropicThinkingDisplay }
  | { type: 'adaptive'; display?: AnthropicThinkingDisplay }
  | { type: 'disabled' }
  /** Claude Sonnet 5.5's lowest: no thinking before the answer, short notes between tool calls (it takes no `disabled`). */
  | { type: 'between_tools'; display?: AnthropicThinkingDisplay };

/** `output_config.effort`: how many tokens Claude spends on the whole answer (4.6 and later; xhigh 4.7 and later). */
export type AnthropicEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: string | AnthropicContentBlockParam[];
}

export interface AnthropicInputSchema {
  type: 'object';
  [keyword: string]: unknown;
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: AnthropicInputSchema;
  cache_control?: AnthropicCacheControl;
  /** Strict tool use: the input is constrained to `input_schema` (Claude 4.5 and later; Claude's schema subset). */
  strict?: boolean;
}

/** Claude's web search, a server tool: Anthropic runs the searches and bills them per search. */
export interface AnthropicWebSearchTool {
  type: 'web_search_20250305';
  name: 'web_search';
  max_uses?: number;
  user_location?: { type: 'approximate'; city?: string; region?: string; country?: string; timezone?: string };
  cache_control?: undefined;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface AnthropicMessagesRequest {
  model: string;
  messages: AnthropicMessageParam[];
  max_tokens: number;
  system?: string | AnthropicTextBlockParam[];
  metadata?: { user_id?: string };
  stop_sequences?: string[];
  stream?: boolean;
  temperature?: number;
  top_p?: number;
  tools?: Array<AnthropicTool | AnthropicWebSearchTool>;
  tool_choice?: AnthropicToolChoice;
  /** Automatic caching: the breakpoint goes on the last cacheable block. */
  cache_control?: AnthropicCacheControl;
  thinking?: AnthropicThinkingConfig;
  output_config?: { effort?: AnthropicEffort; format?: AnthropicOutputFormat };
}

/** `output_config.format`: structured outputs, Claude's text constrained to a JSON schema (4.5 and later). */
export interface AnthropicOutputFormat {
  type: 'json_schema';
  schema: Record<string, unknown>;
}

// ---- Response ----

export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
  citations?: unknown[] | null;
}

export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
}

export interface AnthropicThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface AnthropicRedactedThinkingBlock {
  type: 'redacted_thinking';
  data: string;
}

/** A search Claude's web search tool ran (the proxy writes one from Gemini's grounding; see anthropic-api/web-search.ts). */
export interface AnthropicServerToolUseBlock {
  type: 'server_tool_use';
  id: string;
  name: string;
  input: unknown;
  /** Who called it: the model itself (`direct`), as the SDK's types require. */
  caller?: { type: 'direct' };
}

/** One page a web search found. `encrypted_content` is Anthropic's sealed page text: empty when another provider searched. */
export interface AnthropicWebSearchResult {
  type: 'web_search_result';
  url: string;
  title: string;
  encrypted_content: string;
  page_age: string | null;
}

/** The pages of one search (or why it failed), answering the `server_tool_use` block of the same id. */
export interface AnthropicWebSearchToolResultBlock {
  type: 'web_search_tool_result';
  tool_use_id: string;
  content: AnthropicWebSearchResult[] | { type: 'web_search_tool_result_error'; error_code: string };
  caller?: { type: 'direct' };
}

/** A text block's citation of a page a web search found. */
export interface AnthropicWebSearchCitation {
  type: 'web_search_result_location';
  url: string;
  title: string | null;
  cited_text: string;
  encrypted_index: string;
}

/** Other server tools (code execution, web fetch) add block types; the proxy does not surface them. */
export interface AnthropicOtherBlock {
  type: string;
}

export type AnthropicContentBlock =
  | AnthropicTextBlock
  | AnthropicToolUseBlock
  | AnthropicThinkingBlock
  | AnthropicRedactedThinkingBlock
  | AnthropicServerToolUseBlock
  | AnthropicWebSearchToolResultBlock
  | AnthropicOtherBlock;

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
  service_tier?: string | null;
  /** How many of `output_tokens` went to thinking (they stay in `output_tokens`, which is billed). */
  output_tokens_details?: { thinking_tokens?: number } | null;
  /** Server tools Claude ran: web searches are billed per search, beside the tokens. */
  server_tool_use?: { web_search_requests?: number; web_fetch_requests?: number } | null;
  /** The speed the call ran at: `fast` (fast mode) is billed at the model's fast-mode multiplier. */
  speed?: string | null;
  /** Where inference ran (`global`, `us`): US-only inference is billed at a multiplier. */
  inference_geo?: string | null;
  /** Per sampling iteration (beta): `compaction` and `advisor_message` entries are billed but left out of the counts above. */
  iterations?: AnthropicIterationUsage[] | null;
}

/**
 * One entry of `usage.iterations` (the SDK's BetaIterationsUsage): a `message`, `compaction`,
 * `advisor_message` or `fallback_message` iteration, each with its own counts.
 */
export interface AnthropicIterationUsage {
  type: string;
  /** The model that ran it (`message`, `advisor_message`, `fallback_message`): an advisor's is billed at its own rates. */
  model?: string | null;
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
}

export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

// ---- Stream events ----

export interface AnthropicMessageStartEvent {
  type: 'message_start';
  message: AnthropicMessage;
}

export interface AnthropicContentBlockStartEvent {
  type: 'content_block_start';
  index: number;
  content_block: AnthropicContentBlock;
}

export type AnthropicContentBlockDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'input_json_delta'; partial_json: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }
  | { type: 'citations_delta'; citation: unknown };

export interface AnthropicContentBlockDeltaEvent {
  type: 'content_block_delta';
  index: number;
  delta: AnthropicContentBlockDelta;
}

export interface AnthropicContentBlockStopEvent {
  type: 'content_block_stop';
  index: number;
}

/** Usage in `message_delta` is cumulative; the input counts appear when they apply. */
export interface AnthropicMessageDeltaUsage {
  output_tokens: number;
  input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  output_tokens_details?: { thinking_tokens?: number } | null;
  server_tool_use?: { web_search_requests?: number; web_fetch_requests?: number } | null;
  /** The iterations so far (beta), cumulative like the counts. */
  iterations?: AnthropicIterationUsage[] | null;
}

export interface AnthropicMessageDeltaEvent {
  type: 'message_delta';
  delta: { stop_reason: AnthropicStopReason | null; stop_sequence: string | null };
  usage: AnthropicMessageDeltaUsage;
}

export interface AnthropicMessageStopEvent {
  type: 'message_stop';
}

export interface AnthropicPingEvent {
  type: 'ping';
}

export interface AnthropicErrorEvent {
  type: 'error';
  error: AnthropicErrorObject;
}

export type AnthropicStreamEvent =
  | AnthropicMessageStartEvent
  | AnthropicContentBlockStartEvent
  | AnthropicContentBlockDeltaEvent
  | AnthropicContentBlockStopEvent
  | AnthropicMessageDeltaEvent
  | AnthropicMessageStopEvent
  | AnthropicPingEvent
  | AnthropicErrorEvent;

// ---- Errors ----

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error';

export interface AnthropicErrorObject {
  type: AnthropicErrorType | (string & {});
  message: string;
}

/** The body of every non-2xx answer, and the data of an `error` stream event. */
export interface AnthropicErrorResponse {
  type: 'error';
  error: AnthropicErrorObject;
  request_id?: string | null;
}

// ---- Models ----

export interface AnthropicModelInfo {
  type: 'model';
  id: string;
  display_name: string;
  /** RFC 3339 date-time. */
  created_at: string;
  max_input_tokens?: number | null;
  max_tokens?: number | null;
}

export interface AnthropicModelList {
  data: AnthropicModelInfo[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

// ---- Narrowing ----

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Usage as the API sends it: the two counts are required, the cache counts optional or null. */
export function isAnthropicUsage(value: unknown): value is AnthropicUsage {
  return isRecord(value) && isCount(value.input_tokens) && isCount(value.output_tokens);
}

/** A block the converters can read: an object with a string `type`. Its fields are checked per type. */
export function isAnthropicContentBlock(value: unknown): value is AnthropicContentBlock {
  return isRecord(value) && typeof value.type === 'string';
}

export function isAnthropicMessage(value: unknown): value is AnthropicMessage {
  return (
    isRecord(value) &&
    value.type === 'message' &&
    typeof value.id === 'string' &&
    Array.isArray(value.content) &&
    value.content.every(isAnthropicContentBlock) &&
    (value.stop_reason === null || typeof value.stop_reason === 'string') &&
    isAnthropicUsage(value.usage)
  );
}

export function isAnthropicErrorResponse(value: unknown): value is AnthropicErrorResponse {
  return isRecord(value) && isRecord(value.error) && typeof value.error.message === 'string' && typeof value.error.type === 'string';
}
