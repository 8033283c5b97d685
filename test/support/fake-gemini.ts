/**
 * A fake Gemini API (Generative Language, v1beta) for tests: a `node:http` server on 127.0.0.1, port 0,
 * answering with the recorded fixtures in `src/providers/gemini/__fixtures__/` byte for byte, with
 * Google's headers.
 *
 * ```ts
 * const fake = await startFakeGemini();             // answers every request with scenario 'text'
 * provider.baseUrl = new URL(fake.url);             // http://127.0.0.1:<port>
 * fake.respondWith('parallel-tools');               // the scenario for every later request
 * fake.enqueue({ kind: 'error', status: 429 });     // the next request only (a FIFO queue before the default)
 * fake.enqueue({ kind: 'error', status: 400, fixture: 'invalid-key' }); // gemini-error-invalid-key.json
 * fake.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 1 }); // 1 SSE event, then the socket dies
 * fake.enqueue({ kind: 'delay', ms: 500 });           // the next request is answered half a second late
 * fake.requests[0]                                  // { method, path, query, headers, body (parsed JSON), rawBody, model }
 * await fake.close();
 * ```
 *
 * Routes: `POST /v1beta/models/<model>:generateContent` answers `gemini-<scenario>.response.json`;
 * `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` answers `gemini-<scenario>.chunks.txt` as
 * `text/event-stream` (one write per `data:` event). `GET /v1beta/models` answers `gemini-models.json`.
 * `POST /v1beta/models/<model>:batchEmbedContents` answers computed embeddings (see sendEmbeddings).
 * Other paths get Google's 404 body. An error reply without a body sends `gemini-error-<status>.json`.
 * The fake checks no credentials: tests assert on the recorded headers (and that the URL has no key).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startScriptedFake, type ScriptedFake } from './scripted-fake.js';
import { fakeEmbedding } from './fake-openai.js';

export type GeminiScenario =
  | 'text'
  | 'multi-turn'
  | 'image'
  | 'tools'
  | 'parallel-tools'
  | 'tool-result'
  | 'legacy-functions'
  | 'json-mode'
  | 'stop'
  | 'max-tokens'
  /** The prompt is blocked: `promptFeedback.blockReason`, no candidates (answer and stream). */
  | 'prompt-blocked'
  /** Stream only: text, then the candidate finishes with SAFETY. */
  | 'safety'
  /** Stream only: one event, then an error payload (503 UNAVAILABLE). */
  | 'stream-error'
  /** Stream only: two events and no finishReason. */
  | 'stream-truncated'
  /** No answer but MALFORMED_FUNCTION_CALL (answer and stream). */
  | 'malformed-call'
  /** A thought summary part (`thought: true`, as `include_thoughts` gives), then the answer (answer and stream). */
  | 'thoughts'
  /** An answer grounded with Google Search: `groundingMetadata` (queries, sources, supported spans) on the last event. */
  | 'grounding'
  /**
   * A grounded answer that also calls a function (Gemini 3 takes Google Search beside function
   * declarations): the cited text, then the call with the grounding metadata. Composed in the
   * recorded fixtures' wire format (grounding's metadata, tools' call part), not recorded itself.
   */
  | 'grounding-tools'
  /** An image model's answer (gemini-2.5-flash-image): text, then the generated image as an `inlineData` part (answer and stream). */
  | 'image-output';

export type FakeGeminiReply =
  | { kind: 'scenario'; scenario: GeminiScenario }
  /**
   * A non-2xx answer. `body` (object → JSON, string → as is) wins; else `fixture` names
   * `gemini-error-<fixture>.json`; else the status's fixture.
   */
  | { kind: 'error'; status: number; body?: unknown; fixture?: string; headers?: Record<string, string> }
  /** Streams the scenario's first `afterEvents` events, then destroys the socket mid-body. */
  | { kind: 'destroy'; scenario: GeminiScenario; afterEvents: number }
  /** Answers `ms` later, with `then` (default: the 'text' scenario, or computed embeddings). */
  | { kind: 'delay'; ms: number; then?: FakeGeminiReply };

export interface RecordedGeminiRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  body: unknown;
  rawBody: string;
  /** The model named in the path (decoded), for generate calls. */
  model: string | undefined;
}

export type FakeGemini = ScriptedFake<GeminiScenario, FakeGeminiReply, RecordedGeminiRequest>;

function findFixtureDir(): string {
  // The sources' copy: tsc also copies the .json fixtures to dist, but not the .chunks.txt ones.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'src', 'providers', 'gemini', '__fixtures__');
    dir = dirname(dir);
  }
  throw new Error('gemini fixtures not found: no package.json above ' + fileURLToPath(import.meta.url));
}

export const GEMINI_FIXTURE_DIR = findFixtureDir();

/** A fixture's exact bytes, as text (`gemini-text.response.json`, `gemini-tools.chunks.txt`, ...). */
export function readGeminiFixture(name: string): string {
  return readFileSync(join(GEMINI_FIXTURE_DIR, name), 'utf8');
}

export function readGeminiJson(name: string): unknown {
  return JSON.parse(readGeminiFixture(name)) as unknown;
}

/** Splits an SSE fixture into its events, each with its blank line, as the server writes them. */
export function splitGeminiEvents(text: string): string[] {
  return text.split(/(?<=\r\n\r\n)/).filter((event) => event.length > 0);
}

const STREAM_ONLY: ReadonlySet<GeminiScenario> = new Set(['safety', 'stream-error', 'stream-truncated']);

const GOOGLE_HEADERS: Readonly<Record<string, string>> = {
  vary: 'Origin, X-Origin, Referer',
  server: 'scaffolding on HTTPServer2',
  'x-xss-protection': '0',
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
};

function sendError(response: ServerResponse, reply: Extract<FakeGeminiReply, { kind: 'error' }>): void {
  let text: string;
  if (typeof reply.body === 'string') text = reply.body;
  else if (reply.body !== undefined) text = JSON.stringify(reply.body);
  else {
    const name = `gemini-error-${reply.fixture ?? String(reply.status)}.json`;
    text = existsSync(join(GEMINI_FIXTURE_DIR, name))
      ? readGeminiFixture(name)
      : JSON.stringify({ error: { code: reply.status, message: `HTTP ${reply.status}`, status: 'UNKNOWN' } }, null, 2);
  }
  response.writeHead(reply.status, { ...GOOGLE_HEADERS, 'content-type': 'application/json; charset=UTF-8', ...reply.headers });
  response.end(text);
}

function sendStream(response: ServerResponse, scenario: GeminiScenario, afterEvents: number | undefined): void {
  const events = splitGeminiEvents(readGeminiFixture(`gemini-${scenario}.chunks.txt`));
  response.writeHead(200, { ...GOOGLE_HEADERS, 'content-type': 'text/event-stream', 'content-disposition': 'attachment' });
  const limit = afterEvents ?? events.length;
  let index = 0;
  const next = () => {
    if (index >= limit) {
      if (afterEvents !== undefined) response.socket?.destroy();
      else response.end();
      return;
    }
    response.write(events[index] as string);
    index++;
    setImmediate(next);
  };
  next();
}

const GENERATE = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/;

/**
 * `batchEmbedContents`: `{embeddings: [{values}]}`, one per request, each `outputDimensionality` long
 * (8 by default), the same vectors as the OpenAI fake's for the same text. A request without text is
 * Google's 400.
 */
function sendEmbeddings(response: ServerResponse, body: unknown): void {
  const requests = (body as { requests?: Array<{ content?: { parts?: Array<{ text?: unknown }> }; outputDimensionality?: unknown }> } | undefined)?.requests;
  const texts = Array.isArray(requests) ? requests.map((entry) => entry.content?.parts?.map((part) => (typeof part.text === 'string' ? part.text : '')).join('') ?? '') : [];
  if (!Array.isArray(requests) || requests.length === 0 || texts.some((text) => text.length === 0)) {
    sendError(response, { kind: 'error', status: 400, body: { error: { code: 400, message: '* BatchEmbedContentsRequest.requests: contents are required.', status: 'INVALID_ARGUMENT' } } });
    return;
  }
  const embeddings = requests.map((entry, index) => ({ values: fakeEmbedding(texts[index] as string, typeof entry.outputDimensionality === 'number' ? entry.outputDimensionality : 8) }));
  response.writeHead(200, { ...GOOGLE_HEADERS, 'content-type': 'application/json; charset=UTF-8' });
  response.end(JSON.stringify({ embeddings }, null, 2));
}

function handle(request: RecordedGeminiRequest, response: ServerResponse, reply: FakeGeminiReply): void {
  if (reply.kind === 'delay') {
    setTimeout(() => handle(request, response, reply.then ?? { kind: 'scenario', scenario: 'text' }), reply.ms);
    return;
  }
  if (reply.kind === 'error') {
    sendError(response, reply);
    return;
  }
  if (request.method === 'GET' && request.path === '/v1beta/models') {
    response.writeHead(200, { ...GOOGLE_HEADERS, 'content-type': 'application/json; charset=UTF-8' });
    response.end(readGeminiFixture('gemini-models.json'));
    return;
  }
  const match = request.method === 'POST' ? GENERATE.exec(request.path) : null;
  if (match === null) {
    sendError(response, { kind: 'error', status: 404, body: { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } } });
    return;
  }
  if (match[2] === 'batchEmbedContents') {
    sendEmbeddings(response, request.body);
    return;
  }
  if (match[2] === 'streamGenerateContent' || reply.kind === 'destroy' || STREAM_ONLY.has(reply.scenario)) {
    sendStream(response, reply.scenario, reply.kind === 'destroy' ? reply.afterEvents : undefined);
    return;
  }
  response.writeHead(200, { ...GOOGLE_HEADERS, 'content-type': 'application/json; charset=UTF-8' });
  response.end(readGeminiFixture(`gemini-${reply.scenario}.response.json`));
}

function record(request: IncomingMessage, raw: string): RecordedGeminiRequest {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  let body: unknown;
  try {
    body = raw.length > 0 ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    body = undefined;
  }
  const match = GENERATE.exec(url.pathname);
  const model = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
  return { method: request.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: request.headers, body, rawBody: raw, model };
}

export function startFakeGemini(options: { scenario?: GeminiScenario } = {}): Promise<FakeGemini> {
  return startScriptedFake<GeminiScenario, FakeGeminiReply, RecordedGeminiRequest>({
    name: 'fake-gemini',
    initial: options.scenario ?? 'text',
    scenarioReply: (scenario) => ({ kind: 'scenario', scenario }),
    record,
    handle,
  });
}
