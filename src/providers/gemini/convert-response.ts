// Gemini GenerateContentResponse → OpenAI chat completion: one choice per candidate, text parts joined
// (thought summaries as `reasoning_content`), generated images as `images` data URLs (OpenRouter's field),
// function calls as tool calls with ids the proxy makes up, finish reason
// through the shared map, usage with cached and thinking tokens, log probabilities when asked for,
// Google Search grounding as `url_citation` annotations, the queries it ran and a search count.
// @see https://ai.google.dev/api/generate-content#generatecontentresponse
import { failedToolCallError, upstreamBadResponse } from '../../errors/gateway-error.js';
import type { ChatCompletionChoice, ChatCompletionResponse, CompletionUsage, GeneratedImage, ToolCall } from '../../openai/types.js';
import { assistantMessage } from '../assistant-message.js';
import { failedToolCall, mapFinishReason, PROMPT_BLOCKED_FINISH_REASON } from '../map-finish-reason.js';
import { upstreamTokenCount as count } from '../token-count.js';
import type { ChatTarget } from '../provider.js';
import type { GeminiCandidate, GeminiLogprobsCandidate, GeminiLogprobsResult, GeminiPart, GeminiUsageMetadata } from './gemini-wire.js';
import { isGeminiResponse, isRecord } from './gemini-wire.js';
import { groundingAnnotations, groundingQueries, groundingSearches } from './grounding.js';

/**
 * Thinking tokens are billed as output, so they count in `completion_tokens` (as OpenAI counts
 * reasoning); tool-use prompt tokens (server tools) count as prompt, so the totals agree with Gemini's.
 */
export function convertGeminiUsage(usage: GeminiUsageMetadata, searches = 0): CompletionUsage {
  const prompt = count(usage.promptTokenCount) + count(usage.toolUsePromptTokenCount);
  const thoughts = count(usage.thoughtsTokenCount);
  const completion = count(usage.candidatesTokenCount) + thoughts;
  const converted: CompletionUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: count(usage.cachedContentTokenCount) },
  };
  if (usage.thoughtsTokenCount !== undefined) converted.completion_tokens_details = { reasoning_tokens: thoughts };
  // Google Search queries, billed beside the tokens (src/catalog/call-cost.ts: webSearchCost).
  if (searches > 0) converted.server_tool_use = { web_search_requests: searches };
  return converted;
}

/**
 * Gemini has no call ids, so the proxy makes them from the request id: the same in the answer and
 * the stream, and unique across a conversation because every turn is a new request.
 */
export function geminiToolCallId(requestId: string, candidate: number, call: number): string {
  return candidate === 0 ? `call_${requestId}_${call}` : `call_${requestId}_${candidate}_${call}`;
}

export function stringifyArgs(args: unknown): string {
  return JSON.stringify(isRecord(args) ? args : {});
}

/** The parts a candidate carries, with anything not an object left out. */
export function candidateParts(candidate: GeminiCandidate): GeminiPart[] {
  const parts = candidate.content?.parts;
  return Array.isArray(parts) ? parts.filter(isRecord) : [];
}

/** A part the client sees as text: thought summaries are the model's scratchpad, not its answer. */
export function visibleText(part: GeminiPart): string | undefined {
  return typeof part.text === 'string' && part.thought !== true ? part.text : undefined;
}

/** A thought summary's text (sent only when the request asked `include_thoughts`): the answer's `reasoning_content`. */
export function thoughtText(part: GeminiPart): string | undefined {
  return typeof part.text === 'string' && part.thought === true ? part.text : undefined;
}

/**
 * A generated image (an image model's `inlineData` part) as OpenRouter's and LiteLLM's `images` entry;
 * undefined for any other part. An interim image of the model's thinking (`thought: true`) is no answer.
 * @see https://ai.google.dev/gemini-api/docs/image-generation
 */
export function generatedImage(part: GeminiPart): GeneratedImage | undefined {
  const blob = part.inlineData;
  if (part.thought === true || !isRecord(blob) || typeof blob.mimeType !== 'string' || !blob.mimeType.startsWith('image/') || typeof blob.data !== 'string') return undefined;
  return { type: 'image_url', image_url: { url: `data:${blob.mimeType};base64,${blob.data}` } };
}

export interface OpenAiTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

function tokenEntry(candidate: GeminiLogprobsCandidate | undefined): { token: string; logprob: number; bytes: number[] } {
  const token = typeof candidate?.token === 'string' ? candidate.token : '';
  return { token, logprob: typeof candidate?.logProbability === 'number' ? candidate.logProbability : 0, bytes: [...Buffer.from(token, 'utf8')] };
}

/** `logprobsResult` → OpenAI's `logprobs.content`, one entry per chosen token. */
export function convertGeminiLogprobs(result: GeminiLogprobsResult | undefined): { content: OpenAiTokenLogprob[]; refusal: null } | null {
  if (!isRecord(result) || !Array.isArray(result.chosenCandidates)) return null;
  const top = Array.isArray(result.topCandidates) ? result.topCandidates : [];
  const content = result.chosenCandidates.map((chosen, position) => {
    const alternatives = top[position]?.candidates;
    return { ...tokenEntry(chosen), top_logprobs: Array.isArray(alternatives) ? alternatives.map(tokenEntry) : [] };
  });
  return { content, refusal: null };
}

function convertCandidate(candidate: GeminiCandidate, position: number, target: ChatTarget): ChatCompletionChoice {
  const index = typeof candidate.index === 'number' ? candidate.index : position;
  let text = '';
  let sawText = false;
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  const images: GeneratedImage[] = [];
  for (const part of candidateParts(candidate)) {
    const partText = visibleText(part);
    if (partText !== undefined) {
      text += partText;
      sawText = true;
    } else if (part.thought === true) {
      reasoning += thoughtText(part) ?? '';
    } else if (isRecord(part.functionCall) && typeof part.functionCall.name === 'string') {
      toolCalls.push({
        id: geminiToolCallId(target.requestId, index, toolCalls.length),
        type: 'function',
        function: { name: part.functionCall.name, arguments: stringifyArgs(part.functionCall.args) },
        // Gemini 3 needs it back with the call in the next turn: in Google's own OpenAI-compatible field.
        ...(typeof part.thoughtSignature === 'string' && part.thoughtSignature.length > 0 ? { extra_content: { google: { thought_signature: part.thoughtSignature } } } : {}),
      });
    } else {
      const image = generatedImage(part);
      if (image !== undefined) images.push(image);
    }
  }
  const failed = failedToolCall(candidate.finishReason, text.length > 0 || toolCalls.length > 0 || images.length > 0);
  if (failed !== undefined) throw failedToolCallError(target.provider, failed);
  const legacy = target.legacyFunctions === true;
  const message = assistantMessage(text, sawText, toolCalls, legacy);
  if (reasoning.length > 0) message.reasoning_content = reasoning;
  if (images.length > 0) message.images = images;
  if (candidate.groundingMetadata !== undefined) {
    const annotations = groundingAnnotations(candidate.groundingMetadata, text);
    if (annotations.length > 0) message.annotations = annotations;
    const queries = groundingQueries(candidate.groundingMetadata);
    if (queries.length > 0) message.web_search_queries = queries;
  }
  return {
    index,
    message,
    finish_reason: mapFinishReason('gemini', candidate.finishReason, { hasToolCalls: toolCalls.length > 0, legacyFunctions: legacy }),
    logprobs: convertGeminiLogprobs(candidate.logprobsResult),
  };
}

export function parseGeminiResponse(body: unknown, target: ChatTarget): ChatCompletionResponse {
  if (!isGeminiResponse(body)) throw upstreamBadResponse(target.provider, 'an answer that is not a Gemini GenerateContentResponse');
  const candidates = body.candidates ?? [];
  let choices: ChatCompletionChoice[];
  if (candidates.length > 0) {
    choices = candidates.map((candidate, position) => convertCandidate(candidate, position, target)).sort((a, b) => a.index - b.index);
    // Two candidates with one index would be two choices a client merges into one.
    if (choices.some((choice, position) => position > 0 && choices[position - 1]?.index === choice.index)) {
      throw upstreamBadResponse(target.provider, 'an answer with two candidates of the same index');
    }
  } else if (typeof body.promptFeedback?.blockReason === 'string') {
    // The prompt itself was blocked: no candidates at all, so the answer is empty and filtered.
    choices = [{ index: 0, message: { role: 'assistant', content: '' }, finish_reason: PROMPT_BLOCKED_FINISH_REASON, logprobs: null }];
  } else {
    throw upstreamBadResponse(target.provider, 'an answer with no candidates');
  }
  const response: ChatCompletionResponse = {
    id: typeof body.responseId === 'string' && body.responseId.length > 0 ? body.responseId : `chatcmpl-${target.requestId}`,
    object: 'chat.completion',
    created: target.created,
    model: target.model,
    choices,
  };
  if (body.usageMetadata !== undefined) response.usage = convertGeminiUsage(body.usageMetadata, candidates.reduce((sum, candidate) => sum + groundingSearches(candidate.groundingMetadata), 0));
  return response;
}

/**
 * The google.rpc.Status of an error body: `{"error": {...}}`, or that object as the one item of a
 * list, as Google's frontend answers a streaming method (and a proxy may wrap any answer).
 */
export function geminiErrorStatus(body: unknown): Record<string, unknown> | undefined {
  const value = Array.isArray(body) ? body[0] : body;
  return isRecord(value) && isRecord(value.error) ? value.error : undefined;
}

export function parseGeminiErrorMessage(body: unknown): string | undefined {
  const error = geminiErrorStatus(body);
  if (error === undefined || typeof error.message !== 'string') return undefined;
  return typeof error.status === 'string' ? `${error.status}: ${error.message}` : error.message;
}

/**
 * A 429's `google.rpc.RetryInfo` detail: `{"@type": ".../google.rpc.RetryInfo", "retryDelay": "37s"}`.
 * @see https://ai.google.dev/gemini-api/docs/rate-limits
 */
export function parseGeminiRetryDelay(body: unknown): number | undefined {
  const details = geminiErrorStatus(body)?.details;
  if (!Array.isArray(details)) return undefined;
  for (const detail of details) {
    if (detail === null || typeof detail !== 'object') continue;
    const delay = (detail as { retryDelay?: unknown }).retryDelay;
    if (typeof delay !== 'string') continue;
    const match = /^(\d+(?:\.\d+)?)s$/.exec(delay);
    if (match !== null) return Math.round(Number(match[1]) * 1000);
  }
  return undefined;
}
