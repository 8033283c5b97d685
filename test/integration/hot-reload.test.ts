// Config reload on the real process (`node dist/src/main.js`): SIGHUP and POST /admin/reload with a
// good config (a new provider and alias serve new requests while a stream started before the
// reload finishes intact) and with a bad one (refused with the reason, the old config serves on).
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, eventually, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { openStream, send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { rawExchange } from '../support/reliability-support.js';

const SECOND_KEY = 'sk-second-upstream-key-0123456789';
const JSON_AUTH = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' };
const MASTER_AUTH = { authorization: `Bearer ${MASTER_KEY}` };
const WORDS = Array.from({ length: 12 }, (_, index) => `word${index}`).join(' ');

function chat(model: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });
}

function configWith(second: FakeOpenAi | undefined, aliases: Record<string, string>, extra = ''): string {
  const lines = ['server:', '  shutdown_timeout_s: 5', '  headers_timeout_s: 1', 'routing:', '  discovery_interval_s: 0'];
  if (second !== undefined) lines.push('providers:', `  second: { type: openai-compatible, base_url: "${second.url}/v1", api_key: ${SECOND_KEY}, models: [gpt-4o-mini] }`);
  if (Object.keys(aliases).length > 0) lines.push('aliases:', ...Object.entries(aliases).map(([alias, target]) => `  ${alias}: ${target}`));
  return `${lines.join('\n')}\n${extra}`;
}

function errorOf(body: string): { code: string; param: string | null; message: string } {
  return (JSON.parse(body) as { error: { code: string; param: string | null; message: string } }).error;
}

describe('hot reload', () => {
  let first: FakeOpenAi;
  let second: FakeOpenAi;
  let gateway: GatewayProcess;

  before(async () => {
    first = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => WORDS });
    second = await startFakeOpenAi({ apiKey: SECOND_KEY, answer: () => 'from the second provider' });
    gateway = await startGatewayProcess(
      { LLM_PROXY_API_KEYS: CLIENT_KEY, LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${first.url}/v1` },
      configWith(undefined, {}),
    );
  });

  after(async () => {
    await gateway.cleanup();
    await first.close();
    await second.close();
  });

  test('SIGHUP with a good config: a new provider and alias serve new requests; a stream begun before finishes intact', async () => {
    assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body: chat('fast') })).status, 404);
    first.enqueue({ kind: 'slow-stream', delayMs: 120 });
    const stream = openStream(gateway.url, JSON_AUTH, chat('gpt-4o-mini', { stream: true }));
    await eventually(() => stream.received().includes('data: '), 5_000);

    gateway.writeConfig(configWith(second, { fast: 'second/gpt-4o-mini' }));
    gateway.child.kill('SIGHUP');
    await gateway.waitFor('configuration reloaded');
    assert.ok(!stream.received().includes('[DONE]'), 'the stream was still running during the reload');

    const answer = await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body: chat('fast') });
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /from the second provider/);
    const chats = second.requests.filter((request) => request.path === '/v1/chat/completions');
    assert.equal(chats.length, 1);
    assert.equal(chats[0]?.headers.authorization, `Bearer ${SECOND_KEY}`);

    const text = await stream.done;
    assert.ok(text.trimEnd().endsWith('data: [DONE]'), text.slice(-300));
    const content = text
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => (JSON.parse(line.slice(6)) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta?.content ?? '')
      .join('');
    assert.equal(content, WORDS);
    // The new provider's key is hidden in the log like the old ones.
    assert.ok(!gateway.output().includes(SECOND_KEY));
  });

  test('SIGHUP with a bad config: refused with the reason in the log, the old config still serves', async () => {
    gateway.writeConfig(configWith(second, { fast: 'second/gpt-4o-mini' }, 'limits:\n  default_rpm: -5\n'));
    gateway.child.kill('SIGHUP');
    await gateway.waitFor('configuration reload refused');
    const line = gateway
      .output()
      .split('\n')
      .find((entry) => entry.includes('configuration reload refused'));
    assert.match(line ?? '', /"level":50/);
    assert.match(line ?? '', /limits\.default_rpm/);
    const answer = await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body: chat('fast') });
    assert.equal(answer.status, 200, answer.body);
    assert.equal(gateway.child.exitCode, null);
  });

  test('POST /admin/reload: master key only; a bad config is a 400 naming the field; a good one applies', async () => {
    const denied = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: JSON_AUTH.authorization } });
    assert.equal(denied.status, 403);
    assert.equal(errorOf(denied.body).code, 'master_key_required');

    gateway.writeConfig(`${configWith(second, { fast: 'second/gpt-4o-mini' })}logging:\n  level: loud\n`);
    const refused = await send(gateway.url, '/admin/reload', { method: 'POST', headers: MASTER_AUTH });
    assert.equal(refused.status, 400, refused.body);
    const error = errorOf(refused.body);
    assert.equal(error.code, 'invalid_config');
    assert.equal(error.param, 'logging.level');
    assert.match(error.message, /logging\.level/);
    assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body: chat('fast') })).status, 200);

    // A good config; the Redis prefix cannot change without a restart, and is reported.
    gateway.writeConfig(`${configWith(second, { quick: 'second/gpt-4o-mini' })}storage:\n  redis_prefix: "other:"\n`);
    const applied = await send(gateway.url, '/admin/reload', { method: 'POST', headers: MASTER_AUTH });
    assert.equal(applied.status, 200, applied.body);
    assert.deepEqual(JSON.parse(applied.body), { status: 'reloaded', restart_required: ['storage.redis_prefix'], processes: 1, warnings: [] });
    assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body: chat('quick') })).status, 200);
    assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body: chat('fast') })).status, 404);
    await gateway.waitFor('need a restart');

    // The metrics registry outlives the reloads (registered once; counts carry on).
    const scraped = await send(gateway.url, '/metrics', { headers: MASTER_AUTH });
    assert.equal(scraped.status, 200, scraped.body);
    assert.match(scraped.body, /llm_proxy_http_requests_total\{[^}]*route="\/admin\/reload"[^}]*status="400"[^}]*\} [1-9]/);
    const docs = JSON.parse((await send(gateway.url, '/openapi.json', { headers: MASTER_AUTH })).body) as { paths: Record<string, Record<string, unknown>> };
    assert.ok(docs.paths['/admin/reload']?.post !== undefined, 'POST /admin/reload is in the OpenAPI document');
  });

  test('after reloads the one listener keeps its limits: slow headers time out, a malformed request gets one JSON 400', async () => {
    const slow = await rawExchange(gateway.url, ['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'], { timeoutMs: 8_000 });
    assert.ok(slow.closedByServer, 'the slow client was cut off');
    assert.match(slow.text, /^HTTP\/1\.1 408/);
    const { text: malformed } = await rawExchange(gateway.url, ['NOT A REQUEST\r\n\r\n']);
    assert.match(malformed, /^HTTP\/1\.1 400/);
    assert.equal(malformed.split('HTTP/1.1').length - 1, 1, malformed);
    assert.match(malformed, /"error":\{/);
  });

  test('SIGTERM after reloads drains and exits 0', async () => {
    gateway.child.kill('SIGTERM');
    assert.equal(await gateway.exited, 0, gateway.output().slice(-2000));
    await gateway.waitFor('shutdown complete');
  });
});

describe('hot reload, then SIGTERM', () => {
  test('a stream still running on the previous config past the deadline ends with the error event; usage recorded; exit 0', async () => {
    const fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => WORDS });
    const config = 'server:\n  shutdown_timeout_s: 1\nrouting:\n  discovery_interval_s: 0\n';
    const gateway = await startGatewayProcess(
      { LLM_PROXY_API_KEYS: CLIENT_KEY, LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1` },
      config,
    );
    try {
      fake.enqueue({ kind: 'slow-stream', delayMs: 500 });
      const stream = openStream(gateway.url, { ...JSON_AUTH, 'x-request-id': 'old-generation-stream' }, chat('gpt-4o-mini', { stream: true }));
      await eventually(() => stream.received().includes('data: '), 5_000);
      gateway.writeConfig(`${config}aliases:\n  later: openai/gpt-4o-mini\n`);
      gateway.child.kill('SIGHUP');
      await gateway.waitFor('configuration reloaded');
      gateway.child.kill('SIGTERM');
      const text = await stream.done;
      assert.ok(!text.includes('[DONE]'));
      assert.match(text, /"code":"server_shutting_down"/);
      assert.equal(await gateway.exited, 0, gateway.output().slice(-2000));
      const db = new Database(gateway.dbPath, { readonly: true });
      try {
        const row = db.prepare('SELECT status, error_code FROM usage_records WHERE request_id = ?').get('old-generation-stream');
        assert.deepEqual(row, { status: 'incomplete', error_code: 'server_shutting_down' });
      } finally {
        db.close();
      }
    } finally {
      await gateway.cleanup();
      await fake.close();
    }
  });
});

describe('hot reload: a rotated master key ends the dashboard sessions', () => {
  const OLD_MASTER = 'old-master-key-0123456789abcdefghijklmnop';
  const NEW_MASTER = 'new-master-key-0123456789abcdefghijklmnop';
  let gateway: GatewayProcess;

  before(async () => {
    gateway = await startGatewayProcess({ LLM_PROXY_API_KEYS: CLIENT_KEY }, `auth: { master_key: ${OLD_MASTER} }\nrouting: { discovery_interval_s: 0 }\n`);
  });
  after(async () => {
    await gateway.cleanup();
  });

  async function signIn(key: string): Promise<Record<string, string>> {
    const response = await fetch(`${gateway.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ master_key: key }) });
    assert.equal(response.status, 201, await response.clone().text());
    const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    return { cookie, 'x-llm-proxy-csrf': ((await response.json()) as { csrf_token: string }).csrf_token };
  }
  const keys = async (headers: Record<string, string>) => (await fetch(`${gateway.url}/admin/keys`, { headers })).status;
  const reload = async (key: string) => send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: `Bearer ${key}` } });

  test('a reload with the same master key keeps the session; one with a new key ends it', async () => {
    const session = await signIn(OLD_MASTER);
    assert.equal(await keys(session), 200);
    assert.equal((await reload(OLD_MASTER)).status, 200);
    assert.equal(await keys(session), 200, 'an unchanged master key keeps the session');

    gateway.writeConfig(`auth: { master_key: ${NEW_MASTER} }\nrouting: { discovery_interval_s: 0 }\n`);
    assert.equal((await reload(OLD_MASTER)).status, 200);
    assert.equal(await keys(session), 401, 'the session signed in with the old key still works');
    assert.equal(await keys({ authorization: `Bearer ${OLD_MASTER}` }), 401);
    assert.equal(await keys(await signIn(NEW_MASTER)), 200);
  });
});

describe('hot reload: the response cache waits for identical requests by the serving config', () => {
  const singleFlightConfig = (ttfbS: number) => `routing:\n  discovery_interval_s: 0\n  ttfb_timeout_s: ${ttfbS}\n`;
  let fake: FakeOpenAi;
  let gateway: GatewayProcess;

  before(async () => {
    fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => WORDS });
    gateway = await startGatewayProcess(
      { LLM_PROXY_API_KEYS: CLIENT_KEY, LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_CACHE: 'memory' },
      singleFlightConfig(1),
    );
  });
  after(async () => {
    await gateway.cleanup();
    await fake.close();
  });

  const chatCalls = () => fake.requests.filter((request) => request.path === '/v1/chat/completions').length;
  const reload = async (ttfbS: number) => {
    gateway.writeConfig(singleFlightConfig(ttfbS));
    const answer = await send(gateway.url, '/admin/reload', { method: 'POST', headers: MASTER_AUTH });
    assert.equal(answer.status, 200, answer.body);
  };

  /**
   * A stream of about 2.4 s, then an identical streaming request once its first chunk is out; with
   * `reloadBetween`, a reload runs between the two. Says whether the second waited for the first.
   */
  async function identicalDuringStream(label: string, reloadBetween?: () => Promise<void>): Promise<{ cache: unknown; upstreamCalls: number }> {
    const body = chat('gpt-4o-mini', { stream: true, messages: [{ role: 'user', content: `single flight ${label}` }] });
    const calls = chatCalls();
    fake.enqueue({ kind: 'slow-stream', delayMs: 200 });
    const first = openStream(gateway.url, JSON_AUTH, body);
    await eventually(() => first.received().includes('data: '), 5_000);
    await reloadBetween?.();
    const second = await send(gateway.url, '/v1/chat/completions', { headers: JSON_AUTH, body });
    assert.equal(second.status, 200, second.body);
    assert.ok(second.body.trimEnd().endsWith('data: [DONE]'), second.body.slice(-300));
    assert.ok((await first.done).trimEnd().endsWith('data: [DONE]'));
    return { cache: second.headers['x-cache'], upstreamCalls: chatCalls() - calls };
  }

  test('a reload that changes routing.ttfb_timeout_s changes how long the next identical request waits, as a start with that config would', async () => {
    // Started with a 1 s bound: the second request stops waiting for the 2.4 s stream and calls the provider.
    assert.deepEqual(await identicalDuringStream('started at 1 s'), { cache: 'MISS', upstreamCalls: 2 });
    // Reloaded to 60 s: it waits for the whole stream and gets it replayed (the cache kept 1 s before).
    await reload(60);
    assert.deepEqual(await identicalDuringStream('reloaded to 60 s'), { cache: 'HIT', upstreamCalls: 1 });
    // A stream begun before a reload holds an identical request that arrives after it: one cache for both.
    assert.deepEqual(await identicalDuringStream('across a reload', () => reload(60)), { cache: 'HIT', upstreamCalls: 1 });
    // Back to 1 s: as before the first reload.
    await reload(1);
    assert.deepEqual(await identicalDuringStream('reloaded to 1 s'), { cache: 'MISS', upstreamCalls: 2 });
  });

  test("a model group's own timeouts.ttfb_s bounds the wait for its requests, as it bounds their calls", async () => {
    // Routing default 60 s, the group 1 s: the second request stops waiting for the 2.4 s stream.
    gateway.writeConfig(
      `${singleFlightConfig(60)}models:\n  - name: gpt-4o-mini\n    deployments: [{ provider: openai, model: gpt-4o-mini }]\n    timeouts: { ttfb_s: 1 }\n`,
    );
    const answer = await send(gateway.url, '/admin/reload', { method: 'POST', headers: MASTER_AUTH });
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(await identicalDuringStream('group at 1 s'), { cache: 'MISS', upstreamCalls: 2 });
  });
});
