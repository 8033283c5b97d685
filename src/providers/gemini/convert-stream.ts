// Gemini `streamGenerateContent?alt=sse` events → OpenAI chat completion chunks. Each event is a partial
// GenerateContentResponse; a candidate ends with `finishReason`, and a stream where one never does was
// cut off. Function calls arrive whole and are sent as a name delta, then one arguments fragment.
// @see https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent
import { failedToolCallError, upstreamError, upstreamStreamError, type GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChunkDelta, FinishReason } from '../../openai/types.js';
import type { SseEvent } from '../../streaming/sse-decoder.js';
import { failedToolCall, mapFinishReason, PROMPT_BLOCKED_FINISH_REASON } from '../map-finish-reason.js';
import type { ChatTarget } from '../provider.js';
import { MAX_RETRY_AFTER_MS } from '../../upstream/upstream-client.js';
import { candidateParts, convertGeminiLogprobs, convertGeminiUsage, generatedImage, geminiToolCallId, parseGeminiRetryDelay, stringifyArgs, thoughtText, visibleText } from './convert-response.js';
import type { GeminiUsageMetadata } from './gemini-wire.js';
import { isGeminiResponse, isRecord } from './gemini-wire.js';
import { groundingAnnotations, groundingQueries, groundingSearches } from './grounding.js';

/** An error payload in the stream (`{"error": {code, message, status}}`) → the status table's error. */
export function convertGeminiStreamError(data: Record<string, unknown>, provider: string): GatewayError {
  const error = isRecord(data.error) ? data.error : {};
  // Codecs cannot reach the redactor; the message is cut short.
  const message = typeof error.message === 'string' ? error.message.slice(0, 500) : 'an error event';
  const detail = typeof error.status === 'string' ? `${error.status}: ${message}` : message;
  const code = error.code;
  if (typeof code !== 'number' || code < 400 || code > 599) return upstreamStreamError(provider, detail);
  // A RESOURCE_EXHAUSTED event states its wait as an HTTP 429 does: it cools the deployment and becomes Retry-After.
  const retryAfterMs = parseGeminiRetryDelay(data);
  return upstreamError(code, provider, detail, retryAfterMs === undefined ? undefined : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

interface ChoiceState {
  toolCalls: number;
  finished: boolean;
  /** Some text (or a generated image) was sent. */
  texted: boolean;
  /** The text sent so far, kept only when the request turned on web search (its citations span it). */
  text: string;
  /** Google Search queries the choice ran, from its grounding metadata (the latest event's: each repeats the whole). */
  searches: number;
  /** Citations and queries already streamed: a later event's metadata repeats them, and a client adds up the deltas. */
  sent: Set<string>;
}

export async function* convertGeminiStream(events: AsyncIterable<SseEvent>, target: ChatTarget): AsyncGenerator<ChatCompletionChunk> {
  const legacy = target.legacyFunctions === true;
  const grounded = target.webSearch === true;
  let id = `chatcmpl-${target.requestId}`;
  let first = true;
  let usage: GeminiUsageMetadata | undefined;
  let promptBlocked = false;
  const choices = new Map<number, ChoiceState>();

  const chunk = (index: number, delta: ChunkDelta, finishReason: FinishReason | null = null, logprobs: unknown = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created: target.created,
    model: target.model,
    choices: [{ index, delta, finish_reason: finishReason, logprobs }],
    ...(target.includeUsage ? { usage: null } : {}),
  });
  /** The choice's state; its first sight is the role chunk. */
  function* open(index: number): Generator<ChatCompletionChunk, ChoiceState> {
    let state = choices.get(index);
    if (state === undefined) {
      state = { toolCalls: 0, finished: false, texted: false, text: '', searches: 0, sent: new Set() };
      choices.set(index, state);
      yield chunk(index, { role: 'assistant', content: '' });
    }
    return state;
  }

  for await (const event of events) {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      throw upstreamStreamError(target.provider, 'an event that is not JSON');
    }
    if (isRecord(data) && data.error !== undefined) throw convertGeminiStreamError(data, target.provider);
    if (!isGeminiResponse(data)) throw upstreamStreamError(target.provider, 'an event that is not a GenerateContentResponse');
    if (first) {
      // Every chunk keeps the id the first one had.
      if (typeof data.responseId === 'string' && data.responseId.length > 0) id = data.responseId;
      first = false;
    }
    if (data.usageMetadata !== undefined) usage = data.usageMetadata;
    const candidates = data.candidates ?? [];

    if (candidates.length === 0 && typeof data.promptFeedback?.blockReason === 'string' && !promptBlocked) {
      promptBlocked = true;
      const state = yield* open(0);
      state.finished = true;
      yield chunk(0, {}, PROMPT_BLOCKED_FINISH_REASON);
      continue;
    }

    for (const [position, candidate] of candidates.entries()) {
      const index = typeof candidate.index === 'number' ? candidate.index : position;
      const state = yield* open(index);
      if (state.finished) continue;
      const logprobs = convertGeminiLogprobs(candidate.logprobsResult);
      for (const part of candidateParts(candidate)) {
        const text = visibleText(part);
        if (text !== undefined) {
          if (text.length > 0) {
            state.texted = true;
            if (grounded) state.text += text;
            yield chunk(index, { content: text }, null, logprobs);
          }
          continue;
        }
        const thought = thoughtText(part);
        if (thought !== undefined) {
          if (thought.length > 0) yield chunk(index, { reasoning_content: thought });
          continue;
        }
        const image = generatedImage(part);
        if (image !== undefined) {
          // Each image arrives whole in one event: sent whole, in one delta, as OpenRouter streams them.
          state.texted = true;
          yield chunk(index, { images: [image] });
          continue;
        }
        const call = part.functionCall;
        if (!isRecord(call) || typeof call.name !== 'string') continue;
        const args = stringifyArgs(call.args);
        if (legacy) {
          // The legacy format has room for one function call per answer.
          if (state.toolCalls > 0) continue;
          state.toolCalls++;
          yield chunk(index, { function_call: { name: call.name, arguments: '' } });
          yield chunk(index, { function_call: { arguments: args } });
          continue;
        }
        const callIndex = state.toolCalls++;
        const signature = typeof part.thoughtSignature === 'string' && part.thoughtSignature.length > 0 ? { extra_content: { google: { thought_signature: part.thoughtSignature } } } : {};
        yield chunk(index, { tool_calls: [{ index: callIndex, id: geminiToolCallId(target.requestId, index, callIndex), type: 'function', function: { name: call.name, arguments: '' }, ...signature }] });
        yield chunk(index, { tool_calls: [{ index: callIndex, function: { arguments: args } }] });
      }
      if (candidate.groundingMetadata !== undefined) {
        state.searches = groundingSearches(candidate.groundingMetadata);
        const sent = state.sent;
        const fresh = (key: string): boolean => !sent.has(key) && sent.add(key) !== undefined;
        const annotations = groundingAnnotations(candidate.groundingMetadata, state.text).filter((cited) =>
          fresh(`c ${cited.url_citation.start_index} ${cited.url_citation.end_index} ${cited.url_citation.url}`),
        );
        const queries = groundingQueries(candidate.groundingMetadata).filter((query) => fresh(`q ${query}`));
        // OpenAI's search models stream `annotations` in a delta of their own too; the queries go with them.
        if (annotations.length > 0 || queries.length > 0) {
          yield chunk(index, { ...(annotations.length > 0 ? { annotations } : {}), ...(queries.length > 0 ? { web_search_queries: queries } : {}) });
        }
      }
      if (typeof candidate.finishReason === 'string' && candidate.finishReason.length > 0) {
        // Before any content the stream is still held: the failure moves the call to another try.
        const failed = failedToolCall(candidate.finishReason, state.texted || state.toolCalls > 0);
        if (failed !== undefined) throw failedToolCallError(target.provider, failed);
        state.finished = true;
        yield chunk(index, {}, mapFinishReason('gemini', candidate.finishReason, { hasToolCalls: state.toolCalls > 0, legacyFunctions: legacy }));
      }
    }
  }

  if (choices.size === 0) throw upstreamStreamError(target.provider, 'the stream ended before any candidate');
  for (const state of choices.values()) {
    if (!state.finished) throw upstreamStreamError(target.provider, 'the stream ended before a finishReason');
  }
  // No usageMetadata at all: no usage chunk, so the call is billed from the local estimate; zeros
  // would have made it free.
  if (target.includeUsage && usage !== undefined) {
    yield {
      id,
      object: 'chat.completion.chunk',
      created: target.created,
      model: target.model,
      choices: [],
      usage: convertGeminiUsage(usage, [...choices.values()].reduce((sum, state) => sum + state.searches, 0)),
    };
  }
}
