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
import { describeRequest, hostileRequest, serialize, splitResponses, type HostileRequest, type RouteShape } from '../support/hostile-input.js';
import { routeTable } from '../support/route-table.js';
import type { RecordedRequest } from '../support/fake-openai.js';
import { call, parseRawResponse, rawExchange, splitSse, startStack, type RawResponse, type Stack } from '../support/reliability-support.js';
import { searchSeed } from '../support/search-seed.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 80);
const SEED = searchSeed(process.env.FUZZ_SEED);
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

/** The same routes asked to stream, for the routes that can. */
const STREAMED: Record<string, Array<Record<string, unknown>>> = {
  'POST /v1/chat/completions': [{ ...BASES['POST /v1/chat/completions'], stream: true, stream_options: { include_usage: true } }, { ...BASES['POST /v1/chat/completions'], stream: true, n: 2 }],
  'POST /v1/messages': [{ ...BASES['POST /v1/messages'], stream: true }],
  'POST /v1/completions': [{ ...BASES['POST /v1/completions'], stream: true }],
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

/** Every object and array in `value`, depth first (the places a prototype key can be put). */
function containersOf(value: unknown, out: object[] = []): object[] {
  if (value !== null && typeof value === 'object') {
    out.push(value);
    for (const item of Object.values(value)) containersOf(item, out);
  }
  return out;
}

/**
 * JSON text as a value to compare: prototype-named keys dropped; per-call ids and times, and the
 * usage the fake upstream reports (it counts the bytes it was sent, prototype keys included), blanked.
 */
function comparable(text: string): unknown {
  const blank = new Set(['id', 'created', 'request_id', 'usage']);
  return JSON.parse(text, (key, value: unknown) => (key === '__proto__' || key === 'constructor' || key === 'prototype' ? undefined : blank.has(key) ? '…' : value));
}

/** Longest error message an answer may carry: errors never echo the request body (RELIABILITY §4a). */
const MAX_MESSAGE = 2_000;

/** Keys no upstream call may carry (RELIABILITY §4a#11), outside the JSON schemas a client writes. */
const OVERRIDE_KEY = /^(?:api_base|base_url|api_key|api_version|organization|extra_headers|custom_host|(?!(?:image|audio|video|file|document)_url$).+_url)$/;
const SCHEMA_KEYS = new Set(['parameters', 'schema', 'input_schema', 'properties']);

/** The path of the first override key in `body` outside schema subtrees, if any (iterative: bodies may be deep). */
function overrideIn(body: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[body, '']];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [value, path] = next;
    if (value === null || typeof value !== 'object') continue;
    for (const [key, item] of Object.entries(value)) {
      if (!Array.isArray(value) && OVERRIDE_KEY.test(key)) return `${path}.${key}`;
      if (!SCHEMA_KEYS.has(key)) stack.push([item, `${path}.${key}`]);
    }
  }
  return undefined;
}

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
        bases: [BASES[`${method} ${url}`] ?? {}, ...(STREAMED[`${method} ${url}`] ?? [])],
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

  /** What reached the upstream: its own key only, none of the client's credentials or browser headers, no override keys. */
  function assertUpstreamCalls(request: HostileRequest, calls: RecordedRequest[]): void {
    for (const sent of calls) {
      assert.equal(sent.headers.authorization, `Bearer ${UPSTREAM_KEY}`, 'the upstream gets its own key');
      const headers = JSON.stringify(sent.headers);
      for (const secret of [MASTER_KEY, CLIENT_KEY, ...request.wrongKeys]) assert.ok(!headers.includes(secret), 'a client credential went upstream');
      for (const name of Object.keys(sent.headers)) assert.ok(!/^(?:cookie|origin|x-api-key|x-forwarded-|forwarded$|x-llm-proxy-metadata)/.test(name), `forwarded ${name}`);
      assert.equal(overrideIn(sent.body), undefined, 'an override key went upstream');
    }
  }

  /** Event streams: every `data:` line is JSON (or [DONE]); JSON answers parse whole. */
  function assertWellFormed(request: HostileRequest, res: RawResponse): void {
    if (request.method.toUpperCase() === 'HEAD' || res.status === 204) return;
    const type = String(res.headers['content-type']);
    if (/^text\/event-stream/.test(type)) {
      const { data } = splitSse(res.body);
      assert.ok(data.length > 0, 'a stream with events');
      for (const payload of data) if (payload !== '[DONE]') assert.doesNotThrow(() => JSON.parse(payload), `a stream event that is not JSON: ${payload.slice(0, 200)}`);
    } else if (/^application\/json/.test(type)) {
      assert.doesNotThrow(() => JSON.parse(res.body), `a JSON answer that does not parse: ${res.body.slice(0, 200)}`);
    }
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
    assert.match(String(res.headers['x-request-id']), /^[A-Za-z0-9._:-]{1,128}$/, 'a safe x-request-id');
    assert.match(String(res.headers.vary), /\bAuthorization\b/, 'Vary: Authorization');
    // no-cache only for the dashboard's public files under /ui; everything else, /docs included, no-store.
    assert.match(String(res.headers['cache-control']), /^no-(?:store|cache)$/, 'Cache-Control');
    assertWellFormed(request, res);
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
            const from = stack.fake.requests.length;
            assertAnswer(route, request, await send(request));
            assertUpstreamCalls(request, stack.fake.requests.slice(from));
          }),
          { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: false, includeErrorInReport: true },
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

  // A connection the server leaves open shows as the suite's close never finishing; the cases
  // this found are pinned in pipelined-bad-request.test.ts.
  test('pipelined on one keep-alive connection: every request is answered, in order, until an answer closes the connection', { timeout: 60_000 }, async () => {
    const credentials = { client: CLIENT_KEY, master: MASTER_KEY };
    const anyRequest = fc.constantFrom(...routes).chain((route) => hostileRequest(route, credentials).map((request) => ({ route, request })));
    await fc.assert(
      fc.asyncProperty(fc.array(anyRequest, { minLength: 2, maxLength: 4 }), async (batch) => {
        const from = stack.fake.requests.length;
        // All but the last keep the connection; everything is written at once, as a pipelining client does.
        const wire = batch.map(({ request }, index) => serialize(request, host, index < batch.length - 1));
        const exchange = await rawExchange(stack.url, [Buffer.concat(wire)], { timeoutMs: 15_000 });
        const { responses, rest } = splitResponses(exchange.bytes, batch.map(({ request }) => request.method));
        assert.equal(rest.length, 0, `a response cut short: ${rest.subarray(0, 200).toString('latin1')}`);
        const closedAt = responses.findIndex((res) => /close/i.test(res.headers.connection ?? ''));
        assert.equal(responses.length, closedAt < 0 ? batch.length : closedAt + 1, `${responses.length} answers to ${batch.length} requests (${responses.map((res) => res.status).join(', ')})`);
        responses.forEach((res, index) => {
          const { route, request } = batch[index] as { route: RouteShape; request: HostileRequest };
          assertAnswer(route, request, res);
        });
        assertUpstreamCalls(batch.flatMap(({ request }) => request.wrongKeys).reduce((all, key) => ({ ...all, wrongKeys: [...all.wrongKeys, key] }), batch[0]!.request), stack.fake.requests.slice(from));
      }),
      { numRuns: RUNS * 2, ...(SEED === undefined ? {} : { seed: SEED }), includeErrorInReport: true },
    );
    await assertHealthy();
  });

  test('prototype keys at any depth change nothing: the answer and the upstream call are those of the body without them (or a 400)', { timeout: 60_000 }, async (t) => {
    const PAYLOAD: Record<string, unknown> = { stream: true, n: 2, model: 'gpt-3.5-turbo', max_tokens: 1, role: 'system', content: 'INJECTED', type: 'image_url', input: 'INJECTED', text: 'INJECTED', messages: [{ role: 'user', content: 'INJECTED' }], admin: true, api_base: 'http://evil.example', encoding_format: 'base64' };
    const injection = fc.record({
      target: fc.nat(),
      key: fc.constantFrom('__proto__', 'constructor', 'prototype'),
      fields: fc.subarray(Object.keys(PAYLOAD), { minLength: 1 }),
    });
    for (const key of ['POST /v1/chat/completions', 'POST /v1/messages', 'POST /v1/messages/count_tokens', 'POST /v1/embeddings', 'POST /api/condense']) {
      const base = BASES[key] as Record<string, unknown>;
      const path = key.slice(5);
      const exchange = async (body: string) => {
        const from = stack.fake.requests.length;
        const res = await call(stack.url, { path, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body });
        return { status: res.status, body: comparable(res.body), upstream: stack.fake.requests.slice(from).map((sent) => comparable(JSON.stringify(sent.body))) };
      };
      const expected = await exchange(JSON.stringify(base));
      assert.equal(expected.status, 200, `${key}: the base body is served`);
      await t.test(key, async () => {
        await fc.assert(
          fc.asyncProperty(injection, async ({ target, key: protoKey, fields }) => {
            const payload = Object.fromEntries(fields.map((field) => [field, PAYLOAD[field]]));
            const body = structuredClone(base);
            const places = containersOf(body);
            const place = places[target % places.length] as object;
            // An own property named __proto__, as JSON.parse makes one (assignment would set the prototype).
            Object.defineProperty(place, protoKey, { value: protoKey === 'constructor' ? { prototype: payload } : payload, enumerable: true, writable: true, configurable: true });
            const got = await exchange(JSON.stringify(body));
            if (got.status === 400) return;
            assert.deepEqual(got, expected);
          }),
          { numRuns: Math.ceil(RUNS / 2), ...(SEED === undefined ? {} : { seed: SEED }), includeErrorInReport: true },
        );
      });
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype not polluted');
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
