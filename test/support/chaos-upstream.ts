// One raw-TCP upstream for the chaos suite (test/integration/upstream-chaos.test.ts): every provider
// kind's base URL points at it under its own path prefix; what is asked (chat or an Anthropic message,
// a legacy completion, embeddings) is read from the path; and each request is answered by the plan
// registered for the run whose marker (`chaos-run-<n>`) is in the request body. It writes the HTTP
// response byte by byte as the plan says (any status, lying or missing headers, broken framing,
// pauses, a socket destroyed mid-body), which node:http would refuse to send.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { readAnthropicFixture, splitSseEvents } from './fake-anthropic.js';
import { readGeminiFixture } from './fake-gemini.js';

/** The configured providers (one per kind; `compat` is an OpenAI-compatible host). */
export const CHAOS_PROVIDERS = ['openai', 'compat', 'azure', 'anthropic', 'gemini', 'ollama'] as const;
export type ChaosProvider = (typeof CHAOS_PROVIDERS)[number];
export type WireFormat = 'openai' | 'anthropic' | 'gemini';
/** What the proxy asked of the upstream, read from the path: a chat answer (or Anthropic message), a legacy completion, embeddings. */
export type UpstreamApi = 'chat' | 'completions' | 'embeddings';

function apiOf(path: string): UpstreamApi {
  const bare = path.split('?')[0] ?? '';
  if (bare.endsWith('/embeddings') || bare.endsWith(':batchEmbedContents') || bare.endsWith(':embedContent')) return 'embeddings';
  if (bare.endsWith('/completions') && !bare.endsWith('/chat/completions')) return 'completions';
  return 'chat';
}

export function formatOf(provider: ChaosProvider): WireFormat {
  return provider === 'anthropic' || provider === 'gemini' ? provider : 'openai';
}

/** A planted key per provider (Ollama has none: its errors plant the OpenAI one, which the proxy also holds). */
export const CHAOS_KEYS: Record<Exclude<ChaosProvider, 'ollama'>, string> = {
  openai: 'sk-proj-chaosOpenAiKey0123456789abcdefghij',
  compat: 'sk-chaosCompatKey0123456789abcdefghijklmn',
  azure: 'c0ffee00chaosazurekey0123456789ab',
  anthropic: 'sk-ant-api03-chaosAnthropicKey0123456789ab',
  gemini: 'AIzaSyChaosGeminiKey0123456789abcdefgh',
};

export type UsageMutation = 'ok' | 'missing' | 'negative' | 'huge' | 'string' | 'null' | 'float';

/** What the body of one attempt is made of. */
export type BodyPlan =
  | {
      kind: 'answer';
      /** Whose wire format: the provider's own ('self'), or another's (valid JSON of the wrong shape). */
      shape: 'self' | WireFormat;
      /** Which recorded answer (index into the format's scenarios). */
      scenario: number;
      usage: UsageMutation;
      /** The other mode than asked: a JSON body for a stream, an event stream for a JSON call. */
      opposite: boolean;
      /** Stop after this fraction of the events (streams) or bytes (JSON): the rest never comes. */
      cutAt: number | undefined;
      /** An odd event inserted at this fraction of the stream. */
      garbage: { at: number; event: number } | undefined;
      /** A provider error event at this fraction of the stream. */
      errorAt: number | undefined;
    }
  | { kind: 'provider-error' }
  | { kind: 'html' }
  | { kind: 'empty' }
  | { kind: 'huge' }
  | { kind: 'invalid-utf8' }
  | { kind: 'wrong-json'; value: unknown };

export type Framing = 'length' | 'chunked' | 'close' | 'short-length' | 'long-length' | 'bad-chunked' | 'both';

export interface AttemptPlan {
  headerDelayMs: number;
  /** An unsolicited 1xx (100 Continue, 102 Processing, 103 Early Hints) before the answer. */
  informational: number | undefined;
  /** A status line no HTTP/1.1 parser takes. */
  badStatusLine: boolean;
  /** A response header far over undici's 16 KiB header limit. */
  hugeHeader: boolean;
  status: number;
  contentType: 'right' | 'json' | 'sse' | 'html' | 'missing' | 'doubled';
  framing: Framing;
  retryAfter: string | undefined;
  /** A Content-Encoding the body does not have. */
  lyingEncoding: boolean;
  body: BodyPlan;
  /** Pause between two pieces of the body. */
  gapMs: number;
  /** One longer pause before piece `at` (shorter than the idle timeout). */
  longPause: { at: number; ms: number } | undefined;
  /** Pieces cut at event boundaries, or at random byte offsets (inside UTF-8 sequences too). */
  split: 'events' | 'bytes';
  /** After the body: close properly, destroy the socket, or go silent; or drop the connection before any byte. */
  ending: 'end' | 'destroy' | 'hang' | 'drop';
  keepAlive: boolean;
}

export interface RunPlan {
  /** Attempt n gets attempts[min(n, length - 1)]. */
  attempts: AttemptPlan[];
}

interface SeenRequest {
  provider: ChaosProvider | undefined;
  stream: boolean;
  api: UpstreamApi;
  /** Embeddings asked as base64 (OpenAI and Azure are, when the client is). */
  base64: boolean;
}

export interface ChaosUpstream {
  url: string;
  port: number;
  /** Requests each run's plan has answered so far. */
  calls(run: number): number;
  plan(run: number, plan: RunPlan): void;
  /** Destroys every socket: each run starts on fresh connections. */
  dropConnections(): Promise<void>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------ bodies

const ANTHROPIC_SCENARIOS = ['text', 'tools', 'stop', 'max-tokens', 'multi-turn'];
const GEMINI_SCENARIOS = ['text', 'tools', 'stop', 'max-tokens', 'multi-turn'];
export const SCENARIO_COUNT = 5;

const TOKEN_FIELDS = new Set(['prompt_tokens', 'completion_tokens', 'total_tokens', 'input_tokens', 'output_tokens', 'promptTokenCount', 'candidatesTokenCount', 'totalTokenCount']);

function mutatedCount(mutation: UsageMutation): unknown {
  switch (mutation) {
    case 'negative':
      return -7;
    case 'huge':
      return 1e15;
    case 'string':
      return '12';
    case 'null':
      return null;
    case 'float':
      return 3.5;
    default:
      return 0;
  }
}

/** Rewrites every token count in a JSON value (usage, usageMetadata, message_start's usage). */
function mutateUsage(value: unknown, mutation: UsageMutation): unknown {
  if (mutation === 'ok') return value;
  if (Array.isArray(value)) return value.map((item) => mutateUsage(item, mutation));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (TOKEN_FIELDS.has(key) && typeof item === 'number') {
      if (mutation !== 'missing') out[key] = mutatedCount(mutation);
    } else out[key] = mutateUsage(item, mutation);
  }
  return out;
}

function openAiJson(): Record<string, unknown> {
  return {
    id: 'chatcmpl-chaos',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'chaos-model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the chaos upstream, ünïcödé ✓.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 9, completion_tokens: 11, total_tokens: 20 },
  };
}

function openAiEvents(): unknown[] {
  const base = { id: 'chatcmpl-chaos', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'chaos-model' };
  const delta = (value: Record<string, unknown>, finish: string | null = null) => ({ ...base, choices: [{ index: 0, delta: value, logprobs: null, finish_reason: finish }] });
  return [
    delta({ role: 'assistant', content: '', refusal: null }),
    delta({ content: 'Hello ' }),
    delta({ content: 'from the ' }),
    delta({ content: 'chaos ✓ ' }),
    delta({ content: 'upstream.' }),
    delta({}, 'stop'),
    { ...base, choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } },
  ];
}

function completionJson(): Record<string, unknown> {
  return {
    id: 'cmpl-chaos',
    object: 'text_completion',
    created: 1_700_000_000,
    model: 'chaos-model',
    choices: [{ text: ' upon a time, ünïcödé ✓.', index: 0, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 4, completion_tokens: 8, total_tokens: 12 },
  };
}

function completionEvents(): unknown[] {
  const base = { id: 'cmpl-chaos', object: 'text_completion', created: 1_700_000_000, model: 'chaos-model' };
  const piece = (text: string, finish: string | null = null) => ({ ...base, choices: [{ text, index: 0, logprobs: null, finish_reason: finish }] });
  return [piece(' upon'), piece(' a time ✓'), piece('.', 'stop'), { ...base, choices: [], usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 } }];
}

const VECTOR = [0.0125, -0.5, 0.25, 1];

function embeddingsJson(format: WireFormat, base64: boolean): unknown {
  if (format === 'gemini') return { embeddings: [{ values: VECTOR }] };
  const embedding = base64 ? Buffer.from(new Float32Array(VECTOR).buffer).toString('base64') : VECTOR;
  return { object: 'list', data: [{ object: 'embedding', index: 0, embedding }], model: 'chaos-embed', usage: { prompt_tokens: 3, total_tokens: 3 } };
}

/** A format's JSON answer (already parsed). */
function answerJson(format: WireFormat, scenario: number, seen: SeenRequest): unknown {
  if (seen.api === 'embeddings') return embeddingsJson(format, seen.base64);
  if (format === 'openai') return seen.api === 'completions' ? completionJson() : openAiJson();
  if (format === 'anthropic') return JSON.parse(readAnthropicFixture(`anthropic-${ANTHROPIC_SCENARIOS[scenario % SCENARIO_COUNT]}.response.json`)) as unknown;
  return JSON.parse(readGeminiFixture(`gemini-${GEMINI_SCENARIOS[scenario % SCENARIO_COUNT]}.response.json`)) as unknown;
}

/** A format's stream as whole events (each with its blank line); the terminal one last. */
function answerEvents(format: WireFormat, scenario: number, usage: UsageMutation, api: UpstreamApi): string[] {
  // Embeddings never stream: an event stream for them is the wrong mode (the answer as one event).
  if (api === 'embeddings') return [`data: ${JSON.stringify(mutateUsage(embeddingsJson(format, false), usage))}\n\n`, 'data: [DONE]\n\n'];
  if (format === 'openai') return [...(api === 'completions' ? completionEvents() : openAiEvents()).map((event) => `data: ${JSON.stringify(mutateUsage(event, usage))}\n\n`), 'data: [DONE]\n\n'];
  const text = format === 'anthropic' ? readAnthropicFixture(`anthropic-${ANTHROPIC_SCENARIOS[scenario % SCENARIO_COUNT]}.chunks.txt`) : readGeminiFixture(`gemini-${GEMINI_SCENARIOS[scenario % SCENARIO_COUNT]}.chunks.txt`);
  return splitSseEvents(text).map((event) => mutateEventUsage(event, usage));
}

function mutateEventUsage(event: string, usage: UsageMutation): string {
  if (usage === 'ok') return event;
  return event.replace(/^data: ?(.*)$/m, (line, data: string) => {
    try {
      return `data: ${JSON.stringify(mutateUsage(JSON.parse(data), usage))}`;
    } catch {
      return line;
    }
  });
}

/** Text the proxy must never pass on: the planted key, the upstream's address and a full URL. */
export function plantedSecrets(provider: ChaosProvider, port: number): string {
  const key = provider === 'ollama' ? CHAOS_KEYS.openai : CHAOS_KEYS[provider];
  return `key ${key} at http://127.0.0.1:${port}/internal/v1?key=${key} (host 127.0.0.1:${port})`;
}

function providerError(format: WireFormat, status: number, secrets: string): string {
  const message = `Upstream trouble (${status}): ${secrets}`;
  if (format === 'anthropic') return JSON.stringify({ type: 'error', error: { type: status === 529 ? 'overloaded_error' : 'api_error', message }, request_id: 'req_chaos' });
  if (format === 'gemini') return JSON.stringify({ error: { code: status, message, status: 'UNAVAILABLE', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '0.2s' }] } });
  return JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } });
}

function errorEvent(format: WireFormat, secrets: string): string {
  const message = `Overloaded mid-stream: ${secrets}`;
  if (format === 'anthropic') return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message } })}\n\n`;
  if (format === 'gemini') return `data: ${JSON.stringify({ error: { code: 503, message, status: 'UNAVAILABLE' } })}\r\n\r\n`;
  return `data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } })}\n\n`;
}

/** Odd events: comments, fields the proxy ignores, non-JSON data (with a secret), wrong shapes, early ends, mixed line ends. */
function garbageEvent(index: number, secrets: string): string {
  const events = [
    ': just a comment\n\n',
    'event: ping\ndata: {"type":"ping"}\n\n',
    'id: 7\nretry: soon\n\n',
    `data: this is not json ${secrets}\n\n`,
    'data: {"choices": oops\n\n',
    'data: {"unexpected": true}\n\n',
    'data:{"choices":[]}\r\n\r\n',
    'data: [DONE]\n\n',
    'data: \n\n',
    `data: <html>${secrets}</html>\n\n`,
    'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\\ud800"},"finish_reason":null}]}\n\n',
    '\n\n\n',
  ];
  return events[index % events.length] as string;
}
export const GARBAGE_COUNT = 12;

function insertAt<T>(list: T[], fraction: number, item: T): T[] {
  const at = Math.min(list.length, Math.floor(fraction * (list.length + 1)));
  return [...list.slice(0, at), item, ...list.slice(at)];
}

/** The body of one attempt as pieces to write, and the content type the format would use. */
function bodyPieces(plan: AttemptPlan, format: WireFormat, seen: SeenRequest, secrets: string): { pieces: Buffer[]; type: string } {
  const body = plan.body;
  const stream = seen.stream;
  const json = 'application/json; charset=utf-8';
  const sse = 'text/event-stream; charset=utf-8';
  const one = (text: string | Buffer, type: string) => ({ pieces: [Buffer.isBuffer(text) ? text : Buffer.from(text)], type });
  switch (body.kind) {
    case 'provider-error':
      return one(providerError(format, plan.status, secrets), json);
    case 'html':
      return one(`<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1><p>${secrets}</p><pre>nginx/1.25 upstream 10.0.3.7:8080</pre></body></html>`, 'text/html');
    case 'empty':
      return { pieces: [], type: json };
    case 'huge': {
      // Over max_response_mb for a JSON call; a long but legal stream otherwise.
      if (!stream) return one(JSON.stringify({ ...openAiJson(), filler: 'x'.repeat(400 * 1024) }), json);
      const events = answerEvents(format, 0, 'ok', seen.api);
      const filler = format === 'openai' ? Array.from({ length: 200 }, () => `data: ${JSON.stringify({ ...(openAiEvents()[1] as object), choices: [{ index: 0, delta: { content: 'y'.repeat(2000) }, finish_reason: null }] })}\n\n`) : [];
      return { pieces: [...events.slice(0, 2), ...filler, ...events.slice(2)].map((event) => Buffer.from(event)), type: sse };
    }
    case 'invalid-utf8':
      return one(Buffer.concat([Buffer.from('{"error":{"message":"bad \xff'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}')]), json);
    case 'wrong-json':
      return one(JSON.stringify(body.value) ?? 'null', json);
    case 'answer': {
      const shape = body.shape === 'self' ? format : body.shape;
      const asStream = body.opposite ? !stream : stream;
      if (!asStream) {
        const text = Buffer.from(JSON.stringify(mutateUsage(answerJson(shape, body.scenario, seen), body.usage)));
        return one(body.cutAt === undefined ? text : text.subarray(0, Math.floor(body.cutAt * text.length)), json);
      }
      let events = answerEvents(shape, body.scenario, body.usage, seen.api);
      if (body.cutAt !== undefined) events = events.slice(0, Math.floor(body.cutAt * events.length));
      if (body.errorAt !== undefined) events = insertAt(events, body.errorAt, errorEvent(shape, secrets));
      if (body.garbage !== undefined) events = insertAt(events, body.garbage.at, garbageEvent(body.garbage.event, secrets));
      return { pieces: events.map((event) => Buffer.from(event)), type: sse };
    }
  }
}

/** Re-cuts the pieces at byte offsets taken from a seed (so a piece may end inside a UTF-8 sequence). */
function byteSplit(pieces: Buffer[], seed: number): Buffer[] {
  const all = Buffer.concat(pieces);
  const out: Buffer[] = [];
  let at = 0;
  let state = seed >>> 0 || 1;
  // About 128 pieces at most: a 400 KB body in 50-byte pieces with pauses between them took minutes.
  const step = Math.max(97, Math.ceil(all.length / 64));
  while (at < all.length) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const size = 1 + (state % step);
    out.push(all.subarray(at, at + size));
    at += size;
  }
  return out;
}

const REASONS: Record<number, string> = { 200: 'OK', 204: 'No Content', 301: 'Moved Permanently', 429: 'Too Many Requests', 500: 'Internal Server Error', 529: 'Site Overloaded' };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Writes one answer on the socket as the plan says. */
async function answer(socket: Socket, plan: AttemptPlan, format: WireFormat, seen: SeenRequest, secrets: string): Promise<void> {
  if (plan.headerDelayMs > 0) await sleep(plan.headerDelayMs);
  if (socket.destroyed) return;
  if (plan.ending === 'drop') {
    socket.resetAndDestroy();
    return;
  }
  const { pieces: built, type } = bodyPieces(plan, format, seen, secrets);
  const pieces = plan.split === 'bytes' ? byteSplit(built, plan.status + plan.gapMs + built.length) : built;
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const lines: string[] = [];
  if (plan.informational !== undefined) lines.push(`HTTP/1.1 ${plan.informational} Info\r\n${plan.informational === 103 ? 'link: </x.css>; rel=preload\r\n' : ''}\r\n`);
  lines.push(plan.badStatusLine ? `HTTP/1.1 2OO ${plan.status}\r\n` : `HTTP/1.1 ${plan.status} ${REASONS[plan.status] ?? 'Chaos'}\r\n`);
  const header = (name: string, value: string) => lines.push(`${name}: ${value}\r\n`);
  const right = type;
  if (plan.contentType === 'right') header('content-type', right);
  else if (plan.contentType === 'json') header('content-type', 'application/json');
  else if (plan.contentType === 'sse') header('content-type', 'text/event-stream');
  else if (plan.contentType === 'html') header('content-type', 'text/html; charset=iso-8859-1');
  else if (plan.contentType === 'doubled') {
    header('content-type', 'text/plain');
    header('content-type', right);
  }
  if (plan.retryAfter !== undefined) header('retry-after', plan.retryAfter);
  if (plan.lyingEncoding) header('content-encoding', 'gzip');
  if (plan.hugeHeader) header('x-chaos-filler', 'f'.repeat(20 * 1024));
  if (plan.status === 101) header('upgrade', 'websocket');
  if (plan.status >= 300 && plan.status < 400) header('location', 'http://169.254.169.254/latest/meta-data/');
  header('x-chaos-upstream', `127.0.0.1:${socket.localPort ?? 0}`);
  const keepAlive = plan.keepAlive && plan.framing !== 'close';
  header('connection', keepAlive ? 'keep-alive' : 'close');
  const chunked = plan.framing === 'chunked' || plan.framing === 'both';
  if (plan.framing === 'length' || plan.framing === 'both') header('content-length', String(total));
  else if (plan.framing === 'short-length') header('content-length', String(Math.max(0, total - 5)));
  else if (plan.framing === 'long-length') header('content-length', String(total + 50));
  if (chunked || plan.framing === 'bad-chunked') header('transfer-encoding', 'chunked');
  lines.push('\r\n');
  socket.write(lines.join(''));
  for (const [index, piece] of pieces.entries()) {
    if (index > 0 && plan.gapMs > 0) await sleep(plan.gapMs);
    if (plan.longPause !== undefined && plan.longPause.at === index) await sleep(plan.longPause.ms);
    if (socket.destroyed) return;
    if (piece.length === 0) continue;
    socket.write(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
  }
  if (socket.destroyed) return;
  if (plan.ending === 'destroy') {
    socket.resetAndDestroy();
    return;
  }
  if (plan.ending === 'hang') return;
  if (chunked) socket.write('0\r\n\r\n');
  if (!keepAlive || plan.framing === 'long-length') socket.end();
}

// ------------------------------------------------------------------------------------ server

function providerOf(path: string): ChaosProvider | undefined {
  const first = path.split('/')[1];
  return (CHAOS_PROVIDERS as readonly string[]).includes(first ?? '') ? (first as ChaosProvider) : undefined;
}

/** A plain 404 in the provider's format, for requests no run claims (there should be none). */
const UNCLAIMED = 'HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}';

export async function startChaosUpstream(): Promise<ChaosUpstream> {
  const plans = new Map<number, RunPlan>();
  const counts = new Map<number, number>();
  const sockets = new Set<Socket>();
  let port = 0;

  const handle = async (socket: Socket, head: string, body: string): Promise<void> => {
    const [requestLine] = head.split('\r\n');
    const path = requestLine?.split(' ')[1] ?? '/';
    const run = Number(/chaos-run-(\d+)/.exec(body)?.[1] ?? NaN);
    const plan = plans.get(run);
    if (plan === undefined) {
      socket.end(UNCLAIMED);
      return;
    }
    const seen: SeenRequest = {
      provider: providerOf(path),
      stream: path.includes(':streamGenerateContent') || /"stream"\s*:\s*true/.test(body),
      api: apiOf(path),
      base64: /"encoding_format"\s*:\s*"base64"/.test(body),
    };
    const attempt = counts.get(run) ?? 0;
    counts.set(run, attempt + 1);
    const step = plan.attempts[Math.min(attempt, plan.attempts.length - 1)] as AttemptPlan;
    const provider = seen.provider ?? 'openai';
    await answer(socket, step, formatOf(provider), seen, plantedSecrets(provider, port));
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let busy: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const body = buffered.subarray(end + 4, end + 4 + length).toString('utf8');
        buffered = buffered.subarray(end + 4 + length);
        // One answer at a time per connection, in request order.
        busy = busy.then(() => handle(socket, head, body)).catch(() => void socket.destroy());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls: (run) => counts.get(run) ?? 0,
    plan(run, plan) {
      plans.set(run, plan);
    },
    async dropConnections() {
      for (const socket of sockets) socket.destroy();
      // Lets the proxy's pool see the closes before the next request picks a socket.
      await sleep(5);
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
