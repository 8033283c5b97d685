// The admission and usage record of summariser work (endpoint `condense`): held up front for every
// call the condensation plans, then one record per client request summing every call it made
// (map-reduce makes several), priced from the catalog.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { abortWhenClientLeaves } from '../http/client-gone.js';
import { usageCost } from '../http/usage-record.js';
import type { CompletionUsage } from '../openai/types.js';
import type { ModelGroup, Route } from '../routing/model-router.js';
import { reachableGroups } from '../routing/reachable-groups.js';
import type { Services } from '../services.js';
import { CallAbort } from '../upstream/call-signal.js';
import { EXTRACTIVE_MODEL, type CondenseResult, type PreparedCondense, type SummariserCall, type SummariserEstimate } from './context-condenser.js';

/**
 * Takes the key's token-limit and budget holds for every planned summariser call (none when the key
 * has neither limit, or no call is planned); false when nothing was held. Throws 429/403 as a chat call would.
 */
async function holdSummariserCalls(
  services: Pick<Services, 'admission' | 'router'>,
  request: FastifyRequest,
  reply: FastifyReply,
  group: ModelGroup,
  estimate: SummariserEstimate,
): Promise<boolean> {
  if (estimate.calls === 0 || !services.admission.needsHold(request)) return false;
  // Priced at the dearest deployment a call may reach: the summariser's fallbacks the key may use included.
  const { routes } = reachableGroups(services.router, group, request.principal?.models);
  await services.admission.reserveTokens(request, reply, () => Promise.resolve(estimate.promptTokens), routes, () => estimate.outputTokens);
  return true;
}

export interface CondenseRun {
  /** The summarising group the condensation was prepared for; undefined: extractive only. */
  group: ModelGroup | undefined;
  /** When the client's request began (the record's latency). */
  started: number;
  /**
   * Record even when no summariser call was made: /api/condense's record is the request's own,
   * while the chat policy's sits beside the chat call's and only counts calls.
   */
  recordWithoutCalls: boolean;
}

/**
 * Holds every planned summariser call, runs the condensation for the client's request and records it
 * (endpoint `condense`), settling the hold. A run that fails still records the calls made (the
 * provider billed them; `client_disconnected` when the client left mid-way); with none made, the hold
 * is given back. Shared by /api/condense and the chat route's `condense` policy.
 */
export async function runCondensation(
  services: Pick<Services, 'usage' | 'catalog' | 'admission' | 'router'>,
  request: FastifyRequest,
  reply: FastifyReply,
  prepared: PreparedCondense,
  options: CondenseRun,
): Promise<CondenseResult> {
  const { group, started } = options;
  // The summariser calls are admitted like any call of the key: one over its budget or token limit is refused here, before any spend.
  const held = group !== undefined && (await holdSummariserCalls(services, request, reply, group, prepared.estimate));
  const disconnect = new CallAbort();
  abortWhenClientLeaves(reply.raw, disconnect);
  const model = group?.name ?? EXTRACTIVE_MODEL;
  const calls: SummariserCall[] = [];
  let result: CondenseResult;
  try {
    result = await prepared.run({ requestId: request.id, signal: disconnect, allowed: request.principal?.models, onCall: (call) => calls.push(call) });
  } catch (error) {
    if (calls.length > 0) recordCondenseUsage(services, request, model, calls, started, held, disconnect.aborted);
    else if (held) services.admission.cancel(request);
    throw error;
  }
  if (calls.length > 0 || options.recordWithoutCalls) recordCondenseUsage(services, request, model, calls, started, held);
  return result;
}

function recordCondenseUsage(
  services: Pick<Services, 'usage' | 'catalog' | 'admission'>,
  request: FastifyRequest,
  model: string,
  calls: readonly SummariserCall[],
  started: number,
  settle: boolean,
  /** The client left before the summary was done. */
  disconnected = false,
): void {
  let prompt = 0;
  let completion = 0;
  let cost: number | undefined;
  let route: Route | undefined;
  let estimated = false;
  for (const call of calls) {
    route = call.route ?? route;
    estimated ||= call.estimated;
    // A call that failed has no usage (the executor's failed attempts are not billed either).
    if (call.usage === undefined) continue;
    prompt += call.usage.prompt_tokens;
    completion += call.usage.completion_tokens;
    const part = usageCost(services.catalog, call.route?.entry, call.usage, Date.now());
    if (part !== undefined) cost = (cost ?? 0) + part;
  }
  const failed = calls.filter((call) => !call.ok);
  const ok = calls.length === 0 || calls.some((call) => call.ok);
  const tokens: CompletionUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  services.usage.record({
    requestId: request.id,
    keyId: request.principal?.keyId ?? 'anonymous',
    endpoint: 'condense',
    model,
    ...(route === undefined ? {} : { provider: route.provider.name, upstreamModel: route.upstreamModel }),
    promptTokens: prompt,
    completionTokens: completion,
    cachedTokens: 0,
    ...(cost === undefined ? {} : { cost }),
    latencyMs: Date.now() - started,
    status: disconnected ? 'client_disconnected' : ok ? 'ok' : 'error',
    // 499 for a client that left before its answer, as the access line and the chat records say.
    httpStatus: disconnected ? 499 : 200,
    ...(failed[0]?.errorCode === undefined ? {} : { errorCode: failed[0].errorCode }),
    stream: false,
    cacheHit: false,
    estimated,
    createdAt: started,
    ...(settle ? services.admission.settle(request, tokens, cost) : {}),
  });
}
