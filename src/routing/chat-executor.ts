// Runs one chat call for a model group: orders its deployments by the group's strategy, skips
// open circuits, fails over and retries what is safe before the client has seen a byte, falls back
// to other models, and hands back a whole answer or a stream of ready-to-write SSE frames.
// OpenAI-format upstreams pass through. A stream is held until its first real content, so any
// failure before that point can still move to another deployment invisibly.
import {
  GatewayError,
  isGatewayError,
  noHealthyDeployment,
  upstreamStreamError,
  upstreamTimeout,
} from '../errors/gateway-error.js';
import type { Redactor } from '../logging/redactor.js';
import type { ChatCompletionChunk, ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import type { ChatTarget, ProviderInstance, UpstreamRequestSpec } from '../providers/provider.js';
import { decodeSse, SseEventTooLarge } from '../streaming/sse-decoder.js';
import { encodeSseJson, SSE_DONE } from '../streaming/sse-encoder.js';
import { joinFrames, SsePassthrough, type Frame } from '../streaming/sse-passthrough.js';
import { CallAbort, delay as wait, type CallSignal } from '../upstream/call-signal.js';
import { releaseBody, upstreamSse, type CallTimeouts, type UpstreamClient, type UpstreamResponse } from '../upstream/upstream-client.js';
import type { HealthRegistry } from './deployment-health.js';
import { orderCandidates, type Candidate } from './load-balance.js';
import type { ModelGroup, ModelRouter, Route } from './model-router.js';
import { retryDelay, type RetryBudget } from './retry-policy.js';
import { mayUseModel } from '../keys/model-allowlist.js';
import { plannedFallbacks } from './reachable-groups.js';

export interface ChatCallContext {
  requestId: string;
  signal: CallSignal;
  /** The client asked for a usage chunk. */
  includeUsage: boolean;
  /** Unix seconds. */
  created: number;
  warnings: string[];
  /** The calling key's model allowlist (undefined: any model): a fallback outside it is skipped. */
  allowed: readonly string[] | undefined;
}

/** What a stream produced so far: read when the stream ends, however it ends. */
export interface StreamStats {
  usage: CompletionUsage | undefined;
  finished: boolean;
  /** A chunk with content, a tool call, a refusal or a finish has been seen. */
  contentStarted: boolean;
  chunks: number;
}

/** One try at one deployment, for the `X-LLM-Proxy-Route` header and the final error. */
export interface AttemptRecord {
  /** `provider/model`, or a fallback's name when the key may not use it (outcome NOT_ALLOWED). */
  deployment: string;
  /** `200`, an HTTP status, or an error code such as `upstream_timeout`, `circuit_open`. */
  outcome: string;
}

interface Served {
  route: Route;
  attempts: AttemptRecord[];
}

export interface JsonOutcome extends Served {
  body: string | Buffer;
  usage: CompletionUsage | undefined;
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
}

/** The route header's outcome for a fallback the key may not use: it was skipped, not tried. */
export const NOT_ALLOWED = 'model_not_allowed';

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED');
}

function readUsage(value: unknown): CompletionUsage | undefined {
  if (!isRecord(value)) return undefined;
  if (typeof value.prompt_tokens !== 'number' || typeof value.completion_tokens !== 'number') return undefined;
  return value as unknown as CompletionUsage;
}

function hasContent(delta: unknown): boolean {
  if (!isRecord(delta)) return false;
  return (
    (typeof delta.content === 'string' && delta.content.length > 0) ||
    (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) ||
    isRecord(delta.function_call) ||
    (typeof delta.refusal === 'string' && delta.refusal.length > 0)
  );
}

/** How a failed attempt counts: against the deployment, or against the request itself. */
type Verdict = 'client' | 'rate-limited' | 'deployment' | 'overflow';

function verdict(error: GatewayError): Verdict {
  if (error.code === 'context_length_exceeded') return 'overflow';
  if (error.code === 'upstream_rate_limited') return 'rate-limited';
  if (error.code === 'upstream_auth_error' || error.retryable) return 'deployment';
  return 'client';
}

/** A group's own connect time, time to headers and idle time for one call, when it sets them. */
export function callTimeouts(group: ModelGroup): CallTimeouts {
  // Set field by field: one object per call, and none of the spreads' temporaries.
  const timeouts: CallTimeouts = {};
  if (group.timeouts.connectMs !== undefined) timeouts.connectTimeoutMs = group.timeouts.connectMs;
  if (group.timeouts.ttfbMs !== undefined) timeouts.headersTimeoutMs = group.timeouts.ttfbMs;
  if (group.timeouts.idleMs !== undefined) timeouts.bodyTimeoutMs = group.timeouts.idleMs;
  return timeouts;
}

class AttemptTimeout extends Error {
  constructor() {
    super('attempt timed out');
    this.name = 'AttemptTimeout';
  }
}

/** A stream held until its first real content: every frame so far, the rest, and what it has produced. */
export interface HeldStream {
  first: Frame;
  frames: AsyncGenerator<Frame>;
  stats: StreamStats;
}

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
 * `framesOf` turns the body into ready-to-write frames and keeps `stats`; `release` is for it to
 * call when the stream is over (it drops the client-abort listener). Chat and native calls share it.
 */
export async function openHeldStream(
  client: UpstreamClient,
  provider: ProviderInstance,
  spec: UpstreamRequestSpec,
  group: ModelGroup,
  clientSignal: CallSignal,
  defaultTtfbMs: number,
  framesOf: (body: UpstreamResponse['body'], stats: StreamStats, release: () => void) => AsyncGenerator<Frame>,
): Promise<HeldStream> {
  // The attempt has its own signal: the client's going away aborts it, and so does a stall
  // before the first content (past the time-to-first-token limit).
  const attempt = new CallAbort();
  const onClientAbort = () => attempt.abort();
  clientSignal.addEventListener('abort', onClientAbort, { once: true });
  const release = () => clientSignal.removeEventListener('abort', onClientAbort);
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
  const stats: StreamStats = { usage: undefined, finished: false, contentStarted: false, chunks: 0 };
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
    throw error.retryable || error.status === 429
      ? error
      : new GatewayError({
          status: error.status,
          type: error.type,
          code: error.code,
          message: error.message,
          param: error.param,
          retryable: true,
          ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
        });
  } finally {
    clearTimeout(timer);
  }
  return { first: joinFrames(held), frames, stats };
}

export class ChatExecutor {
  private readonly random: () => number;

  constructor(
    private readonly client: UpstreamClient,
    private readonly router: ModelRouter,
    private readonly health: HealthRegistry,
    private readonly budget: RetryBudget,
    private readonly redactor: Redactor,
    private readonly options: ExecutorOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  private target(route: Route, request: ChatCompletionRequest, context: ChatCallContext, stream: boolean): ChatTarget {
    // One target per attempt, one attempt at a time: the warnings left are those of the attempt that answered.
    context.warnings.length = 0;
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

  /**
   * The chain of groups to try: the asked group, then its fallbacks (each once). A fallback the key
   * may not use is skipped and noted in `attempts`; it is checked only once reached.
   */
  private *chain(group: ModelGroup, allowed: readonly string[] | undefined, attempts: AttemptRecord[]): Generator<ModelGroup> {
    yield group;
    for (const { name, group: fallback } of plannedFallbacks(this.router, group)) {
      if (allowed !== undefined && !mayUseModel(allowed, this.router, name, fallback)) attempts.push({ deployment: name, outcome: NOT_ALLOWED });
      else yield fallback;
    }
  }

  /** Groups are long-lived (configured, or planned once per name): their candidates are too. */
  private readonly candidateCache = new WeakMap<ModelGroup, Candidate[]>();

  private candidates(group: ModelGroup): Candidate[] {
    const cached = this.candidateCache.get(group);
    if (cached !== undefined) return cached;
    const built = group.deployments.map((deployment) => {
      const entry = deployment.route.entry;
      const unitCost = entry && entry.input_cost !== null && entry.output_cost !== null ? entry.input_cost + entry.output_cost : undefined;
      return { route: deployment.route, weight: deployment.weight, health: this.health.get(deployment.id), unitCost };
    });
    this.candidateCache.set(group, built);
    return built;
  }

  /**
   * Tries deployments until one answers. Within a group: strategy order, moving on at once after a
   * failure and cycling back with backoff until `1 + retries` attempts (at least one per deployment);
   * then each fallback group. Every attempt after the first needs a place in the retry budget.
   *
   * An open circuit exists to send traffic elsewhere; it is no reason to call no one. So when every
   * group of the chain was skipped without a single attempt, and some deployment was skipped for a
   * circuit opened by failures, the request goes to one of them anyway: the one whose cool-down ends
   * first (the one the breaker would probe next; for equal cool-downs, the one that opened earliest),
   * once, with no retries, like a half-open probe. A group of one deployment (a plain model name) thus
   * never answers 503 without calling its only deployment, as LiteLLM never cools down the only
   * deployment of a group. A provider's 429 Retry-After is an instruction, not a guess: a cooling
   * deployment is never chosen, and when nothing else is left the client gets 429 with Retry-After.
   */
  private async run<T>(
    group: ModelGroup,
    signal: CallSignal,
    attempt: (route: Route, group: ModelGroup, signal: CallSignal) => Promise<T>,
    allowed: readonly string[] | undefined,
  ): Promise<{ result: T; route: Route; attempts: AttemptRecord[] }> {
    const attempts: AttemptRecord[] = [];
    let lastError: GatewayError | undefined;
    let overflowWindow: number | undefined;
    let earliestRetry: number | undefined;
    let total = 0;
    let holding = false;
    /** The deployment tried when nothing else could be (see above), with its group. */
    let lastResort: { candidate: Candidate; group: ModelGroup; at: number } | undefined;

    /** One attempt at one deployment; failures are recorded here, and only a client's fault or an abort is thrown. */
    const tryOnce = async (candidate: Candidate, current: ModelGroup): Promise<{ served: T } | 'failed' | 'overflow'> => {
      const deployment = candidate.health.id;
      total++;
      candidate.health.start();
      const started = Date.now();
      try {
        const served = await attempt(candidate.route, current, signal);
        candidate.health.succeeded(Date.now() - started);
        attempts.push({ deployment, outcome: '200' });
        return { served };
      } catch (error) {
        if (signal.aborted || isAbort(error) || !isGatewayError(error)) {
          candidate.health.released();
          throw error;
        }
        attempts.push({ deployment, outcome: error.status === 502 || error.status === 504 ? (error.code ?? String(error.status)) : String(error.status) });
        const kind = verdict(error);
        if (kind === 'client') {
          candidate.health.released();
          throw error;
        }
        lastError = error;
        if (kind === 'overflow') {
          candidate.health.released();
          if (!this.options.contextWindowFallbacks) throw error;
          overflowWindow = candidate.route.entry?.context_length ?? 0;
          return 'overflow';
        }
        if (kind === 'rate-limited') {
          candidate.health.released();
          const until = Date.now() + (error.retryAfterMs ?? 1000);
          candidate.health.coolDown(until);
          earliestRetry = earliestRetry === undefined ? until : Math.min(earliestRetry, until);
        } else {
          candidate.health.failed(error.code ?? `HTTP ${error.status}`, Date.now());
        }
        return 'failed';
      }
    };

    this.budget.inFlight++;
    try {
      for (const current of this.chain(group, allowed, attempts)) {
        if (overflowWindow !== undefined) {
          // After an overflow only a model with a larger window can help.
          const window = current.deployments[0]?.route.entry?.context_length;
          if (typeof window !== 'number' || window <= overflowWindow) continue;
        }
        const ordered = orderCandidates(this.candidates(current), current.strategy, this.random);
        const limit = Math.max(ordered.length, 1 + current.retries);
        const tried = new Set<string>();
        const skipped = new Set<string>();
        let groupAttempts = 0;
        for (let index = 0; groupAttempts < limit && index < limit * 2; index++) {
          const candidate = ordered[index % ordered.length] as Candidate;
          const deployment = candidate.health.id;
          const now = Date.now();
          if (!candidate.health.available(now)) {
            if (!skipped.has(deployment)) {
              skipped.add(deployment);
              const cooling = candidate.health.cooling(now);
              attempts.push({ deployment, outcome: cooling ? 'cooling' : 'circuit_open' });
              const at = candidate.health.availableAt();
              if (at > now) earliestRetry = earliestRetry === undefined ? at : Math.min(earliestRetry, at);
              if (!cooling && (lastResort === undefined || (lastResort.group === current && at < lastResort.at))) {
                lastResort = { candidate, group: current, at };
              }
            }
            if (skipped.size === ordered.length) break;
            continue;
          }
          if (total > 0) {
            if (holding) this.budget.release();
            holding = this.budget.tryAcquire();
            if (!holding) {
              candidate.health.released();
              throw lastError ?? noHealthyDeployment(group.name, undefined);
            }
            if (tried.has(deployment) && lastError !== undefined) {
              // A deployment that refused the proxy's key would refuse it again: no second try there.
              const delay = lastError.retryable ? retryDelay(lastError, groupAttempts, { retries: current.retries }, this.random) : undefined;
              if (delay === undefined) {
                candidate.health.released();
                break;
              }
              try {
                await wait(delay, signal);
              } catch {
                candidate.health.released();
                throw lastError;
              }
            }
          }
          tried.add(deployment);
          groupAttempts++;
          const outcome = await tryOnce(candidate, current);
          if (outcome === 'overflow') break;
          if (outcome !== 'failed') return { result: outcome.served, route: candidate.route, attempts };
        }
      }
      if (total === 0 && lastResort !== undefined) {
        const { candidate } = lastResort;
        // It was not skipped after all: the route header shows the attempt only.
        const index = attempts.findIndex((entry) => entry.deployment === candidate.health.id && entry.outcome === 'circuit_open');
        if (index >= 0) attempts.splice(index, 1);
        const outcome = await tryOnce(candidate, lastResort.group);
        if (outcome !== 'failed' && outcome !== 'overflow') return { result: outcome.served, route: candidate.route, attempts };
      }
    } finally {
      if (holding) this.budget.release();
      this.budget.inFlight--;
    }
    throw this.exhausted(group.name, attempts, lastError, earliestRetry);
  }

  /** The one error when nothing could serve: says what was tried, never where or with what key. */
  private exhausted(model: string, all: AttemptRecord[], lastError: GatewayError | undefined, earliestRetry: number | undefined): GatewayError {
    // A fallback the key may not use was never a candidate: the error is the one the others made.
    const attempts = all.some((entry) => entry.outcome === NOT_ALLOWED) ? all.filter((entry) => entry.outcome !== NOT_ALLOWED) : all;
    const retryAfterMs = earliestRetry === undefined ? undefined : Math.max(1000, earliestRetry - Date.now());
    const tried = attempts.filter((entry) => entry.outcome !== 'circuit_open' && entry.outcome !== 'cooling');
    if (lastError === undefined && attempts.length > 0 && attempts.every((entry) => entry.outcome === 'cooling')) {
      return new GatewayError({
        status: 429,
        type: 'rate_limit_error',
        code: 'upstream_rate_limited',
        message: `Every deployment of '${model}' is rate limited by its provider; retry after the time in Retry-After.`,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (lastError === undefined) return noHealthyDeployment(model, retryAfterMs);
    if (tried.length <= 1 && attempts.length === tried.length) return lastError;
    const summary = attempts.map((entry) => `${entry.deployment.split('/')[0]} (${entry.outcome})`).join(', ');
    if (tried.every((entry) => entry.outcome === '429' || entry.outcome === 'cooling')) {
      return new GatewayError({
        status: 429,
        type: 'rate_limit_error',
        code: 'upstream_rate_limited',
        message: `Every deployment of '${model}' is rate limited by its provider. Tried: ${summary}.`,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    return new GatewayError({
      status: lastError.status === 504 ? 504 : lastError.status === 400 ? 400 : 502,
      type: lastError.status === 504 ? 'timeout_error' : lastError.type,
      code: lastError.code,
      param: lastError.param,
      message: `${lastError.message} Tried ${tried.length} attempt(s): ${summary}.`,
    });
  }

  /**
   * A streamed call of another kind (native /v1/messages and /v1/completions pass-through) over the
   * group, like execute() but without the total cap (a stream's length is the client's business).
   */
  routeStream<T>(
    group: ModelGroup,
    signal: CallSignal,
    attempt: (route: Route, group: ModelGroup, signal: CallSignal) => Promise<T>,
    allowed: readonly string[] | undefined,
  ): Promise<{ result: T; route: Route; attempts: AttemptRecord[] }> {
    return this.run(group, signal, attempt, allowed);
  }

  async complete(group: ModelGroup, request: ChatCompletionRequest, context: ChatCallContext): Promise<JsonOutcome> {
    const { result, route, attempts } = await this.execute(
      group,
      context.signal,
      (route, current, attemptSignal) => this.completeOnce(route, current, request, context, attemptSignal),
      context.allowed,
    );
    // Named fields, not a spread: see heldOutcome.
    return { body: result.body, usage: result.usage, route, attempts };
  }

  /**
   * One non-streaming call of any kind (chat, embeddings) over the group: `attempt` makes one try
   * at one deployment; failover, retries, breakers and the group's total time cap are applied here.
   */
  execute<T>(
    group: ModelGroup,
    clientSignal: CallSignal,
    attempt: (route: Route, group: ModelGroup, signal: CallSignal) => Promise<T>,
    allowed: readonly string[] | undefined,
  ): Promise<{ result: T; route: Route; attempts: AttemptRecord[] }> {
    const totalMs = group.timeouts.totalMs ?? this.options.totalMs;
    // Not async itself: an uncapped call (the default) adds no promise of its own.
    return totalMs === undefined ? this.run(group, clientSignal, attempt, allowed) : this.executeCapped(group, clientSignal, attempt, allowed, totalMs);
  }

  private async executeCapped<T>(
    group: ModelGroup,
    clientSignal: CallSignal,
    attempt: (route: Route, group: ModelGroup, signal: CallSignal) => Promise<T>,
    allowed: readonly string[] | undefined,
    totalMs: number,
  ): Promise<{ result: T; route: Route; attempts: AttemptRecord[] }> {
    const deadline = new CallAbort();
    const abort = () => deadline.abort();
    clientSignal.addEventListener('abort', abort, { once: true });
    const timer = setTimeout(() => deadline.abort(new AttemptTimeout()), totalMs);
    try {
      return await this.run(group, deadline, attempt, allowed);
    } catch (error) {
      if (deadline.reason instanceof AttemptTimeout && !clientSignal.aborted) throw upstreamTimeout(group.name, 'the total time allowed for the call');
      throw error;
    } finally {
      clearTimeout(timer);
      clientSignal.removeEventListener('abort', abort);
    }
  }

  private async completeOnce(
    route: Route,
    group: ModelGroup,
    request: ChatCompletionRequest,
    context: ChatCallContext,
    signal: CallSignal,
  ): Promise<{ body: string | Buffer; usage: CompletionUsage | undefined }> {
    const provider = route.provider;
    const target = this.target(route, request, context, false);
    const spec = provider.codec.buildChatRequest(request, target);
    const { bytes, parsed } = await this.client.sendForJson(provider, spec, signal, callTimeouts(group));
    const checked = provider.codec.parseChatResponse(parsed, target);
    if (provider.codec.passthrough) return { body: bytes, usage: readUsage(checked.usage) };
    return { body: JSON.stringify(checked), usage: checked.usage };
  }

  async stream(group: ModelGroup, request: ChatCompletionRequest, context: ChatCallContext): Promise<StreamOutcome> {
    const { result, route, attempts } = await this.run(group, context.signal, (route, current) => this.streamOnce(route, current, request, context), context.allowed);
    return heldOutcome(result, route, attempts);
  }

  /** Opens one upstream stream and holds it until the first real content (or fails, retryably). */
  private streamOnce(
    route: Route,
    group: ModelGroup,
    request: ChatCompletionRequest,
    context: ChatCallContext,
  ): Promise<HeldStream> {
    const provider = route.provider;
    const target = this.target(route, request, context, true);
    const spec = provider.codec.buildChatRequest(request, target);
    return openHeldStream(this.client, provider, spec, group, context.signal, this.options.ttfbMs, (body, stats) =>
      provider.codec.passthrough
        ? this.passthroughFrames(body, provider, stats, context.includeUsage)
        : this.translatedFrames(provider.codec.convertStream(decodeSse(upstreamSse(body), () => releaseBody(body)), target), provider, stats, context.includeUsage),
    );
  }

  /** Maps a failure while reading an upstream stream to the error event the client gets. */
  private streamFailure(provider: ProviderInstance, error: unknown): unknown {
    if (isAbort(error)) return error;
    if (isGatewayError(error)) {
      // Translated providers' error events carry the provider's own words: scrub them like any other.
      const message = this.redactor.redactProviderText(error.message);
      if (message === error.message) return error;
      return new GatewayError({
        status: error.status,
        type: error.type,
        code: error.code,
        message,
        param: error.param,
        retryable: error.retryable,
        ...(error.provider === undefined ? {} : { provider: error.provider }),
        ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
      });
    }
    if (error instanceof SseEventTooLarge) return upstreamStreamError(provider.name, error.message);
    const mapped = this.client.transportError(provider.name, error, 'streaming');
    if (isGatewayError(mapped) && mapped.code === 'upstream_timeout') return upstreamStreamError(provider.name, 'it stalled past the idle timeout');
    return upstreamStreamError(provider.name, 'the connection broke');
  }

  private upstreamErrorEvent(provider: ProviderInstance, parsed: Record<string, unknown>): GatewayError {
    const message = provider.codec.parseErrorMessage(parsed);
    return upstreamStreamError(provider.name, message === undefined ? 'an error event' : this.redactor.redactProviderText(message.slice(0, 500)));
  }

  /**
   * OpenAI-format streams pass through as bytes (src/streaming/sse-passthrough.ts): only the
   * events that may matter (before the first content; a usage or an error) are decoded, here,
   * to read usage and finish, report an upstream error and drop the usage chunk the client did
   * not ask for; a bare finish is noted by the scanner itself. One upstream read leaves as one write.
   */
  private async *passthroughFrames(
    body: UpstreamResponse['body'],
    provider: ProviderInstance,
    stats: StreamStats,
    includeUsage: boolean,
  ): AsyncGenerator<Frame> {
    const scanner = new SsePassthrough(stats, (data) => this.inspectEvent(provider, stats, includeUsage, data));
    let ended = false;
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
    } catch (error) {
      throw this.streamFailure(provider, error);
    } finally {
      // Stopped at [DONE], on an error or by the client: what is left of the body is released.
      if (!ended) releaseBody(body);
    }
    // Some hosts close without [DONE]; a finished answer is still complete.
    if (!stats.finished) throw upstreamStreamError(provider.name, 'it ended before the answer was complete');
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
    for (const choice of choices) {
      if (!isRecord(choice)) continue;
      if (typeof choice.finish_reason === 'string') stats.finished = stats.contentStarted = true;
      else if (!stats.contentStarted && hasContent(choice.delta)) stats.contentStarted = true;
    }
    const usage = parsed.usage;
    if (usage === undefined || usage === null) return undefined;
    stats.usage = readUsage(usage) ?? stats.usage;
    if (includeUsage) return undefined;
    if (choices.length === 0) return '';
    delete parsed.usage;
    return encodeSseJson(parsed);
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
      throw this.streamFailure(provider, error);
    }
    stats.finished = true;
    yield SSE_DONE;
  }
}
