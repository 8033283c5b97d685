// RELIABILITY §4a#3, "RSS flat": bodies over the cap are refused with 413 while they arrive, and
// refusing them holds no memory past the answer. The proxy runs as its own process (`node
// dist/src/main.js`), so its resident set (/proc/<pid>/status) is not mixed with this test's own
// buffers. 88 rounds' worth of 11 MiB uploads (about 1 GiB) must leave the process where the first
// rounds left it: a leak of even 1 MiB per refused upload would show as 64 MiB here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY } from '../support/gateway-harness.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { assertError, assertRequestId, call, hasWholeResponse, parseRawResponse, rawExchange } from '../support/reliability-support.js';

const MiB = 1024 * 1024;
const PARALLEL = 8;

/** The process's resident set now and at its peak, in MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

describe('§4a#3 refused uploads leave the resident set flat', { skip: process.platform === 'linux' ? false : 'reads /proc/<pid>/status' }, () => {
  let proxy: GatewayProcess;
  const head = (framing: string) => `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n${framing}\r\n`;
  const piece = Buffer.alloc(64 * 1024, 'a');
  const frame = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
  const chunked: Array<string | Buffer> = [head('Transfer-Encoding: chunked\r\n'), '1\r\n{\r\n'];
  const declared: Array<string | Buffer> = [head(`Content-Length: ${11 * MiB}\r\n`)];
  for (let sent = 0; sent < 11 * MiB; sent += piece.length) {
    chunked.push(frame);
    declared.push(piece);
  }

  before(async () => {
    // No upstream is ever called: every request here is refused before routing. (Level info: the
    // harness waits for the 'listening' line.)
    proxy = await startGatewayProcess({ LLM_PROXY_API_KEYS: CLIENT_KEY, OPENAI_API_KEY: 'sk-unused-0000000000000000', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', LLM_PROXY_LOG_LEVEL: 'info' }, '');
  });
  after(async () => {
    await proxy.cleanup();
  });

  async function round(pieces: Array<string | Buffer>): Promise<void> {
    const exchanges = await Promise.all(Array.from({ length: PARALLEL }, () => rawExchange(proxy.url, pieces, { timeoutMs: 15_000, until: hasWholeResponse })));
    for (const exchange of exchanges) assertError(parseRawResponse(exchange.text), { status: 413, code: 'request_too_large', param: null });
  }

  test(`${PARALLEL} parallel 11 MiB uploads, chunked and by Content-Length, round after round: 413 each, and the resident set stops growing`, { timeout: 180_000 }, async () => {
    const pid = proxy.child.pid as number;
    const start = memory(pid);
    // The first rounds grow the heap and the socket buffers to their working size.
    for (const pieces of [chunked, declared]) await round(pieces);
    const warmed = memory(pid);
    for (let index = 0; index < 8; index++) await round(index % 2 === 0 ? chunked : declared);
    const end = memory(pid);
    const report = `start ${start.rss.toFixed(0)} MiB, after warm-up ${warmed.rss.toFixed(0)}, after 8 more rounds ${end.rss.toFixed(0)}, peak ${end.peak.toFixed(0)}`;
    assert.ok(end.rss - warmed.rss < 48, `the resident set grew with the refused uploads: ${report}`);
    // Never near the bodies' own size (8 × 11 MiB per round, 880 MiB in all): they are not held whole.
    assert.ok(end.peak - start.rss < 192, `the peak is not flat: ${report}`);
    const served = await call(proxy.url, { method: 'GET', path: '/v1/models', headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(served.status, 200, served.body);
    assertRequestId(served.headers);
  });
});
