// A body refused while it is still arriving (over the cap, chunked) still gets its 413: the proxy
// answers, shuts its side and drains the upload until the client closes (a lingering close), where
// closing at once with the client's bytes unread made the kernel reset the connection and the
// client lose the answer. And the bodies being read at once share one budget
// (server.body_buffer_budget_mb, src/http/body-budget.ts): an upload with no room waits, unread,
// so parallel uploads over the cap each read their 413 in turn; one that waits longer than
// server.body_buffer_wait_s gets 503, ordinary requests keep being served, and every byte charged
// is given back.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import type { BodyBudget } from '../../src/http/body-budget.js';
import { CLIENT_KEY, eventually, startGateway, type Gateway } from '../support/gateway-harness.js';
import { assertError, assertServing, call, chat, JSON_AUTH, parseRawResponse, post, startStack, type RawResponse, type Stack } from '../support/reliability-support.js';

const MiB = 1024 * 1024;
const ONE_MIB = Buffer.alloc(MiB, 0x20);
const HEAD = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n`;

/**
 * Sends a body of `sizeMb` MiB on a raw socket until an answer arrives (chunked, or with its
 * Content-Length when `declared`); resolves with its status (0: none), the raw answer, the bytes the
 * kernel took from the client and how long the socket lived. `relentless`: it keeps sending after
 * the answer (as a client that reads only once its upload is sent would), and the proxy's FIN does
 * not end its side.
 */
function upload(url: string, sizeMb: number, options: { relentless?: boolean; declared?: boolean } = {}): Promise<{ status: number; text: string; sent: number; ms: number }> {
  const { relentless = false, declared = false } = options;
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: relentless });
    let received = '';
    let written = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), text: received, sent: socket.bytesWritten, ms: Date.now() - started }));
    socket.write(`${HEAD}${declared ? `Content-Length: ${sizeMb * MiB}` : 'Transfer-Encoding: chunked'}\r\n\r\n`);
    const pump = (): void => {
      while ((relentless || received === '') && written < sizeMb && !socket.destroyed) {
        written++;
        if (!declared) socket.write(`${MiB.toString(16)}\r\n`);
        const more = socket.write(ONE_MIB);
        if (!declared) socket.write('\r\n');
        if (!more) return void socket.once('drain', pump);
      }
      if (written >= sizeMb && !socket.destroyed) socket.end(declared ? '' : '0\r\n\r\n');
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
    // A budget whose part for uploads (7/8) holds ten bodies at the cap, so no upload here waits: the 413 path alone.
    gateway = await startGateway({}, { configure: (config) => void (config.server.body_buffer_budget_mb = 120) });
  });
  after(() => gateway.close());

  test('one chunked upload over the cap reads its 413, and the connection closes soon after', async () => {
    const { status, ms } = await upload(gateway.url, 50);
    assert.equal(status, 413);
    assert.ok(ms < 5_000, `the connection lived ${ms} ms`);
  });

  test('after the answer only a bounded part of the rest is read: a client that keeps sending stalls, then is closed', async () => {
    // Drained to its end (as before), each refused upload was read at full speed for up to 2 s: 50
    // of them grew RSS by 40-65 MB with the buffers read and dropped. Now at most 32 MiB more is read.
    const { status, sent, ms } = await upload(gateway.url, 200, { relentless: true });
    assert.equal(status, 413);
    assert.ok(sent < 100 * MiB, `the proxy took ${(sent / MiB).toFixed(1)} MiB of a refused 200 MiB upload`);
    assert.ok(ms < 5_000, `the connection lived ${ms} ms`);
  });

  test('a client that sends its whole upload before it reads (as Python requests does) still reads its 413', async () => {
    // 30 MiB against the 10 MiB cap: the 20 MiB after the refusal fit what one connection may drain.
    const { status, sent } = await upload(gateway.url, 30, { relentless: true });
    assert.equal(status, 413);
    assert.ok(sent >= 30 * MiB, `only ${(sent / MiB).toFixed(1)} MiB of the 30 MiB upload left the client`);
  });

  test('ten at once all read their 413, and the proxy still serves', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => upload(gateway.url, 50)));
    assert.deepEqual(results.map((result) => result.status), Array.from({ length: 10 }, () => 413));
    const health = await fetch(`${gateway.url}/health`);
    assert.equal(health.status, 200);
  });
});

describe('parallel uploads over the cap against the default budget (10 MiB cap, 20 MiB budget)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  for (const declared of [false, true]) {
    test(`ten 11 MiB uploads at once${declared ? ' with a Content-Length' : ', chunked,'} all read an OpenAI-shaped 413, and the proxy still serves`, async () => {
      // Chunked, the budget filled with ten partial bodies before any reached the cap: one 413 and nine 503 server_busy.
      const results = await Promise.all(Array.from({ length: 10 }, () => upload(stack.url, 11, { declared })));
      for (const result of results) {
        assertError(parseRawResponse(result.text), { status: 413, code: 'request_too_large', type: 'invalid_request_error', param: null });
        assert.ok(result.ms < 5_000, `the connection lived ${result.ms} ms`);
      }
      const budget = stack.gateway.app.services.shared.bodyBudget;
      await eventually(() => budget.held === 0 && budget.waiting === 0);
      await assertServing(stack.url);
    });
  }
});

describe('the request-body budget (server.body_buffer_budget_mb, body_buffer_wait_s)', () => {
  // Cap 2 MiB, budget 4 MiB: metered (chunked or large) bodies may fill 3.5 MiB of it, the one
  // holding the most up to the cap and the others 1.5 MiB between them; the rest is kept for small bodies.
  let stack: Stack;
  let budget: BodyBudget;
  const open: Socket[] = [];
  const SPARE = 1.5 * MiB;
  const LEADER = Math.round(1.9 * MiB);
  /** A stalled chunked upload, once the budget holds all of its `bytes`. */
  async function holding(bytes: number): Promise<Socket> {
    const before = budget.held;
    const socket = stalledUpload(stack.url, bytes);
    open.push(socket);
    await eventually(() => budget.held === before + bytes, 5_000);
    return socket;
  }
  before(async () => {
    stack = await startStack({ yaml: 'server:\n  body_limit_mb: 2\n  body_buffer_budget_mb: 4\n  body_buffer_wait_s: 1\n' });
    budget = stack.gateway.app.services.shared.bodyBudget;
  });
  after(async () => {
    for (const socket of open) socket.destroy();
    await stack.close();
  });
  afterEach(async () => {
    for (const socket of open.splice(0)) socket.destroy();
    await eventually(() => budget.held === 0 && budget.waiting === 0);
  });

  test('16 parallel chunked uploads over the cap (as many as may wait) all read 413 in turn, ordinary requests are served meanwhile, and every byte is given back', async () => {
    assert.equal(budget.capacity, 4 * MiB);
    const uploads = Promise.all(Array.from({ length: 16 }, () => upload(stack.url, 8)));
    // Bodies of at most 64 KiB with a Content-Length never wait behind uploads.
    await assertServing(stack.url);
    for (const result of await uploads) {
      assert.ok(result.ms < 5_000, `the connection lived ${result.ms} ms`);
      assertError(parseRawResponse(result.text), { status: 413, code: 'request_too_large', type: 'invalid_request_error', param: null });
    }
    await assertServing(stack.url);
  });

  test('an upload with no room waits unread, and goes on to its 413 once room is given back', async () => {
    const leader = await holding(LEADER);
    await holding(SPARE - 100 * 1024);
    const waiting = upload(stack.url, 8);
    await eventually(() => budget.waiting === 1);
    // It took what was left of the others' 1.5 MiB, no more: the leader's room to the cap stays free.
    assert.ok(budget.held <= LEADER + SPARE, `held ${budget.held} bytes`);
    leader.destroy();
    const result = await waiting;
    assertError(parseRawResponse(result.text), { status: 413, code: 'request_too_large', type: 'invalid_request_error' });
  });

  test('a body with a Content-Length over 64 KiB waits its turn too, and is served', async () => {
    await holding(LEADER);
    const other = await holding(SPARE);
    // Words, on a model whose window holds them: the token estimate is not what is tested here.
    const served = post(stack.url, chat({ model: 'gpt-4o' }, 'hello world '.repeat(25_600)));
    await eventually(() => budget.waiting === 1);
    other.destroy();
    const res = await served;
    assert.equal(res.status, 200, res.body);
  });

  test('a client that leaves while its upload waits gives back every byte it held', async () => {
    const leader = await holding(LEADER);
    // 3 MiB sent: it takes the others' 1.5 MiB, less at most one read, and waits with the rest unread.
    const paused = stalledUpload(stack.url, 3 * MiB);
    open.push(paused);
    await eventually(() => budget.waiting === 1, 5_000);
    assert.ok(budget.held > LEADER + SPARE - 64 * 1024 && budget.held <= LEADER + SPARE, `held ${budget.held} bytes`);
    paused.destroy();
    await eventually(() => budget.waiting === 0 && budget.held === LEADER);
    leader.destroy();
    await eventually(() => budget.held === 0);
    // Nothing left charged: a body can again take the whole cap and read its 413 without waiting.
    const result = await upload(stack.url, 8);
    assert.equal(result.status, 413);
    assert.ok(result.ms < 1_000, `it waited: ${result.ms} ms`);
  });

  test('an upload that waits longer than body_buffer_wait_s gets 503 server_busy, and ordinary requests are served meanwhile', async () => {
    await holding(LEADER);
    await holding(SPARE);
    const refused = upload(stack.url, 8);
    await eventually(() => budget.waiting === 1);
    await assertServing(stack.url);
    const result = await refused;
    assertBusy(parseRawResponse(result.text));
    assert.ok(result.ms >= 900 && result.ms < 5_000, `answered after ${result.ms} ms`);
    assert.equal(budget.waiting, 0);
    assert.equal(budget.held, LEADER + SPARE, 'the stalled uploads still hold their bytes, the refused one nothing');
  });

  test('bodies above 64 KiB, with a Content-Length or chunked, are metered and served', async () => {
    // Words, on a model whose window holds them: the token estimate is not what is tested here.
    const large = chat({ model: 'gpt-4o' }, 'hello world '.repeat(25_600));
    const declared = await post(stack.url, large);
    assert.equal(declared.status, 200, declared.body);
    const chunked = await call(stack.url, { headers: { ...JSON_AUTH, 'transfer-encoding': 'chunked' }, body: large });
    assert.equal(chunked.status, 200, chunked.body);
  });
});

describe('the line of bodies waiting for room (at most half the budget in the reads they hold)', () => {
  // Cap 2 MiB, budget 4 MiB: at most 16 bodies wait. A wait no test reaches, so any 503 here is the line being full.
  let stack: Stack;
  let budget: BodyBudget;
  before(async () => {
    stack = await startStack({ yaml: 'server:\n  body_limit_mb: 2\n  body_buffer_budget_mb: 4\n  body_buffer_wait_s: 60\n' });
    budget = stack.gateway.app.services.shared.bodyBudget;
  });
  after(() => stack.close());

  test('80 parallel chunked uploads over the cap: past the line\'s 16 they get 503 server_busy at once, the others their 413; every byte is given back', async () => {
    assert.equal(budget.maxWaiting, 16);
    // Each waiting body holds a read or two outside the budget: 2,000 of them held ~250 MB.
    let mostWaiting = 0;
    const sampler = setInterval(() => (mostWaiting = Math.max(mostWaiting, budget.waiting)), 2);
    const results = await Promise.all(Array.from({ length: 80 }, () => upload(stack.url, 8)));
    clearInterval(sampler);
    assert.ok(mostWaiting > 0 && mostWaiting <= 16, `${mostWaiting} bodies waited at once`);
    const busy = results.filter((result) => result.status === 503);
    const tooLarge = results.filter((result) => result.status === 413);
    assert.equal(busy.length + tooLarge.length, 80, `statuses: ${results.map((result) => result.status).join(' ')}`);
    assert.ok(busy.length > 0, 'none found the line full');
    // One body reads to its cap while 16 wait, and more join the line as it moves.
    assert.ok(tooLarge.length >= 17, `only ${tooLarge.length} read their 413`);
    for (const result of busy) {
      assertBusy(parseRawResponse(result.text));
      assert.ok(result.ms < 10_000, `a 503 took ${result.ms} ms`);
    }
    for (const result of tooLarge) assertError(parseRawResponse(result.text), { status: 413, code: 'request_too_large', type: 'invalid_request_error', param: null });
    await eventually(() => budget.held === 0 && budget.waiting === 0);
    await assertServing(stack.url);
    const after = await upload(stack.url, 8);
    assert.equal(after.status, 413);
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
    const results = await Promise.all(Array.from({ length: 10 }, () => upload(gateway.url, 50)));
    assert.deepEqual(results.map((result) => result.status), Array.from({ length: 10 }, () => 413));
    const started = Date.now();
    await gateway.close();
    assert.ok(Date.now() - started < 5_000, `close took ${Date.now() - started} ms`);
  });
});
