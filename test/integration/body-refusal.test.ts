// A body refused while it is still arriving (over the cap, chunked) still gets its 413: the proxy
// answers, shuts its side and drains the upload until the client closes (a lingering close), where
// closing at once with the client's bytes unread made the kernel reset the connection and the
// client lose the answer. And the bodies being read at once share one budget
// (server.body_buffer_budget_mb, src/http/body-budget.ts): past it an upload gets a 503 the same way,
// ordinary requests keep being served, and every byte charged is given back.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { BodyBudget } from '../../src/http/body-budget.js';
import { CLIENT_KEY, eventually, startGateway, type Gateway } from '../support/gateway-harness.js';
import { assertError, assertServing, call, chat, JSON_AUTH, parseRawResponse, post, startStack, type RawResponse, type Stack } from '../support/reliability-support.js';

const MiB = 1024 * 1024;
const ONE_MIB = Buffer.alloc(MiB, 0x20);
const HEAD = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n`;

/**
 * Sends a chunked body of `sizeMb` MiB on a raw socket until an answer arrives; resolves with its
 * status (0: none), the raw answer, the bytes the kernel took from the client and how long the
 * socket lived. `relentless`: it keeps sending after the answer (as a client that reads only once
 * its upload is sent would), and the proxy's FIN does not end its side.
 */
function chunkedUpload(url: string, sizeMb: number, relentless = false): Promise<{ status: number; text: string; sent: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: relentless });
    let received = '';
    let written = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), text: received, sent: socket.bytesWritten, ms: Date.now() - started }));
    socket.write(`${HEAD}Transfer-Encoding: chunked\r\n\r\n`);
    const pump = (): void => {
      while ((relentless || received === '') && written < sizeMb && !socket.destroyed) {
        written++;
        socket.write(`${MiB.toString(16)}\r\n`);
        const more = socket.write(ONE_MIB);
        socket.write('\r\n');
        if (!more) return void socket.once('drain', pump);
      }
      if (written >= sizeMb && !socket.destroyed) socket.end('0\r\n\r\n');
    };
    pump();
  });
}

/** Starts an upload and stops after `bytes` of its body, leaving the request open: chunked, or with the Content-Length it declares. */
function stalledUpload(url: string, bytes: number, declared?: number): Socket {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => undefined);
  const body = Buffer.alloc(bytes, 0x20);
  if (declared === undefined) socket.write(`${HEAD}Transfer-Encoding: chunked\r\n\r\n${bytes.toString(16)}\r\n`);
  else socket.write(`${HEAD}Content-Length: ${declared}\r\n\r\n`);
  socket.write(body);
  return socket;
}

/** The refusal a client reads when the budget is full. */
function assertBusy(res: RawResponse): void {
  assertError(res, { status: 503, code: 'server_busy', type: 'service_unavailable_error', param: null });
  assert.equal(res.headers['retry-after'], '1');
}

describe('a body refused mid-upload', () => {
  let gateway: Gateway;
  before(async () => {
    // A budget whose part for uploads (7/8) holds ten bodies at the cap, so every upload here reaches
    // the cap: the 413 path alone.
    gateway = await startGateway({}, { configure: (config) => void (config.server.body_buffer_budget_mb = 120) });
  });
  after(() => gateway.close());

  test('one chunked upload over the cap reads its 413, and the connection closes soon after', async () => {
    const { status, ms } = await chunkedUpload(gateway.url, 50);
    assert.equal(status, 413);
    assert.ok(ms < 5_000, `the connection lived ${ms} ms`);
  });

  test('after the answer only a bounded part of the rest is read: a client that keeps sending stalls, then is closed', async () => {
    // Drained to its end (as before), each refused upload was read at full speed for up to 2 s: 50
    // of them grew RSS by 40-65 MB with the buffers read and dropped. Now at most 32 MiB more is read.
    const { status, sent, ms } = await chunkedUpload(gateway.url, 200, true);
    assert.equal(status, 413);
    assert.ok(sent < 100 * MiB, `the proxy took ${(sent / MiB).toFixed(1)} MiB of a refused 200 MiB upload`);
    assert.ok(ms < 5_000, `the connection lived ${ms} ms`);
  });

  test('a client that sends its whole upload before it reads (as Python requests does) still reads its 413', async () => {
    // 30 MiB against the 10 MiB cap: the 20 MiB after the refusal fit what one connection may drain.
    const { status, sent } = await chunkedUpload(gateway.url, 30, true);
    assert.equal(status, 413);
    assert.ok(sent >= 30 * MiB, `only ${(sent / MiB).toFixed(1)} MiB of the 30 MiB upload left the client`);
  });

  test('ten at once all read their 413, and the proxy still serves', async () => {
    // The earlier tests' refused bodies stay charged for a second; with them, these would share a fuller budget and get 503.
    await eventually(() => gateway.app.services.shared.bodyBudget.held === 0);
    const results = await Promise.all(Array.from({ length: 10 }, () => chunkedUpload(gateway.url, 50)));
    assert.deepEqual(results.map((result) => result.status), Array.from({ length: 10 }, () => 413));
    const health = await fetch(`${gateway.url}/health`);
    assert.equal(health.status, 200);
  });
});

describe('the request-body budget (server.body_buffer_budget_mb)', () => {
  // Cap 2 MiB, budget 4 MiB: chunked and large bodies may fill 3.5 MiB of it, the rest is kept for small bodies.
  let stack: Stack;
  let budget: BodyBudget;
  const open: Socket[] = [];
  before(async () => {
    stack = await startStack({ yaml: 'server:\n  body_limit_mb: 2\n  body_buffer_budget_mb: 4\n' });
    budget = stack.gateway.app.services.shared.bodyBudget;
  });
  after(async () => {
    for (const socket of open) socket.destroy();
    await stack.close();
  });

  test('parallel chunked uploads past the budget each read a 413 or a 503 server_busy, and every byte charged is given back', async () => {
    assert.equal(budget.capacity, 4 * MiB);
    const results = await Promise.all(Array.from({ length: 24 }, () => chunkedUpload(stack.url, 8)));
    for (const result of results) {
      assert.ok(result.ms < 5_000, `the connection lived ${result.ms} ms`);
      const res = parseRawResponse(result.text);
      if (res.status === 413) assertError(res, { status: 413, code: 'request_too_large', type: 'invalid_request_error' });
      else assertBusy(res);
    }
    // Unbounded, each would be read to its 2 MiB cap: 48 MiB at once for 24.
    assert.ok(results.some((result) => result.status === 503), `no upload was refused for the budget: ${results.map((result) => result.status).join(',')}`);
    await eventually(() => budget.held === 0);
    await assertServing(stack.url);
  });

  test('a refused body stays charged for a moment after its answer (its buffers are garbage, not yet freed), then is given back', async () => {
    await eventually(() => budget.held === 0);
    const refused = await chunkedUpload(stack.url, 8);
    assert.equal(refused.status, 413);
    // Given back at once, a flood's refused bytes let the other uploads go on reading into garbage.
    assert.ok(budget.held >= 2 * MiB, `held ${budget.held} bytes right after the 413`);
    await eventually(() => budget.held === 0, 3_000);
  });

  test('while stalled uploads hold the budget, a new upload gets 503 at once and ordinary requests are still served', async () => {
    // Three chunked uploads of 1.1 MiB each, stalled: 3.3 of the 3.5 MiB uploads may hold.
    const part = Math.floor(1.1 * MiB);
    for (let i = 0; i < 3; i++) open.push(stalledUpload(stack.url, part));
    await eventually(() => budget.held === 3 * part, 5_000);

    const refused = await chunkedUpload(stack.url, 8);
    assertBusy(parseRawResponse(refused.text));
    assert.ok(refused.ms < 5_000, `the connection lived ${refused.ms} ms`);
    // Small bodies use the reserve, chunked or not.
    await assertServing(stack.url);
    const smallChunked = await call(stack.url, { headers: { ...JSON_AUTH, 'transfer-encoding': 'chunked' }, body: chat() });
    assert.equal(smallChunked.status, 200, smallChunked.body);
    // The refused upload's own bytes, if it sent any before its 503, stay charged for a moment.
    await eventually(() => budget.held === 3 * part);
    assert.equal(budget.held, 3 * part, 'the stalled uploads still hold their bytes, the answered ones nothing');

    // Cut short, the stalled uploads give their bytes back when their requests close.
    for (const socket of open.splice(0)) socket.destroy();
    await eventually(() => budget.held === 0);
  });

  test('bodies above 64 KiB, with a Content-Length or chunked, are metered and served', async () => {
    // Words, on a model whose window holds them: the token estimate is not what is tested here.
    const large = chat({ model: 'gpt-4o' }, 'hello world '.repeat(25_600));
    const declared = await post(stack.url, large);
    assert.equal(declared.status, 200, declared.body);
    const chunked = await call(stack.url, { headers: { ...JSON_AUTH, 'transfer-encoding': 'chunked' }, body: large });
    assert.equal(chunked.status, 200, chunked.body);
    await eventually(() => budget.held === 0);
  });
});

describe('the request-body budget, small bodies', () => {
  // Cap 100 KiB, budget 250 KiB: four declared 60,000-byte bodies fill all but 10,000 bytes.
  let stack: Stack;
  let budget: BodyBudget;
  const open: Socket[] = [];
  before(async () => {
    stack = await startStack({ yaml: 'server:\n  body_limit_mb: 0.09765625\n  body_buffer_budget_mb: 0.244140625\n' });
    budget = stack.gateway.app.services.shared.bodyBudget;
  });
  after(async () => {
    for (const socket of open) socket.destroy();
    await stack.close();
  });

  test('a small Content-Length is charged whole before its body is read; past the budget the next one gets 503 unread', async () => {
    assert.equal(budget.capacity, 250 * 1024);
    for (let i = 0; i < 4; i++) open.push(stalledUpload(stack.url, 100, 60_000));
    // Charged for what they declared, not the 100 bytes they sent.
    await eventually(() => budget.held === 240_000, 5_000);

    // Words, on a model whose window holds them: the token estimate is not what is tested here.
    const fill = 60_000 - chat({ model: 'gpt-4o' }, '').length;
    const padded = chat({ model: 'gpt-4o' }, 'hello world '.repeat(Math.floor(fill / 12)) + '.'.repeat(fill % 12));
    assert.equal(Buffer.byteLength(padded), 60_000);
    assertBusy(await post(stack.url, padded));
    await assertServing(stack.url);

    for (const socket of open.splice(0)) socket.destroy();
    await eventually(() => budget.held === 0);
    const fits = await post(stack.url, padded);
    assert.equal(fits.status, 200, fits.body);
  });
});

describe('closing right after refused uploads', () => {
  test('the server closes: lingering connections end on their own timer, the process does not go idle before them', async () => {
    // Alone in the process (no upstream, no other gateway): if a lingering connection that stopped
    // reading were left to an unref'd timer, nothing would keep the event loop alive while close()
    // waits for it, and the process would wind down with the close (and what follows it, such as
    // the final usage flush) never finished.
    const gateway = await startGateway({}, { configure: (config) => void (config.server.body_buffer_budget_mb = 120) });
    const results = await Promise.all(Array.from({ length: 10 }, () => chunkedUpload(gateway.url, 50)));
    assert.deepEqual(results.map((result) => result.status), Array.from({ length: 10 }, () => 413));
    const started = Date.now();
    await gateway.close();
    assert.ok(Date.now() - started < 5_000, `close took ${Date.now() - started} ms`);
  });
});
