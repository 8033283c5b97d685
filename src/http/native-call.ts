// Native pass-through calls: a body in the upstream's own wire format (Anthropic Messages to an
// Anthropic upstream, legacy completions to a host that serves them), sent through the executor's
// routing, failover, retries and breakers, answered as the upstream's own bytes. Streams are held
// until their first content, like chat streams, so a failure before it can still move elsewhere.
import { isGatewayError, upstreamStreamError } from '../errors/gateway-error.js';
import type { CompletionUsage } from '../openai/types.js';
import type { CallSignal } from '../upstream/call-signal.js';
import type { UpstreamRequestSpec } from '../providers/provider.js';
import { callTimeouts, heldOutcome, openHeldStream, type ChatCallContext, type FramesOver, type HeldStream, type StreamOutcome, type StreamStats } from '../routing/chat-executor.js';
import type { ModelGroup, ModelRouter, Route } from '../routing/model-router.js';
import type { ProviderInstance } from '../providers/provider.js';
import { reachableGroups } from '../routing/reachable-groups.js';
import type { Services } from '../services.js';
import { decodeSseBatches, SseEventTooLarge, type SseEvent } from '../streaming/sse-decoder.js';
import { SSE_DONE } from '../streaming/sse-encoder.js';
import { releaseBody, upstreamSse } from '../upstream/upstream-client.js';
import type { NativeJsonOutcome } from './chat-pipeline.js';

/** One native protocol: how to build the call for a deployment and read what comes back. */
export interface NativeProtocol {
  request(route: Route, stream: boolean): UpstreamRequestSpec;
  /** A whole answer: its usage, and the same answer as a chat.completion for the cache when there is one. */
  readJson(parsed: unknown, route: Route): { usage: CompletionUsage | undefined; chatBody?: string };
  /**
   * Reads one stream event: updates `stats` (usage, contentStarted, finished) and returns the frame
   * to forward ('' drops it). Throws a GatewayError for an error event.
   */
  readEvent(event: SseEvent, stats: StreamStats, route: Route): string;
  /**
   * Whether the event just read ended the answer (Anthropic's `message_stop`) so that nothing after
   * it is read; `[DONE]` always does.
   */
  ended?(): boolean;
  /**
   * The frame that ends the client's stream when the upstream closed after a complete answer
   * without its own end marker (some OpenAI-compatible hosts never send `[DONE]`).
   */
  closing?: string;
}

/**
 * The deployments of a group that the native protocol does not reach (a Claude group's GPT
 * fallback), called in the chat form with their answers turned into the endpoint's own, so one
 * call fails over between the two kinds: each deployment is called its own best way.
 */
export interface ForeignDeployments {
  /** Whether the native protocol reaches this provider (else the methods below call it). */
  native(provider: ProviderInstance): boolean;
  complete(route: Route, group: ModelGroup, context: ChatCallContext, signal: CallSignal): Promise<{ bytes: string; usage: CompletionUsage | undefined; chatBody?: string }>;
  /** A held stream whose frames are already the endpoint's. */
  open(route: Route, group: ModelGroup, context: ChatCallContext): Promise<HeldStream>;
}

const verdicts = new WeakMap<(provider: ProviderInstance) => boolean, WeakMap<ModelGroup, boolean>>();

/** Whether every deployment of this one group is a provider `native` accepts; kept per group and predicate. */
function groupServedNatively(group: ModelGroup, native: (provider: ProviderInstance) => boolean): boolean {
  let known = verdicts.get(native);
  if (known === undefined) {
    known = new WeakMap();
    verdicts.set(native, known);
  }
  let verdict = known.get(group);
  if (verdict === undefined) {
    verdict = group.deployments.length > 0 && group.deployments.every((deployment) => native(deployment.route.provider));
    known.set(group, verdict);
  }
  return verdict;
}

/**
 * Whether every deployment that may serve the group, its fallback groups' included, is a provider
 * `native` accepts (pass a module-level function). A fallback the key may not use (`allowed`) is
 * never called, so it does not count.
 */
export function servedNatively(router: ModelRouter, group: ModelGroup, native: (provider: ProviderInstance) => boolean, allowed: readonly string[] | undefined): boolean {
  return reachableGroups(router, group, allowed).groups.every((entry) => groupServedNatively(entry, native));
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED');
}

export class NativeCaller {
  constructor(private readonly services: Pick<Services, 'executor' | 'upstream' | 'redactor' | 'config'>) {}

  async complete(group: ModelGroup, context: ChatCallContext, protocol: NativeProtocol, foreign?: ForeignDeployments): Promise<NativeJsonOutcome> {
    const { upstream, executor } = this.services;
    const { result, route, attempts } = await executor.execute<{ bytes: Buffer | string; usage: CompletionUsage | undefined; chatBody?: string | undefined }>(
      group,
      context.signal,
      async (route, current, signal) => {
        if (foreign !== undefined) {
          if (!foreign.native(route.provider)) return foreign.complete(route, current, context, signal);
          // A chat attempt before this one left its provider's warnings: they are not this answer's.
          context.warnings.length = 0;
        }
        context.sentTo = route;
        const { bytes, parsed } = await upstream.sendForJson(route.provider, protocol.request(route, false), signal, callTimeouts(current));
        return { bytes, ...protocol.readJson(parsed, route) };
      },
      context,
    );
    return { body: result.bytes, usage: result.usage, ...(result.chatBody === undefined ? {} : { chatBody: result.chatBody }), route, attempts };
  }

  async stream(group: ModelGroup, context: ChatCallContext, protocol: NativeProtocol, foreign?: ForeignDeployments): Promise<StreamOutcome> {
    const attempt = (route: Route, current: ModelGroup): Promise<HeldStream> => {
      if (foreign !== undefined) {
        if (!foreign.native(route.provider)) return foreign.open(route, current, context);
        context.warnings.length = 0;
      }
      return this.open(route, current, context, protocol);
    };
    const { result, route, attempts } = await this.services.executor.routeStream(group, context.signal, attempt, context);
    return heldOutcome(result, route, attempts);
  }

  private open(route: Route, group: ModelGroup, context: ChatCallContext, protocol: NativeProtocol): Promise<HeldStream> {
    const { upstream, config } = this.services;
    context.sentTo = route;
    return openHeldStream(upstream, route.provider, protocol.request(route, true), group, context.signal, config.routing.ttfb_timeout_s * 1000, (body, stats, release) =>
      this.frames(decodeSseBatches(upstreamSse(body), () => releaseBody(body)), route, stats, protocol, release),
    );
  }

  private async *frames(batches: AsyncGenerator<SseEvent[]>, route: Route, stats: StreamStats, protocol: NativeProtocol, over: FramesOver): AsyncGenerator<string> {
    const provider = route.provider.name;
    let failure: unknown;
    try {
      for await (const batch of batches) {
        let out = '';
        for (const event of batch) {
          stats.chunks++;
          let frame: string;
          try {
            frame = protocol.readEvent(event, stats, route);
          } catch (error) {
            if (out.length > 0) yield out;
            throw error;
          }
          out += frame;
          // `[DONE]` (or the protocol's own end) ends the stream: whatever an upstream writes after it
          // (junk, a late error, a connection that never closes) is not read, or it could put an
          // error event after the client's last event.
          if (frame === SSE_DONE || protocol.ended?.() === true) {
            yield out;
            return;
          }
        }
        if (out.length > 0) yield out;
      }
      if (!stats.finished) throw upstreamStreamError(provider, 'it ended before the answer was complete');
    } catch (error) {
      if (isAbort(error)) failure = error;
      else if (isGatewayError(error)) {
        const message = this.services.redactor.redactProviderText(error.message);
        failure = message === error.message ? error : error.with({ message });
      } else failure = upstreamStreamError(provider, error instanceof SseEventTooLarge ? error.message : 'the connection broke');
      throw failure;
    } finally {
      over(failure);
    }
    if (protocol.closing !== undefined) yield protocol.closing;
  }
}
