// Fast OpenAI-format fake upstream for `npm run bench` (see bench/run.mjs).
//
//   node bench/mock-upstream.mjs [port]        (or MOCK_PORT=<port>; 0 = any free port)
//
// Prints `listening <port>` on stdout once ready.
//
//   POST /v1/chat/completions   non-streaming: a fixed chat.completion (with usage).
//                               "stream": true: an SSE stream of ~20 chat.completion.chunk
//                               events (role chunk, content deltas, finish chunk, a usage chunk
//                               with `choices: []` when stream_options.include_usage is true,
//                               then `data: [DONE]`). Each event is its own write, as a real
//                               upstream flushes per token.
//   GET  /v1/models             model list (includes gpt-4o-mini).
//   GET  /health                200 "ok".
//   GET  /__bench/stats         request counters (JSON), for the driver.
//
// Env:
//   MOCK_CHUNK_DELAY_MS   delay between SSE events (default 0: all written back-to-back, no timers).
//   MOCK_STREAM_WRITES    "each" (default, one write per event) or "single" (whole stream in one write).
//
// The request body is always read and JSON.parse'd, like a real upstream would. Response bodies are
// pre-serialized per (model, stream, include_usage) so the mock spends as little CPU as possible.

import http from 'node:http';

const port = Number(process.argv[2] ?? process.env.MOCK_PORT ?? 0);
const host = '127.0.0.1';
const chunkDelayMs = Number(process.env.MOCK_CHUNK_DELAY_MS ?? 0) || 0;
const singleWrite = process.env.MOCK_STREAM_WRITES === 'single';

const CREATED = 1_735_689_600; // fixed timestamp: deterministic output
const SYSTEM_FINGERPRINT = 'fp_bench0001';
const TEXT_PIECES = [
  'Hello', '!', ' How', ' can', ' I', ' help', ' you', ' today', '?', ' I', "'m", ' happy', ' to',
  ' assist', ' with', ' anything', '.',
];
const CONTENT = TEXT_PIECES.join('');
const PROMPT_TOKENS = 9;
const COMPLETION_TOKENS = TEXT_PIECES.length;
const usage = () => ({
  prompt_tokens: PROMPT_TOKENS,
  completion_tokens: COMPLETION_TOKENS,
  total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0,
  },
});

const cache = new Map(); // key -> Buffer | Buffer[]

// Request counters, served at GET /__bench/stats (read by run.mjs before/after each run): lets the driver check
// how many upstream calls each target made, whether the proxy asked for stream usage, and which key it sent.
const UPSTREAM_KEY = `Bearer ${process.env.MOCK_EXPECT_KEY ?? 'sk-bench-upstream-key'}`;
const stats = { requests: 0, chat: 0, chatStream: 0, chatStreamIncludeUsage: 0, models: 0, badRequest: 0, notFound: 0, auth: { upstreamKey: 0, other: 0, none: 0 }, paths: {} };
function countAuth(req) {
  const a = req.headers.authorization;
  if (a === undefined) stats.auth.none++;
  else if (a === UPSTREAM_KEY) stats.auth.upstreamKey++;
  else stats.auth.other++;
}

function completionBody(model) {
  return Buffer.from(JSON.stringify({
    id: 'chatcmpl-bench0000000000000000000001',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: CONTENT, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    }],
    usage: usage(),
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  }));
}

function streamEvents(model, includeUsage) {
  const base = {
    id: 'chatcmpl-bench0000000000000000000002',
    object: 'chat.completion.chunk',
    created: CREATED,
    model,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  const ev = (choices, extra) => `data: ${JSON.stringify({ ...base, choices, ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
  const out = [];
  out.push(ev([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]));
  for (const piece of TEXT_PIECES) {
    out.push(ev([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
  }
  out.push(ev([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]));
  if (includeUsage) out.push(ev([], { usage: usage() }));
  out.push('data: [DONE]\n\n');
  const bufs = out.map((s) => Buffer.from(s));
  return singleWrite ? [Buffer.concat(bufs)] : bufs;
}

function cached(key, make) {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    if (cache.size < 256) cache.set(key, v);
  }
  return v;
}

const MODELS_BODY = Buffer.from(JSON.stringify({
  object: 'list',
  data: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-3.5-turbo', 'text-embedding-3-small'].map((id) => ({
    id, object: 'model', created: CREATED, owned_by: 'system',
  })),
}));

const JSON_HEADERS = (len) => ({
  'content-type': 'application/json',
  'content-length': len,
  'x-request-id': 'req_bench',
  'openai-processing-ms': '1',
});
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-request-id': 'req_bench',
  'openai-processing-ms': '1',
};

function sendJson(res, status, buf) {
  res.writeHead(status, JSON_HEADERS(buf.length));
  res.end(buf);
}

function error(res, status, message, type = 'invalid_request_error') {
  sendJson(res, status, Buffer.from(JSON.stringify({ error: { message, type, param: null, code: null } })));
}

function writeStream(res, events) {
  res.writeHead(200, SSE_HEADERS);
  if (chunkDelayMs <= 0) {
    const last = events.length - 1;
    for (let i = 0; i < last; i++) res.write(events[i]);
    res.end(events[last]);
    return;
  }
  let i = 0;
  const step = () => {
    if (res.destroyed) return;
    if (i === events.length - 1) { res.end(events[i]); return; }
    res.write(events[i++]);
    setTimeout(step, chunkDelayMs);
  };
  step();
}

function handleChat(req, res, raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    stats.badRequest++;
    return error(res, 400, 'We could not parse the JSON body of your request.');
  }
  if (body === null || typeof body !== 'object' || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
    stats.badRequest++;
    return error(res, 400, "Missing required parameter: 'model' or 'messages'.");
  }
  const model = body.model;
  stats.chat++;
  if (body.stream === true) {
    const includeUsage = body.stream_options?.include_usage === true;
    stats.chatStream++;
    if (includeUsage) stats.chatStreamIncludeUsage++;
    return writeStream(res, cached(`s:${includeUsage ? 1 : 0}:${model}`, () => streamEvents(model, includeUsage)));
  }
  return sendJson(res, 200, cached(`c:${model}`, () => completionBody(model)));
}

const server = http.createServer((req, res) => {
  const url = req.url;
  if (url === '/__bench/stats') return sendJson(res, 200, Buffer.from(JSON.stringify(stats))); // not counted
  stats.requests++;
  countAuth(req);
  if (req.method === 'POST' && (url === '/v1/chat/completions' || url === '/chat/completions')) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      handleChat(req, res, chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString());
    });
    return;
  }
  if (req.method === 'GET' && (url === '/v1/models' || url === '/models')) {
    stats.models++;
    return sendJson(res, 200, MODELS_BODY);
  }
  if (req.method === 'GET' && url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    return res.end('ok');
  }
  req.resume();
  stats.notFound++;
  const k = `${req.method} ${url.length > 100 ? url.slice(0, 100) : url}`;
  if (stats.paths[k] !== undefined || Object.keys(stats.paths).length < 50) stats.paths[k] = (stats.paths[k] ?? 0) + 1;
  error(res, 404, `Unknown request URL: ${req.method} ${url}`);
});

server.keepAliveTimeout = 120_000; // clients (undici pools) must never race a server-side close
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;

server.listen(port, host, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by bench/run.mjs with BENCH_WATCH_STDIN=1: exit when the driver goes away, even if it was SIGKILLed.
if (process.env.BENCH_WATCH_STDIN === '1') {
  process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
}
