// Anthropic Message → OpenAI chat completion: text blocks joined, tool_use blocks as tool calls (or the
// JSON-mode tool as content), stop reason through the shared map, cache-aware usage.
// @see https://docs.anthropic.com/en/api/messages#response-content
import { upstreamBadResponse } from '../../errors/gateway-error.js';
import type { ChatCompletionChoice, ChatCompletionResponse, CompactionUsage, CompletionUsage, ModelIterationUsage, ThinkingBlock, ToolCall, UrlCitation } from '../../openai/types.js';
import { assistantMessage } from '../assistant-message.js';
import { mapFinishReason } from '../map-finish-reason.js';
import { upstreamTokenCount as count } from '../token-count.js';
import type { ChatTarget } from '../provider.js';
import type { AnthropicMessageDeltaUsage, AnthropicUsage } from './anthropic-wire.js';
import { isAnthropicMessage, isRecord } from './anthropic-wire.js';
import { JSON_RESPONSE_TOOL } from './convert-tools.js';
import { placeThinking } from './thinking-order.js';
import { MAX_BILLED_SEARCHES } from '../../catalog/call-cost.js';
import { billingField } from '../../openai/billing-fields.js';

/**
 * Anthropic counts cached input apart from `input_tokens`; OpenAI's `prompt_tokens` includes it,
 * with the cache hits reported again as `cached_tokens`.
 */
export function convertAnthropicUsage(usage: AnthropicUsage): CompletionUsage {
  const cacheRead = count(usage.cache_read_input_tokens);
  const written = count(usage.cache_creation_input_tokens);
  const prompt = count(usage.input_tokens) + cacheRead + written;
  const completion = count(usage.output_tokens);
  const details: NonNullable<CompletionUsage['prompt_tokens_details']> = { cached_tokens: cacheRead };
  // Writes cost more than input (1.25x, or 2x for the 1-hour cache): kept apart so they are billed so.
  if (written > 0) {
    details.cache_write_tokens = written;
    const hour = Math.min(written, count(usage.cache_creation?.ephemeral_1h_input_tokens));
    if (hour > 0) details.cache_write_1h_tokens = hour;
  }
  const converted: CompletionUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: details };
  // Thinking is inside output_tokens, as OpenAI's reasoning_tokens are inside completion_tokens.
  const thinking = Math.min(completion, count(usage.output_tokens_details?.thinking_tokens));
  if (thinking > 0) converted.completion_tokens_details = { reasoning_tokens: thinking };
  // Capped: a provider's bad count must not bill thousands of dollars (Claude's max_uses is far lower).
  const searches = Math.min(MAX_BILLED_SEARCHES, count(usage.server_tool_use?.web_search_requests));
  if (searches > 0) converted.server_tool_use = { web_search_requests: searches };
  // Read only when present (one property read each on the common path).
  const iterations = usage.iterations;
  if (Array.isArray(iterations) && iterations.length > 0) {
    const compaction = compactionUsage(iterations);
    if (compaction !== undefined) billingField(converted, 'compaction', compaction);
    const models = modelIterations(iterations);
    if (models !== undefined) billingField(converted, 'model_iterations', models);
  }
  if (usage.speed === 'fast') billingField(converted, 'speed', 'fast');
  const geo = usage.inference_geo;
  if (typeof geo === 'string' && geo.length > 0 && geo !== 'global') billingField(converted, 'inference_geo', geo);
  return converted;
}

/** The iteration kinds that name the model that ran them, and whether the top-level counts include them. */
const MODEL_ITERATIONS: Readonly<Record<string, boolean>> = { message: true, fallback_message: true, advisor_message: false };

/**
 * Claude's iterations that name their model, summed per model and kind, undefined when none does.
 * An advisor's (`advisor_message`) are left out of the top-level counts and billed at the advisor
 * model's rates; a fallback model's (`fallback_message`, and the `message` entries of its tool loop)
 * are inside them but billed at that model's rates, not the requested one's.
 * @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool
 * @see https://platform.claude.com/docs/en/build-with-claude/refusals-and-fallback
 */
export function modelIterations(iterations: readonly unknown[]): ModelIterationUsage[] | undefined {
  let found: ModelIterationUsage[] | undefined;
  for (const iteration of iterations) {
    if (!isRecord(iteration) || typeof iteration.type !== 'string' || !Object.hasOwn(MODEL_ITERATIONS, iteration.type)) continue;
    const model = iteration.model;
    if (typeof model !== 'string' || model.length === 0) continue;
    const counted = MODEL_ITERATIONS[iteration.type] as boolean;
    found ??= [];
    let sum = found.find((known) => known.model === model && known.counted === counted);
    if (sum === undefined) {
      sum = { model, counted, prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0 };
      found.push(sum);
    }
    addIteration(sum, iteration);
  }
  return found;
}

/** Adds one iteration's counts, as CompletionUsage counts them (cache reads and writes inside the prompt). */
function addIteration(sum: CompactionUsage, iteration: Record<string, unknown>): void {
  const read = count(iteration.cache_read_input_tokens);
  const writes = count(iteration.cache_creation_input_tokens);
  const creation = iteration.cache_creation;
  sum.prompt_tokens += count(iteration.input_tokens) + read + writes;
  sum.completion_tokens += count(iteration.output_tokens);
  sum.cached_tokens += read;
  sum.cache_write_tokens += writes;
  if (isRecord(creation)) sum.cache_write_1h_tokens += Math.min(writes, count(creation.ephemeral_1h_input_tokens));
}

/**
 * The summed counts of the `compaction` entries of `usage.iterations`, undefined when there are none.
 * Anthropic leaves them out of the top-level counts, which are the sum of the other iterations, and
 * bills them: "To calculate total tokens consumed and billed for a request, sum across all entries in
 * the usage.iterations array." The summary is written by the request's own model, at its rates.
 * @see https://platform.claude.com/docs/en/build-with-claude/compaction#usage-and-billing
 */
export function compactionUsage(iterations: readonly unknown[]): CompactionUsage | undefined {
  let sum: CompactionUsage | undefined;
  for (const iteration of iterations) {
    if (!isRecord(iteration) || iteration.type !== 'compaction') continue;
    sum ??= { prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0 };
    addIteration(sum, iteration);
  }
  return sum;
}

/** Folds a `message_delta` usage into the running totals: every count it carries is cumulative. */
export function mergeAnthropicUsage(usage: AnthropicUsage, delta: AnthropicMessageDeltaUsage): AnthropicUsage {
  const merged: AnthropicUsage = { ...usage };
  if (typeof delta.output_tokens === 'number') merged.output_tokens = delta.output_tokens;
  if (typeof delta.input_tokens === 'number') merged.input_tokens = delta.input_tokens;
  if (typeof delta.cache_read_input_tokens === 'number') merged.cache_read_input_tokens = delta.cache_read_input_tokens;
  if (typeof delta.cache_creation_input_tokens === 'number') merged.cache_creation_input_tokens = delta.cache_creation_input_tokens;
  if (isRecord(delta.output_tokens_details)) merged.output_tokens_details = delta.output_tokens_details;
  if (isRecord(delta.server_tool_use)) merged.server_tool_use = delta.server_tool_use;
  if (Array.isArray(delta.iterations)) merged.iterations = delta.iterations;
  return merged;
}

/**
 * A text block's web search citations as OpenAI's `url_citation` annotations over `start`..`end` of
 * the answer's content (the span of the block they came with). Other citation kinds (document
 * locations) have no URL and no OpenAI field.
 */
export function urlCitations(citations: unknown, start: number, end: number, into: UrlCitation[]): void {
  if (!Array.isArray(citations)) return;
  for (const citation of citations) {
    if (!isRecord(citation) || citation.type !== 'web_search_result_location' || typeof citation.url !== 'string') continue;
    const title = typeof citation.title === 'string' ? citation.title : '';
    into.push({ type: 'url_citation', url_citation: { start_index: start, end_index: end, url: citation.url, title } });
  }
}

/** Claude's `stop_sequence` when it stopped on one, for the chat form's `stop_reason` (vLLM's field). */
export function matchedStopSequence(stopReason: unknown, stopSequence: unknown): string | undefined {
  return stopReason === 'stop_sequence' && typeof stopSequence === 'string' && stopSequence.length > 0 ? stopSequence : undefined;
}

/** Tool input is an object on the wire; OpenAI carries it as a JSON string. */
export function stringifyToolInput(input: unknown): string {
  return JSON.stringify(input === undefined || input === null ? {} : input);
}

export function parseAnthropicResponse(body: unknown, target: ChatTarget): ChatCompletionResponse {
  if (!isAnthropicMessage(body)) throw upstreamBadResponse(target.provider, 'an answer that is not an Anthropic message');
  let text = '';
  let sawText = false;
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  const annotations: UrlCitation[] = [];
  const legacy = target.legacyFunctions === true;
  for (const block of body.content) {
    // The call the block came after, for the replay to put it back there (legacy answers show no call ids).
    const after = legacy ? undefined : toolCalls[toolCalls.length - 1]?.id;
    if (block.type === 'thinking' && isRecord(block) && typeof block.thinking === 'string' && typeof block.signature === 'string') {
      thinking.push(placeThinking({ type: 'thinking', thinking: block.thinking, signature: block.signature }, after));
    } else if (block.type === 'redacted_thinking' && isRecord(block) && typeof block.data === 'string') {
      thinking.push(placeThinking({ type: 'redacted_thinking', data: block.data }, after));
    } else if (block.type === 'text' && isRecord(block) && typeof block.text === 'string') {
      urlCitations(block.citations, text.length, text.length + block.text.length, annotations);
      text += block.text;
      sawText = true;
    } else if (block.type === 'tool_use' && isRecord(block) && typeof block.id === 'string' && typeof block.name === 'string') {
      if (block.name === JSON_RESPONSE_TOOL) {
        // JSON mode: the forced tool's input is the answer.
        text += stringifyToolInput(block.input);
        sawText = true;
      } else {
        toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: stringifyToolInput(block.input) } });
      }
    }
    // Server-tool blocks have no OpenAI field.
  }

  const message = assistantMessage(text, sawText, toolCalls, legacy);
  if (thinking.length > 0) {
    // The reasoning as DeepSeek's field carries it, and the blocks themselves to replay (Claude checks their signatures).
    message.reasoning_content = thinking.map((block) => (block.type === 'thinking' ? block.thinking : '')).join('');
    message.thinking_blocks = thinking;
  }
  if (annotations.length > 0) message.annotations = annotations;
  const choice: ChatCompletionChoice = {
    index: 0,
    message,
    finish_reason: mapFinishReason('anthropic', body.stop_reason, { hasToolCalls: toolCalls.length > 0, legacyFunctions: legacy }),
    logprobs: null,
  };
  // Which stop sequence ended it: /v1/messages reads it back as `stop_sequence` when Claude was reached through the chat form.
  const matched = matchedStopSequence(body.stop_reason, body.stop_sequence);
  if (matched !== undefined) choice.stop_reason = matched;

  return {
    id: body.id.length > 0 ? body.id : `chatcmpl-${target.requestId}`,
    object: 'chat.completion',
    created: target.created,
    model: target.model,
    choices: [choice],
    usage: convertAnthropicUsage(body.usage),
  };
}

/**
 * Anthropic answers an account out of credit with 400 `invalid_request_error` "Your credit balance
 * is too low to access the Anthropic API…": the operator's billing, read as the 402 other providers
 * send for it (502 `upstream_billing_error`, the deployment's circuit opened, the next one tried),
 * not the client's bad request.
 */
export function parseAnthropicErrorStatus(status: number, body: unknown): number | undefined {
  if (status !== 400 || !isRecord(body) || !isRecord(body.error)) return undefined;
  const { message } = body.error;
  return typeof message === 'string' && CREDIT_TOO_LOW.test(message) ? 402 : undefined;
}

const CREDIT_TOO_LOW = /credit balance is too low/i;

export function parseAnthropicErrorMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  const error = body.error;
  if (isRecord(error) && typeof error.message === 'string') {
    return typeof error.type === 'string' ? `${error.type}: ${error.message}` : error.message;
  }
  return undefined;
}
