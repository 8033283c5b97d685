// Randomized hostile client input on every route of the live route table (RELIABILITY.md §4a,
// CONTRACT.md "Errors"): methods, paths, query strings, headers and bodies from
// test/support/hostile-input.ts, sent as raw bytes to a real gateway in front of a fake OpenAI
// upstream, with no key, the client key, a wrong key and the master key. Every answer must be a
// non-5xx (502/503/504 are recorded as upstream semantics), an OpenAI-shaped JSON error when it
// is an error, free of stacks, file paths, the upstream URL and keys; /health answers after each
// route, and Object.prototype stays clean. FUZZ_RUNS and FUZZ_SEED replay or widen a run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { CLIENT_KEY, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { describeRequest, hostileRequest, serialize, type HostileRequest, type RouteShape } from '../support/hostile-input.js';
import { routeTable } from '../support/route-table.js';
import { call, parseRawResponse, rawExchange, startStack, type RawResponse, type Stack } from '../support/reliability-support.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 80);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** Fuzz only the routes whose `METHOD url` holds this text (to hunt with many runs on one route). */
const ONLY = process.env.FUZZ_ROUTES;

/** Bodies that pass validation, for the routes that take one; a new route is fuzzed from `{}` and its documented fields. */
const BASES: Record<string, Record<string, unknown>> = {
  'POST /v1/chat/completions': {
    model: 'gpt-4',
    messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    max_tokens: 16,
    temperature: 1,
    stream: false,
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }],
  },
  'POST /v1/messages': { model: 'gpt-4', max_tokens: 16, system: 'be brief', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] },
  'POST /v1/messages/count_tokens': { model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] },
  'POST /v1/completions': { model: 'gpt-4', prompt: 'hi', max_tokens: 8 },
  'POST /v1/embeddings': { model: 'text-embedding-3-small', input: ['hi', 'there'], encoding_format: 'float' },
  'POST /api/condense': { messages: [{ role: 'user', content: 'hello there' }, { role: 'assistant', content: 'hi' }], max_tokens: 50 },
  'POST /admin/keys': { name: 'fuzz', models: ['gpt-4'], rpm_limit: 10, tpm_limit: 1000, max_budget: 1, expires_at: '2030-01-01T00:00:00Z' },
  'PATCH /admin/keys/:id': { rpm_limit: 5, models: ['gpt-4'] },
  'POST /ui/session': { master_key: 'not-the-master-key' },
};

interface DocOperation {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
}

/**
 * Whether the body parses to JSON holding a number JSON.parse made infinite (1e309): the proxy
 * could only forward it as null, so it must refuse it. Undefined when the body does not parse here.
 */
function holdsOverflow(body: Buffer | undefined): boolean | undefined {
  if (body === undefined) return undefined;
  let found = false;
  try {
    JSON.parse(body.toString('utf8'), (_key, value: unknown) => {
      if (typeof value === 'number' && !Number.isFinite(value)) found = true;
      return value;
    });
  } catch {
    return undefined;
  }
  return found;
}

/** Longest error message an answer may carry: errors never echo the request body (RELIABILITY §4a). */
const MAX_MESSAGE = 2_000;

const STACK_TRACE = /\bat [^\s()]+ \([^)]*:\d+:\d+\)|\n\s+at \S|(?:file:\/\/|node_modules\/|\/dist\/src\/|\/tmp\/|\/work\/)/;

describe('client-input fuzz on every route', () => {
  let stack: Stack;
  let routes: RouteShape[];
  let host: string;
  const prototypes = [Object.prototype, Array.prototype, Function.prototype, String.prototype];
  const clean = prototypes.map((proto) => Object.getOwnPropertyNames(proto).sort().join(','));
  /** 502/503/504 answers seen, by route, status and code: upstream semantics, recorded, not failed. */
  const gatewayStatuses = new Map<string, string>();
  /** How many answers had each status: a run that only ever saw 400s fuzzed nothing behind the parser. */
  const statuses = new Map<number, number>();

  before(async () => {
    // Short timeouts: a body that never arrives is answered in seconds.
    stack = await startStack({ yaml: 'server:\n  headers_timeout_s: 2\n  request_timeout_s: 3\nauth:\n  max_failures_per_minute: 0\n' });
    host = new URL(stack.url).host;
    const doc = JSON.parse((await call(stack.url, { method: 'GET', path: '/openapi.json', headers: { authorization: `Bearer ${CLIENT_KEY}` } })).body) as { paths: Record<string, Record<string, DocOperation>> };
    // printRoutes shows a wildcard under its parent without the slash (`/api/models` → `*`).
    routes = routeTable(stack.gateway.app.app).map(([method, tableUrl]) => {
      const url = tableUrl.replace(/\/?\*$/, '/*');
      const documented = doc.paths[url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{*}')]?.[method.toLowerCase()];
      return {
        method,
        url,
        query: (documented?.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name),
        fields: Object.keys(documented?.requestBody?.content?.['application/json']?.schema?.properties ?? {}),
        base: BASES[`${method} ${url}`] ?? {},
      };
    });
    assert.ok(routes.length >= 30, `${routes.length} routes`);
  });
  after(async () => {
    await stack?.close();
  });

  function assertNoLeak(where: string, text: string, request: HostileRequest): void {
    for (const secret of [UPSTREAM_KEY, MASTER_KEY, CLIENT_KEY, ...request.wrongKeys]) assert.ok(!text.includes(secret), `${where} holds a key`);
    const upstream = new URL(stack.fake.url);
    assert.ok(!text.includes(upstream.host) && !text.includes(`localhost:${upstream.port}`), `${where} holds the upstream URL`);
  }

  /** The OpenAI envelope, or Anthropic's on the Messages API paths. */
  function assertErrorShape(res: RawResponse, request: HostileRequest): void {
    assert.match(String(res.headers['content-type']), /^application\/json/, 'an error is JSON');
    const parsed = JSON.parse(res.body) as Record<string, unknown>;
    const anthropic = request.path.startsWith('/v1/messages') && parsed.type === 'error';
    const error = parsed.error as Record<string, unknown> | undefined;
    assert.ok(error !== null && typeof error === 'object', 'an error object');
    assert.equal(typeof error.message, 'string');
    assert.ok((error.message as string).length > 0, 'a message');
    assert.ok((error.message as string).length <= MAX_MESSAGE, `a message of ${(error.message as string).length} characters`);
    assert.ok(typeof error.param !== 'string' || error.param.length <= MAX_MESSAGE, 'a short param');
    assert.equal(typeof error.type, 'string');
    if (anthropic) return;
    assert.deepEqual(Object.keys(parsed), ['error']);
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
    assert.ok(error.param === null || typeof error.param === 'string', 'param');
    assert.ok(error.code === null || typeof error.code === 'string', 'code');
  }

  function assertAnswer(route: RouteShape, request: HostileRequest, res: RawResponse): void {
    assert.ok(res.status >= 200 && res.status < 600, `a status (${res.status})`);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500) {
      assert.ok([502, 503, 504].includes(res.status), `no ${res.status}: ${res.body.slice(0, 300)}`);
      const code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code;
      const label = `${route.method} ${route.url} → ${res.status} ${String(code)}`;
      if (!gatewayStatuses.has(label)) gatewayStatuses.set(label, describeRequest(request));
    }
    assert.equal(typeof res.headers['x-request-id'], 'string', 'x-request-id');
    // A body the route reads, with a number JSON cannot carry, is refused, never forwarded as null.
    if (res.status < 300 && request.method === route.method && route.fields.length > 0 && request.framing !== 'zero-length') {
      assert.notEqual(holdsOverflow(request.body), true, `a body with an infinite number was answered ${res.status}`);
    }
    const isError = res.status >= 400 && request.method.toUpperCase() !== 'HEAD';
    if (isError) assertErrorShape(res, request);
    if (isError || /json/.test(String(res.headers['content-type']))) assert.ok(!STACK_TRACE.test(res.body), `no stack or file path in the body: ${res.body.slice(0, 300)}`);
    assertNoLeak('the body', res.body, request);
    assertNoLeak('the headers', res.rawHeaders.join('\n'), request);
    assert.ok(!STACK_TRACE.test(res.rawHeaders.join('\n')), 'no stack or file path in the headers');
    prototypes.forEach((proto, index) => assert.equal(Object.getOwnPropertyNames(proto).sort().join(','), clean[index], 'prototypes untouched'));
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype not polluted');
  }

  async function send(request: HostileRequest): Promise<RawResponse> {
    const exchange = await rawExchange(stack.url, [serialize(request, host)], { timeoutMs: 15_000 });
    assert.ok(exchange.text.length > 0, `an answer (closed by server: ${exchange.closedByServer}, after ${exchange.ms} ms)`);
    return parseRawResponse(exchange.text);
  }

  async function assertHealthy(): Promise<void> {
    const res = await call(stack.url, { method: 'GET', path: '/health' });
    assert.equal(res.status, 200, `/health: ${res.body.slice(0, 200)}`);
    assert.match((JSON.parse(res.body) as { status: string }).status, /^(healthy|degraded)$/);
  }

  test('every route survives hostile input with any credentials', { timeout: 120_000 }, async (t) => {
    const credentials = { client: CLIENT_KEY, master: MASTER_KEY };
    for (const route of routes) {
      if (ONLY !== undefined && !`${route.method} ${route.url}`.includes(ONLY)) continue;
      await t.test(`${route.method} ${route.url}`, async () => {
        await fc.assert(
          fc.asyncProperty(hostileRequest(route, credentials), async (request) => {
            assertAnswer(route, request, await send(request));
          }),
          { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: false },
        );
        await assertHealthy();
        const logs = stack.gateway.logs.join('\n');
        stack.gateway.logs.length = 0;
        for (const secret of [UPSTREAM_KEY, MASTER_KEY, CLIENT_KEY]) assert.ok(!logs.includes(secret), 'a key in the logs');
        assert.ok(!logs.includes('sk-fuzz-wrong-'), 'a wrong key in the logs');
        assert.ok(!/"level":(?:50|60)/.test(logs), `an error logged: ${/.*"level":(?:50|60).*/.exec(logs)?.[0].slice(0, 500)}`);
      });
    }
    for (const [label, example] of gatewayStatuses) t.diagnostic(`${label}; e.g. ${example.split('\n')[0]}`);
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    // The fuzz reached the handlers, not only the parser and auth.
    if (ONLY === undefined) for (const status of [200, 400, 401, 404]) assert.ok((statuses.get(status) ?? 0) > 0, `some ${status} answers`);
  });

  test('a body shorter than its Content-Length, on every route: answered at the request timeout, never a 5xx', { timeout: 30_000 }, async () => {
    const answers = await Promise.all(
      routes.map(async (route) => {
        const path = route.url.replace(':id', '0123456789abcdef').replace(/\*$/, 'gpt-4');
        const head = `${route.method} ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\nauthorization: Bearer ${CLIENT_KEY}\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{"model":`;
        const exchange = await rawExchange(stack.url, [head], { timeoutMs: 10_000 });
        return { route, exchange };
      }),
    );
    for (const { route, exchange } of answers) {
      assert.ok(exchange.text.length > 0, `${route.method} ${route.url}: an answer`);
      const res = parseRawResponse(exchange.text);
      assert.ok(res.status < 500, `${route.method} ${route.url}: ${res.status} ${res.body.slice(0, 200)}`);
      if (res.status >= 400) assert.match(String(res.headers['content-type']), /^application\/json/);
    }
    await assertHealthy();
  });
});
