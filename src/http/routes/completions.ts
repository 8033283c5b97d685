// POST /v1/completions (legacy text completions): passed through to hosts that serve them
// (src/completions-api/native-completions.ts), emulated over chat for the others and marked
// `X-LLM-Proxy-Emulated: chat`. Either way through the shared chat pipeline: same keys, limits,
// budgets, usage records (endpoint `completions`), routing and metrics as chat.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validateCompletionRequest } from '../../completions-api/completion-request.js';
import { completionToChat, toCompletion, toCompletionChunk } from '../../completions-api/completions-chat.js';
import { completionsNative, completionsProtocol } from '../../completions-api/native-completions.js';
import { invalidJson, modelNotFound } from '../../errors/gateway-error.js';
import type { ChatCompletionResponse } from '../../openai/types.js';
import type { Services } from '../../services.js';
import { encodeSseError, encodeSseJson, SSE_DONE } from '../../streaming/sse-encoder.js';
import { chunkFormat } from '../answer-format.js';
import type { AnswerFormat, ChatPipeline, NativeRunner } from '../chat-pipeline.js';
import { guardBody } from '../json-body.js';
import { NativeCaller } from '../native-call.js';

const EMULATED = { 'x-llm-proxy-emulated': 'chat' } as const;

/** Chat answers → text_completion answers (the emulation). */
const completionFormat: AnswerFormat = chunkFormat({
  json: (body) => JSON.stringify(toCompletion(JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as ChatCompletionResponse)),
  converter: () => ({
    push(chunk) {
      const out = toCompletionChunk(chunk);
      return out === undefined ? '' : encodeSseJson(out);
    },
    end: () => SSE_DONE,
  }),
  streamError: (error) => encodeSseError(error.toBody()),
});

export function registerCompletions(app: FastifyInstance, services: Services, pipeline: ChatPipeline): void {
  const caller = new NativeCaller(services);
  const { router, config } = services;
  const apiVersion = (provider: string) => config.providers[provider]?.api_version;

  app.post('/v1/completions', { config: { auth: 'client' } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    const body = request.body as Record<string, unknown> | undefined;
    // No body and no Content-Type skips the parser entirely: still a bad input, not a crash.
    if (body === undefined || body === null) throw invalidJson('The request body is empty.');
    guardBody(body);
    const parsed = validateCompletionRequest(body);
    const routed = router.plan(parsed.model);
    // Before the emulation's refusals: an unknown model is a 404 whatever the fields.
    if (routed === undefined) throw modelNotFound(parsed.model);
    const allowed = request.principal?.models;
    const native = completionsNative(router, routed, allowed);
    // Emulation refuses what chat cannot do before anything is counted or called.
    const chat = completionToChat(parsed, !native);
    let runner: NativeRunner | undefined;
    if (native) {
      const protocol = completionsProtocol(body, parsed.stream_options?.include_usage === true, apiVersion);
      runner = { complete: (group, context) => caller.complete(group, context, protocol), stream: (group, context) => caller.stream(group, context, protocol) };
    }
    return pipeline.run(request, reply, chat, started, {
      endpoint: 'completions',
      format: completionFormat,
      nativeCache: false,
      ...(native ? {} : { headers: EMULATED }),
      native: (group, rewritten) => {
        if (runner !== undefined && !rewritten && completionsNative(router, group, allowed)) return runner;
        // The context policy or a fallback moved the call off the native hosts: emulate, with emulation's rules.
        if (runner !== undefined) {
          completionToChat(parsed, true);
          reply.header('x-llm-proxy-emulated', 'chat');
        }
        return undefined;
      },
    });
  });
}
