// What the response cache stores for one request, and how it is rendered for the client that
// asks: a whole chat.completion body, or the SSE frames of a stream exactly as first sent. Either
// form serves either kind of request; a stream is replayed with its original chunk boundaries.
import type { ChatCompletionChunk, ChatCompletionResponse, CompletionUsage } from '../openai/types.js';
import { encodeSseJson, SSE_DONE } from '../streaming/sse-encoder.js';
import { convertChunksToCompletion, convertCompletionToChunks, parseChunkFrame, parseFrameData } from './convert-answer.js';
import { isRecord } from '../json/guards.js';

interface AnswerBase {
  /** Unix milliseconds when the answer was stored (Age, max-age). */
  storedAt: number;
  /** The provider's usage report, for the usage record of a hit. */
  usage: CompletionUsage | null;
  /** X-LLM-Proxy-Warnings of the original call (dropped parameters say so on every hit too). */
  warnings?: string[];
}

export interface JsonAnswer extends AnswerBase {
  kind: 'json';
  /** The chat.completion body as first sent (the upstream's own bytes for pass-through providers). */
  body: string;
}

export interface StreamAnswer extends AnswerBase {
  kind: 'stream';
  /**
   * Every frame as the executor produced it with the usage chunk included, `[DONE]` left out.
   * A client that did not ask for usage gets the frames through stripUsageFromFrame.
   */
  frames: string[];
  /** Frames came from an OpenAI-format upstream unchanged (decides how usage is stripped). */
  passthrough: boolean;
}

export type CachedAnswer = JsonAnswer | StreamAnswer;

/** A `usage` key holding an object. Inside JSON strings quotes are escaped, so this only finds keys. */
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
const USAGE_NULL = ',"usage":null';

/**
 * The frame a client that did not ask for usage gets, mirroring ChatStreamFrames: a usage-only chunk
 * is dropped (null), a usage object on a chunk with choices is removed, and translated providers'
 * chunks lose their `"usage":null` too, while pass-through bytes keep it.
 */
export function stripUsageFromFrame(frame: string, passthrough: boolean): string | null {
  if (USAGE_OBJECT.test(frame)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(parseFrameData(frame));
    } catch {
      return frame;
    }
    if (!isRecord(parsed) || !isRecord(parsed.usage)) return frame;
    if (Array.isArray(parsed.choices) && parsed.choices.length === 0) return null;
    delete parsed.usage;
    return encodeSseJson(parsed);
  }
  if (!passthrough) {
    const at = frame.indexOf(USAGE_NULL);
    if (at >= 0) return frame.slice(0, at) + frame.slice(at + USAGE_NULL.length);
  }
  return frame;
}

/**
 * Finish reasons that say the answer was cut short by something other than the request, so the
 * next call may well get a whole one: a content filter's verdict on a sampled answer (Azure's,
 * Gemini's SAFETY or RECITATION), and a host's own failure (DeepSeek's `insufficient_system_resource`,
 * Mistral's `error`, vLLM's `abort`). Kept, every retry got the same cut answer for the whole TTL.
 */
const CUT_SHORT: ReadonlySet<unknown> = new Set(['content_filter', 'insufficient_system_resource', 'error', 'abort']);

/** A finish_reason that makes an answer worth keeping. */
function keptFinish(reason: unknown): boolean {
  return typeof reason === 'string' && !CUT_SHORT.has(reason);
}

/**
 * Whether a chat.completion body is a complete answer, by the rule a stream meets (answerFromFrames):
 * at least one choice, and every choice has a finish_reason that is not CUT_SHORT. A host's
 * `choices: []`, an unfinished, filtered or cut choice is served once but not kept, so a retry reaches the provider.
 */
export function finishedCompletion(body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.choices) || parsed.choices.length === 0) return false;
  for (const choice of parsed.choices as unknown[]) {
    if (!isRecord(choice) || !keptFinish(choice.finish_reason)) return false;
  }
  return true;
}

export function answerFromCompletion(body: string, usage: CompletionUsage | undefined, warnings: readonly string[], now: number): JsonAnswer {
  return { kind: 'json', storedAt: now, body, usage: usage ?? null, ...(warnings.length > 0 ? { warnings: [...warnings] } : {}) };
}

/**
 * A finished stream's frames as an answer, or undefined when it is not a complete one: it must end
 * with `[DONE]`, every frame must be a chunk, and every choice must have a finish_reason (none of them CUT_SHORT).
 */
export function answerFromFrames(
  frames: readonly string[],
  passthrough: boolean,
  usage: CompletionUsage | undefined,
  warnings: readonly string[],
  now: number,
): StreamAnswer | undefined {
  if (frames.length < 2 || frames[frames.length - 1] !== SSE_DONE) return undefined;
  const kept = frames.slice(0, -1);
  const finished = new Map<number, boolean>();
  for (const frame of kept) {
    const chunk = parseChunkFrame(frame);
    if (chunk === undefined) return undefined;
    for (const choice of chunk.choices) {
      const done = choice.finish_reason !== null && choice.finish_reason !== undefined;
      if (done && !keptFinish(choice.finish_reason)) return undefined;
      finished.set(choice.index, (finished.get(choice.index) ?? false) || done);
    }
  }
  if (finished.size === 0) return undefined;
  for (const done of finished.values()) if (!done) return undefined;
  return { kind: 'stream', storedAt: now, frames: kept, passthrough, usage: usage ?? null, ...(warnings.length > 0 ? { warnings: [...warnings] } : {}) };
}

function streamChunks(answer: StreamAnswer): ChatCompletionChunk[] {
  const chunks: ChatCompletionChunk[] = [];
  for (const frame of answer.frames) {
    const chunk = parseChunkFrame(frame);
    if (chunk !== undefined) chunks.push(chunk);
  }
  return chunks;
}

/** The chat.completion body for a non-streaming request. */
export function renderCompletion(answer: CachedAnswer): string {
  if (answer.kind === 'json') return answer.body;
  return JSON.stringify(convertChunksToCompletion(streamChunks(answer)));
}

/** The whole SSE body for a streaming request, `[DONE]` last; the usage chunk only when asked. */
export function renderStream(answer: CachedAnswer, includeUsage: boolean): string {
  let out = '';
  if (answer.kind === 'stream') {
    for (const frame of answer.frames) {
      const sent = includeUsage ? frame : stripUsageFromFrame(frame, answer.passthrough);
      if (sent !== null) out += sent;
    }
  } else {
    const completion = JSON.parse(answer.body) as ChatCompletionResponse;
    for (const chunk of convertCompletionToChunks(completion, includeUsage)) out += encodeSseJson(chunk);
  }
  return out + SSE_DONE;
}

/** Bytes an answer takes, for the memory backend's bound and the Redis size figures. */
export function answerSize(answer: CachedAnswer): number {
  let bytes = 128;
  if (answer.kind === 'json') bytes += Buffer.byteLength(answer.body);
  else for (const frame of answer.frames) bytes += Buffer.byteLength(frame) + 8;
  if (answer.warnings !== undefined) for (const warning of answer.warnings) bytes += Buffer.byteLength(warning);
  return bytes;
}

/** Reads an answer back from its JSON text (the Redis form); undefined for anything else. */
export function parseAnswer(text: string): CachedAnswer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed.storedAt !== 'number') return undefined;
  const warnings = Array.isArray(parsed.warnings) && parsed.warnings.every((item) => typeof item === 'string') ? (parsed.warnings as string[]) : undefined;
  const usage = isRecord(parsed.usage) ? (parsed.usage as unknown as CompletionUsage) : null;
  const base = { storedAt: parsed.storedAt, usage, ...(warnings === undefined ? {} : { warnings }) };
  if (parsed.kind === 'json' && typeof parsed.body === 'string') return { kind: 'json', body: parsed.body, ...base };
  if (parsed.kind === 'stream' && Array.isArray(parsed.frames) && parsed.frames.every((frame) => typeof frame === 'string')) {
    return { kind: 'stream', frames: parsed.frames as string[], passthrough: parsed.passthrough === true, ...base };
  }
  return undefined;
}
