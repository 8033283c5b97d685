// The Fastify floor for `npm run bench` (see bench/run.mjs): the fastest a gateway built on Fastify
// can be while doing the least a gateway that routes by model and records usage must do.
//
//   node bench/fastify-floor.mjs <port> <upstream-base-url>     (or FLOOR_PORT / FLOOR_UPSTREAM)
//   It also reads the proxy's PORT, OPENAI_BASE_URL and OPENAI_API_KEY and answers GET /health, so
//   bench/pair.mjs can set it against the proxy: --a-entry bench/fastify-floor.mjs
//
// One Fastify route, logger off, no hooks or plugins:
//   - the body is parsed by Fastify's JSON parser (a gateway reads `model` to route it) and
//     serialised again for the upstream, with the upstream key swapped in;
//   - one keep-alive undici Pool calls the upstream, as bench/floor.mjs does;
//   - a JSON answer is read whole and parsed (a gateway reads its `usage` to record the call),
//     then sent with reply.send();
//   - a stream is passed through: reply.hijack(), then undici's Pool.stream writes the upstream's
//     chunks into the response as they arrive (bench/floor.mjs's way).
// No auth, checks, routing table, usage record, metrics or logs. bench/floor.mjs (node:http, bytes
// piped, nothing parsed) is the floor of any Node proxy; this one is the floor of a Fastify gateway.
// The distance between the two is what the framework and the two parses cost before any feature.
// Prints `listening <port>` on stdout once ready.

import Fastify from 'fastify';
import { Pool } from 'undici';

const port = Number(process.argv[2] ?? process.env.FLOOR_PORT ?? process.env.PORT ?? 0);
const upstream = process.argv[3] ?? process.env.FLOOR_UPSTREAM ?? process.env.OPENAI_BASE_URL;
if (!upstream) {
  process.stderr.write('usage: node bench/fastify-floor.mjs <port> <upstream-origin>\n');
  process.exit(2);
}
const upstreamKey = process.env.FLOOR_UPSTREAM_KEY ?? process.env.OPENAI_API_KEY ?? 'sk-bench-upstream-key';
const base = new URL(upstream);
const prefix = base.pathname.replace(/\/$/, '');

const pool = new Pool(base.origin, {
  connections: null, // unbounded, like the proxy's dispatcher and bench/floor.mjs
  pipelining: 1,
  keepAliveTimeout: 60_000,
  keepAliveMaxTimeout: 120_000,
});
const authorization = `Bearer ${upstreamKey}`;

const app = Fastify({ logger: false, keepAliveTimeout: 120_000 });

app.get('/health', async () => ({ status: 'ok' }));

function upstreamRequest(body) {
  return {
    path: `${prefix}/chat/completions`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), authorization },
    body,
  };
}

app.post('/v1/chat/completions', async (request, reply) => {
  const body = JSON.stringify(request.body);
  if (request.body?.stream === true) {
    // Passed through as bench/floor.mjs does: undici writes the upstream's chunks into the response.
    reply.hijack();
    const res = reply.raw;
    await new Promise((resolve) => {
      pool.stream(upstreamRequest(body), ({ statusCode, headers }) => {
        res.writeHead(statusCode, { 'content-type': headers['content-type'] ?? 'text/event-stream', 'cache-control': 'no-cache' });
        return res;
      }, (err) => {
        if (err) res.destroy(err);
        resolve();
      });
    });
    return reply;
  }
  const answer = await pool.request(upstreamRequest(body));
  const text = await answer.body.text();
  // Read as a gateway reads it for its usage record; the bytes go back unchanged.
  const parsed = JSON.parse(text);
  if (parsed.usage !== undefined && typeof parsed.usage.total_tokens !== 'number') throw new Error('usage without total_tokens');
  return reply.code(answer.statusCode).header('content-type', answer.headers['content-type'] ?? 'application/json').send(text);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by bench/run.mjs with BENCH_WATCH_STDIN=1: exit when the driver goes away, even if it was SIGKILLed.
if (process.env.BENCH_WATCH_STDIN === '1') {
  process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
}

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`listening ${app.server.address().port}\n`);
