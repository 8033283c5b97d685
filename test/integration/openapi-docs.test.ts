// /openapi.json and /docs (issue #9): every route in the route table is in the document, the chat
// request schema is documented without Fastify validating with it, the document says what the
// handlers accept (and they accept what it says), and the UI is served locally, keyed like the
// API: a key, or the dashboard's session cookie (CONTRACT.md: all but /health* need a key).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey } from '../support/key-support.js';
import { assertError, call, JSON_AUTH, post, startStack } from '../support/reliability-support.js';
import { documentedPath, routesOf } from '../support/route-table.js';

interface SchemaDoc {
  type?: string;
  enum?: string[];
  pattern?: string;
  format?: string;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  items?: SchemaDoc;
  properties?: Record<string, SchemaDoc>;
  additionalProperties?: boolean;
}
interface OperationDoc {
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; schema: SchemaDoc }>;
  requestBody?: { content: Record<string, { schema: SchemaDoc }> };
  responses?: Record<string, { description: string; content?: Record<string, { schema: { $ref?: string } }> }>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, OperationDoc>>;
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }>; schemas: Record<string, SchemaDoc> };
}

/** An operation's query parameters by name. */
function queryOf(operation: OperationDoc | undefined): Map<string, SchemaDoc> {
  return new Map((operation?.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => [parameter.name, parameter.schema]));
}

/** Values a documented field allows, at its bounds (none for an array or a patterned string but null). */
function allowedValues(field: SchemaDoc): unknown[] {
  const values: unknown[] = field.nullable === true ? [null] : [];
  if (field.enum !== undefined) return [...values, ...field.enum];
  if (field.type === 'integer' || field.type === 'number') values.push(field.minimum ?? 1, ...(field.maximum === undefined ? [] : [field.maximum]));
  if (field.type === 'string' && field.pattern === undefined) values.push('a'.repeat(Math.max(1, field.minLength ?? 0)), ...(field.maxLength === undefined ? [] : ['a'.repeat(field.maxLength)]));
  return values;
}

/** Values just outside a documented field's type or bounds. */
function refusedValues(field: SchemaDoc): unknown[] {
  if (field.enum !== undefined) return ['not-one-of-them'];
  if (field.type === 'integer' || field.type === 'number') {
    return ['1', ...(field.minimum === undefined ? [] : [field.minimum - 1]), ...(field.maximum === undefined ? [] : [field.maximum + 1]), ...(field.type === 'integer' ? [1.5] : [])];
  }
  if (field.type === 'string') return [1, ...((field.minLength ?? 0) > 0 ? [''] : []), ...(field.maxLength === undefined ? [] : ['a'.repeat(field.maxLength + 1)])];
  if (field.type === 'array') return [{}];
  return [];
}

/** An error answer's code and param. */
function pick({ error }: { error: { code: string; param: string } }): { code: string; param: string } {
  return { code: error.code, param: error.param };
}

/** A documented path as a URL that reaches its handler. */
function urlOf(path: string): string {
  return path.replace('{*}', 'gpt-4').replace('{id}', '0123456789abcdef');
}

describe('OpenAPI document and docs page', () => {
  test('every route (but the docs UI assets) is in /openapi.json, with its access', async () => {
    const stack = await startStack();
    try {
      const res = await call(stack.url, { method: 'GET', path: '/openapi.json', headers: JSON_AUTH });
      assert.equal(res.status, 200);
      const doc = JSON.parse(res.body) as { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>> };
      assert.match(doc.openapi, /^3\./);
      const routes = routesOf(stack.gateway.app.app.printRoutes({ commonPrefix: false }));
      assert.ok(routes.length >= 15, JSON.stringify(routes));
      for (const [method, url] of routes) {
        if (url.startsWith('/docs')) continue;
        const path = documentedPath(url);
        assert.ok(doc.paths[path]?.[method.toLowerCase()] !== undefined, `${method} ${url} is missing from the document`);
      }
      assert.ok(!Object.keys(doc.paths).some((path) => path.startsWith('/docs')));
      const chat = doc.paths['/v1/chat/completions']?.post;
      assert.ok(chat?.requestBody?.content['application/json']?.schema.properties.messages);
      assert.deepEqual(chat?.security, [{ bearer: [] }, { apiKey: [] }, { dashboardSession: [], dashboardCsrf: [] }]);
      assert.ok(doc.paths['/v1/messages']?.post?.requestBody?.content['application/json']?.schema.properties.max_tokens, 'the Messages request schema');
      assert.ok(doc.paths['/v1/messages/count_tokens']?.post?.requestBody?.content['application/json']?.schema.properties.messages, 'the count_tokens request schema');
      assert.ok(doc.paths['/v1/completions']?.post?.requestBody?.content['application/json']?.schema.properties.prompt, 'the completions request schema');
      assert.deepEqual(doc.paths['/health/ready']?.get?.security, []);
      // The document itself: a key, or the dashboard cookie alone (the /docs page cannot send the CSRF header).
      assert.deepEqual(doc.paths['/openapi.json']?.get?.security, [{ bearer: [] }, { apiKey: [] }, { dashboardSession: [] }]);
    } finally {
      await stack.close();
    }
  });

  test('the documented chat schema does not validate: errors stay OpenAI-shaped from the handler', async () => {
    const stack = await startStack();
    try {
      const res = await post(stack.url, JSON.stringify({ model: 'gpt-4', messages: 'not-a-list' }));
      assert.equal(res.status, 400);
      const body = JSON.parse(res.body) as { error: { type: string; param: string | null } };
      assert.equal(body.error.type, 'invalid_request_error');
      assert.equal(body.error.param, 'messages');
    } finally {
      await stack.close();
    }
  });

  test('/docs serves the UI from local assets, to a key', async () => {
    const stack = await startStack();
    try {
      const page = await call(stack.url, { method: 'GET', path: '/docs', headers: JSON_AUTH });
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /text\/html/);
      const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
      assert.ok(sources.length > 0);
      for (const source of sources) assert.ok(!/^(?:https?:)?\/\//.test(source), `external asset ${source}`);
      const bundle = await call(stack.url, { method: 'GET', path: '/docs/static/swagger-ui-bundle.js', headers: { 'x-api-key': CLIENT_KEY } });
      assert.equal(bundle.status, 200);
      assert.ok(bundle.body.length > 100_000);
      const initializer = await call(stack.url, { method: 'GET', path: '/docs/static/swagger-initializer.js', headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(initializer.status, 200);
      // Keyed pages are not for shared caches: no-store, as every API answer (RELIABILITY 4d#12).
      for (const answer of [page, bundle, initializer]) {
        assert.equal(answer.headers['cache-control'], 'no-store');
        assert.equal(answer.headers.vary, 'Authorization');
      }
      // A keyed page like /ui: scripts from this origin only, never framed (clickjacking), no sniffing.
      const redirect = await call(stack.url, { method: 'GET', path: '/docs/static/index.html', headers: JSON_AUTH });
      for (const answer of [page, bundle, initializer, redirect]) {
        const policy = String(answer.headers['content-security-policy']);
        assert.match(policy, /(?:^|; )script-src 'self';/);
        assert.match(policy, /(?:^|; )frame-ancestors 'none'(?:;|$)/);
        assert.match(policy, /(?:^|; )object-src 'none'(?:;|$)/);
        assert.match(policy, /(?:^|; )base-uri 'none'(?:;|$)/);
        assert.equal(answer.headers['x-frame-options'], 'DENY');
        assert.equal(answer.headers['x-content-type-options'], 'nosniff');
        assert.equal(answer.headers['referrer-policy'], 'no-referrer');
      }
    } finally {
      await stack.close();
    }
  });

  test('without a key /docs, its assets and the document answer 401, pointing a person to /ui; the dashboard cookie alone opens them and nothing else', async () => {
    const stack = await startStack();
    try {
      const paths = ['/openapi.json', '/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/index.html'];
      for (const path of paths) {
        const refused = await call(stack.url, { method: 'GET', path });
        const error = assertError(refused, { status: 401, code: 'invalid_api_key', type: 'authentication_error' });
        assert.match(error.message, /dashboard at \/ui/, path);
        assertError(await call(stack.url, { method: 'GET', path, headers: { authorization: 'Bearer sk-not-a-key' } }), { status: 401, code: 'invalid_api_key' });
      }
      const signIn = await call(stack.url, { method: 'POST', path: '/ui/session', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ master_key: MASTER_KEY }) });
      assert.equal(signIn.status, 201, signIn.body);
      const cookie = String(signIn.headers['set-cookie']).split(';')[0] ?? '';
      assert.match(cookie, /^llmp_ui=/);
      for (const path of paths) {
        const res = await call(stack.url, { method: 'GET', path, headers: { cookie } });
        // index.html redirects to the page itself.
        assert.equal(res.status, path.endsWith('index.html') ? 302 : 200, `${path}: ${res.body.slice(0, 200)}`);
      }
      // With a query string too (the plugin's own redirect sent it back to itself, for good).
      for (const [path, to] of [['/docs/static/index.html', '/docs/'], ['/docs/static/index.html?x=1', '/docs/?x=1']]) {
        const res = await call(stack.url, { method: 'GET', path, headers: { cookie } });
        assert.equal(res.status, 302, path);
        assert.equal(res.headers.location, to, path);
      }
      assert.equal((await call(stack.url, { method: 'HEAD', path: '/docs', headers: { cookie } })).status, 200);
      // Another site asking: refused even with the cookie.
      assert.equal((await call(stack.url, { method: 'GET', path: '/openapi.json', headers: { cookie, 'sec-fetch-site': 'cross-site' } })).status, 401);
      // The API keeps needing the CSRF header with the cookie, reads included.
      assertError(await call(stack.url, { method: 'GET', path: '/v1/models', headers: { cookie } }), { status: 401, code: 'invalid_api_key' });
      assertError(await call(stack.url, { method: 'GET', path: '/admin/keys', headers: { cookie } }), { status: 401, code: 'invalid_api_key' });
      // A session that ended opens nothing.
      const csrf = (JSON.parse(signIn.body) as { csrf_token: string }).csrf_token;
      assert.equal((await call(stack.url, { method: 'DELETE', path: '/ui/session', headers: { cookie, 'x-llm-proxy-csrf': csrf } })).status, 200);
      assert.match(assertError(await call(stack.url, { method: 'GET', path: '/docs', headers: { cookie } }), { status: 401, code: 'invalid_api_key' }).message, /\/ui/);
    } finally {
      await stack.close();
    }
  });
});

describe('OpenAPI document against the handlers', () => {
  let gateway: Gateway;
  let doc: OpenApiDoc;
  /** The query parameter names the handler of the last injected request read. */
  const reads = new Set<string>();
  const get = (url: string) => gateway.app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${MASTER_KEY}` } });

  before(async () => {
    gateway = await startGateway(
      { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', LLM_PROXY_RPM: '0' },
      {
        prepare: ({ app }) =>
          app.addHook('preHandler', async (request) => {
            const query = request.query as Record<string, unknown>;
            request.query = new Proxy(query, {
              get(target, name, receiver) {
                if (typeof name === 'string') reads.add(name);
                return Reflect.get(target, name, receiver) as unknown;
              },
            });
          }),
      },
    );
    doc = (await callJson(gateway.url, 'GET', '/openapi.json', MASTER_KEY)).body as unknown as OpenApiDoc;
  });
  after(async () => {
    await gateway?.close();
  });

  test('model search documents every filter, sort and page parameter', () => {
    const search = queryOf(doc.paths['/api/models/search']?.get);
    for (const name of ['q', 'provider', 'supports_chat', 'supports_streaming', 'deprecated', 'capability', 'min_context', 'max_input_cost', 'max_output_cost', 'sort', 'limit', 'offset']) {
      assert.ok(search.has(name), `search parameter ${name}`);
    }
    assert.ok(search.get('sort')?.enum?.includes('-cost'));
    assert.equal(search.get('limit')?.maximum, 1000);
  });

  test('the model routes document the Model object, whose every field an answer carries, long_context included', async () => {
    const model = doc.components.schemas.Model;
    assert.ok(model?.properties?.long_context, 'Model.long_context');
    for (const path of ['/api/models', '/api/models/search', '/api/models/{*}']) {
      const schema = doc.paths[path]?.get?.responses?.['200'] as unknown as { content?: Record<string, { schema: unknown }> } | undefined;
      assert.match(JSON.stringify(schema?.content), /#\/components\/schemas\/Model/, `${path} answers Model`);
    }
    const answer = (await get('/api/models/gpt-5.5')).json<{ model: Record<string, unknown> }>().model;
    assert.deepEqual(Object.keys(answer).sort(), Object.keys(model?.properties ?? {}).sort());
    assert.deepEqual(answer.long_context, { above_input_tokens: 272_000, input_cost: 0.01, output_cost: 0.045, cached_input_cost: 0.001, cache_write_cost: null, cache_write_1h_cost: null });
    assert.equal(answer.input_cost, 0.005, 'input_cost stays the base rate');
  });

  test('key settings document budget_period and null for clearing, and the handler takes each', async () => {
    const key = await createKey(gateway.url);
    for (const [path, method] of [['/admin/keys', 'post'], ['/admin/keys/{id}', 'patch']] as const) {
      const fields = doc.paths[path]?.[method]?.requestBody?.content['application/json']?.schema.properties ?? {};
      assert.deepEqual(Object.keys(fields), ['name', 'models', 'rpm_limit', 'tpm_limit', 'max_budget', 'budget_period', 'expires_at'], path);
      assert.deepEqual(fields.budget_period?.enum, ['daily', 'weekly', 'monthly']);
      for (const [name, field] of Object.entries(fields)) assert.equal(field.nullable, true, `${method} ${path}: ${name} may be null`);
      assert.ok(new RegExp(fields.expires_at?.pattern ?? '^$').test('2030-12-31'), 'expires_at takes a date alone');
      assert.notEqual(fields.expires_at?.format, 'date-time');
    }
    const patch = doc.paths['/admin/keys/{id}']?.patch?.requestBody?.content['application/json']?.schema.properties ?? {};
    for (const name of Object.keys(patch)) {
      const answer = await callJson(gateway.url, 'PATCH', `/admin/keys/${key.id}`, MASTER_KEY, { [name]: null });
      assert.equal(answer.status, 200, `${name}: null → ${answer.text}`);
    }
    for (const period of patch.budget_period?.enum ?? []) {
      const answer = await callJson(gateway.url, 'PATCH', `/admin/keys/${key.id}`, MASTER_KEY, { max_budget: 5, budget_period: period });
      assert.equal(answer.status, 200, answer.text);
    }
  });

  test('usage ranges take a date alone (YYYY-MM-DD), in the document and in every handler', async () => {
    const paths = Object.keys(doc.paths).filter((path) => path === '/api/usage' || path.startsWith('/admin/usage'));
    assert.equal(paths.length, 5, paths.join(' '));
    for (const path of paths) {
      const query = queryOf(doc.paths[path]?.get);
      for (const name of ['start', 'end']) {
        const schema = query.get(name);
        assert.ok(schema?.pattern !== undefined && schema.format === undefined, `${path} ${name}: ${JSON.stringify(schema)}`);
        const pattern = new RegExp(schema.pattern);
        for (const value of ['2026-06-01', '2026-06-01T12:00:00Z', '2026-06-01T12:00:00+02:00']) assert.ok(pattern.test(value), `${path} ${name}=${value}`);
        assert.ok(!pattern.test('June 1'));
      }
      const answer = await get(`${path}?start=2026-06-01&end=2026-06-30`);
      assert.equal(answer.statusCode, 200, `${path}: ${answer.body}`);
    }
  });

  test('the dashboard session (cookie + CSRF header) is a documented way in to every keyed call', () => {
    const schemes = doc.components.securitySchemes;
    assert.deepEqual(schemes.dashboardSession, { ...schemes.dashboardSession, type: 'apiKey', in: 'cookie', name: 'llmp_ui' });
    assert.deepEqual(schemes.dashboardCsrf, { ...schemes.dashboardCsrf, type: 'apiKey', in: 'header', name: 'x-llm-proxy-csrf' });
    let keyed = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!operation.security?.some((requirement) => 'bearer' in requirement)) continue;
        keyed++;
        // The document alone opens to the cookie without its CSRF header (the /docs page reads it so).
        const csrf = !(method === 'get' && path === '/openapi.json');
        assert.ok(
          operation.security.some((requirement) => 'dashboardSession' in requirement && ('dashboardCsrf' in requirement) === csrf),
          `${method} ${path}: ${JSON.stringify(operation.security)}`,
        );
      }
    }
    assert.ok(keyed > 20, String(keyed));
    assert.deepEqual(doc.paths['/ui/session']?.get?.security, [{ dashboardSession: [] }]);
    assert.deepEqual(doc.paths['/ui/session']?.delete?.security, [{ dashboardSession: [], dashboardCsrf: [] }]);
  });

  test('/api/condense documents its 400, 403, 404 and 429 answers, and the handler gives each code it names', async () => {
    const responses = doc.paths['/api/condense']?.post?.responses ?? {};
    assert.ok(doc.components.schemas.Error?.properties?.error, 'the Error component');
    const restricted = await createKey(gateway.url, { name: 'condense-restricted', models: ['gpt-4.1-mini'] });
    const spent = await createKey(gateway.url, { name: 'condense-spent', max_budget: 0 });
    // A day's budget already spent (a call of $1 recorded today): the next call waits for the reset.
    const spentToday = await createKey(gateway.url, { name: 'condense-spent-today', max_budget: 1, budget_period: 'daily' });
    gateway.app.services.usage.record({
      requestId: 'spent-today',
      keyId: spentToday.id,
      endpoint: '/v1/chat/completions',
      model: 'gpt-4.1-nano',
      promptTokens: 10,
      completionTokens: 10,
      cachedTokens: 0,
      cost: 1,
      latencyMs: 1,
      status: 'ok',
      httpStatus: 200,
      stream: false,
      cacheHit: false,
      estimated: false,
      createdAt: Date.now(),
    });
    await gateway.app.services.usage.flush();
    const oncePerMinute = await createKey(gateway.url, { name: 'condense-rpm', rpm_limit: 1 });
    const messages = [{ role: 'user', content: 'My order #4521 never arrived.' }];
    const named = { model: 'gpt-4.1-nano', messages };
    assert.equal((await callJson(gateway.url, 'POST', '/api/condense', oncePerMinute.key, named)).status, 200);
    const cases: Array<[status: number, code: string, key: string, body: Record<string, unknown>]> = [
      [400, 'unknown_parameter', restricted.key, { ...named, preserve_recnt: 1 }],
      [400, 'invalid_value', restricted.key, { ...named, max_tokens: 0 }],
      [400, 'invalid_type', restricted.key, { ...named, messages: 'My order' }],
      [403, 'model_not_allowed', restricted.key, named],
      [403, 'budget_exceeded', spent.key, named],
      [404, 'model_not_found', spent.key, { model: 'no-such-model', messages }],
      [429, 'rate_limit_exceeded', oncePerMinute.key, named],
      [429, 'budget_exceeded', spentToday.key, named],
    ];
    for (const [status, code, key, body] of cases) {
      const documented = responses[String(status)];
      assert.equal(documented?.content?.['application/json']?.schema.$ref, '#/components/schemas/Error', `${status}: ${JSON.stringify(documented)}`);
      assert.ok(documented.description.includes(`\`${code}\``), `${status} names ${code}: ${documented.description}`);
      const answer = await callJson(gateway.url, 'POST', '/api/condense', key, body);
      assert.equal(answer.status, status, answer.text);
      assert.equal((answer.body.error as { code?: string } | undefined)?.code, code);
      if (status === 429) assert.ok(Number(answer.headers.get('retry-after')) > 0, `${code}: Retry-After`);
    }
  });

  test('a closed request body: every documented field is taken within its bounds and refused outside them, and any other field is refused', async () => {
    const key = await createKey(gateway.url);
    // A valid body for each route whose document closes its body (additionalProperties: false).
    const bases: Record<string, Record<string, unknown>> = {
      'post /api/condense': { messages: [{ role: 'user', content: 'My order #4521 never arrived.' }] },
      'post /admin/keys': {},
      'patch /admin/keys/{id}': { max_budget: 5 },
    };
    const closed: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const schema = operation.requestBody?.content['application/json']?.schema;
        if (schema?.additionalProperties !== false) continue;
        const route = `${method} ${path}`;
        closed.push(route);
        const base = bases[route];
        assert.ok(base !== undefined, `${route}: add a valid body to this test`);
        const send = (body: Record<string, unknown>) =>
          gateway.app.app.inject({ method: method.toUpperCase() as 'POST', url: urlOf(path).replace('0123456789abcdef', key.id), headers: { authorization: `Bearer ${MASTER_KEY}` }, payload: body });
        for (const [name, field] of Object.entries(schema.properties ?? {})) {
          for (const value of allowedValues(field)) {
            const answer = await send({ ...base, [name]: value });
            assert.notEqual(answer.statusCode, 400, `${route} ${name}=${JSON.stringify(value).slice(0, 40)}: ${answer.body}`);
          }
          for (const value of refusedValues(field)) {
            const answer = await send({ ...base, [name]: value });
            assert.equal(answer.statusCode, 400, `${route} ${name}=${JSON.stringify(value).slice(0, 40)}: ${answer.body}`);
            assert.equal((JSON.parse(answer.body) as { error: { param: string } }).error.param, name);
          }
        }
        const unknown = await send({ ...base, summary_style: 'short' });
        assert.equal(unknown.statusCode, 400, `${route}: ${unknown.body}`);
        assert.deepEqual(pick(JSON.parse(unknown.body) as { error: { code: string; param: string } }), { code: 'unknown_parameter', param: 'summary_style' });
      }
    }
    assert.deepEqual(closed.sort(), Object.keys(bases).sort());
  });

  test('every query parameter a handler reads is documented, and every documented one is read', async () => {
    let checked = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (operations.get === undefined) continue;
      reads.clear();
      await get(urlOf(path));
      assert.deepEqual([...reads].sort(), [...queryOf(operations.get).keys()].sort(), `GET ${path}`);
      checked += reads.size;
    }
    assert.ok(checked >= 30, String(checked));
  });

  test('every value a documented enum allows is accepted by its handler', async () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [name, schema] of queryOf(operations.get)) {
        for (const value of schema.enum ?? schema.items?.enum ?? []) {
          const answer = await get(`${urlOf(path)}?${new URLSearchParams({ [name]: value })}`);
          assert.equal(answer.statusCode, 200, `GET ${path}?${name}=${value}: ${answer.body}`);
        }
      }
    }
  });
});
