// Runs one chat call against a routed provider: builds the upstream request through the codec,
// retries what is safe to retry before the client has seen a byte, and hands back either a whole
// answer or a stream of ready-to-write SSE frames. OpenAI-format upstreams pass through.
import {
  GatewayError,
  isGatewayError,
  upstreamBadResponse,
  upstreamStreamError,
} from '../errors/gateway-error.js';
import type { Redactor } from '../logging/redactor.js';
import type { ChatCompletionChunk, ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import type { ChatTarget, ProviderInstance } from '../providers/provider.js';
import { decodeSse, type SseEvent } from '../streaming/sse-decoder.js';
import { encodeSseData, encodeSseJson, SSE_DONE } from '../streaming/sse-encoder.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { Route } from './model-router.js';
import { withRetries, type RetryBudget, type RetryOptions } from './retry-policy.js';

export interface ChatCallContext {
  requestId: string;
  signal: AbortSignal;
  /** The client asked for a usage chunk. */
  includeUsage: boolean;
  /** Unix seconds. */
  created: number;
  warnings: string[];
}

/** What a stream produced so far: read when the stream ends, however it ends. */
export interface StreamStats {
  usage: CompletionUsage | undefined;
  finished: boolean;
  chunks: number;
}

export interface JsonOutcome {
  body: string | Buffer;
  usage: CompletionUsage | undefined;
  attempts: number;
}

export interface StreamOutcome {
  /** The first frame, already received: the stream is known to work when this returns. */
  first: string;
  frames: AsyncGenerator<string>;
  stats: StreamStats;
  attempts: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED');
}

/** A failure before the client saw anything is always safe to try again. */
function retryableCopy(error: GatewayError): GatewayError {
  if (error.retryable || error.status === 400 || error.status === 404) return error;
  return new GatewayError({
    status: error.status,
    type: error.type,
    code: error.code,
    message: error.message,
    param: error.param,
    ...(error.provider === undefined ? {} : { provider: error.provider }),
    retryable: true,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  });
}

function readUsage(value: unknown): CompletionUsage | undefined {
  if (!isRecord(value)) return undefined;
  const prompt = value.prompt_tokens;
  const completion = value.completion_tokens;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined;
  return value as unknown as CompletionUsage;
}

export class ChatExecutor {
  constructor(
    private readonly client: UpstreamClient,
    private readonly retry: RetryOptions,
    private readonly budget: RetryBudget,
    private readonly redactor: Redactor,
  ) {}

  private target(route: Route, request: ChatCompletionRequest, context: ChatCallContext, stream: boolean): ChatTarget {
    const target: ChatTarget = {
      provider: route.provider.name,
      model: route.upstreamModel,
      stream,
      // Usage is always asked of the upstream; the client's choice is applied on the way out.
      includeUsage: true,
      requestId: context.requestId,
      created: context.created,
      warnings: context.warnings,
      legacyFunctions: request.functions !== undefined || request.function_call !== undefined,
    };
    const limit = route.entry?.max_output_tokens;
    if (typeof limit === 'number') target.defaultMaxTokens = limit;
    return target;
  }

  async complete(route: Route, request: ChatCompletionRequest, context: ChatCallContext): Promise<JsonOutcome> {
    const provider = route.provider;
    const target = this.target(route, request, context, false);
    const spec = provider.codec.buildChatRequest(request, target);
    this.budget.inFlight++;
    let attempts = 0;
    try {
      return await withRetries(
        async () => {
          attempts++;
          const response = await this.client.send(provider, spec, context.signal);
          if (response.status < 200 || response.status >= 300) throw await this.client.errorFrom(provider, response);
          const bytes = await this.client.readBody(provider.name, response.body);
          let parsed: unknown;
          try {
            parsed = JSON.parse(bytes.toString('utf8'));
          } catch {
            throw upstreamBadResponse(provider.name, 'an answer that is not JSON');
          }
          if (provider.codec.passthrough) {
            const checked = provider.codec.parseChatResponse(parsed, target);
            return { body: bytes, usage: readUsage(checked.usage), attempts };
          }
          const converted = provider.codec.parseChatResponse(parsed, target);
          return { body: JSON.stringify(converted), usage: converted.usage, attempts };
        },
        this.retry,
        this.budget,
        context.signal,
      );
    } finally {
      this.budget.inFlight--;
    }
  }

  async stream(route: Route, request: ChatCompletionRequest, context: ChatCallContext): Promise<StreamOutcome> {
    const provider = route.provider;
    const target = this.target(route, request, context, true);
    const spec = provider.codec.buildChatRequest(request, target);
    this.budget.inFlight++;
    let attempts = 0;
    try {
      return await withRetries(
        async () => {
          attempts++;
          const response = await this.client.send(provider, spec, context.signal);
          if (response.status < 200 || response.status >= 300) throw await this.client.errorFrom(provider, response);
          const stats: StreamStats = { usage: undefined, finished: false, chunks: 0 };
          const events = decodeSse(response.body);
          const frames = provider.codec.passthrough
            ? this.passthroughFrames(events, provider, stats, context.includeUsage)
            : this.translatedFrames(provider.codec.convertStream(events, target), provider, stats, context.includeUsage);
          let first: IteratorResult<string>;
          try {
            first = await frames.next();
          } catch (error) {
            response.body.destroy();
            throw isGatewayError(error) ? retryableCopy(error) : error;
          }
          if (first.done === true) throw retryableCopy(upstreamStreamError(provider.name, 'it ended before any event'));
          return { first: first.value, frames, stats, attempts };
        },
        this.retry,
        this.budget,
        context.signal,
      );
    } finally {
      this.budget.inFlight--;
    }
  }

  /** Maps a failure while reading an upstream stream to the error event the client gets. */
  private streamFailure(provider: ProviderInstance, error: unknown): unknown {
    if (isAbort(error) || isGatewayError(error)) return error;
    const mapped = this.client.transportError(provider.name, error, 'streaming');
    if (isGatewayError(mapped) && mapped.code === 'upstream_timeout') return upstreamStreamError(provider.name, 'it stalled past the idle timeout');
    return upstreamStreamError(provider.name, 'the connection broke');
  }

  private upstreamErrorEvent(provider: ProviderInstance, parsed: Record<string, unknown>): GatewayError {
    const message = provider.codec.parseErrorMessage(parsed);
    return upstreamStreamError(provider.name, message === undefined ? 'an error event' : this.redactor.redact(message.slice(0, 500)));
  }

  /**
   * OpenAI-format events go out as they came (the JSON text is not re-serialised); each is parsed
   * once to prove it is JSON, to read usage and finish, and to drop the usage chunk the client
   * did not ask for.
   */
  private async *passthroughFrames(
    events: AsyncGenerator<SseEvent>,
    provider: ProviderInstance,
    stats: StreamStats,
    includeUsage: boolean,
  ): AsyncGenerator<string> {
    try {
      for await (const event of events) {
        const data = event.data;
        if (data === '[DONE]') {
          stats.finished = true;
          yield SSE_DONE;
          return;
        }
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
        for (const choice of choices) if (isRecord(choice) && typeof choice.finish_reason === 'string') stats.finished = true;
        const usage = parsed.usage;
        if (usage !== undefined && usage !== null) {
          stats.usage = readUsage(usage) ?? stats.usage;
          if (!includeUsage) {
            if (choices.length === 0) continue;
            delete parsed.usage;
            yield encodeSseJson(parsed);
            continue;
          }
        }
        yield encodeSseData(data);
      }
    } catch (error) {
      throw this.streamFailure(provider, error);
    }
    // Some hosts close without [DONE]; a finished answer is still complete.
    if (!stats.finished) throw upstreamStreamError(provider.name, 'it ended before the answer was complete');
    yield SSE_DONE;
  }

  private async *translatedFrames(
    chunks: AsyncIterable<ChatCompletionChunk>,
    provider: ProviderInstance,
    stats: StreamStats,
    includeUsage: boolean,
  ): AsyncGenerator<string> {
    try {
      for await (const chunk of chunks) {
        stats.chunks++;
        for (const choice of chunk.choices) if (choice.finish_reason !== null && choice.finish_reason !== undefined) stats.finished = true;
        if (chunk.usage !== undefined && chunk.usage !== null) stats.usage = chunk.usage;
        if (!includeUsage && chunk.usage !== undefined) {
          if (chunk.usage !== null && chunk.choices.length === 0) continue;
          delete chunk.usage;
        }
        yield encodeSseJson(chunk);
      }
    } catch (error) {
      throw this.streamFailure(provider, error);
    }
    stats.finished = true;
    yield SSE_DONE;
  }
}
