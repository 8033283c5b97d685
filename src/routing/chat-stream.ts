// The streaming side of a chat call: an upstream stream held until its first real content (so a
// failure before it can still fail over), then the frames the client gets, passed through as bytes
// for OpenAI-format upstreams or encoded from a codec's chunks, with usage and finish noted as they pass.
import { GatewayError, isGatewayError, upstreamError, upstreamStreamError, upstreamTimeout } from '../errors/gateway-error.js';
import type { Redactor } from '../logging/redactor.js';
import type { ChatCompletionChunk } from '../openai/types.js';
import type { ProviderInstance, UpstreamRequestSpec } from '../providers/provider.js';
import { SseEventTooLarge } from '../streaming/sse-decoder.js';
import { encodeSseJson, SSE_DONE } from '../streaming/sse-encoder.js';
import { joinFrames, SsePassthrough, type Frame } from '../streaming/sse-passthrough.js';
import { CallAbort, type CallSignal } from '../upstream/call-signal.js';
import { MAX_RETRY_AFTER_MS, releaseBody, upstreamSse, type UpstreamClient, type UpstreamResponse } from '../upstream/upstream-client.js';
import { AttemptTimeout, callTimeouts, isAbort } from './call-limits.js';
import type { AttemptRecord, StreamOutcome, StreamStats } from './chat-call-types.js';
import type { ModelGroup, Route } from './model-router.js';
import { isRecord } from '../json/guards.js';
import { readReportedUsage } from '../usage/reported-usage.js';

/** A piece of a spoken answer (OpenAI's audio output): its transcript or its sound. */
function hasAudio(audio: unknown): boolean {
  return isRecord(audio) && ((typeof audio.transcript === 'string' && audio.transcript.length > 0) || (typeof audio.data === 'string' && audio.data.length > 0));
}

/**
 * Whether a delta is the model answering. Thinking aloud counts (DeepSeek's and vLLM's
 * `reasoning_content`, OpenRouter's and Groq's `reasoning`): a reasoning model may think for minutes
 * before its first word, and held until then the stream hit the time-to-first-token limit (504).
 * So does speaking: an audio answer streams in `audio` with content null to its end, and was held whole;
 * and drawing: an image model's pictures come in `images` (OpenRouter's field, Gemini's translation's).
 */
function hasContent(delta: unknown): boolean {
  if (!isRecord(delta)) return false;
  return (
    hasAudio(delta.audio) ||
    (typeof delta.content === 'string' && delta.content.length > 0) ||
    (typeof delta.reasoning_content === 'string' && delta.reasoning_content.length > 0) ||
    (typeof delta.reasoning === 'string' && delta.reasoning.length > 0) ||
    (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) ||
    isRecord(delta.function_call) ||
    (typeof delta.refusal === 'string' && delta.refusal.length > 0) ||
    (Array.isArray(delta.images) && delta.images.length > 0)
  );
}

/** A stream held until its first real content: every frame so far, the rest, and what it has produced. */
export interface HeldStream {
  first: Frame;
  frames: AsyncGenerator<Frame>;
  stats: StreamStats;
  /**
   * Calls back once the upstream call is over (ended, failed or aborted), with the failure if it
   * failed: the deployment holds the stream in flight until then, and counts a break-off against itself.
   */
  whenDone: (callback: (failure: unknown) => void) => void;
}

/**
 * Called by a stream's frames once they are over, with the failure they ended on: an error event,
 * an end before the answer was complete (undefined: they ended well, or the reader stopped early).
 */
export type FramesOver = (failure?: unknown) => void;

/**
 * The outcome of a held stream and where it was served. Written with named fields on purpose: on
 * Node 20's V8 (11.3) an object spread followed by properties the source lacks,
 * `{ ...result, route, attempts }`, takes a slow path (~0.5-0.7 µs a call in a microbenchmark,
 * against ~0.02 µs for the literal) and its objects were all promoted to the old generation: on the
 * non-streaming path that one spread was 22 of the 81 MB promoted over 60,000 requests (V8's sampling
 * heap profiler), and a third of the full GCs. Overriding properties the source has is not affected.
 */
export function heldOutcome(held: HeldStream, route: Route, attempts: AttemptRecord[]): StreamOutcome {
  return { first: held.first, frames: held.frames, stats: held.stats, route, attempts };
}

/** What a stream may send before its first content (held for failover, unsent): far above any real start. */
const MAX_HELD_BYTES = 4 * 1024 * 1024;

/**
 * Opens one upstream stream and reads it until its first real content (a chunk with content, a
 * tool call or a finish), so any failure before that point, a stall past the time to the first
 * token included, can still move to another deployment: such failures are thrown as retryable.
 * `framesOf` turns the body into ready-to-write frames and keeps `stats`; `over` is for it to call
 * when its frames are over (it drops the client-abort listener). A stream is done, for its deployment,
 * once both the upstream call and its frames are over: a failure of either counts against it, so an
 * upstream error event or an early end counts as a broken connection does. Chat and native calls share it.
 */
export async function openHeldStream(
  client: UpstreamClient,
  provider: ProviderInstance,
  spec: UpstreamRequestSpec,
  group: ModelGroup,
  clientSignal: CallSignal,
  defaultTtfbMs: number,
  framesOf: (body: UpstreamResponse['body'], stats: StreamStats, over: FramesOver) => AsyncGenerator<Frame>,
): Promise<HeldStream> {
  // The attempt has its own signal: the client's going away aborts it, and so does a stall
  // before the first content (past the time-to-first-token limit).
  const attempt = new CallAbort();
  // The frames' end and the upstream call's, met in either order; a client that leaves ends the
  // frames too (a reader that never finishes them must not hold the deployment in flight for good).
  let framesOver = false;
  let framesFailure: unknown;
  let callOver = false;
  let callFailure: unknown;
  let done: ((failure: unknown) => void) | undefined;
  const settle = () => {
    if (!framesOver || !callOver || done === undefined) return;
    const callback = done;
    done = undefined;
    callback(callFailure ?? framesFailure);
  };
  const release: FramesOver = (failure) => {
    clientSignal.removeEventListener('abort', onClientAbort);
    if (framesOver) return;
    framesOver = true;
    framesFailure = failure;
    settle();
  };
  const onClientAbort = () => {
    attempt.abort();
    release();
  };
  // A client already gone (it left while its request waited: for an identical one in flight, say)
  // fires no listener: the call is stopped before it is sent, as a non-streaming one is.
  if (clientSignal.aborted) attempt.abort(clientSignal.reason);
  else clientSignal.addEventListener('abort', onClientAbort, { once: true });
  const ttfbMs = group.timeouts.ttfbMs ?? defaultTtfbMs;
  const timer = setTimeout(() => attempt.abort(new AttemptTimeout()), ttfbMs);
  const timedOut = () => attempt.reason instanceof AttemptTimeout;
  let response: UpstreamResponse;
  try {
    // The group's limits, with the time to headers always set: a stream's first byte has the TTFT limit.
    const timeouts = callTimeouts(group);
    timeouts.headersTimeoutMs = ttfbMs;
    response = await client.send(provider, spec, attempt, timeouts);
    if (response.status < 200 || response.status >= 300) throw await client.errorFrom(provider, response);
  } catch (error) {
    clearTimeout(timer);
    release();
    if (timedOut()) throw upstreamTimeout(provider.name, 'waiting for the first token');
    throw error;
  }
  const stats: StreamStats = { usage: undefined, finished: false, contentStarted: false, chunks: 0, model: undefined };
  const frames = framesOf(response.body, stats, release);
  const held: Frame[] = [];
  let heldBytes = 0;
  try {
    while (!stats.contentStarted) {
      const next = await frames.next();
      if (next.done === true) {
        if (held.length > 0 && stats.finished) break;
        throw upstreamStreamError(provider.name, 'it ended before any content');
      }
      held.push(next.value);
      // Events without content (role chunks, pings) are held, not sent: an upstream that sends only those must not grow the process.
      heldBytes += next.value.length;
      if (!stats.contentStarted && heldBytes > MAX_HELD_BYTES) throw upstreamStreamError(provider.name, `it sent more than ${MAX_HELD_BYTES / (1024 * 1024)} MiB before any content`);
    }
  } catch (error) {
    response.body.destroy();
    release();
    if (timedOut()) throw upstreamTimeout(provider.name, 'waiting for the first token');
    if (clientSignal.aborted || !isGatewayError(error)) throw error;
    // Nothing has reached the client: any failure here may move to another deployment.
    throw error.retryable || error.status === 429 ? error : error.with({ retryable: true });
  } finally {
    clearTimeout(timer);
  }
  const whenDone = (callback: (failure: unknown) => void) => {
    done = callback;
    response.body.onSettled((failure) => {
      callOver = true;
      callFailure = failure;
      settle();
    });
  };
  return { first: joinFrames(held), frames, stats, whenDone };
}

/** Turns an upstream stream body into the frames the client gets; one per executor, shared by every stream. */
export class ChatStreamFrames {
  constructor(
    private readonly client: UpstreamClient,
    private readonly redactor: Redactor,
  ) {}

  /** Maps a failure while reading an upstream stream to the error event the client gets. */
  private streamFailure(provider: ProviderInstance, error: unknown): unknown {
    if (isAbort(error)) return error;
    if (isGatewayError(error)) {
      // Translated providers' error events carry the provider's own words: scrub them like any other.
      const message = this.redactor.redactProviderText(error.message);
      return message === error.message ? error : error.with({ message });
    }
    if (error instanceof SseEventTooLarge) return upstreamStreamError(provider.name, error.message);
    const mapped = this.client.transportError(provider.name, error, 'streaming');
    if (isGatewayError(mapped) && mapped.code === 'upstream_timeout') return upstreamStreamError(provider.name, 'it stalled past the idle timeout');
    return upstreamStreamError(provider.name, 'the connection broke');
  }

  private upstreamErrorEvent(provider: ProviderInstance, parsed: Record<string, unknown>): GatewayError {
    const message = provider.codec.parseErrorMessage(parsed);
    const said = message === undefined ? 'an error event' : this.redactor.redactProviderText(message.slice(0, 500));
    // An event the provider marks as a rate limit is the 429 it would have sent before the headers:
    // its deployment is cooled (for the wait the event states, if any), not counted as broken.
    if (provider.codec.parseErrorStatus?.(200, parsed) === 429) {
      const wait = provider.codec.parseRetryAfterMs?.(parsed);
      return upstreamError(429, provider.name, said, wait === undefined ? undefined : Math.min(wait, MAX_RETRY_AFTER_MS));
    }
    return upstreamStreamError(provider.name, said);
  }

  /**
   * OpenAI-format streams pass through as bytes (src/streaming/sse-passthrough.ts): only the
   * events that may matter (before the first content; a usage or an error) are decoded, here,
   * to read usage and finish, report an upstream error and drop the usage chunk the client did
   * not ask for; a bare finish is noted by the scanner itself. One upstream read leaves as one write.
   */
  async *passthroughFrames(
    body: UpstreamResponse['body'],
    provider: ProviderInstance,
    stats: StreamStats,
    includeUsage: boolean,
    over: FramesOver,
  ): AsyncGenerator<Frame> {
    const scanner = new SsePassthrough(stats, (data) => this.inspectEvent(provider, stats, includeUsage, data));
    let ended = false;
    let failure: unknown;
    try {
      for await (const chunk of upstreamSse(body)) {
        const out = scanner.push(chunk);
        if (out.length > 0) yield out;
        if (scanner.failure !== undefined) throw scanner.failure;
        if (scanner.done) {
          stats.finished = true;
          return;
        }
      }
      ended = true;
      const out = scanner.end();
      if (out.length > 0) yield out;
      if (scanner.failure !== undefined) throw scanner.failure;
      if (scanner.done) {
        stats.finished = true;
        return;
      }
      // Some hosts close without [DONE]; a finished answer is still complete.
      if (!stats.finished) throw upstreamStreamError(provider.name, 'it ended before the answer was complete');
    } catch (error) {
      failure = this.streamFailure(provider, error);
      throw failure;
    } finally {
      // Stopped at [DONE], on an error or by the client: what is left of the body is released.
      if (!ended) releaseBody(body);
      over(failure);
    }
    yield SSE_DONE;
  }

  /** One pass-through event that had to be read: undefined keeps it as it came, '' drops it. */
  private inspectEvent(provider: ProviderInstance, stats: StreamStats, includeUsage: boolean, data: string): string | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      throw upstreamStreamError(provider.name, 'an event that is not JSON');
    }
    if (!isRecord(parsed)) throw upstreamStreamError(provider.name, 'an event that is not a chunk');
    if (parsed.error !== undefined && parsed.error !== null) throw this.upstreamErrorEvent(provider, parsed);
    const choices = parsed.choices;
    if (!Array.isArray(choices)) throw upstreamStreamError(provider.name, 'an event that is not a chunk');
    stats.chunks++;
    if (stats.model === undefined && typeof parsed.model === 'string') stats.model = parsed.model;
    for (const choice of choices) {
      if (!isRecord(choice)) continue;
      if (typeof choice.finish_reason === 'string') stats.finished = stats.contentStarted = true;
      else if (!stats.contentStarted && hasContent(choice.delta)) stats.contentStarted = true;
    }
    const usage = parsed.usage;
    if (usage === undefined || usage === null) {
      // Groq reports a stream's usage in its own `x_groq.usage` on the last chunk, where it does not
      // put one of OpenAI's: read there, and passed on as Groq sent it (it is no usage chunk to strip).
      const groq = parsed.x_groq;
      if (isRecord(groq) && groq.usage !== undefined && groq.usage !== null) stats.usage = readReportedUsage(groq.usage) ?? stats.usage;
      return undefined;
    }
    stats.usage = readReportedUsage(usage) ?? stats.usage;
    if (includeUsage) return undefined;
    if (choices.length === 0) return '';
    delete parsed.usage;
    return encodeSseJson(parsed);
  }

  async *translatedFrames(
    chunks: AsyncIterable<ChatCompletionChunk>,
    provider: ProviderInstance,
    stats: StreamStats,
    includeUsage: boolean,
    over: FramesOver,
  ): AsyncGenerator<string> {
    let failure: unknown;
    try {
      for await (const chunk of chunks) {
        stats.chunks++;
        if (stats.model === undefined && typeof chunk.model === 'string') stats.model = chunk.model;
        for (const choice of chunk.choices) {
          if (choice.finish_reason !== null && choice.finish_reason !== undefined) stats.finished = stats.contentStarted = true;
          else if (!stats.contentStarted && hasContent(choice.delta)) stats.contentStarted = true;
        }
        if (chunk.usage !== undefined && chunk.usage !== null) stats.usage = chunk.usage;
        if (!includeUsage && chunk.usage !== undefined) {
          if (chunk.usage !== null && chunk.choices.length === 0) continue;
          delete chunk.usage;
        }
        yield encodeSseJson(chunk);
      }
    } catch (error) {
      failure = this.streamFailure(provider, error);
      throw failure;
    } finally {
      over(failure);
    }
    stats.finished = true;
    yield SSE_DONE;
  }
}
