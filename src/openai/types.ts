// The OpenAI Chat Completions wire contract: what clients send us and what we send back.
// Every provider translates to and from these types; nothing here knows a provider.
// @see https://platform.openai.com/docs/api-reference/chat

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';

export interface TextContentPart {
  type: 'text';
  text: string;
}

export interface ImageContentPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export interface InputAudioContentPart {
  type: 'input_audio';
  input_audio: { data: string; format: string };
}

export interface FileContentPart {
  type: 'file';
  file: { file_data?: string; file_id?: string; filename?: string };
}

/** A part whose type we do not model; forwarded as-is to OpenAI-format providers. */
export interface OtherContentPart {
  type: string;
  [field: string]: unknown;
}

export type ContentPart = TextContentPart | ImageContentPart | InputAudioContentPart | FileContentPart;

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  /** Not OpenAI's: Gemini's thought signature of the call, as Google's OpenAI-compatible API carries it (`{google: {thought_signature}}`). */
  extra_content?: { google?: { thought_signature?: string } };
}

/** A custom tool's call (openai 6.x): free text, not JSON arguments. Only OpenAI-format hosts take custom tools. */
export interface CustomToolCall {
  id: string;
  type: 'custom';
  custom: { name: string; input: string };
}

export interface FunctionCall {
  name: string;
  arguments: string;
}

export interface ChatMessage {
  role: ChatRole;
  content?: string | Array<ContentPart | OtherContentPart> | null;
  name?: string;
  tool_calls?: Array<ToolCall | CustomToolCall>;
  tool_call_id?: string;
  function_call?: FunctionCall;
  refusal?: string | null;
  /** Not OpenAI's: a prompt-cache breakpoint on the message's last block (LiteLLM's convention, for Claude). */
  cache_control?: unknown;
  /** Not OpenAI's: Claude's signed thinking blocks of an assistant turn, replayed as received (LiteLLM's convention). */
  thinking_blocks?: unknown;
  /** Not OpenAI's: an assistant turn's thinking, as DeepSeek and vLLM write it (DeepSeek requires it back on a turn with tool calls). */
  reasoning_content?: string;
}

export interface FunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean | null;
  /** Not OpenAI's: a prompt-cache breakpoint on this tool (LiteLLM reads it here or beside `function`). */
  cache_control?: unknown;
}

export interface ToolDefinition {
  type: 'function';
  function: FunctionDefinition;
  /** Not OpenAI's: a prompt-cache breakpoint on this tool (LiteLLM's convention, for Claude). */
  cache_control?: unknown;
}

/** openai 6.x `ChatCompletionCustomTool`: free-text input, optionally held to a grammar. */
export interface CustomToolDefinition {
  type: 'custom';
  custom: { name: string; description?: string; format?: unknown };
  /** Not OpenAI's: a prompt-cache breakpoint, as on a function tool (taken out for the hosts that refuse it). */
  cache_control?: unknown;
}

/**
 * Not OpenAI's: OpenRouter's web search server tool (OpenRouter runs the searches; the model may
 * call it 0 to `max_uses` times). Only OpenRouter deployments take it (src/http/chat-pipeline.ts).
 * @see https://openrouter.ai/docs/guides/features/server-tools/web-search
 */
export interface OpenRouterWebSearchTool {
  type: typeof OPENROUTER_WEB_SEARCH;
  /** OpenRouter's WebSearchServerToolConfig (engine, max_results, max_total_results, max_uses, …), forwarded as sent. */
  parameters?: Record<string, unknown>;
}

export const OPENROUTER_WEB_SEARCH = 'openrouter:web_search';

/**
 * The engines OpenRouter documents for its web fetch tool (`auto`, the default: the provider's own
 * fetch where the endpoint has one, else Exa). Each has its price a page (src/rate-limit/web-search-bound.ts).
 * @see https://openrouter.ai/docs/guides/features/server-tools/web-fetch
 */
export const OPENROUTER_FETCH_ENGINES = ['auto', 'native', 'openrouter', 'exa', 'parallel', 'firecrawl'] as const;
export type OpenRouterFetchEngine = (typeof OPENROUTER_FETCH_ENGINES)[number];

/** Not OpenAI's: OpenRouter's WebFetchServerToolConfig. */
export interface OpenRouterWebFetchConfig {
  engine?: OpenRouterFetchEngine;
  /** Fetches a request may run; past it the tool answers the model with an error. */
  max_uses?: number;
  /** A fetched page past this many (approximate) tokens is cut. */
  max_content_tokens?: number;
  allowed_domains?: string[];
  blocked_domains?: string[];
}

/**
 * Not OpenAI's: OpenRouter's web fetch server tool (OpenRouter fetches the pages or PDFs the model
 * asks for, 0 to `max_uses` times). Only OpenRouter deployments take it (src/http/chat-pipeline.ts).
 * @see https://openrouter.ai/docs/guides/features/server-tools/web-fetch
 */
export interface OpenRouterWebFetchTool {
  type: typeof OPENROUTER_WEB_FETCH;
  parameters?: OpenRouterWebFetchConfig;
}

export const OPENROUTER_WEB_FETCH = 'openrouter:web_fetch';

/**
 * Not OpenAI's: OpenRouter's datetime server tool (the current date and time, in `timezone`, an
 * IANA name, UTC unless set). Free. Only OpenRouter deployments take it.
 * @see https://openrouter.ai/docs/guides/features/server-tools/datetime
 */
export interface OpenRouterDatetimeTool {
  type: typeof OPENROUTER_DATETIME;
  parameters?: { timezone?: string };
}

export const OPENROUTER_DATETIME = 'openrouter:datetime';

/** OpenRouter's server tools a chat request may name in `tools`: OpenRouter runs them, no other provider takes them. */
export type OpenRouterServerTool = OpenRouterWebSearchTool | OpenRouterWebFetchTool | OpenRouterDatetimeTool;
export const OPENROUTER_SERVER_TOOLS: ReadonlySet<string> = new Set<OpenRouterServerTool['type']>([OPENROUTER_WEB_SEARCH, OPENROUTER_WEB_FETCH, OPENROUTER_DATETIME]);

export type ToolChoice =
  | 'none'
  | 'auto'
  | 'required'
  | { type: 'function'; function: { name: string } }
  | { type: 'custom'; custom: { name: string } }
  | { type: 'allowed_tools'; allowed_tools: { mode: 'auto' | 'required'; tools: Array<Record<string, unknown>> } };

export type FunctionCallChoice = 'none' | 'auto' | { name: string };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null };
    };

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  seed?: number | null;
  user?: string;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  logit_bias?: Record<string, number> | null;
  response_format?: ResponseFormat;
  tools?: Array<ToolDefinition | CustomToolDefinition | OpenRouterServerTool>;
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  functions?: FunctionDefinition[];
  function_call?: FunctionCallChoice;
  metadata?: Record<string, string>;
  /** Not OpenAI's: Anthropic's automatic prompt caching (a breakpoint on the last cacheable block), for Claude. */
  cache_control?: unknown;
  /** Not OpenAI's: OpenRouter's model fallbacks, tried (and billed) after `model` (src/keys/openrouter-models.ts). Unchecked unless a key's allowlist reads it. */
  models?: unknown;
  /** Not OpenAI's: an OpenRouter preset, whose models, tools and parameters OpenRouter merges into the request. */
  preset?: unknown;
  /** Fields OpenAI adds later are forwarded to OpenAI-format providers untouched. */
  [field: string]: unknown;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /**
   * `cache_write_tokens` (of which `cache_write_1h_tokens` to a 1-hour cache): prompt tokens the
   * provider wrote to its prompt cache, billed above input. OpenAI reports `cache_write_tokens` itself
   * (GPT-5.6 and later bill them at 1.25x input), as does OpenRouter; the Anthropic translation sets
   * both from `cache_creation_input_tokens`. `cache_write_1h_tokens` is not an OpenAI field.
   */
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number; cache_write_tokens?: number; cache_write_1h_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number; audio_tokens?: number };
  /** Web searches (LiteLLM's field; not OpenAI's; OpenRouter's `server_tool_use_details` is read as it): billed per search, beside the tokens. */
  server_tool_use?: { web_search_requests: number };
  /*
   * The four fields below are the proxy's, for billing only: the Anthropic translation sets them
   * non-enumerable (src/openai/billing-fields.ts), so no answer or chunk
   * a client reads carries them (OpenAI's usage object has no such fields; strict clients refuse them).
   * A spread copy (`{ ...usage }`) drops them too: code that copies a usage sets them with billingField.
   */
  /**
   * What Claude's compaction iterations used (`usage.iterations[]` of type `compaction`, summed),
   * which Anthropic bills but leaves out of its top-level counts, so out of the fields above.
   * Set only when a compaction ran.
   */
  compaction?: CompactionUsage;
  /**
   * Claude's iterations that name their model (`message`, `fallback_message`, `advisor_message`),
   * summed per model and kind: an advisor's, or a fallback model's, are billed at that model's rates.
   */
  model_iterations?: ModelIterationUsage[];
  /** Claude's `usage.speed` when `fast` (billed at the model's fast-mode multiplier). */
  speed?: 'fast';
  /** Claude's `usage.inference_geo` when not `global` (US-only inference is billed at a multiplier). */
  inference_geo?: string;
}

/** Tokens Claude's iterations on one model used, and whether Anthropic's top-level counts include them. */
export interface ModelIterationUsage extends CompactionUsage {
  model: string;
  /**
   * `message` and `fallback_message` entries are inside the top-level counts; `advisor_message` ones
   * are not (nor do they run at the request's `speed`).
   */
  counted: boolean;
}

/** Tokens of Claude's compaction iterations, counted as CompletionUsage counts them (cache reads and writes inside the prompt). */
export interface CompactionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
}

/**
 * Claude's thinking as an answer carries it (LiteLLM's `thinking_blocks`), signed, to be replayed in the next turn.
 * Not LiteLLM's: `after_tool_call_id`, the id of the tool call the block came after in Claude's answer (absent for
 * blocks before any call), so that a replayed turn puts thinking between its calls again, in Claude's order.
 */
export type ThinkingBlock = ({ type: 'thinking'; thinking: string; signature: string } | { type: 'redacted_thinking'; data: string }) & { after_tool_call_id?: string };

export interface ResponseMessage {
  role: 'assistant';
  content: string | null;
  refusal?: string | null;
  tool_calls?: ToolCall[];
  function_call?: FunctionCall;
  /** Not OpenAI's: the model's reasoning text (DeepSeek's field, Claude's thinking). */
  reasoning_content?: string;
  /** Not OpenAI's: Claude's thinking blocks, signatures included. */
  thinking_blocks?: ThinkingBlock[];
  /** Web search citations, as OpenAI's search models give them. */
  annotations?: UrlCitation[];
  /** Not OpenAI's: the queries a web search ran (Gemini's `webSearchQueries`), for /v1/messages' `server_tool_use` block. */
  web_search_queries?: string[];
  /** Not OpenAI's: images the model generated (Gemini's image models), in OpenRouter's and LiteLLM's field. */
  images?: GeneratedImage[];
}

/** An image in an answer, as OpenRouter and LiteLLM give one: a `data:` URL with its media type. */
export interface GeneratedImage {
  type: 'image_url';
  image_url: { url: string };
}

/** A span of the answer's content and the web page it cites. */
export interface UrlCitation {
  type: 'url_citation';
  url_citation: { start_index: number; end_index: number; url: string; title: string };
}

export interface ChatCompletionChoice {
  index: number;
  message: ResponseMessage;
  finish_reason: FinishReason | null;
  logprobs: unknown;
  /** Not OpenAI's: the stop sequence the answer ended on, in vLLM's field (set from Claude's `stop_sequence`). */
  stop_reason?: string;
}

export interface ChatCompletionResponse {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage?: CompletionUsage;
  system_fingerprint?: string | null;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
  /** Not OpenAI's: see ToolCall.extra_content. */
  extra_content?: ToolCall['extra_content'];
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ToolCallDelta[];
  function_call?: { name?: string; arguments?: string };
  reasoning_content?: string;
  thinking_blocks?: ThinkingBlock[];
  annotations?: UrlCitation[];
  /** Not OpenAI's: see ResponseMessage.web_search_queries. */
  web_search_queries?: string[];
  /** Not OpenAI's: see ResponseMessage.images; each image whole in one delta. */
  images?: GeneratedImage[];
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: ChunkDelta;
  finish_reason: FinishReason | null;
  logprobs?: unknown;
  /** As ChatCompletionChoice's, on the finishing chunk. */
  stop_reason?: string;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  usage?: CompletionUsage | null;
  system_fingerprint?: string | null;
}

export interface ErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    /** Azure's detail of a content-filter refusal (`content_filter_result`), as Azure sends it. */
    innererror?: Record<string, unknown>;
  };
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelList {
  object: 'list';
  data: ModelObject[];
}
