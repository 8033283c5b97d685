// OpenAPI document (/openapi.json, from @fastify/swagger) and the interactive page (/docs, from
// @fastify/swagger-ui's bundled assets: nothing is loaded from a CDN). Request schemas and error
// answers are added here, through swagger's `transform`, not on the routes: Fastify never validates
// or serialises with them, so the handlers keep producing OpenAI-shaped errors, and a route without
// an entry still appears. Each schema lives beside its handler's parser and shares its names, enums
// and patterns; the OpenAPI test checks every handler against the document.
import { fastifySwagger } from '@fastify/swagger';
import { fastifySwaggerUi, type FastifySwaggerUiOptions } from '@fastify/swagger-ui';
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifySchema, RouteOptions } from 'fastify';
import { CountTokensRequestSchema, MessagesRequestSchema } from '../anthropic-api/messages-request.js';
import { SearchParamsSchema } from '../catalog/model-search.js';
import { ModelViewSchema } from '../catalog/model-view.js';
import { CompletionRequestSchema } from '../completions-api/completion-request.js';
import { CSRF_HEADER, SESSION_COOKIE } from '../keys/ui-sessions.js';
import { ChatCompletionRequestSchema } from '../openai/chat-request-schema.js';
import { EmbeddingRequestSchema } from '../openai/embeddings-request.js';
import { VERSION } from '../version.js';
import { KeySettingsSchema } from './routes/admin-keys.js';
import { CondenseBodySchema } from './routes/condense.js';
import { DOCS_CONTENT_SECURITY_POLICY, securityHeaders } from './routes/ui.js';
import { UsageRecordsQuerySchema, UsageSummaryQuerySchema, UsageTimeseriesQuerySchema } from './routes/usage-analytics.js';
import { AdminUsageQuerySchema, UsageRangeSchema } from './routes/usage.js';

type Security = Array<Record<string, string[]>>;

interface RouteDoc {
  summary: string;
  description?: string;
  body?: TSchema;
  querystring?: TSchema;
  params?: TSchema;
  /** For a route that checks the dashboard session itself (its auth config is 'none'). */
  security?: Security;
  /** Error answers by status: when each comes, with its `code`s. Every one has the Error shape. */
  errors?: Record<number, string>;
  /** The 200 answer's shape, where it is documented. */
  ok?: TSchema;
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

/** How a request authenticates (src/http/plugins/auth.ts, src/keys/ui-sessions.ts). */
const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer' },
  apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The key, as Anthropic clients send it; used when there is no Authorization header.' },
  dashboardSession: {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: 'The dashboard session from POST /ui/session (HttpOnly); it acts as the master key, only with no key presented, and together with dashboardCsrf but for GET /openapi.json and the /docs page.',
  },
  dashboardCsrf: { type: 'apiKey', in: 'header', name: CSRF_HEADER, description: "The session's csrf_token (from POST or GET /ui/session)." },
} as const;
/** Alternatives: a key in either header, or the session cookie with its CSRF header. */
const KEYED: Security = [{ bearer: [] }, { apiKey: [] }, { dashboardSession: [], dashboardCsrf: [] }];
const KeyId = Type.Object({ id: Type.String() });

const ModelRef = Type.Unsafe<unknown>({ $ref: '#/components/schemas/Model' });
const ModelList = (extra: Record<string, TSchema>, description: string) =>
  Type.Object({ models: Type.Array(ModelRef), count: Type.Integer(), ...extra }, { description });

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
  'GET /api/models': { summary: 'List the model catalog: `{models, count}`.', ok: ModelList({}, 'The models the key may use.') },
  'GET /api/models/search': {
    summary: 'Search the model catalog: `{models, count, limit, offset}`; `count` counts matches before paging.',
    querystring: SearchParamsSchema,
    ok: ModelList({ limit: Type.Union([Type.Integer(), Type.Null()]), offset: Type.Integer() }, 'One page of the matching models; `max_input_cost` and the cost sorts read the base rates.'),
  },
  'GET /api/models/*': {
    summary: 'One model by id or `provider/model` (may hold `/`); 404 when unknown.',
    params: Type.Object({ '*': Type.String({ description: 'The model id.' }) }),
    ok: Type.Object({ model: ModelRef }, { description: 'The model.' }),
  },
  'POST /api/condense': {
    summary: 'Summarise a conversation.',
    body: CondenseBodySchema,
    errors: {
      400: "The body, naming the field in `param`: `unknown_parameter` (a field not listed here), `invalid_type` or `invalid_value` (one outside its type or bounds; `messages` as in /v1/chat/completions; `model` that the catalog marks as not a chat model, an embedding model say), `forbidden_param` (an upstream override such as `api_key`), `invalid_json`.",
      403: "`model_not_allowed`: the key's `models` leave out `model`, or `condense.model` when `model` is left out; `budget_exceeded`: the summariser calls could cost more than the key's budget has left (one that never resets), or more than the whole of one that resets (`budget_period`).",
      404: '`model_not_found`: no configured provider serves `model`.',
      429: "With `Retry-After`. `rate_limit_exceeded`: the key's requests per minute, or its tokens per minute (every summariser call planned counts), are used up; `budget_exceeded`: the summariser calls could cost more than is left of a budget that resets (`budget_period`), or calls in flight hold the rest.",
    },
  },
  'GET /health': { summary: 'Overall status: healthy, degraded or unhealthy.' },
  'GET /health/providers': { summary: 'Status of every provider and deployment.' },
  'GET /health/cache': { summary: 'Response cache status and hit rate.' },
  'POST /admin/keys': { summary: 'Create a virtual key (shown once).', body: KeySettingsSchema },
  'GET /admin/keys': { summary: 'List virtual keys (no secrets).' },
  'GET /admin/keys/:id': { summary: 'One virtual key.', params: KeyId },
  'PATCH /admin/keys/:id': { summary: 'Update a key’s settings; `null` clears one.', params: KeyId, body: KeySettingsSchema },
  'DELETE /admin/keys/:id': { summary: 'Revoke a key (at once, on every instance).', params: KeyId },
  'GET /api/usage': { summary: 'Usage of the calling key.', querystring: UsageRangeSchema },
  'GET /admin/usage': { summary: 'Usage of every key, or one (`key_id`).', querystring: AdminUsageQuerySchema },
  // The dashboard's aggregates (issue #10), computed in SQL; `key_id` and `model` narrow any of them.
  'GET /admin/usage/summary': {
    summary: 'Usage totals and sums grouped by day, key, model and/or provider: one page of groups, or every group as CSV (`format=csv`).',
    querystring: UsageSummaryQuerySchema,
  },
  'GET /admin/usage/timeseries': {
    summary: 'Requests, tokens, spend, errors and latency per hour or day, one series per key, model or provider (the top N, the rest summed).',
    querystring: UsageTimeseriesQuerySchema,
  },
  'GET /admin/usage/records': {
    summary: 'The usage records themselves, newest first; pass `next_cursor` as `before` for the next page.',
    querystring: UsageRecordsQuerySchema,
  },
  'GET /ui': { summary: 'The admin dashboard page (sign in with the master key).' },
  'GET /ui/*': { summary: 'The dashboard’s scripts, styles and chart library, from the package.', params: Type.Object({ '*': Type.String() }) },
  'POST /ui/session': {
    summary: 'Dashboard sign-in: exchanges the master key for an HttpOnly session cookie and a CSRF token to send as `X-LLM-Proxy-CSRF`.',
    body: Type.Object({ master_key: Type.String() }),
  },
  'GET /ui/session': { summary: 'The signed-in dashboard session (cookie) and its CSRF token.', security: [{ dashboardSession: [] }] },
  'DELETE /ui/session': { summary: 'Dashboard sign-out (cookie and `X-LLM-Proxy-CSRF`).', security: [{ dashboardSession: [], dashboardCsrf: [] }] },
  'GET /openapi.json': {
    summary: 'This document.',
    description: 'The dashboard session cookie opens it alone, without the CSRF header (the /docs page reads it so).',
    security: [{ bearer: [] }, { apiKey: [] }, { dashboardSession: [] }],
  },
};

const ACCESS_NOTE = { none: 'No key needed.', client: 'Needs a client key.', master: 'Needs the master key.' } as const;

type TransformInput = { schema: FastifySchema | undefined; url: string; route: RouteOptions };

/** Adds the summary, request schemas, security and the documented error answers to one route's document. */
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
    description: [base.description ?? doc?.description, doc?.security === undefined || access !== 'none' ? ACCESS_NOTE[access] : 'Needs the dashboard session.'].filter((part) => part !== undefined).join(' '),
    security: doc?.security ?? (access === 'none' ? [] : KEYED),
    ...base,
    ...(doc?.body === undefined || base.body !== undefined ? {} : { body: doc.body }),
    ...(doc?.querystring === undefined || base.querystring !== undefined ? {} : { querystring: doc.querystring }),
    ...(doc?.params === undefined || base.params !== undefined ? {} : { params: doc.params }),
    ...(doc?.errors === undefined && doc?.ok === undefined
      ? {}
      : { response: { ...(doc.ok === undefined ? {} : { 200: doc.ok }), ...(doc.errors === undefined ? {} : errorResponses(doc.errors)), ...(base.response as Record<string, unknown> | undefined) } }),
  };
  return { schema: documented, url };
}

/** A route's documented error answers: the Error component under each answer's own description. */
function errorResponses(errors: Record<number, string>): Record<string, { description: string; $ref: string }> {
  return Object.fromEntries(Object.entries(errors).map(([status, description]) => [status, { description, $ref: '#/components/schemas/Error' }]));
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
          securitySchemes: SECURITY_SCHEMES,
          schemas: { Error: ErrorSchema, Model: ModelViewSchema },
        },
        security: KEYED,
      },
      transform: documentRoute as never,
    },
    (error) => {
      if (error !== undefined && error !== null) throw error;
    },
  );
  // Keyed like the API it describes (CONTRACT.md: all but /health*); a browser signed in to the
  // dashboard at /ui opens the page, and the page the document, with the session cookie alone.
  app.get('/openapi.json', { config: { auth: 'client', sessionPage: true } }, async () => app.swagger());
  app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), auth: 'client', sessionPage: true };
      // The plugin's redirect rewrites the path only when it ends the URL: with a query string it
      // sent index.html?x=1 back to itself, for good. The page, with the query kept.
      if (route.url === '/docs/static/index.html') {
        route.handler = (request, reply) => {
          const query = request.url.indexOf('?');
          return reply.redirect(query === -1 ? '/docs/' : `/docs/${request.url.slice(query)}`);
        };
      }
    });
    // The static plugin under swagger-ui sets `public, max-age=0`; these pages sit behind a key,
    // so they get the API's `no-store` (RELIABILITY 4d#12), never a shared cache's copy. And the
    // dashboard's security headers: no inline or foreign script, never framed (clickjacking).
    docs.addHook('onSend', (_request, reply, payload, done) => {
      securityHeaders(reply, DOCS_CONTENT_SECURITY_POLICY);
      reply.header('cache-control', 'no-store');
      done(null, payload);
    });
    // Called, not registered: its declared dependency on a *registered* @fastify/swagger does not
    // hold, since swagger is applied directly above.
    // Its types say callback-style; the function itself is async (5.x) and ignores a third argument.
    await (fastifySwaggerUi as unknown as FastifyPluginAsync<FastifySwaggerUiOptions>)(docs, { routePrefix: '/docs' });
  });
}
