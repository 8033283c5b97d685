// POST /v1/embeddings (OpenAI format): validate, route, check the key's models, hold tokens and
// budget, answer from the cache or call the provider (failover and retries as for chat), record
// usage with the catalog's input price. Provider differences live in each codec's `embeddings`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidJson, isGatewayError, modelNotFound } from '../../errors/gateway-error.js';
import { validateEmbeddingRequest, type EmbeddingRequest, type EmbeddingUsage } from '../../openai/embeddings-request.js';
import type { CompletionUsage } from '../../openai/types.js';
import { EmbeddingsExecutor, embeddingsNotServed, type EmbeddingsOutcome } from '../../routing/embeddings-executor.js';
import type { Route } from '../../routing/model-router.js';
import { NO_OUTPUT, type HoldRemedy } from '../../rate-limit/chat-admission.js';
import type { Services } from '../../services.js';
import { countTokens } from '../../usage/token-counts.js';
import { promptLimit } from '../../usage/usage-check.js';
import type { UsageRecord, UsageStatus } from '../../usage/usage-recorder.js';
import { answerFromCache, planCache, saveCompletion } from '../cache-response.js';
import { checkModelAccess, routeHeader } from '../chat-pipeline.js';
import { abortWhenClientLeaves } from '../client-gone.js';
import { guardBody } from '../json-body.js';
import { warningsHeader } from '../warnings-header.js';
import { failedCall, recordCall } from '../usage-record.js';
import { CallAbort } from '../../upstream/call-signal.js';

/** The usage record's `endpoint`, and what keeps embedding cache entries apart from chat ones. */
const ENDPOINT = 'embeddings';

/** A refused hold's advice: the input is all an embeddings request can make smaller. */
const REMEDY: HoldRemedy = { tokens: 'shorten or split the input', budget: 'Shorten the input.' };

/** Embeddings usage in the shape usage records, admission and the cache share (no output tokens). */
function asCompletionUsage(usage: EmbeddingUsage): CompletionUsage {
  return { prompt_tokens: usage.prompt_tokens, completion_tokens: 0, total_tokens: usage.total_tokens };
}

/** Whether a reported input count is a count the request could have cost: each input at most what a chat prompt may bill (usage-check.ts). */
function plausibleInput(tokens: unknown, embed: EmbeddingRequest, route: Route): boolean {
  // A fractional count (3.5) is no count either: an integer column refuses it (PostgreSQL drops the row).
  if (typeof tokens !== 'number' || !Number.isSafeInteger(tokens) || tokens < 0) return false;
  const inputs = typeof embed.input === 'string' ? 1 : Math.max(1, embed.input.length);
  return tokens <= inputs * promptLimit(route.entry);
}

export function registerEmbeddings(app: FastifyInstance, services: Services): void {
  const { router, cache } = services;
  const embeddings = new EmbeddingsExecutor(services.upstream, services.executor, router);

  function record(
    request: FastifyRequest,
    route: Route | undefined,
    model: string,
    started: number,
    status: UsageStatus,
    httpStatus: number,
    tokens: CompletionUsage | undefined,
    extra?: Partial<UsageRecord>,
  ): void {
    recordCall(services, request, ENDPOINT, route, model, false, started, status, httpStatus, tokens, extra);
  }

  app.post('/v1/embeddings', { config: { auth: 'client' } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    const body = request.body as Record<string, unknown> | undefined;
    // No body and no Content-Type skips the parser entirely: still a bad input, not a crash.
    if (body === undefined || body === null) throw invalidJson('The request body is empty.');
    guardBody(body);
    const embed: EmbeddingRequest = validateEmbeddingRequest(body);
    const routed = router.plan(embed.model);
    if (routed === undefined) throw modelNotFound(embed.model);
    checkModelAccess(request, router, routed, embed.model);
    const group = embeddings.servedGroup(routed);
    if (group === undefined) throw embeddingsNotServed(routed.deployments.length === 1 ? routed.deployments[0]?.route.provider.name : undefined, embed.model);
    // Usage of a call that never reached a deployment is recorded against the group's first.
    const planned = group.deployments[0]?.route;

    // Counted locally at most once: for a key's token limit or budget, and when the provider reports no usage.
    let counted: Promise<number> | undefined;
    const countInput = () => (counted ??= countTokens({ kind: 'embeddings', input: embed.input }));
    // The hold prices every deployment the call may reach: the fallbacks the key may use included.
    await services.admission.reserveTokens(request, reply, countInput, embeddings.reachableRoutes(group, request.principal?.models), NO_OUTPUT, REMEDY);
    const cachePlan = cache === undefined ? undefined : planCache(cache, services.config, router, request, group, embed, ENDPOINT);

    // The light signal of src/upstream/call-signal.ts: an AbortController costs 6-9 µs a request.
    const disconnect = new CallAbort();
    abortWhenClientLeaves(reply.raw, disconnect);
    if (cache !== undefined) {
      const hit = await answerFromCache(cache, cachePlan, reply, false, false, disconnect, (stored) => warningsHeader(stored, services.redactor));
      if (hit !== undefined) {
        record(request, planned, embed.model, started, 'ok', 200, hit.answer.usage ?? undefined, { cacheHit: true, cost: 0 });
        return reply;
      }
    }

    const warnings: string[] = [];
    let outcome: EmbeddingsOutcome;
    try {
      outcome = await embeddings.embed(group, embed, { signal: disconnect, warnings, allowed: request.principal?.models });
    } catch (error) {
      if (cachePlan !== undefined) cache?.release(cachePlan);
      const failed = failedCall(error, disconnect.aborted);
      record(request, planned, embed.model, started, failed.status, failed.httpStatus, undefined, {
        ...(isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {}),
      });
      throw error;
    }
    const answer = outcome.response;
    let estimated = false;
    if (answer.usage === undefined) {
      // Gemini (and some hosts) report no tokens: the client still gets usage, marked estimated in our records.
      const tokens = await countInput();
      answer.usage = { prompt_tokens: tokens, total_tokens: tokens };
      estimated = true;
    }
    let tokens = asCompletionUsage(answer.usage);
    if (!plausibleInput(tokens.prompt_tokens, embed, outcome.route)) {
      // As for chat (src/usage/usage-check.ts): a count that is no count, or more than the inputs
      // could hold, is billed from the local count; the client still gets the provider's answer.
      const counted = await countInput();
      tokens = { prompt_tokens: counted, completion_tokens: 0, total_tokens: counted };
      estimated = true;
    }
    const out = outcome.raw ?? JSON.stringify(answer);
    if (cache !== undefined && cachePlan !== undefined) saveCompletion(cache, cachePlan, out, tokens, warnings);
    record(request, outcome.route, embed.model, started, 'ok', 200, tokens, { estimated });
    reply.header('x-llm-proxy-route', routeHeader(outcome.attempts));
    const shown = warningsHeader(warnings, services.redactor);
    if (shown !== undefined) reply.header('x-llm-proxy-warnings', shown);
    return reply.code(200).header('content-type', 'application/json').send(out);
  });
}
