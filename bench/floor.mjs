// The pass-through floor for `npm run bench` (see bench/run.mjs): the fastest any Node proxy can be.
//
//   node bench/floor.mjs <port> <upstream-origin>     (or FLOOR_PORT / FLOOR_UPSTREAM)
//   e.g. node bench/floor.mjs 0 http://127.0.0.1:4010
//
// A node:http server plus one keep-alive undici Pool to the upstream. Every request's body is
// buffered and forwarded (same method and path, upstream key swapped in), and the upstream's status,
// content-type and bytes are streamed straight back (SSE chunks are passed through as they arrive).
// No auth, parsing, translation, logging or accounting: whatever the real proxy costs above this is
// its own overhead. Prints `listening <port>` on stdout once ready.

import http from 'node:http';
import { Pool } from 'undici';

const port = Number(process.argv[2] ?? process.env.FLOOR_PORT ?? 0);
const upstream = process.argv[3] ?? process.env.FLOOR_UPSTREAM;
if (!upstream) {
  process.stderr.write('usage: node bench/floor.mjs <port> <upstream-origin>\n');
  process.exit(2);
}
const upstreamKey = process.env.FLOOR_UPSTREAM_KEY ?? 'sk-bench-upstream-key';
const origin = new URL(upstream).origin;

const pool = new Pool(origin, {
  connections: null, // unbounded, like the proxy's dispatcher: one per concurrent request
  pipelining: 1,
  keepAliveTimeout: 60_000,
  keepAliveMaxTimeout: 120_000,
});

const upstreamHeaders = (len) => ({
  'content-type': 'application/json',
  'content-length': String(len),
  authorization: `Bearer ${upstreamKey}`,
});

function fail(res, err) {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body = JSON.stringify({ error: { message: `floor: upstream error: ${err?.message ?? err}`, type: 'upstream_error' } });
  res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    pool.stream(
      { path: req.url, method: req.method, headers: upstreamHeaders(body.length), body: body.length ? body : null },
      ({ statusCode, headers }) => {
        const out = { 'content-type': headers['content-type'] ?? 'application/octet-stream' };
        if (headers['content-length'] !== undefined) out['content-length'] = headers['content-length'];
        if (headers['cache-control'] !== undefined) out['cache-control'] = headers['cache-control'];
        res.writeHead(statusCode, out);
        return res; // undici writes the upstream body chunks straight into the response
      },
      (err) => { if (err) fail(res, err); },
    );
  });
});

server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by bench/run.mjs with BENCH_WATCH_STDIN=1: exit when the driver goes away, even if it was SIGKILLed.
if (process.env.BENCH_WATCH_STDIN === '1') {
  process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
}
