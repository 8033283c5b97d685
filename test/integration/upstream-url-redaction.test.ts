// RELIABILITY §4d#8: no upstream URL reaches a client. Provider error text (a JSON error body, an
// error event mid-stream, on /v1/chat/completions and /v1/messages) loses its URLs and keeps the
// rest; the errors the proxy writes itself for transport failures never name the configured host.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { freePort } from '../support/gateway-process.js';
import { assertError, call, chat, chatCalls, JSON_AUTH, post, splitSse, startStack, withStack, type Stack } from '../support/reliability-support.js';

/** A message naming the upstream by URL, with a key in its query string, as some hosts write. */
function leaky(base: string): string {
  return `No deployment at ${base}/v1/chat/completions?key=abc, see wss://${new URL(base).host}/status.`;
}

function assertNoUpstream(text: string, base: string): void {
  const { host } = new URL(base);
  assert.ok(!text.includes(host), `the upstream host ${host} leaked: ${text}`);
  assert.ok(!/(?:https?|wss?):\/\//i.test(text), `a URL leaked: ${text}`);
  assert.ok(!text.includes('key=abc'), text);
}

describe('RELIABILITY §4d#8 upstream URLs in errors', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ yaml: 'routing:\n  retries: 0\n' });
  });
  after(async () => {
    await stack.close();
  });

  test('an upstream error body: the URL goes, the rest of the message stays (chat and /v1/messages)', async () => {
    const body = JSON.stringify({ error: { message: leaky(stack.fake.url), type: 'invalid_request_error', param: null, code: null } });
    stack.fake.enqueue({ kind: 'status', status: 404, body });
    const res = await post(stack.url, chat());
    assert.equal(res.status, 404, res.body);
    assertNoUpstream(res.body, stack.fake.url);
    const error = (JSON.parse(res.body) as { error: { message: string } }).error;
    assert.match(error.message, /No deployment at \[url\], see \[url\]\./);

    stack.fake.enqueue({ kind: 'status', status: 404, body });
    const messages = await call(stack.url, { path: '/v1/messages', headers: JSON_AUTH, body: JSON.stringify({ model: 'gpt-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(messages.status, 404, messages.body);
    assertNoUpstream(messages.body, stack.fake.url);
    assert.match(messages.body, /No deployment at \[url\]/);
  });

  test('host addresses without a scheme go too; model names, times and versions in the same message stay', async () => {
    const message = "model 'llama3:8b' not served by 10.0.0.5:8080, internal-llm.corp.local:8443 or [fd00::1]:443 since 10:30 (v1.2.3, gpt-4o:latest)";
    const expected = "model 'llama3:8b' not served by [host], [host] or [host] since 10:30 (v1.2.3, gpt-4o:latest)";
    const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } });
    stack.fake.enqueue({ kind: 'status', status: 404, body });
    const res = await post(stack.url, chat());
    assert.equal(res.status, 404, res.body);
    assert.equal((JSON.parse(res.body) as { error: { message: string } }).error.message, `The provider 'openai' answered not found: ${expected}`);

    stack.fake.enqueue({ kind: 'error-event', chunks: 2, message });
    const streamed = await post(stack.url, chat({ stream: true }));
    assert.equal(streamed.status, 200, streamed.body);
    const events = splitSse(streamed.body).data.filter((data) => data.includes('"error"'));
    assert.equal(events.length, 1, streamed.body);
    assert.ok(events[0]?.includes(expected), events[0]);
  });

  test('a stream that fails mid-way with an error event: the event keeps the message without the URL', async () => {
    for (const path of ['/v1/chat/completions', '/v1/messages']) {
      const from = stack.fake.requests.length;
      stack.fake.enqueue({ kind: 'error-event', chunks: 3, message: leaky(stack.fake.url) });
      const body = path === '/v1/messages' ? JSON.stringify({ model: 'gpt-4', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] }) : chat({ stream: true });
      const res = await call(stack.url, { path, headers: JSON_AUTH, body });
      assert.equal(res.status, 200, res.body);
      assert.equal(chatCalls(stack.fake, from), 1);
      assertNoUpstream(res.body, stack.fake.url);
      const events = splitSse(res.body).data.filter((data) => data.includes('"error"'));
      assert.equal(events.length, 1, res.body);
      assert.match(events[0] ?? '', /No deployment at \[url\], see \[url\]\./);
    }
  });

  test('transport failures (connection refused, unknown host, timeout) never name the configured host', async () => {
    // A port bound and released: nothing listens there.
    const port = await freePort();
    for (const base of [`http://127.0.0.1:${port}`, 'http://upstream-host.invalid:9911']) {
      // The name is not loopback: plain http to it needs the provider's opt-in (the SSRF guard).
      await withStack({ yaml: 'routing:\n  retries: 0\n  connect_timeout_s: 2\n', env: { OPENAI_BASE_URL: `${base}/v1`, LLM_PROXY_PRIVATE_UPSTREAMS: 'openai' } }, async ({ url }) => {
        for (const stream of [false, true]) {
          const res = await post(url, chat({ stream }));
          assert.ok(res.status >= 500, res.body);
          assertNoUpstream(res.body, base);
        }
      });
    }
    await withStack({ yaml: 'routing:\n  ttfb_timeout_s: 0.2\n  retries: 0\n' }, async ({ fake, url }) => {
      fake.enqueue({ kind: 'delay-headers', ms: 2500 });
      const res = await post(url, chat({ stream: true }));
      assertError(res, { status: 504, code: 'upstream_timeout' });
      assertNoUpstream(res.body, fake.url);
    });
  });
});

describe('RELIABILITY §4d#8 Anthropic upstream (native /v1/messages)', () => {
  let anthropic: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    anthropic = await startFakeAnthropic();
    gateway = await startGateway({ ANTHROPIC_API_KEY: 'sk-ant-upstream-key-0000', ANTHROPIC_BASE_URL: anthropic.url, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway?.close();
    await anthropic?.close();
  });

  test('an Anthropic error body loses its URL on /v1/messages and on chat', async () => {
    const body = { type: 'error', error: { type: 'not_found_error', message: leaky(anthropic.url) } };
    const request = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    anthropic.enqueue({ kind: 'error', status: 404, body });
    const native = await call(gateway.url, { path: '/v1/messages', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(request) });
    assert.equal(native.status, 404, native.body);
    assertNoUpstream(native.body, anthropic.url);
    assert.match(native.body, /No deployment at \[url\]/);

    anthropic.enqueue({ kind: 'error', status: 404, body });
    const translated = await call(gateway.url, { headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(request) });
    assert.equal(translated.status, 404, translated.body);
    assertNoUpstream(translated.body, anthropic.url);
    assert.match(translated.body, /No deployment at \[url\]/);
  });
});

describe('RELIABILITY §4d#8 the configured host named bare in an error', () => {
  // A public-looking name (no internal suffix, no port), so only the configured-host rule removes it.
  const HOST = 'llm-gateway.acme.example';
  const lookup = dns.lookup;
  let fake: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    // No test touches a resolver: the name is answered here with the fake's loopback address.
    dns.lookup = ((hostname: string, ...rest: unknown[]) => Reflect.apply(lookup, dns, [hostname === HOST ? '127.0.0.1' : hostname, ...rest])) as typeof dns.lookup;
    fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    const port = new URL(fake.url).port;
    // The name leads to loopback over plain http: the SSRF guard lets it only with the provider's opt-in.
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `http://${HOST}:${port}/v1`, LLM_PROXY_PRIVATE_UPSTREAMS: 'openai', LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await fake?.close();
    await gateway?.close();
    dns.lookup = lookup;
  });

  test('the upstream\'s error body names its own host: the client\'s message does not, and keeps the rest', async () => {
    const message = `Deployment gpt-4o-mini is not served by ${HOST} (api-version 2024-08-01); ask the admin of ${HOST.toUpperCase()}.`;
    fake.enqueue({ kind: 'status', status: 404, body: JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: null } }) });
    const res = await post(gateway.url, chat());
    assert.equal(res.status, 404, res.body);
    assert.equal(fake.requests.length, 1, 'the request went to the fake by its name');
    assert.ok(!res.body.toLowerCase().includes(HOST), res.body);
    const error = (JSON.parse(res.body) as { error: { message: string } }).error;
    assert.equal(error.message, "The provider 'openai' answered not found: Deployment gpt-4o-mini is not served by [host] (api-version 2024-08-01); ask the admin of [host].");
  });
});
