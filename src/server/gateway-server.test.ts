// GatewayServer across config reloads and shutdown: a retired generation must become garbage once
// its last request has ended (or every reload keeps a whole app for good), and a drain must answer
// what reaches a connection it had already accepted instead of resetting it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { startFakeOpenAi } from '../../test/support/fake-openai.js';
import { loadConfig } from '../config/config-loader.js';
import type { Config } from '../config/config-schema.js';
import { masterKeyFile } from '../keys/master-key-bootstrap.js';
import { GatewayServer, masterKeySetup } from './gateway-server.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

test('a retired generation is collected after a reload: nothing of it stays reachable from the next one', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const env = { LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_API_KEYS: 'sk-test-client-key-0123456789', LLM_PROXY_LOG_LEVEL: 'error' };
  const gateway = await GatewayServer.create(loadConfig(env).config, undefined);
  try {
    await gateway.listen(0, '127.0.0.1');
    const retired: WeakRef<object>[] = [];
    for (let reload = 0; reload < 3; reload++) {
      retired.push(new WeakRef(gateway.app.app));
      const outcome = await gateway.reload({ config: loadConfig(env).config, restartRequired: [] });
      assert.equal(outcome.reloaded, true);
    }
    // Closing a retired generation (app.close(), then its services) takes a few ticks.
    for (let attempt = 0; attempt < 50 && retired.some((reference) => reference.deref() !== undefined); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      collectGarbage();
    }
    assert.deepEqual(
      retired.map((reference) => reference.deref() === undefined),
      [true, true, true],
    );
  } finally {
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

const CLIENT_KEY = 'sk-test-client-key-0123456789';
const UPSTREAM_KEY = 'sk-test-upstream-key-0123456789';

async function startServer(directory: string, env: Record<string, string> = {}, server: Partial<Config['server']> = {}): Promise<{ gateway: GatewayServer; port: number }> {
  const config = loadConfig({ LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_API_KEYS: CLIENT_KEY, LLM_PROXY_LOG_LEVEL: 'error', ...env }).config;
  Object.assign(config.server, server);
  const gateway = await GatewayServer.create(config, undefined);
  await gateway.listen(0, '127.0.0.1');
  return { gateway, port: (gateway.listener.address() as AddressInfo).port };
}

/** A connection that has had one answer and is kept alive; `text()` is what arrived on it after that. */
async function keptAlive(port: number): Promise<{ socket: Socket; text: () => string }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n');
  while (!text.includes('"status":"alive"')) await once(socket, 'data');
  text = '';
  return { socket, text: () => text };
}

test('a request sent on an idle kept-alive connection just as the drain starts gets 503 with Connection: close, not a reset', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const { gateway, port } = await startServer(directory);
  const { socket, text } = await keptAlive(port);
  try {
    const closed = once(socket, 'close');
    const shutdown = gateway.shutdown(5_000);
    socket.write(`GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n\r\n`);
    await closed;
    assert.match(text(), /^HTTP\/1\.1 503 /);
    assert.match(text(), /\r\nconnection: close\r\n/i);
    assert.match(text(), /"code":"server_shutting_down"/);
    assert.equal((await shutdown).drained, true);
  } finally {
    socket.destroy();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('an answer that began before the drain and ends during it says Connection: close, so its client does not reuse the connection', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
  const { gateway, port } = await startServer(directory, { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1` });
  try {
    fake.enqueue({ kind: 'delay-headers', ms: 300 });
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      const request = httpRequest({ port, host: '127.0.0.1', method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', connection: 'keep-alive' } }, resolve);
      request.on('error', reject);
      request.end(body);
    });
    while (fake.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const shutdown = gateway.shutdown(5_000);
    const response = await answered;
    response.resume();
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers.connection, 'close');
    assert.equal((await shutdown).drained, true);
  } finally {
    await gateway.shutdown(1000);
    await fake.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test("a shutdown does not wait for the start-up read of a provider's model list", async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  // A provider whose list endpoint never answers: the read would hold the upstream pool for its 15 s timeout.
  let listRequests = 0;
  const hanging = createServer(() => listRequests++);
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const { gateway } = await startServer(directory, { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/v1` });
  try {
    while (listRequests === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const started = Date.now();
    assert.equal((await gateway.shutdown(5_000)).drained, true);
    assert.ok(Date.now() - started < 2_000, `the shutdown took ${Date.now() - started} ms`);
  } finally {
    hanging.closeAllConnections();
    hanging.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test("a shutdown clears node's connection-check interval and emits the listener's 'close' once", async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const { gateway } = await startServer(directory);
  try {
    const server = gateway.listener;
    let closes = 0;
    server.on('close', () => closes++);
    // node:http's own timer (headers/request timeouts), set when the server listens; only its
    // close() clears it, so a process that stops a GatewayServer and goes on kept it.
    const symbol = Object.getOwnPropertySymbols(server).find((candidate) => candidate.description === 'http.server.connectionsCheckingInterval');
    assert.ok(symbol !== undefined, 'node:http keeps its connection-check interval under this symbol');
    const interval = (server as unknown as Record<symbol, { _destroyed: boolean }>)[symbol];
    assert.equal(interval?._destroyed, false);
    await gateway.shutdown(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(interval?._destroyed, true);
    assert.equal(closes, 1);
    assert.ok(!Object.hasOwn(server, 'closeIdleConnections'));
  } finally {
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('requests pipelined behind an answer in flight when the drain starts are answered, the last one with Connection: close', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
  const { gateway, port } = await startServer(directory, { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1` });
  const socket = connect(port, '127.0.0.1');
  try {
    fake.enqueue({ kind: 'delay-headers', ms: 300 });
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = once(socket, 'close');
    const models = `GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n\r\n`;
    // The second request is read (and answered, into Node's queue) before the drain, the third during it.
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}${models}`);
    while (fake.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const shutdown = gateway.shutdown(5_000);
    socket.write(models);
    await closed;
    const answers = text.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.deepEqual(
      answers.map((answer) => answer.slice(9, 12)),
      ['200', '200', '503'],
      text,
    );
    // Only the last answer closes the connection: one that did before would drop those queued behind it.
    assert.deepEqual(
      answers.map((answer) => /\r\nconnection: close\r\n/i.test(answer)),
      [false, false, true],
    );
    assert.equal((await shutdown).drained, true);
  } finally {
    socket.destroy();
    await gateway.shutdown(1000);
    await fake.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test("connections waiting in the kernel's accept queue when the drain starts are accepted and answered 503, not reset", async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const { gateway, port } = await startServer(directory);
  // A worker thread connects (the handshake is the kernel's) while this thread is blocked, so none
  // of the connections has been accepted when the drain starts; then it sends a request on each.
  const connected = new Int32Array(new SharedArrayBuffer(4));
  const client = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
    const { connect } = require('node:net');
    const { port, connected, key } = workerData;
    let opened = 0;
    const answers = [];
    const sockets = Array.from({ length: 5 }, () => connect(port, '127.0.0.1', () => {
      if (++opened === 5) { Atomics.store(connected, 0, 1); Atomics.notify(connected, 0); }
    }));
    Promise.all(sockets.map((socket) => new Promise((resolve) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('error', (error) => (text += 'error ' + error.code));
      socket.on('close', () => resolve(text));
      socket.write('GET /v1/models HTTP/1.1\\r\\nHost: localhost\\r\\nAuthorization: Bearer ' + key + '\\r\\n\\r\\n');
    }))).then((texts) => parentPort.postMessage(texts));`,
    { eval: true, workerData: { port, connected, key: CLIENT_KEY } },
  );
  try {
    Atomics.wait(connected, 0, 0, 5_000);
    const shutdown = gateway.shutdown(5_000);
    const [answers] = (await once(client, 'message')) as [string[]];
    assert.equal(answers.length, 5);
    for (const text of answers) {
      assert.match(text, /^HTTP\/1\.1 503 /, text);
      assert.match(text, /\r\nconnection: close\r\n/i);
    }
    assert.equal((await shutdown).drained, true);
  } finally {
    await client.terminate();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

/** One GET on a connection of its own: status, `Connection` header and body. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ port, host: '127.0.0.1', path, headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

test('during the shutdown delay: not ready, but new connections are accepted and served (Connection: close); then the listener closes', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const { gateway, port } = await startServer(directory);
  // A kept-alive connection from before the signal: its next answer during the delay is served and closes it.
  const { socket: kept, text } = await keptAlive(port);
  try {
    const keptClosed = once(kept, 'close');
    const started = performance.now();
    // Long enough for the requests below on a loaded machine; the 200s and the open listener after
    // them prove they were served in the delay (after it, new connections are refused and a request
    // on a kept-alive one is answered 503).
    const delayMs = 2_000;
    const shutdown = gateway.shutdown(5_000, delayMs);
    const ready = await get(port, '/health/ready');
    assert.deepEqual([ready.status, JSON.parse(ready.body)], [503, { status: 'shutting_down' }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const models = await get(port, '/v1/models', { authorization: `Bearer ${CLIENT_KEY}` });
    assert.equal(models.status, 200, models.body);
    assert.equal(models.connection, 'close');
    kept.write(`GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n\r\n`);
    await keptClosed;
    assert.match(text(), /^HTTP\/1\.1 200 /);
    assert.match(text(), /\r\nconnection: close\r\n/i);
    assert.equal(gateway.listener.listening, true, 'these were answered within the delay');
    assert.equal((await shutdown).drained, true);
    assert.ok(performance.now() - started >= delayMs, 'the listener stayed open for the whole delay');
    await assert.rejects(get(port, '/health/live'), /ECONNREFUSED/);
  } finally {
    kept.destroy();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('during the drain, a connection whose headers are still incomplete is closed after headers_timeout_s, not held until the deadline', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const { gateway, port } = await startServer(directory, {}, { headers_timeout_s: 0.3 });
  const slow = connect(port, '127.0.0.1');
  try {
    let text = '';
    slow.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = once(slow, 'close');
    // Headers begun before the signal, never finished (slowloris).
    slow.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n');
    await once(slow, 'connect');
    // A deadline far past headers_timeout_s: held until it, the connection would still be open at
    // the race's end, and closed by it, it would get no 408.
    const shutdown = gateway.shutdown(30_000);
    const outcome = await Promise.race([closed.then(() => 'closed' as const), sleep(10_000, 'open' as const, { ref: false })]);
    assert.equal(outcome, 'closed', 'still open 10 s into the drain');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.equal((await shutdown).drained, true);
  } finally {
    slow.destroy();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('during the drain, a connection that never sent a byte is closed with the idle ones, not held until headers_timeout_s', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  // The default 10 s headers timeout: the sweep, not the timeout, must close it.
  const { gateway, port } = await startServer(directory);
  const unused = connect(port, '127.0.0.1');
  unused.on('error', () => undefined);
  try {
    const closed = once(unused, 'close');
    await once(unused, 'connect');
    const started = performance.now();
    const shutdown = gateway.shutdown(20_000);
    const outcome = await Promise.race([closed.then(() => 'closed' as const), sleep(5_000, 'open' as const, { ref: false })]);
    assert.equal(outcome, 'closed', 'still open 5 s into the drain');
    // It gets the idle connections' grace (IDLE_GRACE_MS, 1 s) first: a request on its way would get 503.
    const took = performance.now() - started;
    // No upper bound beyond the race's 5 s (half the headers timeout): on a loaded machine the sweep can run late.
    assert.ok(took >= 900, `closed after ${Math.round(took)} ms`);
    assert.equal((await shutdown).drained, true);
  } finally {
    unused.destroy();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a stop during a reload turns readiness false at once, and the generation the reload brings in is not ready either', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const { gateway, port } = await startServer(directory);
  try {
    const env = { LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_API_KEYS: CLIENT_KEY, LLM_PROXY_LOG_LEVEL: 'error' };
    const before = gateway.app.app;
    const reloading = gateway.reload({ config: loadConfig(env).config, restartRequired: [] });
    const shutdown = gateway.shutdown(5_000, 400);
    // Asked while the reload still builds its generation: the stop has begun, so not ready.
    const during = await get(port, '/health/ready');
    assert.deepEqual([during.status, JSON.parse(during.body)], [503, { status: 'shutting_down' }]);
    assert.equal((await reloading).reloaded, true);
    assert.notEqual(gateway.app.app, before, 'the reload swapped in its generation');
    const after = await get(port, '/health/ready');
    assert.deepEqual([after.status, JSON.parse(after.body)], [503, { status: 'shutting_down' }]);
    assert.equal((await shutdown).drained, true);
  } finally {
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a reload whose new generation fails to build leaves the old master key in effect, and the next good reload still sees the change', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const env = { LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_LOG_LEVEL: 'error' };
  // No key configured: the master key is generated and only its hash kept beside the database.
  const first = masterKeySetup(loadConfig(env).config);
  const oldKey = first.generated?.key as string;
  const shown: string[] = [];
  const gateway = await GatewayServer.create(loadConfig(env).config, first.digest, { onGeneratedKey: (key) => shown.push(key) });
  try {
    await gateway.listen(0, '127.0.0.1');
    const port = (gateway.listener.address() as AddressInfo).port;
    const adminStatus = async (key: string) => (await fetch(`http://127.0.0.1:${port}/admin/keys`, { headers: { authorization: `Bearer ${key}` } })).status;
    assert.equal(await adminStatus(oldKey), 200);
    gateway.shared.uiSessions.create(gateway.app.services.keys.masterTag as string);
    // The operator deletes the stored hash to rotate the generated key, and reloads a config whose
    // build fails (here a section missing, as no loaded config can be: only a build fault is left).
    rmSync(masterKeyFile(env.LLM_PROXY_DB));
    const broken = { ...loadConfig(env).config, limits: undefined } as unknown as Config;
    assert.equal((await gateway.reload({ config: broken, restartRequired: [] })).reloaded, false);
    const newKey = shown[0] as string;
    assert.equal(await adminStatus(oldKey), 200, 'the old master key serves on');
    assert.equal(await adminStatus(newKey), 401);
    assert.equal(gateway.shared.uiSessions.size, 1, 'nothing changed: the dashboard session lives');
    // The good reload brings in the new key: the old one, and the sessions signed in with it, end.
    assert.equal((await gateway.reload({ config: loadConfig(env).config, restartRequired: [] })).reloaded, true);
    assert.equal(await adminStatus(newKey), 200);
    assert.equal(await adminStatus(oldKey), 401);
    assert.equal(gateway.shared.uiSessions.size, 0, 'the sessions of the old master key ended');
  } finally {
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a dashboard sign-in with the old master key whose body arrives after the key changed gets no working session', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const oldKey = 'sk-old-master-key-0123456789abcdefghijkl';
  const newKey = 'sk-new-master-key-0123456789abcdefghijkl';
  const env = (master: string) => ({ LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_MASTER_KEY: master, LLM_PROXY_LOG_LEVEL: 'error' });
  const gateway = await GatewayServer.create(loadConfig(env(oldKey)).config, undefined);
  let socket: Socket | undefined;
  try {
    await gateway.listen(0, '127.0.0.1');
    const port = (gateway.listener.address() as AddressInfo).port;
    // Someone holding the old (leaked) key starts a sign-in and holds back the body's last byte
    // until the operator has rotated the key: the request already belongs to the old generation.
    const body = JSON.stringify({ master_key: oldKey });
    socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(`POST /ui/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`);
    await sleep(100);
    assert.equal((await gateway.reload({ config: loadConfig(env(newKey)).config, restartRequired: [] })).reloaded, true);
    socket.end(body.slice(-1));
    await once(socket, 'close');
    const answer = Buffer.concat(chunks).toString('utf8');
    // Refused, or a session that opens nothing.
    assert.match(answer, /^HTTP\/1\.1 (?:201|401) /);
    const cookie = /set-cookie: (llmp_ui=[^;]+)/i.exec(answer)?.[1];
    const csrf = /"csrf_token":"([^"]+)"/.exec(answer)?.[1];
    if (cookie !== undefined && csrf !== undefined) {
      const keys = await fetch(`http://127.0.0.1:${port}/admin/keys`, { headers: { cookie, 'x-llm-proxy-csrf': csrf } });
      assert.equal(keys.status, 401, 'a session signed in with the old master key acts as the new one');
      assert.equal((await fetch(`http://127.0.0.1:${port}/ui/session`, { headers: { cookie } })).status, 401);
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/admin/keys`, { headers: { authorization: `Bearer ${newKey}` } })).status, 200);
  } finally {
    socket?.destroy();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('an admin request with the old master key whose body arrives after the key changed is refused', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const oldKey = 'sk-old-master-key-0123456789abcdefghijkl';
  const newKey = 'sk-new-master-key-0123456789abcdefghijkl';
  const env = (master: string) => ({ LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_MASTER_KEY: master, LLM_PROXY_LOG_LEVEL: 'error' });
  const gateway = await GatewayServer.create(loadConfig(env(oldKey)).config, undefined);
  let socket: Socket | undefined;
  try {
    await gateway.listen(0, '127.0.0.1');
    const port = (gateway.listener.address() as AddressInfo).port;
    // The key is checked when the headers arrive; the body, and so the handler, can wait until the
    // operator has rotated the leaked key. A virtual key made then would outlive the rotation.
    const body = JSON.stringify({ name: 'kept after rotation' });
    socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(
      `POST /admin/keys HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${oldKey}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`,
    );
    await sleep(100);
    assert.equal((await gateway.reload({ config: loadConfig(env(newKey)).config, restartRequired: [] })).reloaded, true);
    socket.end(body.slice(-1));
    await once(socket, 'close');
    const answer = Buffer.concat(chunks).toString('utf8');
    assert.match(answer, /^HTTP\/1\.1 401 /, answer.slice(0, 300));
    const listed = await fetch(`http://127.0.0.1:${port}/admin/keys`, { headers: { authorization: `Bearer ${newKey}` } });
    assert.deepEqual(((await listed.json()) as { keys: unknown[] }).keys, []);
  } finally {
    socket?.destroy();
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('POST /admin/reload during the shutdown delay is a 503 server_shutting_down (the config is not at fault), not a 400 invalid_config', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const master = 'sk-test-master-key-0123456789abcdef';
  const { gateway, port } = await startServer(directory, { LLM_PROXY_MASTER_KEY: master });
  try {
    // The delay keeps the listener serving while the server is already stopping.
    const shutdown = gateway.shutdown(5_000, 2_000);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/admin/reload', headers: { authorization: `Bearer ${master}` } }, (response: IncomingMessage) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.end();
    });
    assert.equal(answer.status, 503, answer.body);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'server_shutting_down');
    assert.equal((await shutdown).drained, true);
  } finally {
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});
