// The usage fields only the proxy's billing reads (Claude's compaction and per-model iterations, fast
// mode, inference geography): kept on the usage object, hidden from every answer a client gets.
import type { CompletionUsage } from './types.js';

/** The usage fields only the proxy's billing reads (src/openai/types.ts CompletionUsage). */
type BillingFields = Pick<CompletionUsage, 'compaction' | 'model_iterations' | 'speed' | 'inference_geo'>;

/**
 * Sets a billing-only field non-enumerable: read like any other, but left out of JSON.stringify, so
 * the chat answer or chunk a client gets keeps OpenAI's usage object (no copy, nothing to strip).
 */
export function billingField<K extends keyof BillingFields>(usage: CompletionUsage, key: K, value: NonNullable<BillingFields[K]>): void {
  Object.defineProperty(usage, key, { value, enumerable: false, writable: true, configurable: true });
}


/**
 * Tokens a Claude call used beyond its top-level counts: its compaction iterations and its advisor's
 * (both billed, and counted against token limits, by Anthropic). Zero for every other call.
 */
export function tokensBeside(usage: CompletionUsage | undefined): { prompt: number; completion: number } {
  let prompt = 0;
  let completion = 0;
  const compaction = usage?.compaction;
  if (compaction !== undefined) {
    prompt += compaction.prompt_tokens;
    completion += compaction.completion_tokens;
  }
  const models = usage?.model_iterations;
  if (models !== undefined) {
    for (const part of models) {
      if (part.counted) continue;
      prompt += part.prompt_tokens;
      completion += part.completion_tokens;
    }
  }
  return { prompt, completion };
}
