// A provider's `usage` object as the proxy reads it from an OpenAI-format answer or stream: OpenAI's
// fields, plus the hosts that report part of it elsewhere. Checked afterwards like any report
// (src/usage/usage-check.ts).
// @see https://openrouter.ai/docs/api/api-reference/chat/create-a-chat-completion (ChatUsage: server_tool_use_details)
import { isRecord } from '../json/guards.js';
import type { CompletionUsage } from '../openai/types.js';

/**
 * Reasoning tokens counted beside `completion_tokens` rather than inside it, as xAI does: its
 * `total_tokens` is prompt + completion + reasoning (OpenAI's is prompt + completion, reasoning
 * included). Such tokens are billed as output, so they were missing from the bill (grok reasoning
 * answers cost several times what was charged). 0 when the report is OpenAI's kind.
 */
function reasoningBeside(value: Record<string, unknown>, usage: CompletionUsage): number {
  const details = value.completion_tokens_details;
  const reasoning = isRecord(details) ? details.reasoning_tokens : undefined;
  if (typeof reasoning !== 'number' || !(reasoning > 0) || typeof value.total_tokens !== 'number') return 0;
  return value.total_tokens === usage.prompt_tokens + usage.completion_tokens + reasoning ? reasoning : 0;
}

/** The `web_search_requests` of one of the fields below, or 0 when it is no positive number. */
function searchesIn(field: unknown): number {
  if (!isRecord(field)) return 0;
  const searches = field.web_search_requests;
  return typeof searches === 'number' && searches > 0 ? searches : 0;
}

/**
 * The web searches a usage report counts, 0 for none. LiteLLM's field, which OpenRouter's guides
 * show too, is `server_tool_use`; OpenRouter's chat answers and stream chunks carry them in
 * `server_tool_use_details` (its API schema's name). Both count the same searches: the larger is
 * taken, never their sum. Its `tool_calls_requested` counts every server tool call, searches
 * included, so it is not read. Unchecked (webSearchCost caps it).
 */
export function reportedSearches(usage: Record<string, unknown>): number {
  const details = usage.server_tool_use_details;
  const litellm = searchesIn(usage.server_tool_use);
  return details === undefined || details === null ? litellm : Math.max(litellm, searchesIn(details));
}

/**
 * The usage in `value`, or undefined when it has no token counts. DeepSeek reports the prompt
 * tokens its context cache served as `prompt_cache_hit_tokens` (and the rest as
 * `prompt_cache_miss_tokens`), not as OpenAI's `prompt_tokens_details.cached_tokens`: read there,
 * they are billed at the cache price the catalog gives, not the full input price (50× more for
 * deepseek-v4-pro). OpenAI's field wins when both are sent. xAI's reasoning tokens, outside its
 * `completion_tokens`, are added to them. OpenRouter's searches (`server_tool_use_details`) are
 * read as `server_tool_use`, which is what is billed. Copies only when it changes something.
 */
export function readReportedUsage(value: unknown): CompletionUsage | undefined {
  if (!isRecord(value) || typeof value.prompt_tokens !== 'number' || typeof value.completion_tokens !== 'number') return undefined;
  let usage = value as unknown as CompletionUsage;
  const beside = reasoningBeside(value, usage);
  if (beside > 0) usage = { ...usage, completion_tokens: usage.completion_tokens + beside };
  // One property read when the field is absent (every host but OpenRouter).
  if (value.server_tool_use_details !== undefined && value.server_tool_use_details !== null) {
    const searches = reportedSearches(value);
    if (searches > searchesIn(value.server_tool_use)) usage = { ...usage, server_tool_use: { web_search_requests: searches } };
  }
  const hits = value.prompt_cache_hit_tokens;
  if (typeof hits !== 'number' || usage.prompt_tokens_details?.cached_tokens !== undefined) return usage;
  return { ...usage, prompt_tokens_details: { ...usage.prompt_tokens_details, cached_tokens: hits } };
}
