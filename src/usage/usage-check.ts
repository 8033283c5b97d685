// The provider's usage report, checked before it is billed (RELIABILITY 4b#13): a count that is
// missing, not a number, negative, or more than the call could have produced is replaced by the
// local estimate and the record is flagged `estimated`; a cached count outside the prompt is dropped
// (the prompt is billed as uncached). A provider bug must neither make calls free
// nor drain a budget (1e300 tokens at catalog prices), and a negative count must never credit one.
import type { CatalogEntry } from '../catalog/catalog-types.js';
import { billingField } from '../openai/billing-fields.js';
import type { ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import { roughCounter } from './token-estimator.js';

/** Past these no call is real, whatever the catalog knows of the model. */
const MAX_PROMPT_TOKENS = 100_000_000;
const MAX_COMPLETION_TOKENS = 10_000_000;

/** A report replaced, in part or whole, by the local estimate (the record is flagged `estimated`). */
export interface CheckedUsage {
  usage: CompletionUsage;
  estimated: true;
  /** What was wrong with the report, for the log line. */
  problem: string;
}

/**
 * A whole, non-negative count, or undefined. A fraction is no count either: one that passed (rounded
 * only when another count failed) was billed, and stored, as the fraction, and a string `"12"` passed
 * the 1-hour write check by coercion and was stored as the string.
 */
function count(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
}

/** The most output a call may bill: max_tokens (or the catalog's output limit) for each of n choices, with a little slack. */
function completionLimit(chat: ChatCompletionRequest, entry: CatalogEntry | undefined): number {
  const asked = chat.max_completion_tokens ?? chat.max_tokens;
  const perChoice = typeof asked === 'number' && asked > 0 ? asked : entry?.max_output_tokens;
  if (typeof perChoice !== 'number' || perChoice <= 0) return MAX_COMPLETION_TOKENS;
  const n = typeof chat.n === 'number' && chat.n >= 1 ? chat.n : 1;
  const limit = perChoice * n;
  // Some providers count a token or two of framing past the limit; none count 10% more.
  return Math.min(MAX_COMPLETION_TOKENS, limit + Math.max(64, Math.ceil(limit / 10)));
}

/** The most prompt a call (or one embeddings input) may bill: the model's window when the catalog knows it, with slack for other tokenizers. */
export function promptLimit(entry: CatalogEntry | undefined): number {
  const window = entry?.context_length;
  return typeof window === 'number' && window > 0 ? Math.min(MAX_PROMPT_TOKENS, Math.ceil(window * 1.25) + 1_000) : MAX_PROMPT_TOKENS;
}

/** The local estimate of a chat request's prompt, without the tokenizer (see roughCounter). */
export function estimatePromptTokens(chat: ChatCompletionRequest): number {
  return roughCounter.request(chat);
}

/**
 * Checks `reported` against what `chat` could have cost on a model of `entry`: undefined when it
 * stands as reported (no allocation: the path of nearly every call). Each count that fails
 * is replaced by its estimate: the prompt from the request, the completion by `completion(source)`
 * from what was answered (called only when needed). Cache reads and writes survive only inside a prompt
 * count that does.
 */
export function checkUsage<S>(
  reported: CompletionUsage | undefined,
  chat: ChatCompletionRequest,
  entry: CatalogEntry | undefined,
  completion: (source: S) => number,
  source: S,
): CheckedUsage | undefined {
  if (reported === undefined) {
    const prompt = estimatePromptTokens(chat);
    const output = completion(source);
    return { usage: { prompt_tokens: prompt, completion_tokens: output, total_tokens: prompt + output }, estimated: true, problem: 'no usage reported' };
  }
  // The common case allocates nothing: two reads, two comparisons each.
  let problem: string | undefined;
  let prompt = count(reported.prompt_tokens);
  if (prompt === undefined) problem = `prompt_tokens ${String(reported.prompt_tokens).slice(0, 32)}`;
  else if (prompt > promptLimit(entry)) {
    problem = `prompt_tokens ${prompt} over the model's window`;
    prompt = undefined;
  }
  let output = count(reported.completion_tokens);
  if (output === undefined) problem = `${problem === undefined ? '' : `${problem}, `}completion_tokens ${String(reported.completion_tokens).slice(0, 32)}`;
  else if (output > completionLimit(chat, entry)) {
    problem = `${problem === undefined ? '' : `${problem}, `}completion_tokens ${output} over max_tokens × n`;
    output = undefined;
  }
  // Cached tokens are billed at their own (lower) price and taken off the prompt: a count that is no
  // count, or more than the prompt, would credit a budget (negative) or bill tokens never sent.
  const reportedCached = reported.prompt_tokens_details?.cached_tokens;
  if (reportedCached !== undefined && reportedCached !== null && prompt !== undefined) {
    const cached = count(reportedCached);
    if (cached === undefined || cached > prompt) problem = `${problem === undefined ? '' : `${problem}, `}cached_tokens ${String(reportedCached).slice(0, 32)} not within prompt_tokens ${prompt}`;
  }
  // Cache writes (OpenAI's and OpenRouter's `cache_write_tokens`, or the Anthropic translation's own
  // counts) are taken off the prompt too: each prompt token is billed once, as plain, read or written
  // input (OpenAI: "input tokens use the uncached-input, cached-input, or cache-write rate").
  const reportedWrites = reported.prompt_tokens_details?.cache_write_tokens;
  if (reportedWrites !== undefined && reportedWrites !== null && prompt !== undefined) {
    const writes = count(reportedWrites);
    const hour = count(reported.prompt_tokens_details?.cache_write_1h_tokens ?? 0);
    if (writes === undefined || writes + (count(reportedCached) ?? 0) > prompt || hour === undefined || hour > writes) {
      problem = `${problem === undefined ? '' : `${problem}, `}cache_write_tokens ${String(reportedWrites).slice(0, 32)} not within prompt_tokens ${prompt}`;
    }
  }
  if (problem === undefined) return undefined;
  const promptTokens = prompt ?? estimatePromptTokens(chat);
  const completionTokens = output ?? completion(source);
  const usage: CompletionUsage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const cached = prompt === undefined ? undefined : count(reported.prompt_tokens_details?.cached_tokens);
  if (cached !== undefined && cached <= promptTokens) {
    const details: NonNullable<CompletionUsage['prompt_tokens_details']> = { cached_tokens: cached };
    // Writes that stand keep their own (higher) rate when another count failed: billed as plain input they would be under-billed.
    const writes = count(reportedWrites);
    const hour = count(reported.prompt_tokens_details?.cache_write_1h_tokens ?? 0);
    if (writes !== undefined && writes > 0 && writes + cached <= promptTokens && hour !== undefined && hour <= writes) {
      details.cache_write_tokens = writes;
      if (hour > 0) details.cache_write_1h_tokens = hour;
    }
    usage.prompt_tokens_details = details;
  }
  // What the counts above do not cover stands: the web searches run (billed per search, capped by
  // webSearchCost), Claude's compaction and per-model iterations, the speed and geography it ran at.
  if (reported.server_tool_use !== undefined) usage.server_tool_use = reported.server_tool_use;
  if (reported.compaction !== undefined) billingField(usage, 'compaction', reported.compaction);
  if (reported.model_iterations !== undefined) billingField(usage, 'model_iterations', reported.model_iterations);
  if (reported.speed !== undefined) billingField(usage, 'speed', reported.speed);
  if (reported.inference_geo !== undefined) billingField(usage, 'inference_geo', reported.inference_geo);
  return { usage, estimated: true, problem };
}

/**
 * The length of a value's JSON. JSON.parse takes any depth but JSON.stringify recurses: an upstream
 * answer nested some thousands deep overflows the stack, and an estimate must not throw (its caller
 * is writing the usage record). Such a value counts as nothing; the answer's bytes bound it anyway.
 */
function jsonLength(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}

function blockChars(blocks: readonly unknown[]): number {
  let chars = 0;
  for (const block of blocks) {
    if (block === null || typeof block !== 'object') continue;
    const { text, thinking, input } = block as Record<string, unknown>;
    if (typeof text === 'string') chars += text.length;
    if (typeof thinking === 'string') chars += thinking.length;
    if (input !== undefined) chars += jsonLength(input);
  }
  return chars;
}

/**
 * Output tokens of a whole answer, estimated from its text: a chat completion (content, refusal,
 * tool and function calls of every choice), a legacy completion (`text`) or an Anthropic message
 * (its blocks). Parsed here, on the rare path where the provider's own count is unusable.
 */
export function estimateAnswerTokens(body: string | Buffer): number {
  let answer: unknown;
  try {
    answer = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return Math.ceil(body.length / 4);
  }
  if (answer === null || typeof answer !== 'object') return 0;
  const { choices, content } = answer as { choices?: unknown; content?: unknown };
  let chars = 0;
  if (Array.isArray(content)) chars += blockChars(content as unknown[]);
  if (Array.isArray(choices)) {
    for (const choice of choices as unknown[]) {
      if (choice === null || typeof choice !== 'object') continue;
      const { message, text } = choice as { message?: unknown; text?: unknown };
      if (typeof text === 'string') chars += text.length;
      if (message === null || typeof message !== 'object') continue;
      const { content: said, refusal, tool_calls: calls, function_call: call } = message as Record<string, unknown>;
      if (typeof said === 'string') chars += said.length;
      if (typeof refusal === 'string') chars += refusal.length;
      if (calls !== undefined) chars += jsonLength(calls);
      if (call !== undefined) chars += jsonLength(call);
    }
  }
  return Math.ceil(chars / 4);
}

/** When each provider's usage was last complained about: one log line a minute each, not one per call. */
const lastWarned = new Map<string, number>();
const WARN_EVERY_MS = 60_000;

/** Whether a usage problem of `provider` should be logged now (the row is flagged either way). */
export function shouldWarnUsage(provider: string, now = Date.now()): boolean {
  const last = lastWarned.get(provider);
  if (last !== undefined && now - last < WARN_EVERY_MS) return false;
  lastWarned.set(provider, now);
  return true;
}
