// POST /v1/chat/completions: validate, route, call, answer (JSON or SSE), record usage.
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  invalidJson,
  invalidValue,
  isGatewayError,
  modelNotFound,
  permissionDenied,
  type GatewayError,
} from '../../errors/gateway-error.js';
import { fitContext } from '../../context/context-policy.js';
import { validateChatRequest } from '../../openai/chat-request-schema.js';
import type { ChatCompletionRequest, CompletionUsage } from '../../openai/types.js';
import type { ChatCallContext } from '../../routing/chat-executor.js';
import type { AttemptRecord } from '../../routing/chat-executor.js';
import type { ModelGroup, Route } from '../../routing/model-router.js';
import type { Services } from '../../services.js';
import type { UsageRecord, UsageStatus } from '../../usage/usage-recorder.js';
import { answerFromCache, captureFrames, planCache, saveCompletion, settleStream } from '../cache-response.js';
import { guardBody } from '../json-body.js';
import { writeFrames, type StreamRegistry } from '../stream-response.js';

/** `X-LLM-Proxy-Route`: every deployment tried, in order, with its outcome. */
function routeHeader(attempts: readonly AttemptRecord[]): string {
  return attempts.map((attempt) => `${attempt.deployment}=${attempt.outcome}`).join(', ');
}

function checkModelAccess(request: FastifyRequest, group: ModelGroup, requested: string): void {
  const allowed = request.principal?.models;
  if (allowed === undefined) return;
  if (allowed.includes(requested) || allowed.includes(group.name)) return;
  throw permissionDenied(`This key may not use the model '${requested}'.`, 'model_not_allowed');
}

function checkOutputLimit(chat: ChatCompletionRequest, group: ModelGroup): void {
  const route = group.deployments[0]?.route;
  const limit = route?.entry?.max_output_tokens;
  if (typeof limit !== 'number') return;
  for (const param of ['max_tokens', 'max_completion_tokens'] as const) {
    const value = chat[param];
    if (typeof value === 'number' && value > limit) {
      throw invalidValue(param, `${value} is above the ${limit} output tokens that ${group.name} allows`);
    }
  }
}

export function registerChatCompletions(app: FastifyInstance, services: Services, streams: StreamRegistry): void {
  const { router, executor, usage, catalog } = services;
  const cache = services.cache;

  function record(
    request: FastifyRequest,
    route: Route | undefined,
    model: string,
    stream: boolean,
    started: number,
    status: UsageStatus,
    httpStatus: number,
    tokens: CompletionUsage | undefined,
    extra: Partial<UsageRecord> = {},
  ): void {
    const prompt = tokens?.prompt_tokens ?? 0;
    const completion = tokens?.completion_tokens ?? 0;
    const cached = tokens?.prompt_tokens_details?.cached_tokens ?? 0;
    const cost = tokens === undefined ? undefined : catalog.cost(route?.entry, prompt, completion, cached);
    usage.record({
      requestId: request.id,
      keyId: request.principal?.keyId ?? 'anonymous',
      endpoint: 'chat.completions',
      model,
      ...(route === undefined ? {} : { provider: route.provider.name, upstreamModel: route.upstreamModel }),
      promptTokens: prompt,
      completionTokens: completion,
      cachedTokens: cached,
      ...(cost === undefined ? {} : { cost }),
      latencyMs: Date.now() - started,
      status,
      httpStatus,
      stream,
      cacheHit: false,
      estimated: false,
      createdAt: started,
      ...extra,
      // Settles the token and budget holds taken before the call; its id lets the store settle the budget.
      ...services.admission.settle(request, extra.cacheHit === true ? undefined : tokens, extra.cost ?? cost),
    });
  }

  app.post('/v1/chat/completions', { config: { auth: 'client' } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    const body = request.body as Record<string, unknown> | undefined;
    // No body and no Content-Type skips the parser entirely: still a bad input, not a crash.
    if (body === undefined || body === null) throw invalidJson('The request body is empty.');
    guardBody(body);
    const chat = validateChatRequest(body);
    const stream = chat.stream === true;
    const routed = router.plan(chat.model);
    if (routed === undefined) throw modelNotFound(chat.model);
    checkModelAccess(request, routed, chat.model);
    checkOutputLimit(chat, routed);
    // Context policy (issue #8, src/context/context-policy.ts): a prompt over the model's window is
    // refused, truncated or condensed in place, or moved to a larger-window fallback group. No counting
    // when the catalog knows no window or the body is obviously small.
    const group = await fitContext(services, request, reply, chat, routed);
    // Token limit and budget (issue #6): held here from the estimate, settled in record() from the
    // provider's usage. Keys with neither skip it: no tokenizer, no store call.
    await services.admission.reserve(request, reply, chat, group.deployments.map((deployment) => deployment.route));
    // Usage of a call that never reached a deployment is recorded against the group's first.
    const planned = group.deployments[0]?.route;
    // Response cache (when on): the scoped key is hashed once, here.
    const cachePlan = cache === undefined ? undefined : planCache(cache, request, group, chat);
    const clientUsage = chat.stream_options?.include_usage === true;

    const controller = new AbortController();
    const res = reply.raw;
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const warnings: string[] = [];
    const context: ChatCallContext = {
      requestId: request.id,
      signal: controller.signal,
      // A stream that may be cached is read with its usage chunk: the entry serves both kinds of client.
      includeUsage: clientUsage || cachePlan !== undefined,
      created: Math.floor(started / 1000),
      warnings,
    };
    if (cache !== undefined) {
      const hit = await answerFromCache(cache, cachePlan, reply, stream, clientUsage, controller.signal);
      if (hit !== undefined) {
        record(request, planned, chat.model, stream, started, 'ok', 200, hit.answer.usage ?? undefined, { cacheHit: true, cost: 0 });
        return reply;
      }
    }

    if (!stream) {
      let outcome;
      try {
        outcome = await executor.complete(group, chat, context);
      } catch (error) {
        if (cachePlan !== undefined) cache?.release(cachePlan);
        const disconnected = controller.signal.aborted;
        record(request, planned, chat.model, false, started, disconnected ? 'client_disconnected' : 'error', isGatewayError(error) ? error.status : 500, undefined, {
          ...(isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {}),
        });
        throw error;
      }
      if (cache !== undefined && cachePlan !== undefined) saveCompletion(cache, cachePlan, outcome.body, outcome.usage, warnings);
      record(request, outcome.route, chat.model, false, started, 'ok', 200, outcome.usage);
      reply.header('x-llm-proxy-route', routeHeader(outcome.attempts));
      if (warnings.length > 0) reply.header('x-llm-proxy-warnings', warnings.join('; '));
      return reply.code(200).header('content-type', 'application/json').send(outcome.body);
    }

    let outcome;
    try {
      outcome = await executor.stream(group, chat, context);
    } catch (error) {
      if (cachePlan !== undefined) cache?.release(cachePlan);
      record(request, planned, chat.model, true, started, controller.signal.aborted ? 'client_disconnected' : 'error', isGatewayError(error) ? error.status : 500, undefined, {
        ...(isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {}),
      });
      throw error;
    }
    reply.hijack();
    const headers = reply.getHeaders() as OutgoingHttpHeaders;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['x-accel-buffering'] = 'no';
    if (warnings.length > 0) headers['x-llm-proxy-warnings'] = warnings.join('; ');
    headers['x-llm-proxy-route'] = routeHeader(outcome.attempts);
    res.writeHead(200, headers);
    const ttftMs = Date.now() - started;
    const route = outcome.route;
    const capture = cachePlan === undefined ? undefined : captureFrames(outcome.first, outcome.frames, clientUsage, route.provider.codec.passthrough, cache?.maxEntryBytes ?? 0);
    const end = await writeFrames(res, capture?.first ?? outcome.first, capture?.frames ?? outcome.frames, streams, route.provider.name, () => controller.abort());
    const stats = outcome.stats;
    if (cache !== undefined && cachePlan !== undefined && capture !== undefined) settleStream(cache, cachePlan, capture, end, stats.usage, warnings);
    let status: UsageStatus = 'ok';
    let errorCode: string | undefined;
    if (end.kind === 'client_disconnected') status = 'client_disconnected';
    else if (end.kind === 'failed') {
      status = 'incomplete';
      errorCode = (end.error as GatewayError).code ?? undefined;
    }
    // Without a usage report (a stream cut short), count roughly one token per chunk, and say so.
    const tokens: CompletionUsage = stats.usage ?? {
      prompt_tokens: Math.ceil((request.headers['content-length'] ? Number(request.headers['content-length']) : 0) / 4),
      completion_tokens: stats.chunks,
      total_tokens: 0,
    };
    record(request, route, chat.model, true, started, status, 200, tokens, {
      ttftMs,
      estimated: stats.usage === undefined,
      ...(errorCode === undefined ? {} : { errorCode }),
    });
  });
}
