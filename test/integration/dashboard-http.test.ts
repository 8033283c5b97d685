// The dashboard's server side over plain HTTP (issue #10), so it is checked even where no browser
// is installed: the page and its files (local, typed, revalidated, under a strict CSP) and the
// sign-in session (cookie flags, CSRF header, cross-site refusals, sign-out, sign-in limit).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONTENT_SECURITY_POLICY, loadAssets } from '../../src/http/routes/ui.js';
import { CLIENT_KEY, MASTER_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

const CSRF = 'x-llm-proxy-csrf';

describe('dashboard over HTTP', () => {
  let gateway: Gateway;
  let base: string;

  before(async () => {
    gateway = await startGateway({ LLM_PROXY_RPM: '0' });
    base = gateway.url;
  });
  after(async () => {
    await gateway.close();
  });

  function signIn(masterKey: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ master_key: masterKey }) });
  }

  async function session(): Promise<{ cookie: string; csrf: string }> {
    const response = await signIn(MASTER_KEY);
    assert.equal(response.status, 201);
    const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    return { cookie, csrf: ((await response.json()) as { csrf_token: string }).csrf_token };
  }

  test('the page and its files carry a strict CSP, come from the package and are revalidated', async () => {
    const response = await fetch(`${base}/ui`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(response.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.match(CONTENT_SECURITY_POLICY, /(?:^|; )script-src 'self';/);
    assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    const html = await response.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    assert.ok(sources.includes('/ui/app.js') && sources.includes('/ui/vendor/uplot.js'), sources.join(' '));
    for (const source of sources) {
      if (source.startsWith('#')) continue;
      assert.ok(source.startsWith('/ui/'), `asset ${source} is not local`);
      const asset = await fetch(`${base}${source}`);
      assert.equal(asset.status, 200, source);
      assert.match(asset.headers.get('content-type') ?? '', source.endsWith('.js') ? /^text\/javascript/ : source.endsWith('.css') ? /^text\/css/ : /^image\/svg/);
      assert.equal(asset.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      const etag = asset.headers.get('etag');
      assert.ok(etag !== null);
      assert.equal(asset.headers.get('cache-control'), 'no-cache');
      assert.equal((await fetch(`${base}${source}`, { headers: { 'if-none-match': etag } })).status, 304);
    }
    // The scripts the page imports are served too (app.js imports the views).
    const app = await (await fetch(`${base}/ui/app.js`)).text();
    for (const [, name] of app.matchAll(/from '\.\/([a-z-]+\.js)'/g)) assert.equal((await fetch(`${base}/ui/${name}`)).status, 200, name);
    assert.ok(!/\son[a-z]+=/i.test(html) && !/<script>/.test(html) && !/style=/.test(html), 'no inline script, handler or style');
    // Only the fixed table of files: nothing else on disk is reachable.
    for (const path of ['/ui/..%2Fpackage.json', '/ui/..%2F..%2Fpackage.json', '/ui/nothing.js', '/ui/src/app.ts', '/ui/index.html%00']) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
  });

  test('without built files the page says how to build it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'llm-proxy-ui-'));
    try {
      const { assets, missing } = loadAssets(empty);
      assert.equal(assets.has('/ui'), false);
      assert.ok(missing.some((file) => file.endsWith('app.js')));
      // The chart library resolves from node_modules wherever the page files are.
      assert.ok(assets.has('/ui/vendor/uplot.js'));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('sign-in: only the master key, only from this origin; the cookie is HttpOnly and SameSite=Strict', async () => {
    const wrong = await signIn('sk-not-the-master-key-at-all');
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'invalid_master_key');
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal((await signIn(CLIENT_KEY)).status, 401, 'a client key is not the master key');
    assert.equal((await signIn(MASTER_KEY, { origin: 'https://evil.example' })).status, 403);
    assert.equal((await signIn(MASTER_KEY, { 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal((await fetch(`${base}/ui/session`, { method: 'POST', body: '[]' })).status, 400);

    const response = await signIn(MASTER_KEY, { origin: base });
    assert.equal(response.status, 201);
    assert.match(response.headers.get('set-cookie') ?? '', /^llmp_ui=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    const body = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['csrf_token', 'expires_at', 'object']);
    assert.ok(!JSON.stringify(body).includes(MASTER_KEY));
  });

  test('the cookie opens the API only with its CSRF header, and never when a key is presented', async () => {
    const { cookie, csrf } = await session();
    const other = await session();
    const call = (path: string, headers: Record<string, string>) => fetch(`${base}${path}`, { headers });
    const alone = await call('/admin/keys', { cookie });
    assert.equal(alone.status, 401, 'cookie alone: what a cross-site form sends');
    // The refusal says what a cookie needs, not only what a key is; the same for a session that is gone.
    const hint = /dashboard session is unknown or expired, or its "X-LLM-Proxy-CSRF" header is missing or wrong/;
    assert.match(((await alone.json()) as { error: { message: string } }).error.message, hint);
    const gone = await call('/admin/keys', { cookie: `llmp_ui=${'A'.repeat(43)}`, [CSRF]: csrf });
    assert.match(((await gone.json()) as { error: { message: string } }).error.message, hint);
    const keyed = await call('/admin/keys', { cookie, authorization: 'Bearer sk-wrong' });
    assert.match(((await keyed.json()) as { error: { message: string } }).error.message, /^Missing or invalid API key/, 'a key presented is judged alone');
    assert.equal((await call('/admin/keys', { cookie, [CSRF]: other.csrf })).status, 401, "another session's token");
    assert.equal((await call('/admin/keys', { [CSRF]: csrf })).status, 401, 'token alone');
    assert.equal((await call('/admin/keys', { cookie, [CSRF]: csrf, 'sec-fetch-site': 'cross-site' })).status, 401);
    assert.equal((await call('/admin/keys', { cookie, [CSRF]: csrf, authorization: 'Bearer sk-wrong' })).status, 401);
    assert.equal((await call('/admin/keys', { cookie, [CSRF]: csrf, authorization: `Bearer ${CLIENT_KEY}` })).status, 403, 'the key decides');
    assert.equal((await call('/admin/keys', { cookie, [CSRF]: csrf })).status, 200);
    assert.equal((await call('/admin/usage/summary', { cookie, [CSRF]: csrf, 'sec-fetch-site': 'same-origin' })).status, 200);
    assert.equal((await call('/v1/models', { cookie, [CSRF]: csrf })).status, 200, 'the playground calls client routes as the master key');
    // A reloaded page reads its token back with the cookie; only this origin can read the answer.
    const read = await call('/ui/session', { cookie });
    const again = (await read.json()) as { csrf_token: string };
    assert.equal(again.csrf_token, csrf);
    const signedOut = await call('/ui/session', {});
    assert.equal(signedOut.status, 401);
    // Like every /ui answer, both carry the page's security headers.
    for (const answer of [read, signedOut]) {
      assert.equal(answer.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(answer.headers.get('x-frame-options'), 'DENY');
    }
  });

  test('sign-out needs the CSRF header, ends the session on the server and clears the cookie', async () => {
    const { cookie, csrf } = await session();
    const remove = (headers: Record<string, string>) => fetch(`${base}/ui/session`, { method: 'DELETE', headers });
    assert.equal((await remove({ cookie })).status, 401, 'another site cannot sign the operator out');
    const out = await remove({ cookie, [CSRF]: csrf });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie') ?? '', /^llmp_ui=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
    assert.equal((await fetch(`${base}/admin/keys`, { headers: { cookie, [CSRF]: csrf } })).status, 401);
    assert.equal((await fetch(`${base}/ui/session`, { headers: { cookie } })).status, 401);
  });

  test('sign-in attempts are limited per address', async () => {
    let limited: Response | undefined;
    for (let attempt = 0; attempt < 40 && limited === undefined; attempt++) {
      const response = await signIn('sk-guess-guess-guess-guess');
      if (response.status === 429) limited = response;
      else assert.equal(response.status, 401);
    }
    assert.ok(limited !== undefined, 'never limited');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    // The limit holds for the right key too, until the minute is over.
    assert.equal((await signIn(MASTER_KEY)).status, 429);
  });
});
