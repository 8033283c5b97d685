// server.trust_proxy over real HTTP. Off (the default), a client's own X-Forwarded-For and
// X-Forwarded-Proto change nothing: no way out of the sign-in limit or the auth-failure lockout, no
// Secure cookie. With the balancer (here 127.0.0.1) trusted, each forwarded client address has its
// own limits, a client cannot pick one by prepending to the header, and forwarded https gives Secure.
// The dashboard's same-origin check follows the balancer's X-Forwarded-Host only when it is trusted.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MASTER_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';
import { send, type Answer } from '../support/gateway-process.js';

/** The dashboard allows 30 sign-in attempts a minute per address (src/http/routes/ui.ts). */
const SIGN_INS_PER_MINUTE = 30;
const FAILURES_PER_MINUTE = 5;
const SECURE_COOKIE = /^llmp_ui=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/;

/** A suite around one gateway started with LLM_PROXY_TRUST_PROXY=`trust` (unset: the default). */
function describeTrusting(title: string, trust: string | undefined, tests: (gateway: () => Gateway) => void): void {
  describe(title, () => {
    let gateway: Gateway | undefined;
    before(async () => {
      gateway = await startGateway(
        { LLM_PROXY_RPM: '0', ...(trust === undefined ? {} : { LLM_PROXY_TRUST_PROXY: trust }) },
        { configure: (config) => void (config.auth.max_failures_per_minute = FAILURES_PER_MINUTE) },
      );
    });
    after(() => gateway?.close());
    tests(() => gateway as Gateway);
  });
}

function signIn(gateway: Gateway, masterKey: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ master_key: masterKey }) });
}

function models(gateway: Gateway, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${key}`, ...headers } });
}

/**
 * A browser's sign-in from https://llm.example.com as a balancer passes it on: Host rewritten to
 * the upstream's (nginx's default `$proxy_host`), the page's host in X-Forwarded-Host. `from` is
 * the connection's source address (another loopback address: a peer the gateway does not trust).
 */
function signInThroughBalancer(gateway: Gateway, headers: Record<string, string | undefined>, from?: string): Promise<Answer> {
  const forwarded = { host: new URL(gateway.url).host, 'x-forwarded-host': 'llm.example.com', 'x-forwarded-proto': 'https', origin: 'https://llm.example.com' };
  // A header given as undefined is not sent.
  const sent = Object.entries({ ...forwarded, ...headers }).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return send(gateway.url, '/ui/session', {
    headers: { 'content-type': 'application/json', ...Object.fromEntries(sent) },
    body: JSON.stringify({ master_key: MASTER_KEY }),
    ...(from === undefined ? {} : { localAddress: from }),
  });
}

function errorCode(answer: Answer): unknown {
  return (JSON.parse(answer.body) as { error?: { code?: unknown } }).error?.code;
}

/** Wrong sign-ins until one is refused; returns how many were answered 401 before it. */
async function signInsUntilRefused(gateway: Gateway, forwardedFor: (attempt: number) => string): Promise<number> {
  for (let attempt = 0; attempt <= SIGN_INS_PER_MINUTE; attempt++) {
    const response = await signIn(gateway, 'sk-guess-guess-guess-guess', { 'x-forwarded-for': forwardedFor(attempt) });
    await response.body?.cancel();
    if (response.status === 429) return attempt;
    assert.equal(response.status, 401);
  }
  return Number.POSITIVE_INFINITY;
}

/** Wrong keys until the lockout answers; returns how many were answered 401 before it. */
async function failuresUntilLocked(gateway: Gateway, forwardedFor: (attempt: number) => string): Promise<number> {
  for (let attempt = 0; attempt <= FAILURES_PER_MINUTE; attempt++) {
    const response = await models(gateway, `sk-wrong-${attempt}`, { 'x-forwarded-for': forwardedFor(attempt) });
    await response.body?.cancel();
    if (response.status === 429) return attempt;
    assert.equal(response.status, 401);
  }
  return Number.POSITIVE_INFINITY;
}

describeTrusting('trust_proxy off (default): forwarded headers from a client are ignored', undefined, (current) => {
  test('X-Forwarded-Proto: https does not make the cookie Secure', async () => {
    const gateway = current();
    const response = await signIn(gateway, MASTER_KEY, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.1' });
    assert.equal(response.status, 201);
    assert.doesNotMatch(response.headers.get('set-cookie') ?? '', /Secure/);
  });

  test('a new X-Forwarded-For on every attempt does not escape the sign-in limit', async () => {
    const gateway = current();
    // One attempt was spent by the sign-in above, from the same socket address.
    assert.equal(await signInsUntilRefused(gateway, (attempt) => `198.51.100.${attempt + 1}`), SIGN_INS_PER_MINUTE - 1);
  });

  test('nor the auth-failure lockout', async () => {
    const gateway = current();
    assert.equal(await failuresUntilLocked(gateway, (attempt) => `198.51.100.${attempt + 1}`), FAILURES_PER_MINUTE);
  });

  test("sign-in: a client's own X-Forwarded-Host does not make another site's page same-origin", async () => {
    const gateway = current();
    // From another address: the sign-in limit of 127.0.0.1 is used up above.
    const spoofed = await signInThroughBalancer(gateway, {}, '127.0.0.2');
    assert.equal(spoofed.status, 403, spoofed.body);
    assert.equal(errorCode(spoofed), 'cross_origin');
    const evil = await signInThroughBalancer(gateway, { host: 'llm.example.com', 'x-forwarded-host': 'evil.example', origin: 'https://evil.example' }, '127.0.0.2');
    assert.equal(evil.status, 403, evil.body);
    // As before: a balancer that keeps Host (`proxy_set_header Host $host`) and ends TLS, untrusted.
    const kept = await signInThroughBalancer(gateway, { host: 'llm.example.com' }, '127.0.0.2');
    assert.equal(kept.status, 201, kept.body);
  });
});

describeTrusting('trust_proxy: 127.0.0.1 (the balancer): each forwarded client is its own address', '127.0.0.1', (current) => {
  test('X-Forwarded-Proto: https makes the session cookie Secure, and its clearing too', async () => {
    const gateway = current();
    const response = await signIn(gateway, MASTER_KEY, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.1' });
    assert.equal(response.status, 201);
    const setCookie = response.headers.get('set-cookie') ?? '';
    assert.match(setCookie, SECURE_COOKIE);
    const { csrf_token: csrf } = (await response.json()) as { csrf_token: string };
    const out = await fetch(`${gateway.url}/ui/session`, {
      method: 'DELETE',
      headers: { cookie: setCookie.split(';')[0] ?? '', 'x-llm-proxy-csrf': csrf, 'x-forwarded-proto': 'https' },
    });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie') ?? '', /^llmp_ui=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0; Secure$/);
    // Plain http through the balancer: no Secure, or the browser would never send the cookie back.
    const plain = await signIn(gateway, MASTER_KEY, { 'x-forwarded-proto': 'http', 'x-forwarded-for': '203.0.113.1' });
    assert.doesNotMatch(plain.headers.get('set-cookie') ?? '', /Secure/);
  });

  test('one client using up its sign-in attempts leaves the others theirs', async () => {
    const gateway = current();
    assert.equal(await signInsUntilRefused(gateway, () => '203.0.113.2'), SIGN_INS_PER_MINUTE);
    assert.equal((await signIn(gateway, MASTER_KEY, { 'x-forwarded-for': '203.0.113.2' })).status, 429);
    assert.equal((await signIn(gateway, MASTER_KEY, { 'x-forwarded-for': '203.0.113.3' })).status, 201);
    // The operator on the balancer's own address (no forwarded header) is not locked out either.
    assert.equal((await signIn(gateway, MASTER_KEY)).status, 201);
  });

  test('the client address is the one the balancer appended: what a client prepends is not believed', async () => {
    const gateway = current();
    assert.equal(await failuresUntilLocked(gateway, (attempt) => `198.51.100.${attempt + 1}, 203.0.113.4`), FAILURES_PER_MINUTE);
    const other = await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '203.0.113.5' });
    assert.equal(other.status, 401);
  });

  test('an IPv6 client is counted by its /64: a new address in it for every attempt escapes neither the lockout nor the sign-in limit', async () => {
    const gateway = current();
    assert.equal(await failuresUntilLocked(gateway, (attempt) => `2001:db8:1:2::${attempt + 1}`), FAILURES_PER_MINUTE);
    assert.equal((await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '2001:db8:1:2:ffff::9' })).status, 429);
    // The next /64 is another client.
    assert.equal((await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '2001:db8:1:3::1' })).status, 401);
    assert.equal(await signInsUntilRefused(gateway, (attempt) => `2001:db8:5:6:${(attempt + 1).toString(16)}::1`), SIGN_INS_PER_MINUTE);
    assert.equal((await signIn(gateway, MASTER_KEY, { 'x-forwarded-for': '2001:db8:5:7::1' })).status, 201);
  });

  test('an IPv4-mapped IPv6 address counts as its IPv4 address', async () => {
    const gateway = current();
    assert.equal(await failuresUntilLocked(gateway, (attempt) => (attempt % 2 === 0 ? '203.0.113.9' : '::ffff:203.0.113.9')), FAILURES_PER_MINUTE);
    assert.equal((await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '::ffff:203.0.113.10' })).status, 401);
  });

  test('sign-in through a balancer that rewrites Host: the page is compared with X-Forwarded-Host and -Proto', async () => {
    const gateway = current();
    const through = (headers: Record<string, string | undefined>) => signInThroughBalancer(gateway, { 'x-forwarded-for': '203.0.113.8', ...headers });
    const signedIn = await through({});
    assert.equal(signedIn.status, 201, signedIn.body);
    assert.match(String(signedIn.headers['set-cookie']), SECURE_COOKIE);
    // The last X-Forwarded-Host is the one the trusted balancer wrote.
    assert.equal((await through({ 'x-forwarded-host': 'evil.example, llm.example.com' })).status, 201);
    for (const headers of [
      { origin: 'https://evil.example' },
      { 'x-forwarded-host': 'llm.example.com, evil.example' },
      { origin: 'https://llm.example.com:8443' },
      // An http page on the same host may not sign in to the https one.
      { origin: 'http://llm.example.com' },
      { origin: 'null' },
    ]) {
      const refused = await through(headers);
      assert.equal(refused.status, 403, JSON.stringify(headers));
      assert.equal(errorCode(refused), 'cross_origin');
    }
    // Without X-Forwarded-Host, Host is the page's host as before.
    const kept = await through({ host: 'llm.example.com', 'x-forwarded-host': undefined });
    assert.equal(kept.status, 201, kept.body);
  });
});

describeTrusting('trust_proxy: a hop count', '1', (current) => {
  test('trusts the nearest hop: its X-Forwarded-Proto, and the address it appended', async () => {
    const gateway = current();
    assert.match((await signIn(gateway, MASTER_KEY, { 'x-forwarded-proto': 'https' })).headers.get('set-cookie') ?? '', SECURE_COOKIE);
    assert.equal(await failuresUntilLocked(gateway, (attempt) => `198.51.100.${attempt + 1}, 203.0.113.6`), FAILURES_PER_MINUTE);
    assert.equal((await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '203.0.113.7' })).status, 401);
  });
});

describeTrusting('trust_proxy naming other addresses', '10.0.0.0/8, fd00::/8', (current) => {
  test('a peer outside the list is not believed', async () => {
    const gateway = current();
    assert.doesNotMatch((await signIn(gateway, MASTER_KEY, { 'x-forwarded-proto': 'https' })).headers.get('set-cookie') ?? '', /Secure/);
    assert.equal(await failuresUntilLocked(gateway, (attempt) => `198.51.100.${attempt + 1}`), FAILURES_PER_MINUTE);
    const spoofed = await signInThroughBalancer(gateway, {});
    assert.equal(spoofed.status, 403, spoofed.body);
  });
});

/** Whether this host can listen on IPv6 loopback (containers without IPv6 cannot). */
const IPV6_LOOPBACK = await new Promise<boolean>((resolve) => {
  const server = createServer();
  server.once('error', () => resolve(false));
  server.listen(0, '::1', () => server.close(() => resolve(true)));
});

describe('over IPv6 loopback, the balancer on ::1: the peer and the clients it forwards are counted by their /64', { skip: IPV6_LOOPBACK ? false : 'IPv6 loopback (::1) is unavailable on this host' }, () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({ LLM_PROXY_RPM: '0', LLM_PROXY_TRUST_PROXY: 'loopback' }, { host: '::1', configure: (config) => void (config.auth.max_failures_per_minute = FAILURES_PER_MINUTE) });
  });
  after(() => gateway.close());

  test('failures from ::1 itself and from ::2 and ::3 forwarded by it share one limit', async () => {
    assert.match(gateway.url, /^http:\/\/\[::1\]:\d+$/);
    // ::1 three times, then ::2 and ::3: five failures in one /64 (0:0:0:0::/64).
    for (const forwarded of [undefined, undefined, undefined, '::2', '::3']) {
      const response = await models(gateway, 'sk-wrong', forwarded === undefined ? {} : { 'x-forwarded-for': forwarded });
      assert.equal(response.status, 401, forwarded);
    }
    assert.equal((await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '::4' })).status, 429);
    assert.equal((await models(gateway, 'sk-wrong-other')).status, 429);
    assert.equal((await models(gateway, 'sk-wrong-other', { 'x-forwarded-for': '2001:db8:9::1' })).status, 401);
  });
});
