// RELIABILITY.md §4b as a property: whatever an upstream answers (any status, lying headers, broken
// framing, truncated or garbage bodies and streams, errors mid-stream, a dropped connection) and
// whenever the client leaves, the proxy keeps serving, answers a well-formed completion or an
// OpenAI-shaped error with a CONTRACT.md status, ends every stream with [DONE] or one error event,
// never reflects the provider key or the upstream's address, and writes exactly one usage record.
// The other routes that call providers hold to the same rules in their own wire format: /v1/messages
// (Anthropic's answer, error shape and event stream; native to Anthropic, translated elsewhere),
// /v1/completions (passed through or emulated over chat) and /v1/embeddings; they get a third of the runs.
// fast-check draws the upstream's behaviour per attempt (test/support/chaos-upstream.ts) and the
// client's request; a failure is shrunk to the smallest plan that still breaks a rule.
// Knobs: CHAOS_RUNS (default 150 on chat, in 3 shards that search at once, and a third as many on the other routes meanwhile; ~15 s in all), CHAOS_SEED and CHAOS_PATH (replay a reported failure in one shard, with --test-name-pattern naming its test), CHAOS_TIMEOUT_S (the test's limit, default 120; a run that takes over 30 s fails as a counterexample with its seed and path, and the search stops 15 s before the limit), CHAOS_NO_SHRINK (report the first failure as found),
// CHAOS_DATABASE=postgres (the store on PostgreSQL), CHAOS_DEBUG (one line per run: what came back).
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { TextDecoder } from 'node:util';
import fc from 'fast-check';
import { anthropicErrorType } from '../../src/anthropic-api/from-chat.js';
import { CHAOS_KEYS, CHAOS_PROVIDERS, GARBAGE_COUNT, SCENARIO_COUNT, startChaosUpstream, type AttemptPlan, type BodyPlan, type ChaosProvider, type ChaosUpstream, type RunPlan } from '../support/chaos-upstream.js';
import { CLIENT_KEY, MASTER_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';
import { configFile } from '../support/reliability-support.js';
import { searchSeed } from '../support/search-seed.js';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';
import type { UsageRecord } from '../../src/usage/usage-recorder.js';

/**
 * Statuses CONTRACT.md's error table allows for a chat call whose upstream misbehaved; 413 when the
 * provider refused the request as too large (the same status as the proxy's own body limit).
 */
const ERROR_STATUSES = new Set([400, 404, 413, 429, 502, 503, 504]);
/** The error `type` each of those statuses goes with (an SDK branches on either). */
const TYPE_OF_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  502: 'api_error',
  503: 'service_unavailable_error',
  504: 'timeout_error',
};
const NUM_RUNS = Number(process.env.CHAOS_RUNS ?? 150);
/** The test's own limit (CHAOS_TIMEOUT_S). */
const TEST_TIMEOUT_MS = Number(process.env.CHAOS_TIMEOUT_S ?? 120) * 1000;
/** One run's limit: a run waits seconds at most (upstream pauses, timeouts, back-offs), so 30 s is a hang. */
const RUN_TIMEOUT_MS = 30_000;
/** The search (and its shrinking) stops here, reporting what it found, before the test's limit. */
const SEARCH_LIMIT_MS = Math.max(RUN_TIMEOUT_MS + 5_000, TEST_TIMEOUT_MS - 15_000);

/** The routes that call providers; each answers in its own wire format. */
type Route = 'chat' | 'messages' | 'completions' | 'embeddings';
const PATHS: Record<Route, string> = { chat: '/v1/chat/completions', messages: '/v1/messages', completions: '/v1/completions', embeddings: '/v1/embeddings' };
/** The usage record's `endpoint` for each. */
const ENDPOINTS: Record<Route, string> = { chat: 'chat.completions', messages: 'messages', completions: 'completions', embeddings: 'embeddings' };

interface ClientPlan {
  route: Route;
  provider: ChaosProvider;
  stream: boolean;
  /** Embeddings only: `encoding_format: base64` (OpenAI and Azure are asked for it too). */
  base64: boolean;
  /** undefined: no stream_options at all. */
  includeUsage: boolean | undefined;
  maxTokens: number | undefined;
  /** The client hangs up: this long after sending, or at the first body byte. */
  abort: { afterMs: number } | { atFirstByte: true } | undefined;
  /** Sent to the gateway with the response cache on, and then once more, the same (no hang-up). */
  cached: boolean;
  again: boolean;
}

interface Case {
  client: ClientPlan;
  run: RunPlan;
  /** How many such requests at once. */
  copies: number;
}

// ------------------------------------------------------------------------------ arbitraries

/** undefined most of the time; a value of `arbitrary` one time in `oneIn` (shrinks to undefined). */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

/**
 * What can be wrong with one attempt. An attempt is a clean answer with some of these applied: none
 * (a third of the time), one, or several; a failure shrinks towards the fewest that still break a rule.
 */
const FAULTS = ['informational', 'badStatusLine', 'hugeHeader', 'status', 'contentType', 'framing', 'lyingEncoding', 'ending', 'body', 'shape', 'usage', 'opposite', 'cutAt', 'garbage', 'errorAt'] as const;
type Fault = (typeof FAULTS)[number];

/** A faulty value for every fault, drawn together; only the chosen ones are used. */
const faultyValues = fc.record({
  informational: fc.constantFrom(100, 102, 103),
  badStatusLine: fc.constant(true),
  hugeHeader: fc.constant(true),
  status: fc.constantFrom(101, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 408, 409, 413, 418, 422, 429, 451, 500, 502, 503, 504, 529, 599),
  contentType: fc.constantFrom('json' as const, 'sse' as const, 'html' as const, 'missing' as const, 'doubled' as const),
  framing: fc.constantFrom('short-length' as const, 'long-length' as const, 'bad-chunked' as const, 'both' as const),
  lyingEncoding: fc.constant(true),
  ending: fc.constantFrom('destroy' as const, 'hang' as const, 'drop' as const),
  body: fc.oneof<fc.Arbitrary<BodyPlan>[]>(
    fc.constantFrom<BodyPlan>({ kind: 'provider-error' }, { kind: 'html' }, { kind: 'empty' }, { kind: 'huge' }, { kind: 'invalid-utf8' }),
    fc.json({ maxDepth: 3 }).map((text): BodyPlan => ({ kind: 'wrong-json', value: JSON.parse(text) as unknown })),
  ),
  shape: fc.constantFrom('openai' as const, 'anthropic' as const, 'gemini' as const),
  usage: fc.constantFrom('missing' as const, 'negative' as const, 'huge' as const, 'string' as const, 'null' as const, 'float' as const),
  opposite: fc.constant(true),
  cutAt: fc.double({ min: 0, max: 0.99, noNaN: true }),
  garbage: fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), event: fc.nat({ max: GARBAGE_COUNT - 1 }) }),
  errorAt: fc.double({ min: 0, max: 1, noNaN: true }),
});

const faultSet: fc.Arbitrary<Fault[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Fault[]>([]) },
  { weight: 5, arbitrary: fc.constantFrom(...FAULTS).map((fault) => [fault]) },
  { weight: 2, arbitrary: fc.subarray([...FAULTS], { minLength: 2 }) },
);

/** What a clean upstream may still do: pause (within the timeouts), split events anywhere, keep the connection or not. */
const benign = fc.record({
  headerDelayMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 150 }) }),
  framing: fc.constantFrom('length' as const, 'chunked' as const, 'close' as const),
  // Numbers in (0, 10] s would be waited out before a retry: only ones too long to wait for, zero or garbage.
  retryAfter: sometimes(fc.constantFrom('0', '30', '-1', 'soon', '1e400', 'NaN', 'Wed, 21 Oct 2015 07:28:00 GMT', '99999999999', '0.05', ' 0 '), 3),
  scenario: fc.nat({ max: SCENARIO_COUNT - 1 }),
  gapMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }) }),
  longPause: sometimes(fc.record({ at: fc.nat({ max: 8 }), ms: fc.integer({ min: 100, max: 300 }) }), 6),
  split: fc.constantFrom('events' as const, 'bytes' as const),
  keepAlive: fc.boolean(),
});

const attemptPlan: fc.Arbitrary<AttemptPlan> = fc.record({ benign, faults: faultSet, faulty: faultyValues }).map(({ benign: ok, faults, faulty }) => {
  const has = (fault: Fault) => faults.includes(fault);
  const answer: BodyPlan = {
    kind: 'answer',
    shape: has('shape') ? faulty.shape : 'self',
    scenario: ok.scenario,
    usage: has('usage') ? faulty.usage : 'ok',
    opposite: has('opposite'),
    cutAt: has('cutAt') ? faulty.cutAt : undefined,
    garbage: has('garbage') ? faulty.garbage : undefined,
    errorAt: has('errorAt') ? faulty.errorAt : undefined,
  };
  return {
    headerDelayMs: ok.headerDelayMs,
    informational: has('informational') ? faulty.informational : undefined,
    badStatusLine: has('badStatusLine'),
    hugeHeader: has('hugeHeader'),
    status: has('status') ? faulty.status : 200,
    contentType: has('contentType') ? faulty.contentType : 'right',
    framing: has('framing') ? faulty.framing : ok.framing,
    retryAfter: ok.retryAfter,
    lyingEncoding: has('lyingEncoding'),
    body: has('body') ? faulty.body : answer,
    gapMs: ok.gapMs,
    longPause: ok.longPause,
    split: ok.split,
    ending: has('ending') ? faulty.ending : 'end',
    keepAlive: ok.keepAlive,
  };
});

/** Anthropic serves no embeddings (a 400 before any upstream call): not drawn for them. */
const EMBEDDING_PROVIDERS = CHAOS_PROVIDERS.filter((provider) => provider !== 'anthropic');

function clientPlan(routes: readonly Route[]): fc.Arbitrary<ClientPlan> {
  return fc.constantFrom(...routes).chain((route) =>
    fc.record({
      route: fc.constant(route),
      provider: fc.constantFrom(...(route === 'embeddings' ? EMBEDDING_PROVIDERS : CHAOS_PROVIDERS)),
      stream: route === 'embeddings' ? fc.constant(false) : fc.boolean(),
      base64: route === 'embeddings' ? fc.boolean() : fc.constant(false),
      includeUsage: route === 'chat' || route === 'completions' ? sometimes(fc.boolean(), 2) : fc.constant(undefined),
      maxTokens: route === 'messages' ? fc.constantFrom(64, 1000) : route === 'embeddings' ? fc.constant(undefined) : sometimes(fc.constantFrom(64, 1000), 2),
      abort: sometimes(fc.oneof(fc.record({ afterMs: fc.integer({ min: 0, max: 250 }) }), fc.constant({ atFirstByte: true as const })), 7),
      cached: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      again: fc.boolean(),
    }),
  );
}

function chaosCase(routes: readonly Route[]): fc.Arbitrary<Case> {
  return fc.record({
    client: clientPlan(routes),
    run: fc.record({ attempts: fc.array(attemptPlan, { minLength: 1, maxLength: 2 }) }),
    copies: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(3) }),
  });
}

/** The client's request for a run on a route (the marker `chaos-run-<id>` in it picks the upstream's plan). */
function requestBody(client: ClientPlan, id: number): string {
  const model = `${client.provider}/chaos-model-${id}`;
  const words = `chaos-run-${id} say hello`;
  const request: Record<string, unknown> =
    client.route === 'embeddings'
      ? { model, input: words, ...(client.base64 ? { encoding_format: 'base64' } : {}) }
      : client.route === 'completions'
        ? { model, prompt: words, stream: client.stream }
        : { model, messages: [{ role: 'user', content: words }], stream: client.stream };
  if (client.includeUsage !== undefined) request.stream_options = { include_usage: client.includeUsage };
  if (client.maxTokens !== undefined) request.max_tokens = client.maxTokens;
  return JSON.stringify(request);
}

// ------------------------------------------------------------------------------ the client

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: Buffer;
  /** The client hung up before the answer ended. */
  aborted: boolean;
}

function send(base: string, path: string, body: string, requestId: string, abort: ClientPlan['abort']): Promise<Exchange> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    let aborted = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      resolve({ status, headers, bytes: Buffer.concat(chunks), aborted });
    };
    const hangUp = () => {
      aborted = true;
      req.destroy();
      finish();
    };
    const req = httpRequest(
      { host: url.hostname, port: url.port, path, method: 'POST', agent: false, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'x-request-id': requestId } },
      (res) => {
        status = res.statusCode ?? 0;
        headers = res.headers;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (abort !== undefined && 'atFirstByte' in abort && !aborted) hangUp();
        });
        res.on('end', () => {
          if (!aborted) finish();
        });
        res.on('error', () => undefined);
      },
    );
    req.on('error', (error) => {
      if (!aborted) reject(error);
    });
    // A hard stop far above the proxy's own timeouts: a hung answer fails the property.
    const watchdog = setTimeout(() => {
      if (!aborted) reject(new Error('no complete answer within 15 s'));
      req.destroy();
    }, 15_000);
    req.on('close', () => clearTimeout(watchdog));
    if (abort !== undefined && 'afterMs' in abort) timer = setTimeout(hangUp, abort.afterMs);
    req.end(body);
  });
}

// ------------------------------------------------------------------------------ the rules

/** A plan with nothing wrong in it: the proxy must serve it. */
function pristine(attempt: AttemptPlan): boolean {
  const body = attempt.body;
  return (
    attempt.status === 200 &&
    attempt.contentType === 'right' &&
    attempt.informational === undefined &&
    !attempt.badStatusLine &&
    !attempt.hugeHeader &&
    !attempt.lyingEncoding &&
    (attempt.framing === 'length' || attempt.framing === 'chunked' || attempt.framing === 'close') &&
    attempt.ending === 'end' &&
    body.kind === 'answer' &&
    body.shape === 'self' &&
    body.usage === 'ok' &&
    !body.opposite &&
    body.cutAt === undefined &&
    body.garbage === undefined &&
    body.errorAt === undefined
  );
}

/** An error answer's status is one CONTRACT.md allows and its body JSON (either format). */
function errorJson(text: string, status: number, where: string): unknown {
  assert.ok(ERROR_STATUSES.has(status), `${where}: status ${status} is not in CONTRACT.md's table for an upstream failure (body ${text.slice(0, 300)})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.fail(`${where}: error body is not JSON: ${text.slice(0, 300)}`);
  }
  return parsed;
}

function assertErrorBody(text: string, status: number, where: string): { code: string | null } {
  const envelope = errorJson(text, status, where) as { error?: Record<string, unknown> };
  assert.deepEqual(Object.keys(envelope), ['error'], `${where}: ${text.slice(0, 300)}`);
  const error = envelope.error as Record<string, unknown>;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'], `${where}: ${text.slice(0, 300)}`);
  assert.ok(typeof error.message === 'string' && error.message.length > 0, `${where}: message`);
  assert.equal(error.type, TYPE_OF_STATUS[status], `${where}: type ${String(error.type)} with status ${status}: ${text.slice(0, 300)}`);
  assert.ok(error.param === null || typeof error.param === 'string', `${where}: param`);
  assert.ok(error.code === null || typeof error.code === 'string', `${where}: code`);
  return { code: error.code as string | null };
}

/** Anthropic's error shape with our status (README: types by status); `request_id` only on a body. */
function assertAnthropicError(text: string, status: number, where: string): void {
  const envelope = errorJson(text, status, where) as Record<string, unknown>;
  assert.equal(envelope.type, 'error', `${where}: ${text.slice(0, 300)}`);
  assert.ok(Object.keys(envelope).every((key) => ['type', 'error', 'request_id'].includes(key)), `${where}: ${text.slice(0, 300)}`);
  const error = envelope.error as Record<string, unknown>;
  assert.deepEqual(Object.keys(error).sort(), ['message', 'type'], `${where}: ${text.slice(0, 300)}`);
  assert.ok(typeof error.message === 'string' && error.message.length > 0, `${where}: message`);
  assert.equal(error.type, anthropicErrorType(status), `${where}: type ${String(error.type)} with status ${status}: ${text.slice(0, 300)}`);
}

const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A whole answer in the route's format. `native`: passed through from a host that speaks it (an
 * Anthropic message from Anthropic, a completion from a host that serves them): its usage is the host's.
 */
function assertAnswer(route: Route, text: string, native: boolean): void {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const where = text.slice(0, 300);
  if (route === 'messages') {
    assert.equal(parsed.type, 'message', where);
    assert.equal(parsed.role, 'assistant', where);
    assert.ok(Array.isArray(parsed.content), `content: ${where}`);
    // The counts are the provider's on the native path (bytes unchanged); translated, a missing one is 0.
    const usage = parsed.usage as Record<string, unknown> | undefined;
    assert.ok(isObject(usage), `usage: ${where}`);
    if (!native) assert.ok(typeof usage?.input_tokens === 'number' && typeof usage.output_tokens === 'number', `usage: ${where}`);
    return;
  }
  if (route === 'embeddings') {
    assert.equal(parsed.object, 'list', where);
    assert.ok(Array.isArray(parsed.data) && parsed.data.length > 0, `data: ${where}`);
    for (const item of parsed.data as Array<Record<string, unknown>>) {
      assert.equal(item.object, 'embedding', where);
      const vector = item.embedding;
      assert.ok(typeof vector === 'string' || (Array.isArray(vector) && vector.length > 0 && vector.every((value) => Number.isFinite(value))), `embedding: ${where}`);
    }
    assert.ok(isObject(parsed.usage), `usage: ${where}`);
    return;
  }
  assert.equal(parsed.object, route === 'chat' ? 'chat.completion' : 'text_completion', where);
  assert.ok(Array.isArray(parsed.choices) && parsed.choices.length > 0, `choices: ${where}`);
  if (route === 'completions' && !native) {
    // Emulated over chat: the usage is always whole (README), total_tokens the sum.
    const usage = parsed.usage as Record<string, unknown> | undefined;
    assert.ok(typeof usage?.prompt_tokens === 'number' && typeof usage.completion_tokens === 'number', `usage: ${where}`);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `total_tokens: ${where}`);
  }
  for (const choice of parsed.choices as Array<Record<string, unknown>>) {
    if (route === 'completions') {
      assert.equal(typeof choice.text, 'string', `text: ${where}`);
      continue;
    }
    const message = choice.message as Record<string, unknown> | undefined;
    assert.ok(message !== undefined && message.role === 'assistant', `message: ${where}`);
  }
}

/** What a cache hit must give back as it was: the answer without its ids. */
function payloadOf(route: Route, text: string): unknown {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  return route === 'messages' ? parsed.content : route === 'embeddings' ? parsed.data : parsed.choices;
}

/** The `data:` payloads of an SSE body (our encoder writes LF line ends). */
function sseData(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split('\n\n')) {
    const payload = block
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(line.charAt(5) === ' ' ? 6 : 5));
    if (payload.length > 0) out.push(payload.join('\n'));
  }
  return out;
}

/**
 * How an Anthropic event stream ended: `message_stop`, or one `event: error` (no `message_stop`).
 * Every event's data is JSON; translated events (`native` false) are ours and name their type.
 */
function assertAnthropicStream(text: string, native: boolean): 'done' | 'error' {
  const events: Array<{ event: string | undefined; data: string }> = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(line.charAt(5) === ' ' ? 6 : 5));
    if (data.length === 0) continue;
    const event = lines.find((line) => line.startsWith('event:'))?.slice(6).trim();
    events.push({ event, data: data.join('\n') });
  }
  assert.ok(events.length > 0, `a stream with no events: ${JSON.stringify(text.slice(0, 300))}`);
  for (const [index, { event, data }] of events.entries()) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(data) as Record<string, unknown>;
    } catch {
      assert.fail(`a data event that is not JSON: ${data.slice(0, 300)}`);
    }
    if (!native) assert.equal(parsed.type, event, `an event whose data names another type: ${data.slice(0, 300)}`);
    const last = index === events.length - 1;
    if (event === 'message_stop' || event === 'error') assert.ok(last, `${event} before the end: ${text.slice(-600)}`);
    if (event === 'error') assertAnthropicError(data, [...ERROR_STATUSES].find((status) => anthropicErrorType(status) === (parsed.error as { type?: string } | undefined)?.type) ?? 0, 'stream error event');
  }
  const end = events[events.length - 1]?.event;
  assert.ok(end === 'message_stop' || end === 'error', `a stream that ends with ${String(end)}: ${text.slice(-600)}`);
  return end === 'message_stop' ? 'done' : 'error';
}

/** How a stream ended: [DONE] (usage chunk seen or not), or an error event (its code). */
function assertStream(text: string, includeUsage: boolean | undefined): { ended: 'done'; usage: boolean } | { ended: 'error'; code: string | null } {
  const data = sseData(text);
  assert.ok(data.length > 0, `a stream with no events: ${JSON.stringify(text.slice(0, 300))}`);
  const last = data[data.length - 1] as string;
  const body = data.slice(0, -1);
  assert.ok(!body.includes('[DONE]'), `[DONE] before the end: ${text.slice(0, 600)}`);
  let usage = false;
  for (const event of body) {
    let chunk: Record<string, unknown>;
    try {
      chunk = JSON.parse(event) as Record<string, unknown>;
    } catch {
      assert.fail(`a data event that is not JSON: ${event.slice(0, 300)}`);
    }
    assert.ok(Array.isArray(chunk.choices), `chunk without choices: ${event.slice(0, 300)}`);
    if (chunk.usage !== undefined && chunk.usage !== null) {
      assert.equal(includeUsage, true, `a usage chunk the client did not ask for: ${event.slice(0, 300)}`);
      usage = true;
    }
  }
  if (last === '[DONE]') return { ended: 'done', usage };
  const { code } = assertErrorBody(last, 502, `stream error event`);
  return { ended: 'error', code };
}

function leaks(text: string, port: number): string | undefined {
  const planted = [...Object.values(CHAOS_KEYS), `127.0.0.1:${port}`, `:${port}/`, '127.0.0.1', '10.0.3.7', '<!DOCTYPE', 'internal/v1'];
  return planted.find((needle) => text.includes(needle));
}

function assertRecordFigures(record: UsageRecord, where: string): void {
  for (const field of ['promptTokens', 'completionTokens', 'cachedTokens', 'latencyMs'] as const) {
    const value = record[field];
    assert.ok(Number.isSafeInteger(value) && value >= 0, `${where}: ${field} ${String(value)}`);
  }
  if (record.cost !== undefined) assert.ok(Number.isFinite(record.cost) && record.cost >= 0, `${where}: cost ${record.cost}`);
}

// ------------------------------------------------------------------------------ the suite

/** Run numbers, unique across the file: they name request ids, which may share one PostgreSQL schema. */
let runs = 0;

/**
 * A chaos upstream and the gateways in front of it, and the property run against them. Each shard
 * has its own: runCase drops every connection of its upstream, which would cut another's runs.
 */
interface Shard {
  start(): Promise<void>;
  stop(): Promise<void>;
  chaos(routes: readonly Route[], numRuns: number, seed: number | undefined): Promise<void>;
}

function chaosShard(postgres: () => PostgresSchema | undefined): Shard {
  let upstream: ChaosUpstream;
  /** The same config twice: without and with the response cache (memory). */
  let plain: Gateway;
  let cached: Gateway;
  const requestIds = new Map<Gateway, string[]>();

  async function start(): Promise<void> {
    upstream = await startChaosUpstream();
    const base = upstream.url;
    const yaml = [
      'providers:',
      `  openai: { api_key: ${CHAOS_KEYS.openai}, base_url: ${base}/openai/v1 }`,
      `  compat: { type: openai-compatible, api_key: ${CHAOS_KEYS.compat}, base_url: ${base}/compat/v1 }`,
      `  azure: { api_key: ${CHAOS_KEYS.azure}, base_url: ${base}/azure, api_version: 2024-10-21 }`,
      `  anthropic: { api_key: ${CHAOS_KEYS.anthropic}, base_url: ${base}/anthropic }`,
      `  gemini: { api_key: ${CHAOS_KEYS.gemini}, base_url: ${base}/gemini }`,
      `  ollama: { base_url: ${base}/ollama/v1 }`,
      'routing:',
      '  retries: 1',
      '  connect_timeout_s: 1',
      '  ttfb_timeout_s: 0.8',
      '  idle_timeout_s: 0.5',
      '  total_timeout_s: 4',
      '  max_response_mb: 0.25',
      '',
    ].join('\n');
    const schema = postgres();
    const env = { LLM_PROXY_CONFIG: configFile(yaml), LLM_PROXY_RPM: '0', LLM_PROXY_LOG_LEVEL: 'debug', ...(schema === undefined ? {} : { DATABASE_URL: schema.url }) };
    plain = await startGateway(env);
    cached = await startGateway({ ...env, LLM_PROXY_CACHE: 'memory' });
    requestIds.set(plain, []);
    requestIds.set(cached, []);
  }

  async function stop(): Promise<void> {
    await upstream?.close();
    await plain?.close();
    await cached?.close();
  }

  async function runCase({ client, run, copies }: Case): Promise<void> {
    await upstream.dropConnections();
    // Copies run at once, each with its own model and plan: they share the proxy's upstream pool.
    const ids = Array.from({ length: copies }, () => ++runs);
    await Promise.all(ids.map((id) => runOne(id, client, run)));
  }

  async function runOne(id: number, client: ClientPlan, run: RunPlan): Promise<void> {
    upstream.plan(id, run);
    const gateway = client.cached ? cached : plain;
    // A model name of its own per run: no breaker or cool-down state carries from one run to the next.
    const body = requestBody(client, id);
    const first = await exchangeOnce(gateway, `chaos-${id}`, body, client, run);
    if (!client.cached || !client.again) return;
    // The same request again: a cache hit may only replay an answer that ended well, and replays it as it was.
    const second = await exchangeOnce(gateway, `chaos-${id}-again`, body, { ...client, abort: undefined }, run);
    if (second.hit) {
      assert.ok(first.clean, `run ${id}: a cache hit replays an answer that did not end well: ${first.text.slice(0, 300)}`);
      if (!client.stream && !first.aborted) assert.deepEqual(payloadOf(client.route, second.text), payloadOf(client.route, first.text), `run ${id}: the replay differs`);
    }
  }

  /**
   * One request and every rule on its answer and usage record. `clean`: the call ended well as the
   * proxy saw it (its record says ok; the client may have left after the answer was complete).
   */
  async function exchangeOnce(gateway: Gateway, requestId: string, body: string, client: ClientPlan, run: RunPlan): Promise<{ clean: boolean; hit: boolean; aborted: boolean; text: string }> {
    requestIds.get(gateway)?.push(requestId);
    const where = requestId;
    const exchange = await send(gateway.url, PATHS[client.route], body, requestId, client.abort);
    const anthropic = client.route === 'messages';

    // The server is still serving.
    const health = await fetch(`${gateway.url}/health`);
    assert.equal(health.status, 200, `${where}: /health ${health.status}`);
    await health.arrayBuffer();

    const text = exchange.bytes.toString('utf8');
    const leaked = leaks(text + JSON.stringify(exchange.headers), upstream.port);
    assert.equal(leaked, undefined, `${where}: the answer holds ${leaked}: ${text.slice(0, 400)}`);

    let expected: { status: UsageRecord['status']; httpStatus: number; code?: string | null } | undefined;
    if (!exchange.aborted) {
      assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(exchange.bytes), `${where}: the answer is not valid UTF-8`);
      assert.equal(typeof exchange.headers['x-request-id'], 'string', `${where}: x-request-id`);
      if (exchange.status !== 200) {
        assert.match(String(exchange.headers['content-type']), /^application\/json/, `${where}: error content-type`);
        if (anthropic) {
          // Anthropic's shape has no code to hold the record to.
          assertAnthropicError(text, exchange.status, where);
          expected = { status: 'error', httpStatus: exchange.status };
        } else {
          const { code } = assertErrorBody(text, exchange.status, where);
          expected = { status: 'error', httpStatus: exchange.status, code };
        }
        if (exchange.status === 429) assert.ok(exchange.headers['retry-after'] !== undefined, `${where}: 429 without Retry-After`);
      } else if (!client.stream) {
        assert.match(String(exchange.headers['content-type']), /^application\/json/, `${where}: content-type`);
        // Anthropic and Gemini serve no legacy completions; only Anthropic serves messages natively.
        const native = client.route === 'messages' ? client.provider === 'anthropic' : client.provider !== 'anthropic' && client.provider !== 'gemini';
        assertAnswer(client.route, text, native);
        expected = { status: 'ok', httpStatus: 200 };
      } else if (anthropic) {
        assert.match(String(exchange.headers['content-type']), /^text\/event-stream/, `${where}: content-type`);
        expected = assertAnthropicStream(text, client.provider === 'anthropic') === 'done' ? { status: 'ok', httpStatus: 200 } : { status: 'incomplete', httpStatus: 200 };
      } else {
        assert.match(String(exchange.headers['content-type']), /^text\/event-stream/, `${where}: content-type`);
        const end = assertStream(text, client.includeUsage);
        if (end.ended === 'done') {
          expected = { status: 'ok', httpStatus: 200 };
          if (client.includeUsage === true && run.attempts.every(pristine)) assert.ok(end.usage, `${where}: include_usage asked, no usage chunk`);
        } else expected = { status: 'incomplete', httpStatus: 200, code: end.code };
      }
      // Nothing was wrong upstream: the client must be served.
      if (run.attempts.every(pristine)) assert.equal(exchange.status, 200, `${where}: a clean answer was not served: ${text.slice(0, 300)}`);
    }

    if (process.env.CHAOS_DEBUG !== undefined) console.log(JSON.stringify({ requestId, route: client.route, provider: client.provider, stream: client.stream, abort: client.abort, status: exchange.status, aborted: exchange.aborted, cache: exchange.headers['x-cache'], tail: text.slice(-160) }));
    // Exactly one usage record, with figures that make sense.
    let records: UsageRecord[] = [];
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      records = gateway.usage.recent().filter((record) => record.requestId === requestId);
      if (records.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const trail = gateway.logs.filter((line) => line.includes(`"${requestId}"`));
    const calls = upstream.calls(Number(/\d+/.exec(requestId)?.[0]));
    // A client that hung up at once may leave before its request reached the server at all: no log
    // line names it, nothing was called, and there is nothing to record.
    if (exchange.aborted && records.length === 0 && calls === 0 && trail.length === 0) {
      const ids = requestIds.get(gateway) ?? [];
      ids.splice(ids.indexOf(requestId), 1);
      return { clean: false, hit: false, aborted: true, text };
    }
    assert.equal(records.length, 1, `${where}: ${records.length} usage records (upstream calls ${calls}); its log lines:\n${trail.join('\n').slice(0, 2000)}`);
    const record = records[0] as UsageRecord;
    assertRecordFigures(record, where);
    assert.equal(record.stream, client.stream, `${where}: record.stream`);
    assert.equal(record.endpoint, ENDPOINTS[client.route], `${where}: record.endpoint`);
    if (expected !== undefined) {
      assert.equal(record.status, expected.status, `${where}: record status (answer ${exchange.status} ${text.slice(0, 200)})`);
      assert.equal(record.httpStatus, expected.httpStatus, `${where}: record httpStatus`);
      if (expected.code !== undefined) assert.equal(record.errorCode ?? null, expected.code, `${where}: record errorCode`);
    } else {
      assert.ok(['ok', 'error', 'incomplete', 'client_disconnected'].includes(record.status), `${where}: record status ${record.status}`);
    }
    return { clean: record.status === 'ok', hit: exchange.headers['x-cache'] === 'HIT', aborted: exchange.aborted, text };
  }

  /** The property over `routes`; CHAOS_SEED and CHAOS_PATH replay a reported failure (fast-check prints both). */
  async function chaos(routes: readonly Route[], numRuns: number, seed: number | undefined): Promise<void> {
    const path = process.env.CHAOS_PATH;
    await fc.assert(fc.asyncProperty(chaosCase(routes), runCase), {
      numRuns,
      includeErrorInReport: true,
      endOnFailure: process.env.CHAOS_NO_SHRINK !== undefined,
      // A run that never ends (a request the gateway never answers) fails as a counterexample with its
      // seed and path, and the search stops before the test's own limit, which would report neither.
      timeout: RUN_TIMEOUT_MS,
      interruptAfterTimeLimit: SEARCH_LIMIT_MS,
      markInterruptAsFailure: true,
      ...(seed === undefined ? {} : { seed }),
      ...(path === undefined ? {} : { path }),
    });
    await assertStoredOnce();
  }

  /** Each store holds exactly one row per request so far, as the memory recorder did. */
  async function assertStoredOnce(): Promise<void> {
    for (const gateway of [plain, cached]) {
      await gateway.app.services.usage.flush();
      const response = await fetch(`${gateway.url}/admin/usage/records?limit=1000`, { headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(response.status, 200);
      const rows = ((await response.json()) as { data: Array<{ request_id: string }> }).data;
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(row.request_id, (counts.get(row.request_id) ?? 0) + 1);
      const wrong = (requestIds.get(gateway) ?? []).filter((id) => counts.get(id) !== 1).map((id) => `${id}=${counts.get(id) ?? 0}`);
      assert.deepEqual(wrong, [], 'requests without exactly one stored usage row');
      // Nor did any log line (the provider's planted key sat in error bodies and events).
      const logged = gateway.logs.filter((line) => Object.values(CHAOS_KEYS).some((key) => line.includes(key)));
      assert.deepEqual(logged.slice(0, 3), [], 'log lines holding a provider key');
    }
  }

  return { start, stop, chaos };
}

/**
 * A run mostly waits (on the upstream's pauses, timeouts and retry back-offs; the whole file used
 * ~4 s of CPU in 45 s), so the runs are split over shards that search at once, each with a seed of
 * its own (CI: CI_SEED + its number). A given CHAOS_SEED (or CHAOS_PATH) replays in one shard, which
 * is what a reported failure's seed and path name.
 */
const SHARDS = process.env.CHAOS_SEED || process.env.CHAOS_PATH ? 1 : 3;

describe('upstream chaos (RELIABILITY §4b, randomized)', { concurrency: true }, () => {
  /** CHAOS_DATABASE=postgres runs the suite on PostgreSQL (its own schema) instead of SQLite. */
  let postgres: PostgresSchema | undefined;
  /** The chat runs over SHARDS shards; the other routes in one more, at the same time. */
  const chatShards = Array.from({ length: SHARDS }, () => chaosShard(() => postgres));
  const otherShard = chaosShard(() => postgres);

  before(async () => {
    if (process.env.CHAOS_DATABASE === 'postgres') {
      const schema = await createPostgresSchema();
      if (typeof schema === 'string') throw new Error(schema);
      postgres = schema;
    }
    await Promise.all([...chatShards, otherShard].map((shard) => shard.start()));
  });

  after(async () => {
    await Promise.all([...chatShards, otherShard].map((shard) => shard.stop()));
    await postgres?.drop();
  });

  const seed = searchSeed(process.env.CHAOS_SEED);
  const timeout = TEST_TIMEOUT_MS;
  test('any upstream behaviour: still serving, well-formed answer or OpenAI error, no leak, one usage record', { timeout }, async () => {
    // Every shard searches to its end; each failure is reported with its own seed and path.
    const searched = await Promise.allSettled(
      chatShards.map((shard, index) => shard.chaos(['chat'], Math.ceil(NUM_RUNS / SHARDS), seed === undefined ? undefined : seed + index)),
    );
    const failed = searched.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    if (failed.length === 1) throw failed[0];
    // In one message: the reporter shows an error's message, and each holds its shard's seed and path.
    if (failed.length > 1) throw new Error(failed.map((error) => (error instanceof Error ? error.message : String(error))).join('\n\n'));
  });

  test('the same on /v1/messages (Anthropic-shaped), /v1/completions and /v1/embeddings', { timeout }, () =>
    otherShard.chaos(['messages', 'completions', 'embeddings'], Math.ceil(NUM_RUNS / 3), seed),
  );
});
