// Anthropic Messages event stream → OpenAI chat completion chunks. State (block kinds, tool indexes,
// usage) lives in the generator; a stream that stops before `message_stop` is an error, not an answer.
// @see https://docs.anthropic.com/en/docs/build-with-claude/streaming
import { upstreamError, upstreamStreamError, type GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChunkDelta, FinishReason, UrlCitation } from '../../openai/types.js';
import type { SseEvent } from '../../streaming/sse-decoder.js';
import { mapFinishReason } from '../map-finish-reason.js';
import type { ChatTarget } from '../provider.js';
import type { AnthropicMessageDeltaUsage, AnthropicUsage } from './anthropic-wire.js';
import { isAnthropicUsage, isRecord } from './anthropic-wire.js';
import { JSON_RESPONSE_TOOL } from './convert-tools.js';
import { placeThinking } from './thinking-order.js';
import { convertAnthropicUsage, matchedStopSequence, mergeAnthropicUsage, stringifyToolInput, urlCitations } from './convert-response.js';

/** Error types an `error` event can carry, as the HTTP status they stand for. */
const ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** An `error` event → the error the status table gives (overloaded → retryable 502, rate limit → 429). */
export function convertAnthropicStreamError(data: unknown, provider: string): GatewayError {
  const error = isRecord(data) && isRecord(data.error) ? data.error : undefined;
  const type = typeof error?.type === 'string' ? error.type : undefined;
  // Codecs cannot reach the redactor; the message is cut short and never includes request data we sent.
  const message = typeof error?.message === 'string' ? error.message.slice(0, 500) : 'an error event';
  const status = type === undefined ? undefined : ERROR_STATUS[type];
  return status === undefined ? upstreamStreamError(provider, message) : upstreamError(status, provider, `${type}: ${message}`);
}

/** What a content block index turned out to be. */
/**
 * A thinking block gathers its text and signature: the whole block is sent when it stops, to be replayed.
 * A tool block notes whether any of its arguments were sent: a call with no input gets `{}` when it stops.
 * A text block notes where its content starts and its web search citations, for their annotations.
 */
type BlockKind =
  | { kind: 'text'; start: number; citations: unknown[] | undefined }
  | { kind: 'json' }
  | { kind: 'tool'; index: number; sent: boolean }
  | { kind: 'thinking'; thinking: string; signature: string }
  | { kind: 'ignored' };

function parseData(event: SseEvent, provider: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(event.data);
  } catch {
    throw upstreamStreamError(provider, 'an event that is not JSON');
  }
  if (!isRecord(parsed)) throw upstreamStreamError(provider, 'an event that is not an object');
  return parsed;
}

export async function* convertAnthropicStream(events: AsyncIterable<SseEvent>, target: ChatTarget): AsyncGenerator<ChatCompletionChunk> {
  const legacy = target.legacyFunctions === true;
  let id = `chatcmpl-${target.requestId}`;
  let started = false;
  let usage: AnthropicUsage = { input_tokens: 0, output_tokens: 0 };
  let stopReason: string | null = null;
  let stopSequence: string | null = null;
  let toolCalls = 0;
  /** The id of the latest tool call, which the thinking blocks after it name (not in legacy answers: they show no ids). */
  let lastCall: string | undefined;
  /** Characters of content sent so far: where a cited text block's span starts and ends. */
  let written = 0;
  const blocks = new Map<number, BlockKind>();

  const chunk = (delta: ChunkDelta, finishReason: FinishReason | null = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created: target.created,
    model: target.model,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    ...(target.includeUsage ? { usage: null } : {}),
  });
  const toolDelta = (index: number, fields: { id?: string; name?: string; arguments: string }): ChunkDelta => {
    if (legacy) return { function_call: fields.name === undefined ? { arguments: fields.arguments } : { name: fields.name, arguments: fields.arguments } };
    if (fields.id === undefined || fields.name === undefined) return { tool_calls: [{ index, function: { arguments: fields.arguments } }] };
    return { tool_calls: [{ index, id: fields.id, type: 'function', function: { name: fields.name, arguments: fields.arguments } }] };
  };

  for await (const event of events) {
    const data = parseData(event, target.provider);
    const type = typeof data.type === 'string' ? data.type : event.event;
    if (type === 'ping') continue;
    if (type === 'error') throw convertAnthropicStreamError(data, target.provider);
    if (type === 'message_start') {
      const message = data.message;
      if (started || !isRecord(message)) throw upstreamStreamError(target.provider, 'an unexpected message_start');
      started = true;
      if (typeof message.id === 'string' && message.id.length > 0) id = message.id;
      if (isAnthropicUsage(message.usage)) usage = message.usage;
      yield chunk({ role: 'assistant', content: '' });
      continue;
    }
    if (!started) {
      // Event types added later are skipped; known content before message_start means a broken stream.
      if (type === 'content_block_start' || type === 'content_block_delta' || type === 'message_delta' || type === 'message_stop') {
        throw upstreamStreamError(target.provider, `${type} before message_start`);
      }
      continue;
    }
    const index = typeof data.index === 'number' ? data.index : -1;

    if (type === 'content_block_start') {
      const block = isRecord(data.content_block) ? data.content_block : {};
      if (block.type === 'text') {
        blocks.set(index, { kind: 'text', start: written, citations: Array.isArray(block.citations) && block.citations.length > 0 ? [...(block.citations as unknown[])] : undefined });
        if (typeof block.text === 'string' && block.text.length > 0) {
          written += block.text.length;
          yield chunk({ content: block.text });
        }
      } else if (block.type === 'tool_use' && typeof block.name === 'string' && typeof block.id === 'string') {
        if (block.name === JSON_RESPONSE_TOOL) {
          blocks.set(index, { kind: 'json' });
        } else if (legacy && toolCalls > 0) {
          // The legacy format has room for one function call per answer.
          blocks.set(index, { kind: 'ignored' });
        } else {
          const callIndex = toolCalls++;
          // `input` is `{}` at the start; the arguments arrive as input_json_delta fragments.
          const initial = isRecord(block.input) && Object.keys(block.input).length > 0 ? stringifyToolInput(block.input) : '';
          blocks.set(index, { kind: 'tool', index: callIndex, sent: initial.length > 0 });
          if (!legacy) lastCall = block.id;
          yield chunk(toolDelta(callIndex, { id: block.id, name: block.name, arguments: initial }));
        }
      } else if (block.type === 'thinking') {
        blocks.set(index, { kind: 'thinking', thinking: typeof block.thinking === 'string' ? block.thinking : '', signature: typeof block.signature === 'string' ? block.signature : '' });
      } else if (block.type === 'redacted_thinking' && typeof block.data === 'string') {
        blocks.set(index, { kind: 'ignored' });
        yield chunk({ thinking_blocks: [placeThinking({ type: 'redacted_thinking', data: block.data }, lastCall)] });
      } else {
        blocks.set(index, { kind: 'ignored' });
      }
      continue;
    }

    if (type === 'content_block_delta') {
      const kind = blocks.get(index);
      const delta = isRecord(data.delta) ? data.delta : {};
      if (kind === undefined) throw upstreamStreamError(target.provider, 'a delta for a block that never started');
      if (kind.kind === 'text' && delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text.length > 0) {
        written += delta.text.length;
        yield chunk({ content: delta.text });
      } else if (kind.kind === 'text' && delta.type === 'citations_delta') {
        (kind.citations ??= []).push(delta.citation);
      } else if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json.length > 0) {
        if (kind.kind === 'json') {
          written += delta.partial_json.length;
          yield chunk({ content: delta.partial_json });
        } else if (kind.kind === 'tool') {
          kind.sent = true;
          yield chunk(toolDelta(kind.index, { arguments: delta.partial_json }));
        }
      } else if (kind.kind === 'thinking') {
        if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking.length > 0) {
          kind.thinking += delta.thinking;
          yield chunk({ reasoning_content: delta.thinking });
        } else if (delta.type === 'signature_delta' && typeof delta.signature === 'string') kind.signature += delta.signature;
      }
      continue;
    }

    if (type === 'content_block_stop') {
      const kind = blocks.get(index);
      // The whole thinking block, signed, for the client to replay with the turn (LiteLLM's `thinking_blocks`).
      if (kind?.kind === 'thinking') yield chunk({ thinking_blocks: [placeThinking({ type: 'thinking', thinking: kind.thinking, signature: kind.signature }, lastCall)] });
      // A call without input (Claude streams it as one empty fragment) has the arguments `{}`, as the whole answer gives them, not ''.
      else if (kind?.kind === 'tool' && !kind.sent) yield chunk(toolDelta(kind.index, { arguments: '{}' }));
      // A text block's web search citations, over the span it streamed (OpenAI's search models stream `annotations` too).
      else if (kind?.kind === 'text' && kind.citations !== undefined) {
        const annotations: UrlCitation[] = [];
        urlCitations(kind.citations, kind.start, written, annotations);
        if (annotations.length > 0) yield chunk({ annotations });
      }
      continue;
    }

    if (type === 'message_delta') {
      const delta = isRecord(data.delta) ? data.delta : {};
      if (typeof delta.stop_reason === 'string') stopReason = delta.stop_reason;
      if (typeof delta.stop_sequence === 'string') stopSequence = delta.stop_sequence;
      if (isRecord(data.usage)) usage = mergeAnthropicUsage(usage, data.usage as unknown as AnthropicMessageDeltaUsage);
      continue;
    }

    if (type === 'message_stop') {
      const finish = chunk({}, mapFinishReason('anthropic', stopReason, { hasToolCalls: toolCalls > 0, legacyFunctions: legacy }));
      const matched = matchedStopSequence(stopReason, stopSequence);
      if (matched !== undefined && finish.choices[0] !== undefined) finish.choices[0].stop_reason = matched;
      yield finish;
      if (target.includeUsage) {
        yield { id, object: 'chat.completion.chunk', created: target.created, model: target.model, choices: [], usage: convertAnthropicUsage(usage) };
      }
      return;
    }
    // Event types added later carry nothing for the client.
  }
  throw upstreamStreamError(target.provider, started ? 'the stream ended before message_stop' : 'the stream ended before message_start');
}
