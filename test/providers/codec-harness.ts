// What the translated providers' codec tests share: a ChatTarget, fixture streams fed through the real
// SSE decoder in small reads, and a reassembler that turns chunks back into one message per choice.
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionResponse, FinishReason, ToolCall } from '../../src/openai/types.js';
import type { ChatTarget } from '../../src/providers/provider.js';
import { decodeSse, type SseEvent } from '../../src/streaming/sse-decoder.js';

export const REQUEST_ID = 'req123';
export const CREATED = 1_700_000_000;

export interface ExpectedRefusal {
  code: string;
  param: string | null;
  message?: RegExp;
}

/** Asserts `convert` throws the 400 a client gets for a request a codec refuses. */
export function assertRefused(convert: () => unknown, expected: ExpectedRefusal): void {
  assert.throws(convert, (error: unknown) => {
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 400);
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, expected.code);
    assert.equal(error.param, expected.param);
    if (expected.message !== undefined) assert.match(error.message, expected.message);
    return true;
  });
}

export function makeTarget(provider: 'anthropic' | 'gemini', overrides: Partial<ChatTarget> = {}): ChatTarget {
  return {
    provider,
    model: provider === 'anthropic' ? 'claude-sonnet-4-5' : 'gemini-2.5-flash',
    stream: false,
    includeUsage: false,
    requestId: REQUEST_ID,
    created: CREATED,
    warnings: [],
    ...overrides,
  };
}

/** The fixture's bytes in 7-byte reads, so events and UTF-8 sequences split across reads as on a socket. */
export function sseEvents(text: string, readSize = 7): AsyncIterable<SseEvent> {
  const bytes = Buffer.from(text, 'utf8');
  async function* reads(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += readSize) yield bytes.subarray(i, i + readSize);
  }
  return decodeSse(reads());
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Collects until the stream throws; returns what arrived and the error. */
export async function collectUntilError<T>(iterable: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of iterable) items.push(item);
  } catch (error) {
    return { items, error };
  }
  return { items, error: undefined };
}

export interface ReassembledChoice {
  index: number;
  content: string | null;
  tool_calls?: ToolCall[];
  function_call?: { name: string; arguments: string };
  finish_reason: FinishReason | null;
}

/** Chunks → one message per choice, as a client library accumulates them. */
export function reassemble(chunks: ChatCompletionChunk[]): ReassembledChoice[] {
  const choices = new Map<number, { content: string; sawContent: boolean; calls: ToolCall[]; fn?: { name: string; arguments: string }; finish: FinishReason | null }>();
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      let state = choices.get(choice.index);
      if (state === undefined) {
        state = { content: '', sawContent: false, calls: [], finish: null };
        choices.set(choice.index, state);
      }
      const delta = choice.delta;
      if (typeof delta.content === 'string' && delta.content.length > 0) {
        state.content += delta.content;
        state.sawContent = true;
      }
      for (const call of delta.tool_calls ?? []) {
        const existing = state.calls[call.index];
        if (existing === undefined) {
          state.calls[call.index] = { id: call.id ?? '', type: 'function', function: { name: call.function?.name ?? '', arguments: call.function?.arguments ?? '' }, ...(call.extra_content === undefined ? {} : { extra_content: call.extra_content }) };
        } else {
          existing.function.arguments += call.function?.arguments ?? '';
        }
      }
      if (delta.function_call !== undefined) {
        if (state.fn === undefined) state.fn = { name: delta.function_call.name ?? '', arguments: delta.function_call.arguments ?? '' };
        else state.fn.arguments += delta.function_call.arguments ?? '';
      }
      if (choice.finish_reason !== null) state.finish = choice.finish_reason;
    }
  }
  return [...choices.entries()].map(([index, state]) => {
    const out: ReassembledChoice = {
      index,
      content: state.sawContent || (state.calls.length === 0 && state.fn === undefined) ? state.content : null,
      finish_reason: state.finish,
    };
    if (state.calls.length > 0) out.tool_calls = state.calls;
    if (state.fn !== undefined) out.function_call = state.fn;
    return out;
  });
}

/** A non-streamed answer in the reassembled shape, to compare a stream with its answer. */
export function choicesOf(response: ChatCompletionResponse): ReassembledChoice[] {
  return response.choices.map((choice) => {
    const out: ReassembledChoice = { index: choice.index, content: choice.message.content, finish_reason: choice.finish_reason };
    if (choice.message.tool_calls !== undefined) out.tool_calls = choice.message.tool_calls;
    if (choice.message.function_call !== undefined) out.function_call = choice.message.function_call;
    return out;
  });
}
