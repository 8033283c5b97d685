// POST /v1/chat/completions: validate, then the shared chat pipeline (src/http/chat-pipeline.ts)
// routes, calls, answers (JSON or SSE) and records usage.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidJson } from '../../errors/gateway-error.js';
import { validateChatRequest } from '../../openai/chat-request-schema.js';
import type { ChatPipeline } from '../chat-pipeline.js';
import { CHAT_SCHEMAS, guardBody } from '../json-body.js';

const OPTIONS = { endpoint: 'chat.completions' } as const;

export function registerChatCompletions(app: FastifyInstance, pipeline: ChatPipeline): void {
  app.post('/v1/chat/completions', { config: { auth: 'client' } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    const body = request.body as Record<string, unknown> | undefined;
    // No body and no Content-Type skips the parser entirely: still a bad input, not a crash.
    if (body === undefined || body === null) throw invalidJson('The request body is empty.');
    guardBody(body, CHAT_SCHEMAS);
    return pipeline.run(request, reply, validateChatRequest(body), started, OPTIONS);
  });
}
