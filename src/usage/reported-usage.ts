// A provider's `usage` object as the proxy reads it from an OpenAI-format answer or stream: OpenAI's
// fields, plus the one host that reports its prompt cache elsewhere. Checked afterwards like any
// report (src/usage/usage-check.ts).
import { isRecord } from '../json/guards.js';
import type { CompletionUsage } from '../openai/types.js';

/**
 * The usage in `value`, or undefined when it has no token counts. DeepSeek reports the prompt
 * tokens its context cache served as `prompt_cache_hit_tokens` (and the rest as
 * `prompt_cache_miss_tokens`), not as OpenAI's `prompt_tokens_details.cached_tokens`: read there,
 * they are billed at the cache price the catalog gives, not the full input price (50× more for
 * deepseek-v4-pro). OpenAI's field wins when both are sent. Copies only when it adds the field.
 */
export function readReportedUsage(value: unknown): CompletionUsage | undefined {
  if (!isRecord(value) || typeof value.prompt_tokens !== 'number' || typeof value.completion_tokens !== 'number') return undefined;
  const usage = value as unknown as CompletionUsage;
  const hits = value.prompt_cache_hit_tokens;
  if (typeof hits !== 'number' || usage.prompt_tokens_details?.cached_tokens !== undefined) return usage;
  return { ...usage, prompt_tokens_details: { ...usage.prompt_tokens_details, cached_tokens: hits } };
}
