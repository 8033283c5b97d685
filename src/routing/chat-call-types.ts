// The shapes a chat call hands around: its context, the records of its attempts, what a stream
// produced and the two outcomes (a whole answer, a held stream). Apart from the code so that the
// failover loop, the stream reader and the HTTP side share them without importing one another.
import type { ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import type { CallImages } from '../providers/inline-images.js';
import type { Frame } from '../streaming/sse-passthrough.js';
import type { CallSignal } from '../upstream/call-signal.js';
import type { ImageFetcher } from '../upstream/image-fetch.js';
import type { ModelGroup, Route } from './model-router.js';

/** What bounds the groups a call may reach beyond the one asked for. */
export interface CallReach {
  /** The calling key's model allowlist (undefined: any model): a fallback outside it is skipped. */
  allowed: readonly string[] | undefined;
  /**
   * The output tokens the request asks for at most (max_completion_tokens, else max_tokens): a
   * fallback whose deployments allow fewer is skipped (the asked group is checked before the call).
   */
  maxOutput?: number | undefined;
  /**
   * A health probe: its one-token answer to `ping` is timed like no real request (a stream's first
   * content, a whole answer), so it feeds the breaker but not the latency figure lowest-latency ranks by.
   */
  probe?: boolean;
  /**
   * The route of the request last sent upstream and not answered with an error: its provider has
   * read the prompt, so a client that leaves before the answer is billed that prompt (RELIABILITY
   * 4b#20), not refunded to zero. Set by the executor as it sends; cleared by a failed attempt.
   */
  sentTo?: Route | undefined;
}

/** One try at one deployment of `group` (the group being tried: the asked one or a fallback). */
export type DeploymentAttempt<T> = (route: Route, group: ModelGroup, signal: CallSignal) => Promise<T>;

export interface ChatCallContext extends CallReach {
  requestId: string;

  signal: CallSignal;
  /** The client asked for a usage chunk. */
  includeUsage: boolean;
  /** Unix seconds. */
  created: number;
  warnings: string[];
  /**
   * The chat form's `cache_control` markers are a translation's (/v1/messages), not the client's own
   * chat fields: they reach only deployments whose catalog entry caches on them (`cache_writes: cache_control`).
   */
  translatedMarkers?: boolean;
  /**
   * The chat form as one deployment takes it, when it was translated from another API for the
   * group's first deployment (src/http/translated-deployments.ts: chatFormFor).
   */
  fitChat?: (chat: ChatCompletionRequest, route: Route) => ChatCompletionRequest;
  /** The call's downloaded images, made on the first attempt that needs one. */
  images?: CallImages;
  /** The client's signal as an AbortSignal, for the image downloads: made with `images`. */
  imageSignal?: AbortSignal;
}

/** What a stream produced so far: read when the stream ends, however it ends. */
export interface StreamStats {
  usage: CompletionUsage | undefined;
  finished: boolean;
  /** A chunk with content, a tool call, a refusal or a finish has been seen. */
  contentStarted: boolean;
  chunks: number;
  /**
   * The `model` the stream's first chunk that names one names (on the pass-through path, read from
   * the chunks decoded anyway: those before the first content): who answered, for billing
   * (src/usage/openrouter-fallbacks.ts).
   */
  model: string | undefined;
}

/** One try at one deployment, for the `X-LLM-Proxy-Route` header and the final error. */
export interface AttemptRecord {
  /** `provider/model`, or a fallback's name when the key may not use it (outcome NOT_ALLOWED). */
  deployment: string;
  /** `200`, an HTTP status, or an error code such as `upstream_timeout`, `circuit_open`. */
  outcome: string;
}

/**
 * A kind of call's view of a fallback group: the group less the deployments that cannot serve that
 * kind (embeddings: chat-only providers), or undefined when none can and the group is skipped.
 * It returns the same object for the same group (callers cache it): candidates are kept per group.
 */
export type GroupView = (group: ModelGroup) => ModelGroup | undefined;

/** The deployment that gave the answer, and every attempt that led there. */
interface Served {
  route: Route;
  attempts: AttemptRecord[];
}

/** What the failover loop ends with: the attempt's result, and who served it. */
export interface FailoverResult<T> extends Served {
  result: T;
}

export interface JsonOutcome extends Served {
  body: string | Buffer;
  usage: CompletionUsage | undefined;
  /** The answer's `model` (who answered, for billing: src/usage/openrouter-fallbacks.ts); undefined when it names none or was not read. */
  model?: string | undefined;
}

export interface StreamOutcome extends Served {
  /** Every frame up to and including the first real content, already received. */
  first: Frame;
  frames: AsyncGenerator<Frame>;
  stats: StreamStats;
}

export interface ExecutorOptions {
  /** Time to the first content of a stream / headers of a call, unless a group says otherwise. */
  ttfbMs: number;
  /** Cap on a whole non-streaming call, attempts included. */
  totalMs?: number;
  /** On a context overflow, fall back only to models with a larger catalog window. */
  contextWindowFallbacks: boolean;
  random?: () => number;
  /** Downloads web image URLs for providers that take images only inline (ChatCodec.inlinesImageUrl). */
  fetchImage?: ImageFetcher;
}
