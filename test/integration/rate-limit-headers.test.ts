// Which X-RateLimit-* headers an answer carries, per the limits its key has: the request family
// (under CONTRACT.md's bare names and OpenAI's `-requests` names, whose reset is OpenAI's duration)
// when the key has a request limit, the `-tokens` family when it has a token limit and the route
// counts tokens. CONTRACT.md pins the bare three on every authenticated answer: a key with no
// request limit gets them as 0 (no limit, as 0 means in the configuration), and no `-requests` names.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat, createKey, type JsonResponse } from '../support/key-support.js';
import { durationMs } from '../support/rate-limit-timing.js';

const REQUEST_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset', 'x-ratelimit-reset-requests'];
const TOKEN_HEADERS = ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'];
/** CONTRACT.md's three, on every authenticated answer. */
const BARE_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

/** The bare three of a key with no request limit: 0 each. */
function assertNoRequestLimit(response: JsonResponse): void {
  for (const name of BARE_HEADERS) assert.equal(response.headers.get(name), '0', name);
}

function limitHeaders(response: JsonResponse): string[] {
  return [...response.headers.keys()].filter((name) => name.startsWith('x-ratelimit-')).sort();
}

describe('rate-limit headers per the key\'s limits', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1` });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('requests and tokens: both families on chat, the request family elsewhere, the -requests names equal to the bare ones', async () => {
    const { key } = await createKey(gateway.url, { rpm_limit: 5, tpm_limit: 1_000 });
    const answered = await chat(gateway.url, key, { max_tokens: 50 });
    assert.equal(answered.status, 200, answered.text);
    assert.deepEqual(limitHeaders(answered), [...REQUEST_HEADERS, ...TOKEN_HEADERS].sort());
    for (const [bare, named] of [['limit', 'limit-requests'], ['remaining', 'remaining-requests']]) {
      assert.equal(answered.headers.get(`x-ratelimit-${named}`), answered.headers.get(`x-ratelimit-${bare}`), named);
    }
    // The same reset: whole seconds under the bare name, OpenAI's duration under its own.
    const reset = Number(answered.headers.get('x-ratelimit-reset'));
    assert.ok(Number.isInteger(reset) && reset > 0, String(reset));
    assert.equal(Math.ceil(durationMs(answered.headers.get('x-ratelimit-reset-requests')) / 1000), reset);
    assert.ok(durationMs(answered.headers.get('x-ratelimit-reset-tokens')) > 0);
    assert.equal(answered.headers.get('x-ratelimit-limit-requests'), '5');
    assert.equal(answered.headers.get('x-ratelimit-remaining-requests'), '4');
    assert.equal(answered.headers.get('x-ratelimit-limit-tokens'), '1000');
    assert.deepEqual(limitHeaders(await callJson(gateway.url, 'GET', '/v1/models', key)), REQUEST_HEADERS);
    const refused = await chat(gateway.url, key, { max_tokens: 990 });
    assert.equal(refused.status, 429, refused.text);
    assert.deepEqual(limitHeaders(refused), [...REQUEST_HEADERS, ...TOKEN_HEADERS].sort());
  });

  test('tokens only: the -tokens family where tokens are counted, the bare three as 0 everywhere, no -requests names', async () => {
    const { key } = await createKey(gateway.url, { rpm_limit: 0, tpm_limit: 1_000 });
    const withTokens = [...BARE_HEADERS, ...TOKEN_HEADERS].sort();
    const answered = await chat(gateway.url, key, { max_tokens: 50 });
    assert.equal(answered.status, 200, answered.text);
    assert.deepEqual(limitHeaders(answered), withTokens);
    assertNoRequestLimit(answered);
    const streamed = await chat(gateway.url, key, { max_tokens: 50, stream: true });
    assert.equal(streamed.status, 200, streamed.text);
    assert.deepEqual(limitHeaders(streamed), withTokens);
    const refused = await chat(gateway.url, key, { max_tokens: 990 });
    assert.equal(refused.status, 429, refused.text);
    assert.deepEqual(limitHeaders(refused), withTokens);
    assertNoRequestLimit(refused);
    upstream.enqueue({ kind: 'status', status: 400, body: JSON.stringify({ error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } }) });
    const failed = await chat(gateway.url, key, { max_tokens: 50 });
    assert.equal(failed.status, 400, failed.text);
    assert.deepEqual(limitHeaders(failed), withTokens);
    // No token count: a model list, a request refused before its tokens are.
    assert.deepEqual(limitHeaders(await callJson(gateway.url, 'GET', '/v1/models', key)), BARE_HEADERS);
    assert.deepEqual(limitHeaders(await chat(gateway.url, key, { model: 'no-such-model' })), BARE_HEADERS);
  });

  test('requests only: the request family on every route, no -tokens headers', async () => {
    const { key } = await createKey(gateway.url, { rpm_limit: 5, tpm_limit: 0 });
    assert.deepEqual(limitHeaders(await chat(gateway.url, key, { max_tokens: 50 })), REQUEST_HEADERS);
    assert.deepEqual(limitHeaders(await callJson(gateway.url, 'GET', '/v1/models', key)), REQUEST_HEADERS);
  });

  test('a key refused a master-only route still gets the request family, and the refusal counts against its limit (CONTRACT: every authenticated answer)', async () => {
    const { key } = await createKey(gateway.url, { rpm_limit: 2, tpm_limit: 0 });
    const refused = await callJson(gateway.url, 'GET', '/admin/keys', key);
    assert.equal(refused.status, 403, refused.text);
    assert.deepEqual(limitHeaders(refused), REQUEST_HEADERS);
    assert.equal(refused.headers.get('x-ratelimit-remaining'), '1');
    assert.equal((await callJson(gateway.url, 'POST', '/admin/keys', key, {})).status, 403);
    const over = await callJson(gateway.url, 'GET', '/admin/keys', key);
    assert.equal(over.status, 429, over.text);
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
  });

  test('no limit: the bare three as 0 (CONTRACT: every authenticated answer), a master-only refusal too', async () => {
    const { key } = await createKey(gateway.url, { rpm_limit: 0, tpm_limit: 0 });
    const answered = await chat(gateway.url, key, { max_tokens: 50 });
    assert.equal(answered.status, 200, answered.text);
    assert.deepEqual(limitHeaders(answered), BARE_HEADERS);
    assertNoRequestLimit(answered);
    const refused = await callJson(gateway.url, 'GET', '/admin/keys', key);
    assert.equal(refused.status, 403, refused.text);
    assert.deepEqual(limitHeaders(refused), BARE_HEADERS);
    assertNoRequestLimit(refused);
  });
});

// The master key sets no limit of its own, so LLM_PROXY_RPM (CONTRACT.md: keys that set none) counts
// it like any such key, on every route it opens, with the dashboard's sessions (signed in with it) in
// the same count; a client key's count is its own.
describe('the master key under LLM_PROXY_RPM', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '4' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('counted with its dashboard sessions against the default limit, on chat and admin routes alike; a client key keeps its own count', async () => {
    const signedIn = await fetch(`${gateway.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ master_key: MASTER_KEY }) });
    assert.equal(signedIn.status, 201);
    const session = {
      cookie: (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
      'x-llm-proxy-csrf': ((await signedIn.json()) as { csrf_token: string }).csrf_token,
    };
    const answered = await chat(gateway.url, MASTER_KEY, { max_tokens: 20 });
    assert.equal(answered.status, 200, answered.text);
    assert.equal(answered.headers.get('x-ratelimit-limit'), '4');
    assert.equal(answered.headers.get('x-ratelimit-remaining'), '3');
    assert.equal((await callJson(gateway.url, 'GET', '/admin/keys', MASTER_KEY)).status, 200);
    const bySession = await fetch(`${gateway.url}/admin/keys`, { headers: session });
    assert.equal(bySession.status, 200);
    assert.equal(bySession.headers.get('x-ratelimit-remaining'), '1');
    assert.equal((await callJson(gateway.url, 'GET', '/v1/models', MASTER_KEY)).status, 200);
    const over = await callJson(gateway.url, 'GET', '/admin/keys', MASTER_KEY);
    assert.equal(over.status, 429, over.text);
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    assert.equal((await fetch(`${gateway.url}/admin/keys`, { headers: session })).status, 429);
    const client = await chat(gateway.url, CLIENT_KEY, { max_tokens: 20 });
    assert.equal(client.status, 200, client.text);
    assert.equal(client.headers.get('x-ratelimit-remaining'), '3');
  });
});
