// OpenAI-format fake upstream for the load figures (bench/load.mjs, test/integration/load-figures.test.ts).
//
//   node bench/load-upstream.mjs [port]      prints `listening <port>` once ready (0 = any free port)
//
// Unlike bench/mock-upstream.mjs (one fixed answer, tuned for raw speed), each request picks its
// behaviour with the last message's content, so one proxy sees mixed traffic:
//   "load:ok"                       a chat.completion (also any content not starting with "load:")
//   "load:stream:<chunks>:<ms>"     with "stream": true, <chunks> content events <ms> apart, then the
//                                   finish chunk, the usage chunk (when asked for) and [DONE]
//   "load:reset"                    the socket is destroyed: before any byte for a non-stream request,
//                                   after the headers and two events for a stream
//   "load:hold:<ms>"                response headers after <ms> (a slow time to first byte)
// Env: LOAD_UPSTREAM_KEEPALIVE_MS (default 20000), how long idle keep-alive sockets stay open.
//   GET /v1/models                  gpt-4o-mini and gpt-4 (the proxy's discovery reads it)
//   GET /__load/stats               {requests, open, aborted}: `aborted` counts responses the proxy
//                                   hung up on before they ended (what a client abort must cause)
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const CREATED = 1_735_689_600;
const usage = (completion) => ({ prompt_tokens: 9, completion_tokens: completion, total_tokens: 9 + completion });
const MODELS = JSON.stringify({ object: 'list', data: ['gpt-4o-mini', 'gpt-4'].map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'system' })) });
const stats = { requests: 0, open: 0, aborted: 0 };

function completion(model) {
  return JSON.stringify({
    id: 'chatcmpl-load',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the load upstream.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: usage(6),
  });
}

function chunk(model, delta, finish, extra) {
  return `data: ${JSON.stringify({ id: 'chatcmpl-load', object: 'chat.completion.chunk', created: CREATED, model, choices: delta === undefined ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;
}

function stream(res, model, chunks, gapMs, includeUsage, resetAfter) {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.write(chunk(model, { role: 'assistant', content: '' }, null));
  let sent = 0;
  const step = () => {
    if (res.destroyed) return;
    if (resetAfter !== undefined && sent === resetAfter) {
      res.socket?.destroy();
      return;
    }
    if (sent < chunks) {
      sent++;
      res.write(chunk(model, { content: ` w${sent}` }, null));
      if (gapMs > 0) setTimeout(step, gapMs);
      else setImmediate(step);
      return;
    }
    res.write(chunk(model, {}, 'stop'));
    if (includeUsage) res.write(chunk(model, undefined, null, { usage: usage(chunks) }));
    res.end('data: [DONE]\n\n');
  };
  step();
}

function answer(req, res, raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'bad json', type: 'invalid_request_error', param: null, code: null } }));
    return;
  }
  const model = typeof body.model === 'string' ? body.model : 'gpt-4o-mini';
  const last = Array.isArray(body.messages) ? body.messages.at(-1) : undefined;
  const directive = typeof last?.content === 'string' && last.content.startsWith('load:') ? last.content.split(':') : ['load', 'ok'];
  const streamed = body.stream === true;
  const includeUsage = body.stream_options?.include_usage === true;
  const go = () => {
    if (directive[1] === 'reset') {
      if (streamed) stream(res, model, 20, 5, includeUsage, 2);
      else req.socket.destroy();
      return;
    }
    if (streamed) {
      const isStream = directive[1] === 'stream';
      stream(res, model, isStream ? Number(directive[2]) || 20 : 20, isStream ? Number(directive[3]) || 0 : 0, includeUsage, undefined);
      return;
    }
    const text = completion(model);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (directive[1] === 'hold') setTimeout(() => (res.destroyed ? undefined : go()), Number(directive[2]) || 0);
  else go();
}

const server = http.createServer((req, res) => {
  if (req.url === '/__load/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  stats.requests++;
  stats.open++;
  res.once('close', () => {
    stats.open--;
    if (!res.writableFinished) stats.aborted++;
  });
  if (req.method === 'GET' && req.url.endsWith('/models')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(MODELS);
    return;
  }
  if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error', param: null, code: null } }));
    return;
  }
  const parts = [];
  req.on('data', (part) => parts.push(part));
  req.on('end', () => answer(req, res, Buffer.concat(parts).toString('utf8')));
});
// Idle keep-alive sockets close after LOAD_UPSTREAM_KEEPALIVE_MS (the proxy's pool follows the hint it sends).
server.keepAliveTimeout = Number(process.env.LOAD_UPSTREAM_KEEPALIVE_MS ?? 20_000) || 20_000;
server.headersTimeout = server.keepAliveTimeout + 5_000;
server.requestTimeout = 0;
server.maxConnections = 50_000;
// A deep accept queue: thousands of streams connect at once, and a dropped SYN costs the proxy a 1 s retransmit.
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`listening ${server.address().port}\n`));

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the driver, even if it was SIGKILLed: it holds our stdin.
process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
