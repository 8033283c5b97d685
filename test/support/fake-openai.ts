// A fake OpenAI-format upstream (OpenAI, Azure deployments and Azure's v1 API, any OpenAI-compatible
// host) on 127.0.0.1:0. It speaks the real wire format (JSON bodies, `data:` SSE lines, `[DONE]`, error
// envelopes, `retry-after` headers) for chat, embeddings and (plain, at /v1; streamed when asked) legacy completions,
// records every request it receives, and takes scripted faults from a queue: `fake.enqueue({...})`
// shapes the next request's answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> | undefined;
  /** Set when the client went away before the answer was complete. */
  aborted: boolean;
}

export type Fault =
  /** Answer with this status and body (an OpenAI error envelope by default). */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Send N chunks, then destroy the socket. */
  | { kind: 'reset-after'; chunks: number }
  /** Destroy the socket before any response byte (a connection reset, as a crashing upstream or proxy gives). */
  | { kind: 'reset' }
  /** Send N chunks, then go silent (never end). */
  | { kind: 'stall-after'; chunks: number }
  /** Wait before sending the response headers, then answer normally (or as `then` says). */
  | { kind: 'delay-headers'; ms: number; then?: Fault }
  /** Send an `error` event mid-stream after N chunks. */
  | { kind: 'error-event'; chunks: number; message: string; type?: string; code?: string | null }
  /** Send N chunks, then a line that is not JSON. */
  | { kind: 'bad-json-event'; chunks: number }
  /** Send N chunks and end without [DONE] or a finish_reason. */
  | { kind: 'truncate'; chunks: number }
  /** A raw body with the given status and content type. */
  | { kind: 'raw'; status: number; contentType: string; body: string }
  /** A raw 200 event stream sent in the given pieces, `gapMs` apart (each piece reaches the proxy as its own read). */
  | { kind: 'raw-parts'; parts: string[]; gapMs: number }
  /** Delay between stream chunks. */
  | { kind: 'slow-stream'; delayMs: number }
  /** Send N chunks, then the rest once `release` resolves (or reset the connection if it rejects): a call kept in flight for as long as the test needs. */
  | { kind: 'gated-stream'; chunks: number; release: Promise<void> };

export interface FakeOpenAiOptions {
  /** The key the fake accepts as `Authorization: Bearer` (or Azure `api-key`); undefined accepts any (Ollama). */
  apiKey: string | undefined;
  /**
   * Azure's v1 API at /openai/v1 lists its model catalog (the base models the resource can deploy,
   * with Azure's `capabilities` and `lifecycle_status`), not its deployments: these ids.
   */
  azureCatalog?: string[];
  models?: string[];
  /** Extra fields of a model's entry in the list (a host's own `context_length`, say). */
  listFields?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Words the streamed and plain answers are made of. */
  reply?: string;
  /** The whole answer text for a request, when it returns one (else the echo below). */
  answer?: (body: Record<string, unknown>) => string | undefined;
  /** Embeddings answers report usage (as OpenAI does); false imitates hosts that send none. */
  embeddingUsage?: boolean;
  /** The `usage` chat answers report, plain and streamed (cache reads and writes, say), in place of the fake's own counts. */
  usage?: (body: Record<string, unknown>) => Record<string, unknown> | undefined;
  /**
   * The `model` a chat answer names (the plain body and every stream chunk) in place of the one asked
   * for: the fallback OpenRouter answered with (`models: [...]`), or a host's dated snapshot name.
   */
  answerModel?: (body: Record<string, unknown>) => string | undefined;
  /** A host's own refusal of a chat request it validates more strictly than OpenAI (a field it lacks): the status and JSON body it answers. */
  refuse?: (body: Record<string, unknown>) => { status: number; body: unknown } | undefined;
}

export interface FakeOpenAi {
  url: string;
  requests: RecordedRequest[];
  enqueue(fault: Fault): void;
  /** Forgets recorded requests and queued faults (between tests). */
  reset(): void;
  /** Resolves when a request has been recorded as aborted by the client. */
  waitForAbort(timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<Record<string, unknown>>) : [];
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (message?.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    if (Array.isArray(message.content)) {
      return (message.content as Array<Record<string, unknown>>)
        .filter((part) => part.type === 'text')
        .map((part) => String(part.text))
        .join(' ');
    }
  }
  return '';
}

function errorBody(status: number, message: string): string {
  const type = status === 401 ? 'invalid_request_error' : status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error';
  const code = status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : status === 404 ? 'model_not_found' : null;
  return JSON.stringify({ error: { message, type, param: null, code } });
}

/**
 * The fake's embedding of one input: `dimensions` values (8 by default) derived from the text, each a
 * multiple of 1/1024 so float32 holds it exactly (float and base64 answers decode to the same numbers).
 */
export function fakeEmbedding(text: string, dimensions = 8): number[] {
  const values: number[] = [];
  let hash = 2166136261;
  for (const char of text) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619) >>> 0;
  for (let index = 0; index < dimensions; index++) {
    hash = Math.imul(hash ^ index, 16777619) >>> 0;
    values.push(((hash % 2001) - 1000) / 1024);
  }
  return values;
}

/** An OpenAI `/embeddings` answer: one embedding per input, floats or (`encoding_format: base64`) float32 LE. */
function fakeEmbeddingsAnswer(body: Record<string, unknown>, model: string, withUsage: boolean): Record<string, unknown> {
  const input = body.input;
  const items: string[] =
    typeof input === 'string' ? [input] : Array.isArray(input) && typeof input[0] === 'number' ? [`tokens:${input.join(',')}`] : Array.isArray(input) ? input.map((item) => (typeof item === 'string' ? item : `tokens:${(item as number[]).join(',')}`)) : [];
  const dimensions = typeof body.dimensions === 'number' ? body.dimensions : 8;
  const base64 = body.encoding_format === 'base64';
  const data = items.map((text, index) => {
    const values = fakeEmbedding(text, dimensions);
    let embedding: number[] | string = values;
    if (base64) {
      const bytes = Buffer.alloc(values.length * 4);
      values.forEach((value, at) => bytes.writeFloatLE(value, at * 4));
      embedding = bytes.toString('base64');
    }
    return { object: 'embedding', index, embedding };
  });
  const tokens = items.reduce((sum, text) => sum + (text.startsWith('tokens:') ? text.split(',').length : text.split(' ').length), 0);
  return { object: 'list', data, model, ...(withUsage ? { usage: { prompt_tokens: tokens, total_tokens: tokens } } : {}) };
}

/** A legacy `/completions` answer (not streamed): the reply text as one `text_completion` choice. */
function fakeCompletionAnswer(body: Record<string, unknown>, model: string, text: string): Record<string, unknown> {
  const promptTokens = typeof body.prompt === 'string' ? body.prompt.split(' ').length : 1;
  const completionTokens = text.split(' ').length;
  return {
    id: 'cmpl-fake',
    object: 'text_completion',
    created: 1_700_000_000,
    model,
    choices: [{ text, index: 0, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

/** Azure's api-version values: dated (the deployment API's) and the v1 API's own (its spec's enum). */
const DATED_API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
const V1_API_VERSIONS = new Set(['v1', 'preview']);

/**
 * Azure's answer to an api-version the path does not take: the deployment paths need a dated one,
 * the v1 paths take none, `v1` or `preview` (a dated one there is refused).
 * @see https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
 */
function refuseAzureShape(url: URL, v1: boolean): { status: number; body: unknown } | undefined {
  const version = url.searchParams.get('api-version');
  if (v1 ? version === null || V1_API_VERSIONS.has(version) : version !== null && DATED_API_VERSION.test(version)) return undefined;
  if (!v1 && version === null) return { status: 404, body: { error: { code: '404', message: 'Resource not found' } } };
  return { status: 400, body: { error: { code: 'BadRequest', message: 'API version not supported' } } };
}

export async function startFakeOpenAi(options: FakeOpenAiOptions): Promise<FakeOpenAi> {
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const abortWaiters: Array<(request: RecordedRequest) => void> = [];
  const models = options.models ?? ['gpt-4', 'gpt-3.5-turbo', 'gpt-4o-mini', 'my-finetune'];
  const replyText = options.reply ?? 'Hello from the fake upstream.';
  const sockets = new Set<import('node:net').Socket>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: Record<string, unknown> | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(errorBody(400, 'We could not parse the JSON body of your request.'));
        return;
      }
    }
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, body, aborted: false };
    requests.push(recorded);
    res.on('close', () => {
      if (!res.writableFinished) {
        recorded.aborted = true;
        for (const waiter of abortWaiters.splice(0)) waiter(recorded);
      }
    });

    const azure = url.pathname.startsWith('/openai/deployments/');
    // Azure's v1 API takes the key as `api-key` or as `Authorization: Bearer` (the openai SDK's way).
    // @see https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
    const azureV1 = url.pathname.startsWith('/openai/v1/');
    const bearer = req.headers.authorization?.replace(/^Bearer /, '');
    const presented = azure ? req.headers['api-key'] : azureV1 ? (req.headers['api-key'] ?? bearer) : bearer;
    if (options.apiKey !== undefined && presented !== options.apiKey) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(errorBody(401, 'Incorrect API key provided.'));
      return;
    }
    const refusal = azure || azureV1 ? refuseAzureShape(url, azureV1) : undefined;
    if (refusal !== undefined) {
      res.writeHead(refusal.status, { 'content-type': 'application/json' }).end(JSON.stringify(refusal.body));
      return;
    }
    if (req.method === 'GET' && azureV1 && url.pathname === '/openai/v1/models') {
      const catalog = options.azureCatalog ?? ['gpt-4o-2024-08-06', 'text-embedding-3-small', 'dall-e-3'];
      const data = catalog.map((id) => ({
        id,
        object: 'model',
        created: 1_700_000_000,
        capabilities: { fine_tune: false, inference: true, completion: false, chat_completion: !id.startsWith('text-embedding'), embeddings: id.startsWith('text-embedding') },
        lifecycle_status: 'generally-available',
      }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data }));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'system', ...options.listFields?.[id] })) }),
      );
      return;
    }
    const isChat = url.pathname === '/v1/chat/completions' || url.pathname === '/openai/v1/chat/completions' || (azure && url.pathname.endsWith('/chat/completions'));
    const isEmbeddings = url.pathname === '/v1/embeddings' || url.pathname === '/openai/v1/embeddings' || (azure && url.pathname.endsWith('/embeddings'));
    const isCompletions = url.pathname === '/v1/completions';
    if (req.method !== 'POST' || !(isChat || isEmbeddings || isCompletions) || body === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(errorBody(404, 'Unknown path.'));
      return;
    }
    let fault = faults.shift();
    if (fault?.kind === 'delay-headers') {
      // A delay is this request's whole fault: it then answers normally. (Taking another fault from
      // the queue after the delay would steal one queued later for another request.)
      const ms = fault.ms;
      fault = fault.then;
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (res.destroyed) return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(fault.body ?? errorBody(fault.status, `Fake failure ${fault.status}`));
      return;
    }
    if (fault?.kind === 'raw') {
      res.writeHead(fault.status, { 'content-type': fault.contentType }).end(fault.body);
      return;
    }
    if (fault?.kind === 'raw-parts') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [index, part] of fault.parts.entries()) {
        if (index > 0) await new Promise((resolve) => setTimeout(resolve, fault.gapMs));
        res.write(part);
      }
      res.end();
      return;
    }
    // On Azure's v1 API the deployment is named by the body's `model`, as OpenAI's model is.
    if (azureV1 && typeof body.model !== 'string') {
      res.writeHead(400, { 'content-type': 'application/json' }).end(errorBody(400, "Missing required parameter: 'model'."));
      return;
    }
    const hostRefusal = isChat ? options.refuse?.(body) : undefined;
    if (hostRefusal !== undefined) {
      res.writeHead(hostRefusal.status, { 'content-type': 'application/json' }).end(JSON.stringify(hostRefusal.body));
      return;
    }
    const model = String(body.model);
    if (model === 'missing-model') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(errorBody(404, `The model '${model}' does not exist`));
      return;
    }
    if (isEmbeddings) {
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_fake' }).end(JSON.stringify(fakeEmbeddingsAnswer(body, model, options.embeddingUsage !== false)));
      return;
    }
    if (isCompletions) {
      const answer = fakeCompletionAnswer(body, model, replyText);
      if (body.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_fake' }).end(JSON.stringify(answer));
        return;
      }
      // Streamed as OpenAI does: text_completion chunks, the usage chunk (choices []) when asked, [DONE].
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const { usage, choices: _choices, ...base } = answer;
      const event = (value: Record<string, unknown>) => `data: ${JSON.stringify(value)}\n\n`;
      const chunk = (text: string, finish: string | null) => event({ ...base, choices: [{ text, index: 0, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}) });
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(replyText.split(' ').map((word, index) => chunk(index === 0 ? word : ` ${word}`, null)).join('') + chunk('', 'stop') + (includeUsage ? event({ ...base, choices: [], usage }) : '') + 'data: [DONE]\n\n');
      return;
    }
    const id = `chatcmpl-fake${requests.length}`;
    const created = 1_700_000_000;
    const answered = options.answerModel?.(body) ?? model;
    const text = lastUserText(body);
    const content = options.answer?.(body) ?? (text.length > 0 ? `${replyText} You said: ${text}` : replyText);
    // A server tool (OpenRouter's `openrouter:web_search`) runs on the host: the model calls only the client's function tools.
    const tools = Array.isArray(body.tools) && body.tool_choice !== 'none' ? (body.tools as Array<{ function?: { name: string } }>).filter((tool) => tool.function !== undefined) : undefined;
    const functions = Array.isArray(body.functions) && body.function_call !== 'none' ? (body.functions as Array<{ name: string }>) : undefined;
    const promptTokens = Math.ceil(raw.length / 4);
    const completionTokens = content.split(' ').length;
    const usage = options.usage?.(body) ?? { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    const toolName = tools?.[0]?.function?.name;
    const functionName = functions?.[0]?.name;
    const args = JSON.stringify({ location: 'Tokyo', unit: 'celsius' });

    if (body.stream !== true) {
      const message: Record<string, unknown> = { role: 'assistant', content: toolName || functionName ? null : content, refusal: null };
      let finish = 'stop';
      if (toolName) {
        message.tool_calls = [{ id: 'call_fake_1', type: 'function', function: { name: toolName, arguments: args } }];
        finish = 'tool_calls';
      } else if (functionName) {
        message.function_call = { name: functionName, arguments: args };
        finish = 'function_call';
      }
      const n = typeof body.n === 'number' ? body.n : 1;
      const choices = Array.from({ length: n }, (_, index) => ({ index, message, logprobs: null, finish_reason: finish }));
      res
        .writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_fake' })
        .end(JSON.stringify({ id, object: 'chat.completion', created, model: answered, choices, usage, system_fingerprint: 'fp_fake' }));
      return;
    }

    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const frames: string[] = [];
    const base = { id, object: 'chat.completion.chunk', created, model: answered, system_fingerprint: 'fp_fake' };
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}) });
    frames.push(chunk({ role: 'assistant', content: '', refusal: null }, null));
    if (toolName) {
      frames.push(chunk({ tool_calls: [{ index: 0, id: 'call_fake_1', type: 'function', function: { name: toolName, arguments: '' } }] }, null));
      for (const piece of [args.slice(0, 10), args.slice(10)]) frames.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
      frames.push(chunk({}, 'tool_calls'));
    } else if (functionName) {
      frames.push(chunk({ function_call: { name: functionName, arguments: '' } }, null));
      for (const piece of [args.slice(0, 10), args.slice(10)]) frames.push(chunk({ function_call: { arguments: piece } }, null));
      frames.push(chunk({}, 'function_call'));
    } else {
      const words = content.split(' ');
      words.forEach((word, index) => frames.push(chunk({ content: index === 0 ? word : ` ${word}` }, null)));
      frames.push(chunk({}, 'stop'));
    }
    if (includeUsage) frames.push(JSON.stringify({ ...base, choices: [], usage }));

    const delay = fault?.kind === 'slow-stream' ? fault.delayMs : 0;
    for (let index = 0; index < frames.length; index++) {
      if (res.destroyed) return;
      if (fault?.kind === 'reset-after' && index === fault.chunks) {
        res.socket?.destroy();
        return;
      }
      if (fault?.kind === 'stall-after' && index === fault.chunks) return;
      if (fault?.kind === 'gated-stream' && index === fault.chunks) {
        // A gate that rejects resets the connection there (a stream that breaks once the test says).
        const opened = await fault.release.then(
          () => true,
          () => false,
        );
        if (!opened) res.socket?.destroy();
        if (res.destroyed || !opened) return;
      }
      if (fault?.kind === 'error-event' && index === fault.chunks) {
        res.end(`data: ${JSON.stringify({ error: { message: fault.message, type: fault.type ?? 'server_error', param: null, code: fault.code ?? null } })}\n\n`);
        return;
      }
      if (fault?.kind === 'bad-json-event' && index === fault.chunks) {
        res.end('data: {"id": this is not json\n\n');
        return;
      }
      if (fault?.kind === 'truncate' && index === fault.chunks) {
        res.end();
        return;
      }
      // Each write is flushed before the next step, so a scripted reset happens after what was sent.
      await new Promise<void>((resolve) => res.write(`data: ${frames[index]}\n\n`, () => resolve()));
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    }
    res.end('data: [DONE]\n\n');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (fault) => faults.push(fault),
    reset() {
      requests.length = 0;
      faults.length = 0;
    },
    waitForAbort(timeoutMs = 2000) {
      const already = requests.find((request) => request.aborted);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no upstream abort seen')), timeoutMs);
        abortWaiters.push((request) => {
          clearTimeout(timer);
          resolve(request);
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
