// POST /v1/chat/completions: validate, route, call, answer (JSON or SSE), record usage.
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  invalidValue,
  isGatewayError,
  modelNotFound,
  permissionDenied,
  type GatewayError,
} from '../../errors/gateway-error.js';
import { validateChatRequest } from '../../openai/chat-request-schema.js';
import type { ChatCompletionRequest, CompletionUsage } from '../../openai/types.js';
import type { ChatCallContext } from '../../routing/chat-executor.js';
import type { Route } from '../../routing/model-router.js';
import type { Services } from '../../services.js';
import type { UsageRecord, UsageStatus } from '../../usage/usage-recorder.js';
import { guardBody } from '../json-body.js';
import { writeFrames, type StreamRegistry } from '../stream-response.js';

function checkModelAccess(request: FastifyRequest, route: Route, requested: string): void {
  const allowed = request.principal?.models;
  if (allowed === undefined) return;
  if (allowed.includes(requested) || allowed.includes(route.model) || allowed.includes(`${route.provider.name}/${route.upstreamModel}`)) return;
  throw permissionDenied(`This key may not use the model '${requested}'.`, 'model_not_allowed');
}

function checkOutputLimit(chat: ChatCompletionRequest, route: Route): void {
  const limit = route.entry?.max_output_tokens;
  if (typeof limit !== 'number') return;
  for (const param of ['max_tokens', 'max_completion_tokens'] as const) {
    const value = chat[param];
    if (typeof value === 'number' && value > limit) {
      throw invalidValue(param, `${value} is above the ${limit} output tokens that ${route.model} allows`);
    }
  }
}

export function registerChatCompletions(app: FastifyInstance, services: Services, streams: StreamRegistry): void {
  const { router, executor, usage, catalog } = services;

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
    });
  }

  app.post('/v1/chat/completions', { config: { auth: 'client' } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    const body = request.body as Record<string, unknown>;
    guardBody(body);
    const chat = validateChatRequest(body);
    const stream = chat.stream === true;
    const route = router.resolve(chat.model);
    if (route === undefined) throw modelNotFound(chat.model);
    checkModelAccess(request, route, chat.model);
    checkOutputLimit(chat, route);

    const controller = new AbortController();
    const res = reply.raw;
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const warnings: string[] = [];
    const context: ChatCallContext = {
      requestId: request.id,
      signal: controller.signal,
      includeUsage: chat.stream_options?.include_usage === true,
      created: Math.floor(started / 1000),
      warnings,
    };

    if (!stream) {
      let outcome;
      try {
        outcome = await executor.complete(route, chat, context);
      } catch (error) {
        const disconnected = controller.signal.aborted;
        record(request, route, chat.model, false, started, disconnected ? 'client_disconnected' : 'error', isGatewayError(error) ? error.status : 500, undefined, {
          ...(isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {}),
        });
        throw error;
      }
      record(request, route, chat.model, false, started, 'ok', 200, outcome.usage);
      if (warnings.length > 0) reply.header('x-llm-proxy-warnings', warnings.join('; '));
      return reply.code(200).header('content-type', 'application/json').send(outcome.body);
    }

    let outcome;
    try {
      outcome = await executor.stream(route, chat, context);
    } catch (error) {
      record(request, route, chat.model, true, started, controller.signal.aborted ? 'client_disconnected' : 'error', isGatewayError(error) ? error.status : 500, undefined, {
        ...(isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {}),
      });
      throw error;
    }
    reply.hijack();
    const headers = reply.getHeaders() as OutgoingHttpHeaders;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['x-accel-buffering'] = 'no';
    if (warnings.length > 0) headers['x-llm-proxy-warnings'] = warnings.join('; ');
    res.writeHead(200, headers);
    const ttftMs = Date.now() - started;
    const end = await writeFrames(res, outcome.first, outcome.frames, streams, route.provider.name);
    const stats = outcome.stats;
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
