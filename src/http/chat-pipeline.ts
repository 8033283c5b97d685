// The one chat pipeline behind every generating endpoint (/v1/chat/completions, /v1/messages,
// /v1/completions): route → access → context policy → admission → cache → execute → record. The
// endpoints differ only in how they read the request (each turns it into a ChatCompletionRequest)
// and how the answer leaves (an AnswerFormat), or, for upstreams that speak the endpoint's own
// wire format, in a NativeRunner that replaces the executor for that call.
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalidValue, isGatewayError, modelNotAllowed, modelNotFound, upstreamBadResponse, type GatewayError } from '../errors/gateway-error.js';
import { fitContext, fitsUncounted } from '../context/context-policy.js';
import { OPENROUTER_SERVER_TOOLS, OPENROUTER_WEB_SEARCH, type ChatCompletionRequest, type CompletionUsage } from '../openai/types.js';
import { isRecord } from '../json/guards.js';
import type { Frame } from '../streaming/sse-passthrough.js';
import { passesThrough } from '../providers/provider.js';
import { CallAbort } from '../upstream/call-signal.js';
import type { AttemptRecord, ChatCallContext, JsonOutcome, StreamOutcome, StreamStats } from '../routing/chat-executor.js';
import type { ModelGroup, ModelRouter, Route } from '../routing/model-router.js';
import { allowlistFor, mayUseModel, type ModelAllowlist } from '../keys/model-allowlist.js';
import { checkOpenRouterModels, namesOpenRouterModels } from '../keys/openrouter-models.js';
import { reachableGroups } from '../routing/reachable-groups.js';
import type { Redactor } from '../logging/redactor.js';
import type { Services } from '../services.js';
import type { UsageRecord, UsageStatus } from '../usage/usage-recorder.js';
import { answerFromCache, captureFrames, planCache, saveChatCompletion, settleStream } from './cache-response.js';
import { abortWhenClientLeaves } from './client-gone.js';
import { writeFrames, type StreamRegistry } from './stream-response.js';
import { checkUsage, estimateAnswerTokens, shouldWarnUsage, type CheckedUsage } from '../usage/usage-check.js';
import { ESTIMATED, failedCall, NO_EXTRA, recordCall } from './usage-record.js';
import { billedRoute } from '../usage/openrouter-fallbacks.js';
import { groupOutputLimit } from '../routing/group-figures.js';
import { warningsHeader } from './warnings-header.js';

/** The usage record's `endpoint`. */
export type ChatEndpoint = 'chat.completions' | 'messages' | 'completions';

/**
 * How a chat-format answer leaves an endpoint that is not /v1/chat/completions. Each function gets
 * what the executor (or the cache) produced in OpenAI's chat format and returns the endpoint's own.
 */
export interface AnswerFormat {
  /** A whole chat.completion body → the endpoint's body. */
  json(body: string | Buffer): string;
  /**
   * Chat SSE frames (`data: {chunk}` … `data: [DONE]`) → the endpoint's frames. `provider` is named
   * in the stream's error event when one of its chunks cannot be converted.
   */
  stream(first: Frame, frames: AsyncGenerator<Frame>, provider: string): { first: string; frames: AsyncGenerator<string> };
  /** A whole chat SSE body (a cache hit) → the endpoint's. */
  streamBody(body: string): string;
  /** The last event of a stream that failed after its first byte. */
  streamError(error: GatewayError): string;
}

/** What a native call produced: the endpoint's own body or frames, and the chat-form body for the cache. */
export interface NativeJsonOutcome extends JsonOutcome {
  /** The same answer as a chat.completion, when the runner can make one (it is cached). */
  chatBody?: string;
}

/** A call in the endpoint's own wire format (Anthropic to Anthropic), with the executor's routing and retries. */
export interface NativeRunner {
  complete(group: ModelGroup, context: ChatCallContext): Promise<NativeJsonOutcome>;
  stream(group: ModelGroup, context: ChatCallContext): Promise<StreamOutcome>;
}

export interface PipelineOptions {
  endpoint: ChatEndpoint;
  /** Undefined for /v1/chat/completions: the chat answer goes out as it is. */
  format?: AnswerFormat;
  /**
   * Picks a native runner for the group that will serve (after the context policy, which may have
   * rewritten the messages: `rewritten` is then true and the original body no longer applies).
   */
  native?: (group: ModelGroup, rewritten: boolean) => NativeRunner | undefined;
  /** The client's own body, which the native runner sends as it came: its cache_control markers size the budget hold. */
  nativeBody?: unknown;
  /** False when a native answer means something else than the chat answer to the same chat form (legacy completions). */
  nativeCache?: boolean;
  /** The chat form's `cache_control` markers come from the endpoint's translation (ChatCallContext.translatedMarkers). */
  translatedMarkers?: boolean;
  /** The translated chat form as each deployment takes it (ChatCallContext.fitChat). */
  fitChat?: (chat: ChatCompletionRequest, route: Route) => ChatCompletionRequest;
  /**
   * What the native runner sends that the chat form may not carry (fields it drops, headers): part
   * of the cache key of a natively served call, or two requests Claude answers differently would
   * share an entry. Called only when the cache plans such a call.
   */
  nativeKey?: () => unknown;
  /** Fields the endpoint's own translation dropped, listed before the provider's in `X-LLM-Proxy-Warnings`. */
  warnings?: readonly string[];
  /**
   * In place of `warnings` when only some deployments get the translation (a native runner that
   * reaches the others in the chat form): the ones that apply to the deployment that answered.
   */
  warningsFor?: (route: Route) => readonly string[] | undefined;
  /**
   * The provider's warnings name the chat form's fields: this names them as the client sent them
   * (/v1/messages: `max_tokens`, not `max_completion_tokens`). `rewritten`: the context policy
   * replaced the messages, whose indexes then match nothing the client sent.
   */
  clientWarning?: (warning: string, rewritten: boolean) => string;
  /**
   * For a key with a `models` list, once `model` passed and before any call: the models the body has
   * the provider call itself (Claude's advisor and server-side fallbacks), checked against the list.
   * `routes` gives the deployments the key may reach.
   */
  checkNamedModels?: (allowlist: ModelAllowlist, routes: () => readonly Route[]) => void;
  /** Extra answer headers (e.g. `X-LLM-Proxy-Emulated`). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * `X-LLM-Proxy-Route`: every deployment tried, in order, with its outcome, after what the context
 * policy passed over before the call (`skipped`).
 */
export function routeHeader(attempts: readonly AttemptRecord[], skipped?: readonly AttemptRecord[]): string {
  const all = skipped === undefined ? attempts : [...skipped, ...attempts];
  return all.map((attempt) => `${attempt.deployment}=${attempt.outcome}`).join(', ');
}

/**
 * 403 unless the key's allowlist reaches what `requested` routes to (keys/model-allowlist.ts).
 * `hint` ends the message (say, where a model the client did not name came from).
 */
export function checkModelAccess(request: FastifyRequest, router: Pick<ModelRouter, 'plan' | 'version'>, group: ModelGroup, requested: string, hint = ''): void {
  const allowed = request.principal?.models;
  if (allowed === undefined || mayUseModel(allowed, router, requested, group)) return;
  throw modelNotAllowed(requested, hint);
}

/** A group allows the smallest output limit of its deployments: the balancer or a retry may pick any of them. */
function checkOutputLimit(chat: ChatCompletionRequest, group: ModelGroup): void {
  const limit = groupOutputLimit(group);
  if (limit === undefined) return;
  for (const param of ['max_tokens', 'max_completion_tokens'] as const) {
    const value = chat[param];
    if (typeof value === 'number' && value > limit) {
      throw invalidValue(param, `${value} is above the ${limit} output tokens that ${group.name} allows`);
    }
  }
}

/**
 * OpenRouter's server tools (`openrouter:web_search`, `openrouter:web_fetch`, `openrouter:datetime`)
 * are OpenRouter's own: any other provider would refuse them (or a translator drop them), so a
 * request that any of its deployments, fallbacks included, would send elsewhere is refused before
 * any call. `web_search_options` is the portable form of the search.
 */
function checkServerTools(chat: ChatCompletionRequest, routes: () => readonly Route[]): void {
  const index = chat.tools?.findIndex((tool) => isRecord(tool) && OPENROUTER_SERVER_TOOLS.has(tool.type)) ?? -1;
  if (index < 0) return;
  // Only now: every request with function tools passes here, and the reachable routes are not free.
  const elsewhere = routes().find((route) => route.provider.kind !== 'openrouter');
  if (elsewhere === undefined) return;
  const type = chat.tools?.[index]?.type;
  const portable = type === OPENROUTER_WEB_SEARCH ? "; use web_search_options for a provider's own web search" : '';
  throw invalidValue(
    `tools[${index}]`,
    `the tool type '${type}' is taken only by OpenRouter deployments, and '${chat.model}' may be served by ${elsewhere.provider.name} (${elsewhere.provider.kind})${portable}`,
  );
}

function warningsOf(options: PipelineOptions, warnings: readonly string[], redactor: Redactor, rewritten: boolean, route?: Route): string | undefined {
  const rename = options.clientWarning;
  const provider = rename === undefined || warnings.length === 0 ? warnings : warnings.map((warning) => rename(warning, rewritten));
  const own = options.warningsFor === undefined ? options.warnings : route === undefined ? undefined : options.warningsFor(route);
  return warningsHeader(own === undefined || own.length === 0 ? provider : [...own, ...provider], redactor);
}

/** The output of a call whose client left before any of it was written. */
const noOutput = (): number => 0;

function failureExtra(error: unknown): Partial<UsageRecord> {
  return isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {};
}

/**
 * The usage a cache entry keeps for its hits' records: a report the check replaced is stored as
 * checked (a hit recorded the provider's `-7` or `3.5` tokens as they came); no report stays none.
 */
function storedUsage(reported: CompletionUsage | undefined, checked: CheckedUsage | undefined): CompletionUsage | undefined {
  return reported === undefined ? undefined : (checked?.usage ?? reported);
}

/** The estimate of a stream's output without a report: about a token per chunk. */
const chunksOf = (stats: StreamStats): number => stats.chunks;

export class ChatPipeline {
  constructor(
    private readonly services: Services,
    private readonly streams: StreamRegistry,
  ) {}

  /**
   * The provider's usage checked before it is billed (src/usage/usage-check.ts): undefined when it
   * stands; otherwise the estimate, and (when `warn`: the call finished) one log line a minute per provider.
   */
  private checkUsage<S>(
    request: FastifyRequest,
    route: Route,
    chat: ChatCompletionRequest,
    reported: CompletionUsage | undefined,
    warn: boolean,
    completion: (source: S) => number,
    source: S,
  ): CheckedUsage | undefined {
    const checked = checkUsage(reported, chat, route.entry, completion, source);
    if (checked !== undefined && warn && shouldWarnUsage(route.provider.name)) {
      request.log.warn({ provider: route.provider.name, model: route.upstreamModel, problem: checked.problem }, 'usage report not usable: billed from the local estimate');
    }
    return checked;
  }

  /**
   * The record of a call that failed before its answer. A client that left after the prompt went
   * upstream (`sentTo`) is billed that prompt, estimated (the provider has read it and bills it),
   * and no output: neither refunded to zero nor charged what it never got (RELIABILITY 4b#19/#20).
   */
  private recordFailure(
    request: FastifyRequest,
    endpoint: string,
    planned: Route | undefined,
    chat: ChatCompletionRequest,
    stream: boolean,
    started: number,
    error: unknown,
    disconnected: boolean,
    sentTo: Route | undefined,
  ): void {
    const failed = failedCall(error, disconnected);
    if (failed.status !== 'client_disconnected' || sentTo === undefined) {
      recordCall(this.services, request, endpoint, planned, chat.model, stream, started, failed.status, failed.httpStatus, undefined, failureExtra(error));
      return;
    }
    const prompt = checkUsage(undefined, chat, sentTo.entry, noOutput, undefined);
    recordCall(this.services, request, endpoint, sentTo, chat.model, stream, started, failed.status, failed.httpStatus, prompt?.usage, { ...failureExtra(error), estimated: true });
  }

  /**
   * Serves one validated chat request. `started` is when the route began (latency). Throws
   * GatewayErrors before the first byte (the error handler answers them in the route's format).
   */
  async run(request: FastifyRequest, reply: FastifyReply, chat: ChatCompletionRequest, started: number, options: PipelineOptions): Promise<FastifyReply | undefined> {
    const { router, executor, cache } = this.services;
    const { endpoint, format } = options;
    const stream = chat.stream === true;
    const routed = router.plan(chat.model);
    if (routed === undefined) throw modelNotFound(chat.model);
    checkModelAccess(request, router, routed, chat.model);
    const allowed = request.principal?.models;
    // Models the body has the provider run beside `model` (Claude's advisor, OpenRouter's fallbacks):
    // only a route that sends such a body, or a body carrying them, pays for the check.
    const openRouterModels = allowed !== undefined && namesOpenRouterModels(chat);
    if (allowed !== undefined && (options.checkNamedModels !== undefined || openRouterModels)) {
      const allowlist = allowlistFor(allowed, router);
      const reachable = () => reachableGroups(router, routed, allowed).routes;
      options.checkNamedModels?.(allowlist, reachable);
      if (openRouterModels) checkOpenRouterModels(chat, allowlist, reachable);
    }
    checkOutputLimit(chat, routed);
    if (chat.tools !== undefined) checkServerTools(chat, () => reachableGroups(router, routed, request.principal?.models).routes);
    // Context policy (issue #8, src/context/context-policy.ts): a prompt over the model's window is
    // refused, truncated or condensed in place, or moved to a larger-window fallback group. No counting
    // when the catalog knows no window or the body is obviously small.
    const messages = chat.messages;
    const fitted = fitsUncounted(request, chat, routed) ? undefined : await fitContext(this.services, request, reply, chat, routed);
    const group = fitted?.group ?? routed;
    const skipped = fitted?.skipped;
    // Token limit and budget (issue #6): held here from the estimate, settled in record() from the
    // provider's usage. Keys with neither skip it: no tokenizer, no store call. The hold covers every
    // deployment the call may reach, the fallbacks the key may use included.
    const { admission } = this.services;
    if (admission.needsHold(request)) await admission.reserve(request, reply, chat, reachableGroups(router, group, request.principal?.models).routes, options.nativeBody);
    // Usage of a call that never reached a deployment is recorded against the group's first.
    const planned = group.deployments[0]?.route;
    const native = options.native?.(group, chat.messages !== messages || group !== routed);
    // Response cache (when on): the scoped key is hashed once, here.
    const cachePlan =
      cache === undefined || (native !== undefined && options.nativeCache === false)
        ? undefined
        : planCache(cache, this.services.config, this.services.router, request, group, chat, undefined, native === undefined ? undefined : options.nativeKey?.());
    const clientUsage = chat.stream_options?.include_usage === true;
    if (options.headers !== undefined) for (const [name, value] of Object.entries(options.headers)) reply.header(name, value);

    // The client's disconnect stops the upstream call (a light signal: see src/upstream/call-signal.ts).
    const disconnect = new CallAbort();
    const res = reply.raw;
    abortWhenClientLeaves(res, disconnect);
    const warnings: string[] = [];
    const context: ChatCallContext = {
      requestId: request.id,
      signal: disconnect,
      // A stream that may be cached is read with its usage chunk: the entry serves both kinds of client.
      includeUsage: clientUsage || cachePlan !== undefined,
      created: Math.floor(started / 1000),
      warnings,
      allowed: request.principal?.models,
      maxOutput: typeof chat.max_completion_tokens === 'number' ? chat.max_completion_tokens : typeof chat.max_tokens === 'number' ? chat.max_tokens : undefined,
      sentTo: undefined,
    };
    if (options.translatedMarkers === true) context.translatedMarkers = true;
    if (options.fitChat !== undefined) context.fitChat = options.fitChat;
    if (cache !== undefined) {
      const render = format === undefined ? undefined : (body: string) => (stream ? format.streamBody(body) : format.json(body));
      const shown = (stored: readonly string[]) => warningsOf(options, stored, this.services.redactor, chat.messages !== messages);
      const hit = await answerFromCache(cache, cachePlan, reply, stream, clientUsage, disconnect, shown, render);
      if (hit !== undefined) {
        // A replayed stream is written whole at once: its first token leaves when the answer does.
        recordCall(this.services, request, endpoint, planned, chat.model, stream, started, 'ok', 200, hit.answer.usage ?? undefined, {
          cacheHit: true,
          cost: 0,
          ...(stream ? { ttftMs: Date.now() - started } : {}),
        });
        return reply;
      }
    }

    if (!stream) {
      let outcome: NativeJsonOutcome;
      try {
        outcome = native === undefined ? await executor.complete(group, chat, context) : await native.complete(group, context);
      } catch (error) {
        if (cachePlan !== undefined) cache?.release(cachePlan);
        this.recordFailure(request, endpoint, planned, chat, false, started, error, disconnect.aborted, context.sentTo);
        throw error;
      }
      // The deployment the usage is recorded against: OpenRouter bills a fallback that answered at its own rates.
      const billed = billedRoute(outcome.route, chat, outcome.model, this.services.catalog);
      let body: string | Buffer;
      try {
        body = native === undefined && format !== undefined ? format.json(outcome.body) : outcome.body;
      } catch {
        // A passed-through answer with the outline of a chat completion but fields of the wrong type
        // (a tool call that is null, arguments that are no string) has no Messages or completions
        // form: the provider's fault, answered like any bad answer. It is not cached; its tokens are billed.
        if (cachePlan !== undefined) cache?.release(cachePlan);
        const failure = upstreamBadResponse(outcome.route.provider.name, 'an answer that could not be converted');
        const checked = this.checkUsage(request, billed, chat, outcome.usage, true, estimateAnswerTokens, outcome.body);
        recordCall(this.services, request, endpoint, billed, chat.model, false, started, 'error', failure.status, checked?.usage ?? outcome.usage, {
          errorCode: failure.code ?? undefined,
          estimated: checked !== undefined,
        });
        throw failure;
      }
      // Checked before the cache keeps it: a hit's record takes the usage stored with the answer (see storedUsage).
      const checked = this.checkUsage(request, billed, chat, outcome.usage, true, estimateAnswerTokens, outcome.body);
      if (cache !== undefined && cachePlan !== undefined) {
        const chatBody = native === undefined ? outcome.body : outcome.chatBody;
        if (chatBody === undefined) cache.release(cachePlan);
        else saveChatCompletion(cache, cachePlan, chatBody, storedUsage(outcome.usage, checked), warnings);
      }
      try {
        reply.header('x-llm-proxy-route', routeHeader(outcome.attempts, skipped));
        const shown = warningsOf(options, warnings, this.services.redactor, chat.messages !== messages, outcome.route);
        if (shown !== undefined) reply.header('x-llm-proxy-warnings', shown);
        return reply.code(200).header('content-type', 'application/json').send(body);
      } finally {
        // Recorded once the answer is on its way (the provider served it, whatever happens next):
        // the client does not wait for the bookkeeping.
        recordCall(this.services, request, endpoint, billed, chat.model, false, started, 'ok', 200, checked?.usage ?? outcome.usage, checked === undefined ? NO_EXTRA : ESTIMATED);
      }
    }

    let outcome: StreamOutcome;
    try {
      outcome = native === undefined ? await executor.stream(group, chat, context) : await native.stream(group, context);
    } catch (error) {
      if (cachePlan !== undefined) cache?.release(cachePlan);
      this.recordFailure(request, endpoint, planned, chat, true, started, error, disconnect.aborted, context.sentTo);
      throw error;
    }
    reply.hijack();
    const headers = reply.getHeaders() as OutgoingHttpHeaders;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['x-accel-buffering'] = 'no';
    const shown = warningsOf(options, warnings, this.services.redactor, chat.messages !== messages, outcome.route);
    if (shown !== undefined) headers['x-llm-proxy-warnings'] = shown;
    headers['x-llm-proxy-route'] = routeHeader(outcome.attempts, skipped);
    res.writeHead(200, headers);
    const ttftMs = Date.now() - started;
    const route = outcome.route;
    // Native streams are not in the chat format the cache keeps: their waiters are released.
    const capture =
      cachePlan === undefined || native !== undefined ? undefined : captureFrames(outcome.first, outcome.frames, clientUsage, passesThrough(route.provider.codec, chat), cache?.maxEntryBytes ?? 0);
    if (cachePlan !== undefined && native !== undefined) cache?.release(cachePlan);
    let first: Frame = capture?.first ?? outcome.first;
    let frames: AsyncGenerator<Frame> = capture?.frames ?? outcome.frames;
    if (native === undefined && format !== undefined) ({ first, frames } = format.stream(first, frames, route.provider.name));
    const end = await writeFrames(res, first, frames, this.streams, route.provider.name, () => disconnect.abort(), format?.streamError);
    const stats = outcome.stats;
    let status: UsageStatus = 'ok';
    let errorCode: string | undefined;
    if (end.kind === 'client_disconnected') status = 'client_disconnected';
    else if (end.kind === 'failed') {
      status = 'incomplete';
      errorCode = end.error.code ?? undefined;
    }
    // Without a usable report (a stream cut short, or a provider's bad count) the prompt is estimated
    // from the request (images by their tile formula, not their base64 length) and the output as a
    // token per chunk, and the record says so. Only a finished stream's problem is the provider's to log.
    const billed = billedRoute(route, chat, stats.model, this.services.catalog);
    const checked = this.checkUsage(request, billed, chat, stats.usage, status === 'ok', chunksOf, stats);
    if (cache !== undefined && cachePlan !== undefined && capture !== undefined) settleStream(cache, cachePlan, capture, end, storedUsage(stats.usage, checked), warnings);
    recordCall(this.services, request, endpoint, billed, chat.model, true, started, status, 200, checked?.usage ?? stats.usage, {
      ttftMs,
      estimated: checked !== undefined,
      ...(errorCode === undefined ? {} : { errorCode }),
    });
    return undefined;
  }
}
