// fast-check arbitraries for hostile client requests (RELIABILITY.md §4a): methods, paths, query
// strings, headers and bodies a client may send, written as raw HTTP/1.1 bytes so nothing in a
// client library tidies them up first. Each route is described by what the live app says of it
// (its route-table method and URL, and the query and body names /openapi.json gives).
import fc from 'fast-check';
import { parseResponseHead } from './reliability-support.js';

/** One route as the fuzz sees it. */
export interface RouteShape {
  method: string;
  /** The route-table URL: `:id` and `*` are filled in per request. */
  url: string;
  /** Query parameter names the route documents. */
  query: string[];
  /** Top-level body property names the route documents. */
  fields: string[];
  /** Valid-looking bodies to mutate (`[{}]` for a route the suite has no example for). */
  bases: Array<Record<string, unknown>>;
}

export interface Credentials {
  client: string;
  master: string;
}

/** A raw request and a short description of it (what a shrunk counterexample prints). */
export interface HostileRequest {
  method: string;
  path: string;
  /** Header lines in order; a name may repeat. Values may hold bytes outside latin1. */
  headers: Array<[string, string | Buffer]>;
  body: Buffer | undefined;
  /** How the body is framed: by Content-Length, chunked, or announced as 0 with nothing sent. */
  framing: 'length' | 'chunked' | 'zero-length';
  /** The wrong keys this request carries, which no answer may echo. */
  wrongKeys: string[];
}

/** Marks a value to be replaced by raw JSON text JSON.stringify cannot produce (1e309, a 10k-deep array). */
const RAW_MARK = '\u0001raw:';

const DEEP = 10_000;
const RAW_TOKENS = [
  '1e309',
  '-1e309',
  '-0',
  '1e-400',
  '123456789012345678901234567890',
  '0.1e99999',
  '"\\ud800"',
  '"a\\udfff\\ud800b"',
  '"\\u0000"',
  '"\\ufeff"',
  `${'['.repeat(DEEP)}${']'.repeat(DEEP)}`,
  `${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}`,
  `${'['.repeat(63)}${']'.repeat(63)}`,
  `${'['.repeat(65)}${']'.repeat(65)}`,
  `[${'0,'.repeat(100_000)}0]`,
  `[${'{},'.repeat(20_000)}{}]`,
];

/** Keys that must never do anything but be refused or ignored. */
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'api_base', 'base_url', 'api_key', 'callback_url', 'webhook_url', 'extra_headers', 'organization', 'custom_host', 'toString', 'hasOwnProperty', 'valueOf', '', 'é字', 'a\r\nb', '\u0000', '\ud800', '🙂', 'x'.repeat(5_000)];

const NUMBER_STRINGS = ['NaN', 'Infinity', '-Infinity', '-0', '1e309', '0x10', '1_000', ' 1', ''];

/** A value to put anywhere: plain JSON, wrong-typed, huge, deep or unrepresentable. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 4 },
  { arbitrary: fc.constantFrom(...NUMBER_STRINGS), weight: 1 },
  { arbitrary: fc.constantFrom(...RAW_TOKENS).map((token) => `${RAW_MARK}${token}`), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom('x', ' ', '\n', 'é', '字', '\u0000', '🙂'), fc.integer({ min: 1_000, max: 1_000_000 })).map(([unit, count]) => unit.repeat(count)), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.constantFrom('\ud800', 'a\udfffb', '\r\n\r\ndata: [DONE]\n\n', '\u0000', '\u2028', '<script>', '${OPENAI_API_KEY}', '{{x}}', '%s%n'), weight: 1 },
  { arbitrary: fc.constantFrom(true, false, null, 0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308), weight: 1 },
);

const hostileKey = fc.oneof({ arbitrary: fc.constantFrom(...HOSTILE_KEYS), weight: 3 }, { arbitrary: fc.string({ maxLength: 12 }), weight: 1 });

/** One change to a body: at container number `target` (of a depth-first walk), set `key` (or an index) to `value`, or delete it. */
interface Mutation {
  target: number;
  key: string | undefined;
  value: unknown;
  remove: boolean;
}

function mutationArb(fields: string[]): fc.Arbitrary<Mutation> {
  const keys = fields.length === 0 ? hostileKey : fc.oneof(fc.constantFrom(...fields), hostileKey);
  return fc.record({ target: fc.nat(), key: fc.option(keys, { nil: undefined }), value: hostileValue, remove: fc.boolean() });
}

function containers(value: unknown, out: object[]): object[] {
  if (value !== null && typeof value === 'object') {
    out.push(value);
    for (const item of Object.values(value)) containers(item, out);
  }
  return out;
}

/** Sets an own property, `__proto__` included (a plain assignment would set the prototype). */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function applyMutations(base: Record<string, unknown>, mutations: Mutation[]): unknown {
  const body = structuredClone(base);
  for (const mutation of mutations) {
    const all = containers(body, []);
    const target = all[mutation.target % all.length] as Record<string, unknown> | unknown[];
    if (Array.isArray(target)) {
      const index = target.length === 0 ? 0 : mutation.target % (target.length + 1);
      if (mutation.remove) target.splice(index, 1);
      else target[index] = mutation.value;
      continue;
    }
    const existing = Object.keys(target);
    const key = mutation.key ?? existing[mutation.target % Math.max(1, existing.length)] ?? 'x';
    if (mutation.remove && mutation.key === undefined) delete target[key];
    else setOwn(target, key, mutation.value);
  }
  return body;
}

/** JSON text with the raw markers swapped for their raw tokens. */
function render(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  if (!text.includes('\\u0001raw:')) return text;
  return text.replace(/"\\u0001raw:((?:[^"\\]|\\.)*)"/g, (_match, token: string) => JSON.parse(`"${token}"`) as string);
}

/** Byte-level damage after rendering: a BOM, invalid UTF-8, a cut. */
const byteDamage = fc.oneof(
  { arbitrary: fc.constant('none' as const), weight: 16 },
  { arbitrary: fc.constant('bom' as const), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom('ff', 'c080', 'eda080', 'f4908080', 'e282', 'c3', 'fe'), fc.nat()).map(([hex, at]) => ({ hex, at })), weight: 2 },
  { arbitrary: fc.nat().map((cut) => ({ cut })), weight: 1 },
);

function damage(text: string, how: 'none' | 'bom' | { hex: string; at: number } | { cut: number }): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (how === 'none') return bytes;
  if (how === 'bom') return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
  if ('cut' in how) return bytes.subarray(0, how.cut % (bytes.length + 1));
  // Inside the first string when there is one, so the JSON around it is still well formed.
  const quote = text.indexOf('"');
  const at = quote >= 0 ? Buffer.byteLength(text.slice(0, quote + 1)) : how.at % (bytes.length + 1);
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(how.hex, 'hex'), bytes.subarray(at)]);
}

function bodyArb(route: RouteShape): fc.Arbitrary<Buffer | undefined> {
  const fromFields = route.fields.length === 0 ? fc.constant({}) : fc.dictionary(fc.constantFrom(...route.fields), hostileValue, { maxKeys: 4 });
  const near = fc
    .tuple(fc.oneof({ arbitrary: fc.constantFrom(...route.bases), weight: 3 }, { arbitrary: fromFields, weight: 1 }), fc.array(mutationArb(route.fields), { maxLength: 3 }))
    .map(([base, mutations]) => render(applyMutations(base as Record<string, unknown>, mutations)));
  const text = fc.oneof(
    { arbitrary: near, weight: 12 },
    { arbitrary: fc.jsonValue().map((value) => JSON.stringify(value) ?? 'null'), weight: 2 },
    { arbitrary: fc.constantFrom(...RAW_TOKENS, '{"model":', 'model=gpt-4&messages=hi', '{"a":1}{"a":2}', '{"model":"cheap","model":"pricey"}', ' '), weight: 1 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  );
  return fc.option(fc.tuple(text, byteDamage).map(([value, how]) => damage(value, how)), { nil: undefined, freq: 10 });
}

/** Percent-encodes every byte of `text` outside unreserved characters. */
function encodeSegment(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

const pathParam = fc.oneof(
  fc.constantFrom('0123456789abcdef', 'gpt-4', 'openai/gpt-4', 'openai%2Fgpt-4', '..%2f..%2fadmin', '%2e%2e/', '%252e', '%5C..%5C', '%00', '%ff%fe', '%', '%zz', '.', '..', '__proto__', 'constructor', 'x'.repeat(2_000)),
  fc.string({ unit: 'binary', maxLength: 30 }).map(encodeSegment),
);

/** Rewrites a route path the way a confused or hostile client might. */
const pathVariant = fc.oneof(
  { arbitrary: fc.constant('as-is'), weight: 24 },
  { arbitrary: fc.constantFrom('trailing-slash', 'double-leading', 'double-inner', 'upper-v1', 'dot-dot', 'encoded-slash', 'trailing-dot', 'encoded-dot', 'raw-bytes'), weight: 6 },
);

function varyPath(path: string, variant: string): string {
  switch (variant) {
    case 'trailing-slash':
      return `${path}/`;
    case 'double-leading':
      return `/${path}`;
    case 'double-inner':
      return path.replace(/\/(?=[^/]*$)/, '//');
    case 'upper-v1':
      return path.replace(/^\/v1\//i, '/V1/').replace(/^\/(api|admin|health|ui)/, (_m, word: string) => `/${word.toUpperCase()}`);
    case 'dot-dot':
      return `/x/..${path}`;
    case 'encoded-slash':
      return path.replace(/\/(?=[^/]*$)/, '%2F');
    case 'trailing-dot':
      return `${path}.`;
    case 'encoded-dot':
      return `${path}%2e`;
    case 'raw-bytes':
      return `${path}\u00ff\u0080`;
    default:
      return path;
  }
}

function queryArb(names: string[]): fc.Arbitrary<string> {
  const name = names.length === 0 ? fc.string({ maxLength: 8 }).map(encodeSegment) : fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 8 }).map(encodeSegment));
  const value = fc.oneof(
    fc.constantFrom('', 'true', 'True', '0', '-1', '1e309', 'NaN', '%00', '%ff', '2026-01-01T00:00:00Z', 'not-a-date', 'gpt-4', 'x'.repeat(8_000)),
    fc.string({ unit: 'binary', maxLength: 20 }).map(encodeSegment),
  );
  const pair = fc.oneof(
    { arbitrary: fc.tuple(name, value).map(([key, item]) => `${key}=${item}`), weight: 4 },
    { arbitrary: fc.tuple(name, value).map(([key, item]) => `${key}[]=${item}&${key}[]=${item}`), weight: 1 },
    { arbitrary: fc.constantFrom('__proto__[admin]=1', 'constructor[prototype][admin]=1', '__proto__=x', 'key=sk-in-query', 'api_key=sk-in-query', '&&&', '=', '%00=%00', 'a=%'), weight: 1 },
  );
  return fc.oneof({ arbitrary: fc.constant(''), weight: names.length === 0 ? 4 : 1 }, { arbitrary: fc.array(pair, { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.join('&')}`), weight: 1 });
}

function authArb(credentials: Credentials): fc.Arbitrary<{ headers: Array<[string, string]>; wrongKeys: string[] }> {
  const wrong = fc.stringMatching(/^[A-Za-z0-9_]{12,40}$/).map((secret) => `sk-fuzz-wrong-${secret}`);
  const valid = fc.constantFrom<Array<[string, string]>>([['authorization', `Bearer ${credentials.client}`]], [['authorization', `Bearer ${credentials.master}`]], [['x-api-key', credentials.client]]);
  const refused = fc.oneof(
    fc.constant({ headers: [], wrongKeys: [] }),
    wrong.map((key) => ({ headers: [['authorization', `Bearer ${key}`]], wrongKeys: [key] })),
    wrong.map((key) => ({ headers: [['authorization', `Bearer ${credentials.client}`], ['authorization', `Bearer ${key}`]], wrongKeys: [key] })),
    wrong.map((key) => ({ headers: [['authorization', `Bearer ${key}`], ['authorization', `Bearer ${credentials.master}`]], wrongKeys: [key] })),
    fc.constantFrom<Array<[string, string]>>([['authorization', 'Bearer ']], [['authorization', 'Basic dXNlcjpwYXNz']], [['authorization', `Bearer ${'k'.repeat(10_000)}`]], [['authorization', "Bearer ' OR '1'='1"]]).map((headers) => ({ headers, wrongKeys: [] })),
  );
  return fc.oneof({ arbitrary: valid.map((headers) => ({ headers, wrongKeys: [] })), weight: 5 }, { arbitrary: refused, weight: 1 }  ) as fc.Arbitrary<{ headers: Array<[string, string]>; wrongKeys: string[] }>;
}

const contentTypes = fc.constantFrom<Array<[string, string]>>(
  [],
  ...Array.from({ length: 8 }, (): Array<[string, string]> => [['content-type', 'application/json']]),
  [['content-type', 'application/json; charset=utf-8']],
  [['content-type', 'application/json; charset=latin1']],
  [['content-type', 'application/json; charset=utf-16']],
  [['content-type', 'APPLICATION/JSON;CHARSET="UTF-8"']],
  [['content-type', 'text/plain']],
  [['content-type', 'application/x-www-form-urlencoded']],
  [['content-type', 'multipart/form-data; boundary=xyz']],
  [['content-type', ';;;']],
  [['content-type', 'application/json'], ['content-type', 'text/plain']],
);

const extraHeaders = fc.oneof({ arbitrary: fc.constant([]), weight: 4 }, { arbitrary: fc.array(
  fc.oneof(
    fc.constantFrom<[string, string]>(['content-encoding', 'gzip'], ['content-encoding', 'br'], ['content-encoding', 'identity'], ['content-encoding', 'gzip, deflate'], ['accept', 'text/event-stream'], ['accept-encoding', 'gzip'], ['x-forwarded-for', '1.2.3.4, evil'], ['origin', 'http://evil.example'], ['cookie', 'llm_proxy_session=x; a=b'], ['x-request-id', 'fuzz-id-1']),
    fc.string({ unit: 'binary-ascii', maxLength: 20 }).map((value): [string, Buffer] => ['x-request-id', Buffer.from(value, 'latin1')]),
    fc.constantFrom<[string, Buffer]>(['x-request-id', Buffer.from('é字', 'utf8')], ['x-llm-proxy-metadata', Buffer.from([0xff, 0xfe])]),
  ),
  { minLength: 1, maxLength: 3 },
), weight: 1 });

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH'];

export function hostileRequest(route: RouteShape, credentials: Credentials): fc.Arbitrary<HostileRequest> {
  const method = fc.oneof({ arbitrary: fc.constant(route.method), weight: 8 }, { arbitrary: fc.constantFrom(...METHODS, route.method.toLowerCase()), weight: 1 });
  const url = fc
    .tuple(pathParam, pathParam)
    .map(([id, rest]) => route.url.replace(':id', id).replace(/\*$/, rest));
  return fc
    .record({
      method,
      url,
      variant: pathVariant,
      query: queryArb(route.query),
      auth: authArb(credentials),
      contentType: contentTypes,
      extra: extraHeaders,
      body: bodyArb(route),
      framing: fc.oneof({ arbitrary: fc.constant('length'), weight: 8 }, { arbitrary: fc.constantFrom('chunked', 'zero-length'), weight: 2 }),
    })
    .map(({ method: verb, url: path, variant, query, auth, contentType, extra, body, framing }) => {
      const request: HostileRequest = {
        method: verb,
        path: `${varyPath(path, variant)}${query}`,
        headers: [...auth.headers, ...contentType, ...extra],
        body,
        framing: framing as HostileRequest['framing'],
        wrongKeys: auth.wrongKeys,
      };
      // A shrunk counterexample prints as HTTP, not as a 1 MB Buffer dump.
      return Object.defineProperty(request, fc.toStringMethod, { value: () => describeRequest(request) });
    });
}

/** The request as bytes on the wire; unless `keepAlive`, it asks the server to close the connection after the answer. */
export function serialize(request: HostileRequest, host: string, keepAlive = false): Buffer {
  const lines: Buffer[] = [Buffer.from(`${request.method} ${request.path} HTTP/1.1\r\nhost: ${host}\r\n${keepAlive ? '' : 'connection: close\r\n'}`, 'latin1')];
  for (const [name, value] of request.headers) lines.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n'));
  const body = request.body;
  if (body === undefined) return Buffer.concat([...lines, Buffer.from('\r\n')]);
  if (request.framing === 'zero-length') return Buffer.concat([...lines, Buffer.from('content-length: 0\r\n\r\n')]);
  if (request.framing === 'chunked') {
    const chunk = body.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')]);
    return Buffer.concat([...lines, Buffer.from('transfer-encoding: chunked\r\n\r\n'), chunk, Buffer.from('0\r\n\r\n')]);
  }
  return Buffer.concat([...lines, Buffer.from(`content-length: ${body.length}\r\n\r\n`), body]);
}

/** What a counterexample prints: the request line, headers and the start of the body. */
export function describeRequest(request: HostileRequest): string {
  const headers = request.headers.map(([name, value]) => `${name}: ${typeof value === 'string' ? value.slice(0, 80) : `<bytes ${value.toString('hex')}>`}`);
  const bytes = request.body;
  // Long bodies keep both ends: a mutation is as likely to sit at the end as at the start.
  const shown = bytes === undefined ? '' : bytes.length <= 600 ? bytes.toString('latin1') : `${bytes.subarray(0, 200).toString('latin1')}…${bytes.subarray(-400).toString('latin1')}`;
  const body = bytes === undefined ? '<none>' : `${bytes.length} bytes (${request.framing}): ${JSON.stringify(shown)}`;
  return `${request.method} ${request.path.slice(0, 300)}\n  ${headers.join('\n  ')}\n  body ${body}`;
}

/**
 * Splits the bytes a keep-alive connection answered with into responses, in order. `methods` are
 * the requests' methods (a HEAD answer has a length but no body). What is left unframed at the end
 * (a response cut short) is returned as `rest`.
 */
export function splitResponses(bytes: Buffer, methods: string[]): { responses: Array<{ status: number; headers: Record<string, string>; rawHeaders: string[]; body: string }>; rest: Buffer } {
  const responses: Array<{ status: number; headers: Record<string, string>; rawHeaders: string[]; body: string }> = [];
  let offset = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', offset);
    if (end < 0) break;
    const { status, headers, rawHeaders } = parseResponseHead(bytes.subarray(offset, end).toString('latin1'));
    let cursor = end + 4;
    let body: Buffer = Buffer.alloc(0);
    const noBody = methods[responses.length]?.toUpperCase() === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!noBody && /chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = bytes.indexOf('\r\n', cursor);
        if (eol < 0) return { responses, rest: bytes.subarray(offset) };
        const size = parseInt(bytes.subarray(cursor, eol).toString('latin1'), 16);
        if (Number.isNaN(size) || eol + 2 + size + 2 > bytes.length) return { responses, rest: bytes.subarray(offset) };
        cursor = eol + 2 + size + 2;
        if (size === 0) break;
        parts.push(bytes.subarray(eol + 2, eol + 2 + size));
      }
      body = Buffer.concat(parts);
    } else if (!noBody && headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (cursor + length > bytes.length) return { responses, rest: bytes.subarray(offset) };
      body = bytes.subarray(cursor, cursor + length);
      cursor += length;
    } else if (!noBody) {
      body = bytes.subarray(cursor);
      cursor = bytes.length;
    }
    if (status >= 200) responses.push({ status, headers, rawHeaders, body: body.toString('utf8') });
    // A last answer may carry a body a HEAD would not (a request that never parsed has no known method).
    offset = /close/i.test(headers.connection ?? '') ? bytes.length : cursor;
  }
  return { responses, rest: bytes.subarray(offset) };
}
