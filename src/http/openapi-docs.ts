// OpenAPI document (/openapi.json, from @fastify/swagger) and the interactive page (/docs, from
// @fastify/swagger-ui's bundled assets: nothing is loaded from a CDN). Request schemas are added
// here, through swagger's `transform`, not on the routes: Fastify never validates with them, so the
// handlers keep producing OpenAI-shaped errors, and a route without an entry still appears.
import { fastifySwagger } from '@fastify/swagger';
import { fastifySwaggerUi, type FastifySwaggerUiOptions } from '@fastify/swagger-ui';
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifySchema, RouteOptions } from 'fastify';
import { CountTokensRequestSchema, MessagesRequestSchema } from '../anthropic-api/messages-request.js';
import { CompletionRequestSchema } from '../completions-api/completion-request.js';
import { ChatCompletionRequestSchema } from '../openai/chat-request-schema.js';
import { EmbeddingRequestSchema } from '../openai/embeddings-request.js';
import { VERSION } from '../version.js';

interface RouteDoc {
  summary: string;
  description?: string;
  body?: TSchema;
  querystring?: TSchema;
  params?: TSchema;
}

const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      message: Type.String(),
      type: Type.String(),
      param: Type.Union([Type.String(), Type.Null()]),
      code: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  { title: 'Error', description: 'Every error, from any layer.' },
);

const Bool = Type.String({ enum: ['true', 'false', 'True', 'False', '1', '0'] });
const KeySettings = Type.Object({
  name: Type.Optional(Type.String()),
  models: Type.Optional(Type.Array(Type.String())),
  rpm_limit: Type.Optional(Type.Integer({ minimum: 0 })),
  tpm_limit: Type.Optional(Type.Integer({ minimum: 0 })),
  max_budget: Type.Optional(Type.Number({ minimum: 0 })),
  expires_at: Type.Optional(Type.String({ format: 'date-time' })),
});
const KeyId = Type.Object({ id: Type.String() });
const UsageRange = Type.Object({ start: Type.Optional(Type.String({ format: 'date-time' })), end: Type.Optional(Type.String({ format: 'date-time' })) });

/** Docs by `METHOD url` (the route-table pattern). */
const ROUTE_DOCS: Record<string, RouteDoc> = {
  'POST /v1/chat/completions': {
    summary: 'Create a chat completion (OpenAI Chat Completions), JSON or SSE with `stream: true`.',
    body: ChatCompletionRequestSchema,
  },
  'POST /v1/messages': {
    summary: 'Create a message (Anthropic Messages API) with any chat model, JSON or SSE with `stream: true`. Key as `x-api-key` or Bearer; errors in Anthropic\'s `{type: "error", error: {type, message}}` shape.',
    body: MessagesRequestSchema,
  },
  'POST /v1/messages/count_tokens': {
    summary: "Count a Messages request's input tokens: `{input_tokens}` (Anthropic's own count for Anthropic models, our tokenizer otherwise).",
    body: CountTokensRequestSchema,
  },
  'POST /v1/completions': {
    summary: 'Create a legacy text completion; passed through where the provider serves completions, emulated over chat elsewhere (`X-LLM-Proxy-Emulated: chat`).',
    body: CompletionRequestSchema,
  },
  'POST /v1/embeddings': {
    summary: 'Create embeddings (OpenAI Embeddings): `float` or `base64` (little-endian float32) vectors, with usage.',
    body: EmbeddingRequestSchema,
  },
  'GET /v1/models': { summary: 'List models (OpenAI list format).' },
  'GET /v1/models/*': {
    summary: 'One model object `{id, object, created, owned_by}` by a listed id or its `provider/model` name (may hold `/`); 404 `model_not_found` when unknown or not allowed for the key.',
    params: Type.Object({ '*': Type.String({ description: 'The model id.' }) }),
  },
  'GET /api/models': { summary: 'List the model catalog: `{models, count}`.' },
  'GET /api/models/search': {
    summary: 'Search the model catalog.',
    querystring: Type.Object({
      q: Type.Optional(Type.String({ description: 'Case-insensitive match on id and name.' })),
      provider: Type.Optional(Type.String()),
      supports_chat: Type.Optional(Bool),
      capability: Type.Optional(Type.String()),
      min_context: Type.Optional(Type.Integer()),
      max_input_cost: Type.Optional(Type.Number()),
    }),
  },
  'GET /api/models/*': {
    summary: 'One model by id or `provider/model` (may hold `/`); 404 when unknown.',
    params: Type.Object({ '*': Type.String({ description: 'The model id.' }) }),
  },
  'POST /api/condense': {
    summary: 'Summarise a conversation.',
    body: Type.Object({ messages: Type.Array(Type.Object({}, { additionalProperties: true })), max_tokens: Type.Optional(Type.Integer()), model: Type.Optional(Type.String()) }),
  },
  'GET /health': { summary: 'Overall status: healthy, degraded or unhealthy.' },
  'GET /health/providers': { summary: 'Status of every provider and deployment.' },
  'GET /health/cache': { summary: 'Response cache status and hit rate.' },
  'POST /admin/keys': { summary: 'Create a virtual key (shown once).', body: KeySettings },
  'GET /admin/keys': { summary: 'List virtual keys (no secrets).' },
  'GET /admin/keys/:id': { summary: 'One virtual key.', params: KeyId },
  'PATCH /admin/keys/:id': { summary: 'Update a key’s limits.', params: KeyId, body: KeySettings },
  'DELETE /admin/keys/:id': { summary: 'Revoke a key (at once, on every instance).', params: KeyId },
  'GET /api/usage': { summary: 'Usage of the calling key.', querystring: UsageRange },
  'GET /admin/usage': { summary: 'Usage of every key, or one (`key_id`).', querystring: Type.Composite([UsageRange, Type.Object({ key_id: Type.Optional(Type.String()) })]) },
  // The dashboard's aggregates (issue #10), computed in SQL; `key_id` and `model` narrow any of them.
  'GET /admin/usage/summary': {
    summary: 'Usage totals and sums grouped by day, key, model and/or provider: one page of groups, or every group as CSV (`format=csv`).',
    querystring: Type.Composite([
      UsageRange,
      Type.Object({
        key_id: Type.Optional(Type.String()),
        model: Type.Optional(Type.String()),
        group_by: Type.Optional(Type.String({ description: 'Comma-separated: day, key, model, provider (default model).' })),
        sort: Type.Optional(Type.String({ enum: ['requests', 'cost', 'tokens', 'errors', 'name'] })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        offset: Type.Optional(Type.Integer({ minimum: 0 })),
        format: Type.Optional(Type.String({ enum: ['json', 'csv'] })),
      }),
    ]),
  },
  'GET /admin/usage/timeseries': {
    summary: 'Requests, tokens, spend, errors and latency per hour or day, one series per key, model or provider (the top N, the rest summed).',
    querystring: Type.Composite([
      UsageRange,
      Type.Object({
        key_id: Type.Optional(Type.String()),
        model: Type.Optional(Type.String()),
        bucket: Type.Optional(Type.String({ enum: ['hour', 'day'] })),
        group_by: Type.Optional(Type.String({ enum: ['none', 'key', 'model', 'provider'] })),
        top: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
      }),
    ]),
  },
  'GET /admin/usage/records': {
    summary: 'The usage records themselves, newest first; pass `next_cursor` as `before` for the next page.',
    querystring: Type.Composite([
      UsageRange,
      Type.Object({ key_id: Type.Optional(Type.String()), model: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), before: Type.Optional(Type.String()) }),
    ]),
  },
  'GET /ui': { summary: 'The admin dashboard page (sign in with the master key).' },
  'GET /ui/*': { summary: 'The dashboard’s scripts, styles and chart library, from the package.', params: Type.Object({ '*': Type.String() }) },
  'POST /ui/session': {
    summary: 'Dashboard sign-in: exchanges the master key for an HttpOnly session cookie and a CSRF token to send as `X-LLM-Proxy-CSRF`.',
    body: Type.Object({ master_key: Type.String() }),
  },
  'GET /ui/session': { summary: 'The signed-in dashboard session (cookie) and its CSRF token.' },
  'DELETE /ui/session': { summary: 'Dashboard sign-out (cookie and `X-LLM-Proxy-CSRF`).' },
  'GET /openapi.json': { summary: 'This document.' },
};

const ACCESS_NOTE = { none: 'No key needed.', client: 'Needs a client key.', master: 'Needs the master key.' } as const;

type TransformInput = { schema: FastifySchema | undefined; url: string; route: RouteOptions };

/** Adds the summary, request schemas, security and the error response to one route's document. */
export function documentRoute({ schema, url, route }: TransformInput): { schema: FastifySchema; url: string } {
  const base: FastifySchema = schema ?? {};
  if (base.hide === true) return { schema: base, url };
  const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
  const doc = ROUTE_DOCS[`${method} ${url}`];
  const access = (route.config as { auth?: 'none' | 'client' | 'master' } | undefined)?.auth ?? 'client';
  const tag = url.startsWith('/admin') ? 'admin' : url.startsWith('/health') ? 'health' : url.startsWith('/v1') ? 'openai' : url === '/metrics' || url === '/openapi.json' ? 'operations' : 'catalog';
  const documented: FastifySchema = {
    tags: [tag],
    summary: doc?.summary ?? `${method} ${url}`,
    description: [base.description ?? doc?.description, ACCESS_NOTE[access]].filter((part) => part !== undefined).join(' '),
    security: access === 'none' ? [] : [{ bearer: [] }],
    ...base,
    ...(doc?.body === undefined || base.body !== undefined ? {} : { body: doc.body }),
    ...(doc?.querystring === undefined || base.querystring !== undefined ? {} : { querystring: doc.querystring }),
    ...(doc?.params === undefined || base.params !== undefined ? {} : { params: doc.params }),
  };
  return { schema: documented, url };
}

/**
 * Registers swagger (its route hook must exist before any route is added, so it is applied here
 * synchronously, not queued through register) and, under /docs, the UI with its local assets.
 */
export function registerOpenApi(app: FastifyInstance): void {
  fastifySwagger(
    app,
    {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'llm-proxy', version: VERSION, description: 'One OpenAI-compatible endpoint in front of many LLM providers.' },
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
          schemas: { Error: ErrorSchema },
        },
        security: [{ bearer: [] }],
      },
      transform: documentRoute as never,
    },
    (error) => {
      if (error !== undefined && error !== null) throw error;
    },
  );
  app.get('/openapi.json', { config: { auth: 'none' } }, async () => app.swagger());
  app.register(async (docs) => {
    // The page and its assets are public: a browser cannot send a bearer key.
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), auth: 'none' };
    });
    // Called, not registered: its declared dependency on a *registered* @fastify/swagger does not
    // hold, since swagger is applied directly above.
    // Its types say callback-style; the function itself is async (5.x) and ignores a third argument.
    await (fastifySwaggerUi as unknown as FastifyPluginAsync<FastifySwaggerUiOptions>)(docs, { routePrefix: '/docs' });
  });
}
