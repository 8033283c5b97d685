// The chat route's side of the response cache: plan from the request (scope = the calling key,
// Cache-Control), answer a hit in the form asked for (X-Cache, Age), and capture a live answer,
// JSON or stream, so a complete one is stored and handed to identical requests waiting for it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CacheableRequest, CacheKeyTarget } from '../cache/cache-key.js';
import { answerFromCompletion, answerFromFrames, finishedCompletion, renderCompletion, renderStream, stripUsageFromFrame } from '../cache/cached-answer.js';
import { parseCacheControl, type CacheHit, type CachePlan, type ResponseCache } from '../cache/response-cache.js';
import type { Config } from '../config/config-schema.js';
import type { CompletionUsage } from '../openai/types.js';
import type { ModelGroup, ModelRouter } from '../routing/model-router.js';
import { reachableGroups } from '../routing/reachable-groups.js';
import { frameText, type Frame } from '../streaming/sse-passthrough.js';
import type { StreamEnd } from './stream-response.js';
import type { CallSignal } from '../upstream/call-signal.js';

function cacheTarget(router: Planner, group: ModelGroup, allowed: readonly string[] | undefined, endpoint: string | undefined, native: unknown): CacheKeyTarget {
  const target: CacheKeyTarget = { model: group.name, deployments: group.deployments.map((deployment) => deployment.id) };
  // What may have answered is part of the key: the fallbacks this key may use (reachable-groups.ts).
  if (group.fallbacks.length > 0) target.fallbacks = reachableGroups(router, group, allowed).groups.slice(1).map((fallback) => fallback.name);
  if (endpoint !== undefined) target.endpoint = endpoint;
  if (native !== undefined) target.native = native;
  return target;
}

type Planner = Pick<ModelRouter, 'plan' | 'version'>;

/**
 * The request's cache plan; undefined when the cache stays out (no-store, n > 1, TTL 0). `endpoint`
 * keeps answers that are not chat completions (embeddings) apart from chat entries; `native` is what
 * a call in the endpoint's own wire format sends beyond the chat form (CacheKeyTarget.native). The cache
 * outlives config reloads; `config` is the one serving this request, whose time-to-first-byte
 * timeout (the group's own first) bounds the wait for an identical request in flight (so a reload applies to new requests).
 * `router` works out which of the group's fallbacks the calling key may use: they are part of the key.
 */
export function planCache(cache: ResponseCache, config: Config, router: Planner, request: FastifyRequest, group: ModelGroup, chat: CacheableRequest, endpoint?: string, native?: unknown): CachePlan | undefined {
  const principal = request.principal;
  // Every route that reaches here is authenticated; without a caller there is no scope, so no cache.
  if (principal === null || principal === undefined) return undefined;
  return cache.plan(principal.stableId ?? principal.keyId, cacheTarget(router, group, principal.models, endpoint, native), chat, parseCacheControl(request.headers['cache-control']), group.timeouts.ttfbMs ?? config.routing.ttfb_timeout_s * 1000);
}

/** `X-LLM-Proxy-Route` of an answer served from the cache. */
export const CACHE_ROUTE = 'cache=hit';

/**
 * Sets X-Cache and, on a hit, sends the answer (and returns the hit: the caller records usage and
 * returns the reply). On a miss, the plan may now hold identical requests: it must be ended with
 * saveCompletion/settleStream or release.
 */
export async function answerFromCache(
  cache: ResponseCache,
  plan: CachePlan | undefined,
  reply: FastifyReply,
  stream: boolean,
  includeUsage: boolean,
  signal: CallSignal,
  /**
   * The `X-LLM-Proxy-Warnings` value for the stored warnings (the provider's, in the chat form's
   * names) as this request's client is to see them (warnings-header.ts); undefined: no header.
   */
  showWarnings: (stored: readonly string[]) => string | undefined,
  /** Another endpoint's form of the chat answer (/v1/messages, /v1/completions). */
  render?: (body: string) => string,
): Promise<CacheHit | undefined> {
  if (plan === undefined || !plan.read) {
    reply.header('x-cache', 'BYPASS');
    if (plan !== undefined) await cache.lookup(plan, signal);
    return undefined;
  }
  reply.header('x-cache', 'MISS');
  const hit = await cache.lookup(plan, signal);
  if (hit === undefined) return undefined;
  let body: string;
  try {
    body = stream ? renderStream(hit.answer, includeUsage) : renderCompletion(hit.answer);
    if (render !== undefined) body = render(body);
  } catch {
    // An entry that cannot be rendered (never written by this code) is a miss.
    return undefined;
  }
  // No deployment was called: the route says so, as every answer carries one (README, Routing).
  reply.header('x-cache', 'HIT').header('age', String(hit.ageS)).header('x-llm-proxy-route', CACHE_ROUTE);
  const shown = showWarnings(hit.answer.warnings ?? []);
  if (shown !== undefined) reply.header('x-llm-proxy-warnings', shown);
  if (stream) reply.header('content-type', 'text/event-stream; charset=utf-8').header('x-accel-buffering', 'no');
  else reply.header('content-type', 'application/json');
  reply.code(200).send(body);
  return hit;
}

/** Stores a whole JSON answer. */
export function saveCompletion(
  cache: ResponseCache,
  plan: CachePlan,
  body: string | Buffer,
  usage: CompletionUsage | undefined,
  warnings: readonly string[],
): void {
  cache.save(plan, answerFromCompletion(typeof body === 'string' ? body : body.toString('utf8'), usage, warnings, Date.now()));
}

/** Stores a whole chat answer when it is a complete one (finishedCompletion), else releases its waiters. */
export function saveChatCompletion(
  cache: ResponseCache,
  plan: CachePlan,
  body: string | Buffer,
  usage: CompletionUsage | undefined,
  warnings: readonly string[],
): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (finishedCompletion(text)) saveCompletion(cache, plan, text, usage, warnings);
  else cache.release(plan);
}

export interface FrameCapture {
  /** What to write first and after, as the client asked (usage chunk or not). */
  first: string;
  /** The live frames as this client takes them: each upstream write as it came when nothing in it changed. */
  frames: AsyncGenerator<Frame>;
  /** Every frame as produced, usage included, for the cache (emptied if the stream outgrows an entry). */
  captured: string[];
  /** The stream grew past the largest entry: it will not be stored. */
  overflow: boolean;
  passthrough: boolean;
}

/**
 * Taps a live stream that the executor produced with the usage chunk included (the entry must
 * serve both kinds of client): records every frame and passes on what this client asked for.
 */
export function captureFrames(
  first: Frame,
  frames: AsyncGenerator<Frame>,
  includeUsage: boolean,
  passthrough: boolean,
  maxBytes: number,
): FrameCapture {
  const capture: FrameCapture = { first: '', frames: rest(), captured: [], overflow: false, passthrough };
  let size = 0;
  const keep = (frame: string) => {
    if (capture.overflow) return;
    size += frame.length;
    if (size > maxBytes) {
      capture.overflow = true;
      capture.captured = [];
    } else capture.captured.push(frame);
  };
  const shown = (frame: string) => (includeUsage ? frame : stripUsageFromFrame(frame, passthrough));
  // `first` (everything up to the first content) and each pass-through write (every event of one
  // upstream read) may hold several frames: each is kept, and usage-stripped, on its own.
  eachFrame(frameText(first), (frame) => {
    keep(frame);
    capture.first += shown(frame) ?? '';
  });
  async function* rest(): AsyncGenerator<Frame> {
    for await (const batch of frames) {
      const text = frameText(batch);
      // Built only from the first frame this client takes otherwise (the usage chunk it did not ask
      // for): a write left as it came goes on as the upstream's own bytes, not a copy re-encoded.
      let out: string | undefined;
      eachFrame(text, (frame, start) => {
        keep(frame);
        const client = shown(frame) ?? '';
        if (out !== undefined) out += client;
        else if (client !== frame) out = text.slice(0, start) + client;
      });
      if (out === undefined) yield batch;
      else if (out.length > 0) yield out;
    }
  }
  return capture;
}

/**
 * Calls `visit` with each SSE frame (ending in a blank line) of a string of one or more frames. A
 * bare blank line (a host's empty keep-alive, passed through as it came) is no frame: kept, it was
 * taken for an event that is no chunk, and the stream was never stored.
 */
function eachFrame(batch: string, visit: (frame: string, start: number) => void): void {
  let start = 0;
  while (start < batch.length) {
    const end = batch.indexOf('\n\n', start);
    const stop = end < 0 ? batch.length : end + 2;
    if (end !== start) visit(batch.slice(start, stop), start);
    start = stop;
  }
}

/** After a captured stream ends: stores it when it is a complete answer, else releases the waiters. */
export function settleStream(
  cache: ResponseCache,
  plan: CachePlan,
  capture: FrameCapture,
  end: StreamEnd,
  usage: CompletionUsage | undefined,
  warnings: readonly string[],
): void {
  const answer = end.kind === 'complete' && !capture.overflow ? answerFromFrames(capture.captured, capture.passthrough, usage, warnings, Date.now()) : undefined;
  if (answer === undefined) cache.release(plan);
  else cache.save(plan, answer);
}
