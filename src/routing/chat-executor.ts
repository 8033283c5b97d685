// Runs one chat call for a model group: the public entry for chat, embeddings and native calls.
// Failover, retries and fallbacks before the client has seen a byte are the base class's
// (deployment-failover.ts); a stream is held until its first real content and turned into
// ready-to-write SSE frames in chat-stream.ts, so OpenAI-format upstreams pass through. The shared
// types are in chat-call-types.ts; all are re-exported here so importers keep this one path.
import { isGatewayError, upstreamBadResponse, upstreamTimeout } from '../errors/gateway-error.js';
import type { Redactor } from '../logging/redactor.js';
import type { ChatCompletionRequest, ChatCompletionResponse, CompletionUsage } from '../openai/types.js';
import { callImages, hasWebImages, inlineWebImages } from '../providers/inline-images.js';
import { usesLegacyFunctions } from '../providers/legacy-functions.js';
import { passesThrough, type ChatTarget, type ProviderInstance } from '../providers/provider.js';
import { decodeSse } from '../streaming/sse-decoder.js';
import { CallAbort, toAbortSignal, type CallSignal } from '../upstream/call-signal.js';
import { releaseBody, upstreamSse, type UpstreamClient } from '../upstream/upstream-client.js';
import { AttemptTimeout, callTimeouts } from './call-limits.js';
import type { CallReach, ChatCallContext, DeploymentAttempt, ExecutorOptions, FailoverResult, GroupView, JsonOutcome, StreamOutcome } from './chat-call-types.js';
import { ChatStreamFrames, heldOutcome, openHeldStream, type HeldStream } from './chat-stream.js';
import { readReportedUsage } from '../usage/reported-usage.js';
import type { HealthRegistry } from './deployment-health.js';
import { DeploymentFailover } from './deployment-failover.js';
import type { ModelGroup, ModelRouter, Route } from './model-router.js';
import type { RetryBudget } from './retry-policy.js';

export type { AttemptRecord, ChatCallContext, ExecutorOptions, GroupView, JsonOutcome, StreamOutcome, StreamStats } from './chat-call-types.js';
export { callTimeouts } from './call-limits.js';
export { heldOutcome, openHeldStream, type FramesOver, type HeldStream } from './chat-stream.js';
export { NOT_ALLOWED } from './deployment-failover.js';

export class ChatExecutor extends DeploymentFailover {
  /** One per executor: the frames of every stream are made by it. */
  private readonly frames: ChatStreamFrames;

  constructor(
    private readonly client: UpstreamClient,
    router: ModelRouter,
    health: HealthRegistry,
    budget: RetryBudget,
    redactor: Redactor,
    options: ExecutorOptions,
  ) {
    super(router, health, budget, options);
    this.frames = new ChatStreamFrames(client, redactor);
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
      legacyFunctions: usesLegacyFunctions(request),
    };
    const limit = route.entry?.max_output_tokens;
    if (typeof limit === 'number') target.defaultMaxTokens = limit;
    if (request.max_tokens != null && route.entry?.capabilities.includes('reasoning') === true) target.reasoningOutputLimit = true;
    if (context.translatedMarkers === true && route.entry?.cache_writes !== 'cache_control') target.stripCacheMarkers = true;
    return target;
  }

  /**
   * A streamed call of another kind (native /v1/messages and /v1/completions pass-through) over the
   * group, like execute() but without the total cap (a stream's length is the client's business).
   */
  routeStream(
    group: ModelGroup,
    signal: CallSignal,
    attempt: DeploymentAttempt<HeldStream>,
    reach: CallReach,
  ): Promise<FailoverResult<HeldStream>> {
    return this.run(group, signal, attempt, reach, undefined, streamGoesOn);
  }

  async complete(group: ModelGroup, request: ChatCompletionRequest, context: ChatCallContext): Promise<JsonOutcome> {
    const { result, route, attempts } = await this.execute(
      group,
      context.signal,
      (route, current, attemptSignal) => this.completeOnce(route, current, request, context, attemptSignal),
      context,
    );
    // Named fields, not a spread: see heldOutcome.
    return { body: result.body, usage: result.usage, model: result.model, route, attempts };
  }

  /**
   * One non-streaming call of any kind (chat, embeddings) over the group: `attempt` makes one try
   * at one deployment; failover, retries, breakers and the group's total time cap are applied here.
   * `view` narrows each fallback to the deployments that can serve this kind of call.
   */
  execute<T>(
    group: ModelGroup,
    clientSignal: CallSignal,
    attempt: DeploymentAttempt<T>,
    reach: CallReach,
    view?: GroupView,
  ): Promise<FailoverResult<T>> {
    const totalMs = group.timeouts.totalMs ?? this.options.totalMs;
    // Not async itself: an uncapped call (the default) adds no promise of its own.
    return totalMs === undefined ? this.run(group, clientSignal, attempt, reach, view) : this.executeCapped(group, clientSignal, attempt, reach, view, totalMs);
  }

  private async executeCapped<T>(
    group: ModelGroup,
    clientSignal: CallSignal,
    attempt: DeploymentAttempt<T>,
    reach: CallReach,
    view: GroupView | undefined,
    totalMs: number,
  ): Promise<FailoverResult<T>> {
    const deadline = new CallAbort();
    const abort = () => deadline.abort();
    // A client already gone fires no listener: the deadline starts aborted, so no attempt is sent.
    if (clientSignal.aborted) deadline.abort(clientSignal.reason);
    else clientSignal.addEventListener('abort', abort, { once: true });
    const timer = setTimeout(() => deadline.abort(new AttemptTimeout()), totalMs);
    try {
      return await this.run(group, deadline, attempt, reach, view);
    } catch (error) {
      if (deadline.reason instanceof AttemptTimeout && !clientSignal.aborted) throw upstreamTimeout(group.name, 'the total time allowed for the call');
      throw error;
    } finally {
      clearTimeout(timer);
      clientSignal.removeEventListener('abort', abort);
    }
  }

  private needsImages(provider: ProviderInstance, request: ChatCompletionRequest): boolean {
    const inlined = provider.codec.inlinesImageUrl;
    return inlined !== undefined && this.options.fetchImage !== undefined && hasWebImages(request, inlined);
  }

  /** `request` with its web image URLs downloaded, when needsImages said so. */
  private async withImages(provider: ProviderInstance, request: ChatCompletionRequest, context: ChatCallContext): Promise<ChatCompletionRequest> {
    const { fetchImage } = this.options;
    const inlined = provider.codec.inlinesImageUrl;
    if (fetchImage === undefined || inlined === undefined) return request;
    context.images ??= callImages();
    // The downloads serve every attempt of the call, so they stop when the client leaves, not with an attempt.
    context.imageSignal ??= toAbortSignal(context.signal);
    return inlineWebImages(request, inlined, fetchImage, context.images, context.imageSignal);
  }

  /** One try at one deployment: also a native call's way to a deployment its protocol does not reach (src/http/native-call.ts). */
  async completeOnce(
    route: Route,
    group: ModelGroup,
    asked: ChatCompletionRequest,
    context: ChatCallContext,
    signal: CallSignal,
  ): Promise<{ body: string | Buffer; usage: CompletionUsage | undefined; model: string | undefined }> {
    const provider = route.provider;
    const fitted = context.fitChat === undefined ? asked : context.fitChat(asked, route);
    // No await unless there are images to download: the common call takes no extra turn.
    const request = this.needsImages(provider, fitted) ? await this.withImages(provider, fitted, context) : fitted;
    const target = this.target(route, request, context, false);
    let answer: Awaited<ReturnType<UpstreamClient['sendForJson']>>;
    context.sentTo = route;
    try {
      answer = await this.client.sendForJson(provider, provider.codec.buildChatRequest(request, target), signal, callTimeouts(group));
    } catch (error) {
      if (!fitOutputToWindow(error, request, target)) throw error;
      answer = await this.client.sendForJson(provider, provider.codec.buildChatRequest(request, target), signal, callTimeouts(group));
    }
    const { bytes, parsed } = answer;
    if (passesThrough(provider.codec, request)) {
      const checked = provider.codec.parseChatResponse(parsed, target);
      return { body: bytes, usage: readReportedUsage(checked.usage), model: modelOf(checked) };
    }
    try {
      const checked = provider.codec.parseChatResponse(parsed, target);
      return { body: JSON.stringify(checked), usage: checked.usage, model: modelOf(checked) };
    } catch (error) {
      if (isGatewayError(error)) throw error;
      // JSON.parse takes any depth but JSON.stringify recurses: tool arguments nested some thousands
      // deep overflow the stack while they are turned into a string. A bad answer, not our failure.
      throw upstreamBadResponse(provider.name, 'an answer that could not be converted');
    }
  }

  async stream(group: ModelGroup, request: ChatCompletionRequest, context: ChatCallContext): Promise<StreamOutcome> {
    const { result, route, attempts } = await this.run(group, context.signal, (route, current) => this.streamOnce(route, current, request, context), context, undefined, streamGoesOn);
    return heldOutcome(result, route, attempts);
  }

  /** Opens one upstream stream and holds it until the first real content (or fails, retryably). */
  streamOnce(
    route: Route,
    group: ModelGroup,
    asked: ChatCompletionRequest,
    context: ChatCallContext,
  ): Promise<HeldStream> {
    const fitted = context.fitChat === undefined ? asked : context.fitChat(asked, route);
    if (this.needsImages(route.provider, fitted)) return this.withImages(route.provider, fitted, context).then((request) => this.openStream(route, group, request, context));
    return this.openStream(route, group, fitted, context);
  }

  private openStream(route: Route, group: ModelGroup, request: ChatCompletionRequest, context: ChatCallContext): Promise<HeldStream> {
    const provider = route.provider;
    const target = this.target(route, request, context, true);
    context.sentTo = route;
    const passthrough = passesThrough(provider.codec, request);
    const open = () =>
      openHeldStream(this.client, provider, provider.codec.buildChatRequest(request, target), group, context.signal, this.options.ttfbMs, (body, stats, over) =>
        passthrough
          ? this.frames.passthroughFrames(body, provider, stats, context.includeUsage, over)
          : this.frames.translatedFrames(provider.codec.convertStream(decodeSse(upstreamSse(body), () => releaseBody(body)), target), provider, stats, context.includeUsage, over),
      );
    // Only a limit the proxy chose can be lowered (never on the pass-through path: no promise added there).
    if (passthrough || !proxyChoseOutputLimit(request, target)) return open();
    return open().catch((error: unknown) => (fitOutputToWindow(error, request, target) ? open() : Promise.reject(error)));
  }
}

/** The model an answer names: a passed-through answer's shape is checked only as far as its choices. */
function modelOf(answer: ChatCompletionResponse): string | undefined {
  const model: unknown = answer.model;
  return typeof model === 'string' ? model : undefined;
}

/** A held stream stays in its deployment's in-flight count until the upstream call is over. */
const streamGoesOn = (held: HeldStream, done: (failure: unknown) => void): void => held.whenDone(done);

/**
 * Anthropic's "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000": the
 * prompt fits, but not with the output limit the proxy chose for a client that set none (the
 * model's whole output limit). Lowers that limit to the room the provider says is left and says
 * whether to send again; a limit the client chose is the client's, and its 400 stands.
 */
function fitOutputToWindow(error: unknown, request: ChatCompletionRequest, target: ChatTarget): boolean {
  if (!isGatewayError(error) || error.code !== 'context_length_exceeded' || !proxyChoseOutputLimit(request, target)) return false;
  const figures = EXCEEDS_WITH_OUTPUT.exec(error.message);
  if (figures === null) return false;
  const [input, output, window] = [Number(figures[1]), Number(figures[2]), Number(figures[3])];
  const room = window - input;
  if (!(room > 0 && room < output && output === target.defaultMaxTokens)) return false;
  target.defaultMaxTokens = room;
  return true;
}

function proxyChoseOutputLimit(request: ChatCompletionRequest, target: ChatTarget): boolean {
  return request.max_tokens == null && request.max_completion_tokens == null && target.defaultMaxTokens !== undefined;
}

const EXCEEDS_WITH_OUTPUT = /exceed context limit: (\d+) \+ (\d+) > (\d+)/;
