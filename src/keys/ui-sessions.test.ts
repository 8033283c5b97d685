import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CSRF_HEADER, SESSION_COOKIE, sessionCookie, UiSessionStore } from './ui-sessions.js';

/** The tag of the master key the sessions here are signed in with. */
const TAG = 'T'.repeat(22);

describe('dashboard sessions', () => {
  test('a session authenticates only with its cookie and its own CSRF token', () => {
    const store = new UiSessionStore(60_000);
    const session = store.create(TAG, 1_000);
    const other = store.create(TAG, 1_000);
    const cookie = `theme=dark; ${SESSION_COOKIE}=${session.id}`;
    assert.deepEqual(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf }, TAG, 2_000), { keyId: 'master', role: 'master' });
    assert.equal(store.authenticate({ cookie }, TAG, 2_000), undefined, 'cookie without the header (a cross-site form)');
    assert.equal(store.authenticate({ cookie, [CSRF_HEADER]: other.csrf }, TAG, 2_000), undefined, "another session's token");
    assert.equal(store.authenticate({ [CSRF_HEADER]: session.csrf }, TAG, 2_000), undefined, 'token without the cookie');
    assert.equal(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf, 'sec-fetch-site': 'cross-site' }, TAG, 2_000), undefined);
    // A request that presents a key is judged by the key, never by a cookie that rides along.
    assert.equal(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf, authorization: 'Bearer nope' }, TAG, 2_000), undefined);
    assert.equal(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf, 'x-api-key': 'nope' }, TAG, 2_000), undefined);
  });

  test('a page a browser opens (authenticatePage) takes the live cookie alone, never a cross-site request or one with a key', () => {
    const store = new UiSessionStore(60_000);
    const session = store.create(TAG, 1_000);
    const cookie = `theme=dark; ${SESSION_COOKIE}=${session.id}`;
    assert.deepEqual(store.authenticatePage({ cookie }, TAG, 2_000), { keyId: 'master', role: 'master' });
    assert.deepEqual(store.authenticatePage({ cookie, 'sec-fetch-site': 'same-origin' }, TAG, 2_000), { keyId: 'master', role: 'master' });
    assert.equal(store.authenticatePage({ cookie, 'sec-fetch-site': 'cross-site' }, TAG, 2_000), undefined);
    assert.equal(store.authenticatePage({ cookie, authorization: 'Bearer nope' }, TAG, 2_000), undefined);
    assert.equal(store.authenticatePage({ cookie, 'x-api-key': 'nope' }, TAG, 2_000), undefined);
    assert.equal(store.authenticatePage({ cookie: `${SESSION_COOKIE}=${'a'.repeat(43)}` }, TAG, 2_000), undefined, 'an unknown session');
    assert.equal(store.authenticatePage({ cookie }, TAG, 61_000), undefined, 'an expired session');
  });

  test('sessions expire, can be deleted, and are bounded in number', () => {
    const store = new UiSessionStore(60_000);
    const session = store.create(TAG, 0);
    const headers = { cookie: `${SESSION_COOKIE}=${session.id}`, [CSRF_HEADER]: session.csrf };
    assert.ok(store.verified(headers, TAG, 59_999));
    assert.equal(store.verified(headers, TAG, 60_000), undefined);
    assert.equal(store.size, 0, 'an expired session is dropped when seen');
    const again = store.create(TAG, 0);
    store.delete(again.id);
    assert.equal(store.fromCookie({ cookie: `${SESSION_COOKIE}=${again.id}` }, TAG, 1), undefined);
    for (let index = 0; index < 1_005; index++) store.create(TAG, 10);
    assert.equal(store.size, 1_000);
  });

  test('a session is honoured only while the master key it was signed in with is the master key asking', () => {
    const store = new UiSessionStore(60_000);
    const session = store.create(TAG, 1_000);
    const cookie = `${SESSION_COOKIE}=${session.id}`;
    const rotated = 'R'.repeat(22);
    assert.equal(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf }, rotated, 2_000), undefined);
    assert.equal(store.authenticatePage({ cookie }, rotated, 2_000), undefined);
    assert.equal(store.fromCookie({ cookie }, rotated, 2_000), undefined);
    assert.equal(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf }, undefined, 2_000), undefined, 'no master key at all');
    assert.deepEqual(store.authenticate({ cookie, [CSRF_HEADER]: session.csrf }, TAG, 2_000), { keyId: 'master', role: 'master' });
  });

  test('only a well-formed session id is read from the Cookie header', () => {
    const id = 'A'.repeat(43);
    assert.equal(sessionCookie(`${SESSION_COOKIE}=${id}`), id);
    assert.equal(sessionCookie(`a=b;${SESSION_COOKIE}=${id}; c=d`), id);
    assert.equal(sessionCookie(`${SESSION_COOKIE}=short`), undefined);
    assert.equal(sessionCookie(`x${SESSION_COOKIE}=${id}`), undefined);
    assert.equal(sessionCookie(undefined), undefined);
  });

  test('ids and tokens are random and distinct', () => {
    const store = new UiSessionStore();
    const seen = new Set<string>();
    for (let index = 0; index < 50; index++) {
      const session = store.create(TAG);
      assert.match(session.id, /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(session.id, session.csrf);
      seen.add(session.id).add(session.csrf);
    }
    assert.equal(seen.size, 100);
  });
});

describe('sessions made by another worker process', () => {
  test('are adopted when well-formed and live, within the same bound and lifetime', () => {
    const maker = new UiSessionStore(60_000);
    const store = new UiSessionStore(60_000);
    const session = maker.create(TAG);
    store.adopt(session);
    assert.deepEqual(store.authenticate({ cookie: `${SESSION_COOKIE}=${session.id}`, [CSRF_HEADER]: session.csrf }, TAG), { keyId: 'master', role: 'master' });
    store.adopt({ id: 'short', csrf: session.csrf, expiresAt: Date.now() + 1_000, master: TAG });
    store.adopt({ ...maker.create(TAG), expiresAt: Date.now() - 1 });
    store.adopt({ ...maker.create(TAG), expiresAt: Number.POSITIVE_INFINITY });
    store.adopt({ ...maker.create(TAG), master: 'not a tag' });
    assert.equal(store.size, 1);
    const long = { ...maker.create(TAG), expiresAt: Date.now() + 365 * 86_400_000 };
    store.adopt(long);
    assert.equal(store.fromCookie({ cookie: `${SESSION_COOKIE}=${long.id}` }, TAG, Date.now() + 61_000), undefined, 'never longer than this store would grant');
  });
});
