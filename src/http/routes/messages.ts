// POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API in front of every chat
// model. Anthropic upstreams get the client's body as it came (src/anthropic-api/native-messages.ts);
// every other provider is reached through the chat pipeline, translated both ways
// (src/anthropic-api/). Errors leave in Anthropic's shape (route config `errorFormat`).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { toAnthropicMessage, AnthropicStreamWriter, encodeErrorEvent } from '../../anthropic-api/from-chat.js';
import { validateCountTokensRequest, validateMessagesRequest } from '../../anthropic-api/messages-request.js';
import { anthropicHeaders, checkClaudeRunModels, isAnthropic, messagesProtocol, servedByAnthropicOnly, servedByAnthropicPartly, servedWithWebSearch } from '../../anthropic-api/native-messages.js';
import { toChatRequest } from '../../anthropic-api/to-chat-request.js';
import { invalidJson, invalidRequest, modelNotFound, upstreamBadResponse } from '../../errors/gateway-error.js';
import type { ChatCompletionResponse } from '../../openai/types.js';
import { isRecord } from '../../providers/anthropic/anthropic-wire.js';
import type { Services } from '../../services.js';
import { countTokens } from '../../usage/token-counts.js';
import { chunkFormat } from '../answer-format.js';
import { abortWhenClientLeaves } from '../client-gone.js';
import { checkModelAccess, type AnswerFormat, type ChatPipeline, type NativeRunner } from '../chat-pipeline.js';
import { MESSAGES_SCHEMAS, guardBody } from '../json-body.js';
import { NativeCaller, type ForeignDeployments, type NativeProtocol } from '../native-call.js';
import { CallAbort } from '../../upstream/call-signal.js';
import { chatFormFor, translatedDeployments } from '../translated-deployments.js';

const CONFIG = { auth: 'client', errorFormat: 'anthropic' } as const;

/** Chat answers → Messages answers for one request. */
function messagesFormat(requestId: string, model: string, webSearch: boolean): AnswerFormat {
  return chunkFormat({
    json: (body) => JSON.stringify(toAnthropicMessage(JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as ChatCompletionResponse, requestId, model)),
    converter: () => new AnthropicStreamWriter(requestId, model, webSearch),
    streamError: encodeErrorEvent,
  });
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function bodyOf(request: FastifyRequest): Record<string, unknown> {
  const body = request.body as Record<string, unknown> | undefined;
  // No body and no Content-Type skips the parser entirely: still a bad input, not a crash.
  if (body === undefined || body === null) throw invalidJson('The request body is empty.');
  guardBody(body, MESSAGES_SCHEMAS);
  return body;
}

export function registerMessages(app: FastifyInstance, services: Services, pipeline: ChatPipeline): void {
  const caller = new NativeCaller(services);
  const { router } = services;

  app.post('/v1/messages', { config: CONFIG }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    const body = bodyOf(request);
    const parsed = validateMessagesRequest(body);
    const routed = router.plan(parsed.model);
    // Before translating: an unknown model is a 404 whatever its content.
    if (routed === undefined) throw modelNotFound(parsed.model);
    const allowed = request.principal?.models;
    const nativeOnly = servedByAnthropicOnly(router, routed, allowed);
    // A Claude group with another provider's fallback: Claude still gets the body as it came (thinking,
    // betas, cache breakpoints, its exact events), the others the chat form, in one failover.
    const partly = !nativeOnly && servedByAnthropicPartly(router, routed, allowed);
    const warnings: string[] = [];
    // For an Anthropic-only model the chat form only feeds limits, context checks and the cache key.
    const first = routed.deployments[0]?.route;
    const { chat, lossy, params, marked } = toChatRequest(parsed, warnings, {
      lenient: nativeOnly,
      reasoning: first?.entry?.capabilities.includes('reasoning') === true,
      completionTokens: first?.provider.kind === 'openai' || first?.provider.kind === 'azure',
      webSearch: !nativeOnly && servedWithWebSearch(router, routed, allowed),
    });
    reply.header('request-id', request.id);
    let runner: NativeRunner | undefined;
    let mixed: NativeRunner | undefined;
    let nativeKey: (() => unknown) | undefined;
    const format = messagesFormat(request.id, parsed.model, chat.web_search_options !== undefined);
    if (nativeOnly || partly) {
      const version = headerValue(request, 'anthropic-version');
      const beta = headerValue(request, 'anthropic-beta');
      const protocol = messagesProtocol(body, anthropicHeaders({ version, beta }), request.id);
      // Claude gets this body and these headers, not the chat form: top_k, a beta's fields and the
      // beta itself change its answer. Delivery (stream) and labels (metadata) do not, nor the model
      // as named (the key has what it resolved to).
      nativeKey = () => {
        const { model: _model, stream: _stream, metadata: _metadata, ...fields } = body;
        return { body: fields, version, beta };
      };
      if (nativeOnly) runner = { complete: (group, context) => caller.complete(group, context, protocol), stream: (group, context) => caller.stream(group, context, protocol) };
      else {
        const foreign = translatedDeployments(services.executor, chat, format, isAnthropic);
        mixed = { complete: (group, context) => caller.complete(group, context, protocol, foreign), stream: (group, context) => caller.stream(group, context, protocol, foreign) };
      }
    }
    // Set when the mixed runner serves: a Claude deployment then got the client's body, not the translation.
    let mixedServes = false;
    const translated = chat.messages;
    try {
      return await pipeline.run(request, reply, chat, started, {
        endpoint: 'messages',
        format,
        translatedMarkers: marked,
        fitChat: chatFormFor,
        ...(nativeOnly ? { nativeBody: body, nativeKey } : partly ? { nativeBody: body, nativeKey, warningsFor: (route) => (mixedServes && isAnthropic(route.provider) ? undefined : warnings) } : { warnings }),
        // Claude gets the body as it came: the models it names for Claude to call are the key's to allow.
        ...(nativeOnly || partly ? { checkNamedModels: (allowlist, routes) => checkClaudeRunModels(body, allowlist, routes) } : {}),
        // The provider's warnings name chat fields: the client is told its own, as in a 400 (below).
        clientWarning: (warning, rewritten) => params.mapWarning(warning, rewritten),
        native: (group, rewritten) => {
          if (runner !== undefined && !rewritten && servedByAnthropicOnly(router, group, allowed)) return runner;
          if (mixed !== undefined && !rewritten && !lossy) {
            mixedServes = true;
            return mixed;
          }
          if (lossy) throw invalidRequest('This conversation holds content only Anthropic models take, and the context policy or a fallback would send it elsewhere.', 'unsupported_content');
          return undefined;
        },
      });
    } catch (error) {
      // A 400 from the chat side names the chat form's fields: the client is told its own. After the
      // context policy rewrote the messages their indexes match nothing the client sent.
      throw params.mapError(error, chat.messages !== translated);
    }
  });

  app.post('/v1/messages/count_tokens', { config: CONFIG }, async (request: FastifyRequest, reply: FastifyReply) => {
    const body = bodyOf(request);
    const parsed = validateCountTokensRequest(body);
    const group = router.plan(parsed.model);
    if (group === undefined) throw modelNotFound(parsed.model);
    checkModelAccess(request, router, group, parsed.model);
    reply.header('request-id', request.id);
    const allowed = request.principal?.models;
    // A big prompt is counted in a worker thread, off the event loop (src/usage/token-counts.ts).
    const countHere = async (): Promise<string> => JSON.stringify({ input_tokens: await countTokens({ kind: 'request', chat: toChatRequest(parsed, [], { lenient: true }).chat }) });
    const anthropicOnly = servedByAnthropicOnly(router, group, allowed);
    if (anthropicOnly || servedByAnthropicPartly(router, group, allowed)) {
      // Anthropic counts with its own tokenizer: ask it. In a group with other providers, a deployment
      // the failover reaches that is not Claude's gets the proxy's own count, as the group would without Claude.
      const foreign: ForeignDeployments | undefined = anthropicOnly
        ? undefined
        : {
            native: isAnthropic,
            complete: async () => ({ bytes: await countHere(), usage: undefined }),
            open: () => Promise.reject(new Error('count_tokens does not stream')),
          };
      const protocol: NativeProtocol = {
        ...messagesProtocol(body, anthropicHeaders({ version: headerValue(request, 'anthropic-version'), beta: headerValue(request, 'anthropic-beta') }), request.id, '/v1/messages/count_tokens'),
        readJson(answer, route) {
          if (!isRecord(answer) || typeof answer.input_tokens !== 'number') throw upstreamBadResponse(route.provider.name, 'a token count that is not one');
          return { usage: undefined };
        },
      };
      // The light signal of src/upstream/call-signal.ts: an AbortController costs 6-9 µs a request.
      const disconnect = new CallAbort();
      abortWhenClientLeaves(reply.raw, disconnect);
      const outcome = await caller.complete(group, { requestId: request.id, signal: disconnect, includeUsage: false, created: 0, warnings: [], allowed }, protocol, foreign);
      return reply.code(200).header('content-type', 'application/json').send(outcome.body);
    }
    return reply.code(200).header('content-type', 'application/json').send(await countHere());
  });
}
