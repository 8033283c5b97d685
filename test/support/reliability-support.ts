// Helpers for the RELIABILITY.md suites: raw HTTP (node:http with a fresh connection per call,
// and net sockets for bytes node:http would refuse to send), the OpenAI error-shape assertion,
// per-test stacks (fake upstream + gateway, optionally with a YAML config) and SSE splitting.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Environment } from '../../src/config/config-env.js';
import { startFakeOpenAi, type FakeOpenAi, type FakeOpenAiOptions } from './fake-openai.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from './gateway-harness.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface CallOptions {
  method?: string;
  path?: string;
  /** An object, or a flat [name, value, name, value…] list (which may repeat a name). */
  headers?: OutgoingHttpHeaders | string[];
  body?: string | Buffer;
  timeoutMs?: number;
}

/** One HTTP request on a new connection (no keep-alive pool), answered in full. */
export function call(base: string, options: CallOptions = {}): Promise<RawResponse> {
  // The path goes out exactly as given (no URL normalisation of `..` or `%2f`).
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: options.path ?? '/v1/chat/completions', method: options.method ?? 'POST', headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A chat request body: gpt-4, one user message, plus `extra` fields. */
export function chat(extra: Record<string, unknown> = {}, content = 'hi'): string {
  return JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content }], ...extra });
}

export const JSON_AUTH = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' };

/** POST /v1/chat/completions with the client key. */
export function post(base: string, body: string | Buffer, headers: OutgoingHttpHeaders = {}): Promise<RawResponse> {
  return call(base, { body, headers: { ...JSON_AUTH, ...headers } });
}

export interface ErrorExpectation {
  status: number;
  code: string | null;
  /** Checked when given (null included). */
  param?: string | null;
  type?: string;
}

/** The OpenAI error envelope, exactly: four fields, JSON content type, and an x-request-id. */
export function assertError(res: Pick<RawResponse, 'status' | 'headers' | 'body'>, expected: ErrorExpectation): { message: string; type: string; param: string | null; code: string | null } {
  assert.equal(res.status, expected.status, `status (body: ${res.body.slice(0, 300)})`);
  assert.match(String(res.headers['content-type']), /^application\/json/, 'content-type');
  const parsed = JSON.parse(res.body) as { error: { message: string; type: string; param: string | null; code: string | null } };
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.deepEqual(Object.keys(parsed.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof parsed.error.message, 'string');
  assert.ok(parsed.error.message.length > 0, 'a message');
  assert.equal(typeof parsed.error.type, 'string');
  assert.ok(parsed.error.param === null || typeof parsed.error.param === 'string');
  assert.equal(parsed.error.code, expected.code, `code (body: ${res.body.slice(0, 300)})`);
  if (expected.param !== undefined) assert.equal(parsed.error.param, expected.param, 'param');
  if (expected.type !== undefined) assert.equal(parsed.error.type, expected.type, 'type');
  assertRequestId(res.headers);
  return parsed.error;
}

export function assertRequestId(headers: IncomingHttpHeaders): void {
  const id = headers['x-request-id'];
  assert.equal(typeof id, 'string', 'x-request-id header');
  assert.match(id as string, /^[A-Za-z0-9._:-]{1,128}$/);
}

/** A normal chat call succeeds on a fresh connection: the server kept serving. */
export async function assertServing(base: string): Promise<void> {
  const res = await post(base, chat());
  assert.equal(res.status, 200, `still serving (body: ${res.body.slice(0, 300)})`);
  const parsed = JSON.parse(res.body) as { object: string };
  assert.equal(parsed.object, 'chat.completion');
}

export interface RawExchange {
  text: string;
  /** The same answer as bytes (offsets in `text` are not byte offsets once it holds non-ASCII). */
  bytes: Buffer;
  /** The server closed the connection (rather than our own timeout). */
  closedByServer: boolean;
  ms: number;
}

/**
 * Writes bytes on a raw socket (each piece after `gapMs`), then collects whatever comes back until
 * the server closes or `timeoutMs` passes.
 */
export function rawExchange(
  base: string,
  pieces: Array<string | Buffer>,
  options: { timeoutMs?: number; gapMs?: number; until?: (text: string) => boolean } = {},
): Promise<RawExchange> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, options.timeoutMs ?? 5000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Stop as soon as the caller has what it waits for (the server may keep the socket open).
      if (options.until?.(Buffer.concat(chunks).toString('utf8')) === true) {
        closedByServer = false;
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const bytes = Buffer.concat(chunks);
      resolve({ text: bytes.toString('utf8'), bytes, closedByServer, ms: Date.now() - started });
    });
    void (async () => {
      for (const [index, piece] of pieces.entries()) {
        if (index > 0 && (options.gapMs ?? 0) > 0) await new Promise((done) => setTimeout(done, options.gapMs));
        if (socket.destroyed) return;
        socket.write(piece);
      }
    })();
  });
}

/** True once `text` holds a whole response with a Content-Length body. */
export function hasWholeResponse(text: string): boolean {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, split))?.[1];
  return length !== undefined && Buffer.byteLength(text.slice(split + 4)) >= Number(length);
}

/** A response's status line and header lines (the text before the blank line). */
export function parseResponseHead(head: string): { status: number; headers: Record<string, string>; rawHeaders: string[] } {
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    headers[name.toLowerCase()] = value;
  }
  return { status, headers, rawHeaders };
}

/** Splits one raw HTTP/1.1 response (Content-Length or chunked) into status, headers and body. */
export function parseRawResponse(text: string): RawResponse {
  const split = text.indexOf('\r\n\r\n');
  assert.ok(split > 0, `an HTTP response, got ${JSON.stringify(text.slice(0, 200))}`);
  const { status, headers, rawHeaders } = parseResponseHead(text.slice(0, split));
  let body = text.slice(split + 4);
  if (/chunked/i.test(String(headers['transfer-encoding']))) {
    let out = '';
    let rest = body;
    for (;;) {
      const eol = rest.indexOf('\r\n');
      if (eol < 0) break;
      const size = parseInt(rest.slice(0, eol), 16);
      if (!(size > 0)) break;
      out += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 2 + size + 2);
    }
    body = out;
  } else if (headers['content-length'] !== undefined) {
    body = body.slice(0, Number(headers['content-length']));
  }
  return { status, headers, rawHeaders, body };
}

export interface SseSplit {
  /** The `data:` payloads, in order. */
  data: string[];
  /** Comment lines (`: keepalive`). */
  comments: string[];
}

/** Splits what a client received on an SSE stream (our encoder writes LF line ends). */
export function splitSse(text: string): SseSplit {
  const data: string[] = [];
  const comments: string[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((line) => line.length > 0);
    const payload: string[] = [];
    for (const line of lines) {
      if (line.startsWith(':')) comments.push(line);
      else if (line.startsWith('data:')) payload.push(line.slice(line.charAt(5) === ' ' ? 6 : 5));
    }
    if (payload.length > 0) data.push(payload.join('\n'));
  }
  return { data, comments };
}

/** Writes a YAML config file in a fresh temp directory and returns its path (for LLM_PROXY_CONFIG). */
export function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-rel-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface Stack {
  fake: FakeOpenAi;
  gateway: Gateway;
  url: string;
  close(): Promise<void>;
}

/** A fake OpenAI upstream and a gateway in front of it; `yaml` becomes the config file. */
export async function startStack(options: { yaml?: string; env?: Environment; fake?: Partial<FakeOpenAiOptions> } = {}): Promise<Stack> {
  const fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, ...options.fake });
  // No response cache: these suites repeat identical requests and need each one to reach the upstream.
  const env: Record<string, string | undefined> = { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off', ...options.env };
  if (options.yaml !== undefined) env.LLM_PROXY_CONFIG = configFile(options.yaml);
  const gateway = await startGateway(env);
  return {
    fake,
    gateway,
    url: gateway.url,
    async close() {
      // The upstream first: its sockets are destroyed, so no upstream call keeps the gateway's pool busy.
      await fake.close();
      await gateway.close();
    },
  };
}

/** Chat requests the fake upstream received since `from`. */
export function chatCalls(fake: FakeOpenAi, from = 0): number {
  return fake.requests.slice(from).filter((request) => request.path.endsWith('/chat/completions')).length;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `run` against a stack of its own, closed afterwards whatever happens. */
export async function withStack(options: Parameters<typeof startStack>[0], run: (stack: Stack) => Promise<void>): Promise<void> {
  const stack = await startStack(options);
  try {
    await run(stack);
  } finally {
    await stack.close();
  }
}
