// Virtual keys end to end on one instance (embedded SQLite): the admin API, a virtual key used for
// chat, rate and token limits with their headers, budgets (the 100-request race), usage read back,
// and a database that goes away mid-run.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { generateVirtualKey } from '../../src/keys/virtual-keys.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { openStream } from '../support/gateway-process.js';
import { callJson, chat, createKey, errorCode, errorMessage } from '../support/key-support.js';

describe('virtual keys on one instance', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let base: string;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    base = gateway.url;
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('the admin API needs the master key: 401 without a key, 403 for client and virtual keys', async () => {
    assert.equal((await callJson(base, 'GET', '/admin/keys', undefined)).status, 401);
    const asClient = await callJson(base, 'GET', '/admin/keys', CLIENT_KEY);
    assert.equal(asClient.status, 403);
    assert.equal(errorCode(asClient), 'master_key_required');
    const { key } = await createKey(base, { name: 'not-an-admin' });
    for (const [method, path] of [['GET', '/admin/keys'], ['POST', '/admin/keys'], ['PATCH', '/admin/keys/0123456789abcdef'], ['DELETE', '/admin/keys/0123456789abcdef'], ['GET', '/admin/usage']]) {
      const response = await callJson(base, method as string, path as string, key, method === 'POST' || method === 'PATCH' ? {} : undefined);
      assert.equal(response.status, 403, `${method} ${path}`);
    }
  });

  test('a new key is shown once; lists and look-ups never hold the secret or its hash', async () => {
    const created = await createKey(base, { name: 'app', models: ['gpt-4'], rpm_limit: 10, tpm_limit: 5000, max_budget: 2.5, budget_period: 'monthly', expires_at: '2099-01-01' });
    assert.match(created.key, /^sk-gw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.ok(created.key.startsWith(`sk-gw_${created.id}_`));
    assert.equal(created.body.name, 'app');
    assert.equal(created.body.rpm_limit, 10);
    assert.equal(created.body.max_budget, 2.5);
    assert.equal(created.body.budget_period, 'monthly');
    assert.equal(created.body.expires_at, '2099-01-01T00:00:00.000Z');
    assert.equal(created.body.state, 'active');
    const secret = created.key.slice(`sk-gw_${created.id}_`.length);
    assert.equal(created.body.prefix, secret.slice(0, 4));
    const hash = createHash('sha256').update(created.key).digest('hex');

    const list = await callJson(base, 'GET', '/admin/keys', MASTER_KEY);
    assert.equal(list.status, 200);
    const listed = (list.body.keys as Array<Record<string, unknown>>).find((key) => key.id === created.id);
    assert.ok(listed !== undefined);
    assert.equal(listed.key, undefined);
    assert.equal(list.body.count, (list.body.keys as unknown[]).length);
    const one = await callJson(base, 'GET', `/admin/keys/${created.id}`, MASTER_KEY);
    assert.equal(one.status, 200);
    for (const text of [list.text, one.text]) {
      assert.ok(!text.includes(secret), 'no secret');
      assert.ok(!text.includes(secret.slice(4, 12)), 'no more than 4 characters of it');
      assert.ok(!text.includes(hash), 'no hash');
    }
    assert.ok(!gateway.logs.join('\n').includes(secret), 'no secret in the logs');
  });

  test('bad settings are 400s that name the field; unknown ids are 404', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ rpm_limit: -1 }, 'invalid_value', 'rpm_limit'],
      [{ rpm_limit: 1.5 }, 'invalid_type', 'rpm_limit'],
      [{ tpm_limit: '100' }, 'invalid_type', 'tpm_limit'],
      [{ max_budget: -5 }, 'invalid_value', 'max_budget'],
      [{ budget_period: 'yearly' }, 'invalid_value', 'budget_period'],
      [{ expires_at: 'tomorrow' }, 'invalid_value', 'expires_at'],
      [{ expires_at: '2001-01-01T00:00:00Z' }, 'invalid_value', 'expires_at'],
      [{ models: 'gpt-4' }, 'invalid_type', 'models'],
      [{ models: [''] }, 'invalid_value', 'models[0]'],
      [{ name: 42 }, 'invalid_type', 'name'],
      [{ admin: true }, 'unknown_parameter', 'admin'],
    ];
    for (const [body, code, param] of cases) {
      const response = await callJson(base, 'POST', '/admin/keys', MASTER_KEY, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(errorCode(response), code, JSON.stringify(body));
      assert.equal((response.body.error as { param: unknown }).param, param);
    }
    assert.equal((await callJson(base, 'PATCH', '/admin/keys/ffffffffffffffff', MASTER_KEY, { name: 'x' })).status, 404);
    assert.equal((await callJson(base, 'DELETE', '/admin/keys/not-an-id', MASTER_KEY)).status, 404);
    assert.equal((await callJson(base, 'GET', '/admin/keys/..%2f..%2fhealth', MASTER_KEY)).status, 404);
  });

  // README and /openapi.json (JSON Schema's maxLength counts code points) say 256 characters; the
  // handler counted UTF-16 units, so 200 emoji (400 units) were refused as too long.
  test('names and model entries are measured in characters, not UTF-16 units', async () => {
    const name = '\u{1F511}'.repeat(256);
    const model = `m-${'\u{1F680}'.repeat(254)}`;
    const created = await createKey(base, { name, models: [model] });
    assert.equal(created.body.name, name);
    assert.deepEqual(created.body.models, [model]);
    const read = await callJson(base, 'GET', `/admin/keys/${created.id}`, MASTER_KEY);
    assert.equal(read.body.name, name);
    for (const body of [{ name: `${name}x` }, { models: [`${model}x`] }]) {
      const response = await callJson(base, 'PATCH', `/admin/keys/${created.id}`, MASTER_KEY, body);
      assert.equal(response.status, 400, JSON.stringify(body).slice(0, 40));
      assert.equal(errorCode(response), 'invalid_value');
    }
  });

  // No /admin/keys route reads a query string: `?state=expired` answered every key, so a script that
  // revoked what it listed revoked the active keys too, and `DELETE …?dry_run=true` revoked.
  test('a query parameter on /admin/keys is a 400 that names it, and changes nothing', async () => {
    const { id, key } = await createKey(base, { name: 'queried' });
    const calls: Array<[string, string, Record<string, unknown> | undefined, string]> = [
      ['GET', '/admin/keys?state=expired', undefined, 'state'],
      ['GET', '/admin/keys?limit=1&offset=1', undefined, 'limit'],
      ['GET', `/admin/keys/${id}?include=secret`, undefined, 'include'],
      ['PATCH', `/admin/keys/${id}?name=renamed`, { rpm_limit: 1 }, 'name'],
      ['DELETE', `/admin/keys/${id}?dry_run=true`, undefined, 'dry_run'],
      ['POST', '/admin/keys?name=x', {}, 'name'],
    ];
    const before = (await callJson(base, 'GET', '/admin/keys', MASTER_KEY)).body.count;
    for (const [method, path, body, param] of calls) {
      const response = await callJson(base, method, path, MASTER_KEY, body);
      assert.equal(response.status, 400, `${method} ${path}: ${response.text}`);
      assert.equal(errorCode(response), 'unknown_parameter', path);
      assert.equal((response.body.error as { param: unknown }).param, param, path);
      assert.match(errorMessage(response), /takes no query parameters/, path);
    }
    const after = await callJson(base, 'GET', `/admin/keys/${id}`, MASTER_KEY);
    assert.equal(after.body.state, 'active');
    assert.equal(after.body.rpm_limit, null);
    assert.equal((await callJson(base, 'GET', '/admin/keys', MASTER_KEY)).body.count, before);
    assert.equal((await chat(base, key)).status, 200);
  });

  test('a virtual key chats, carries limit headers, and is held to its model list', async () => {
    const { id, key } = await createKey(base, { models: ['gpt-4'], rpm_limit: 50 });
    const response = await chat(base, key);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.headers.get('x-ratelimit-limit'), '50');
    assert.equal(response.headers.get('x-ratelimit-remaining'), '49');
    assert.ok(Number(response.headers.get('x-ratelimit-reset')) > 0);
    await eventually(() => gateway.usage.recent().some((record) => record.keyId === id));
    const denied = await chat(base, key, { model: 'gpt-3.5-turbo' });
    assert.equal(denied.status, 403);
    assert.equal(errorCode(denied), 'model_not_allowed');
    const models = await callJson(base, 'GET', '/v1/models', key);
    assert.deepEqual((models.body.data as Array<{ id: string }>).map((model) => model.id), ['gpt-4']);
  });

  test('unknown keys, hashes of keys and near-misses are 401', async () => {
    const { id, key } = await createKey(base);
    const hash = createHash('sha256').update(key).digest('hex');
    for (const presented of [hash, `sk-gw_${id}_${hash}`, `sk-gw_${id}_${'x'.repeat(43)}`, generateVirtualKey().key, `${key}=`]) {
      const response = await chat(base, presented);
      assert.equal(response.status, 401, presented);
      assert.equal(errorCode(response), 'invalid_api_key');
    }
  });

  test('revocation and expiry take effect at once, with a message that says which', async () => {
    const { id, key } = await createKey(base);
    assert.equal((await chat(base, key)).status, 200);
    const revoked = await callJson(base, 'DELETE', `/admin/keys/${id}`, MASTER_KEY);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.state, 'revoked');
    const refused = await chat(base, key);
    assert.equal(refused.status, 403);
    assert.equal(errorCode(refused), 'key_revoked');
    assert.match(errorMessage(refused), /revoked/);

    // A DELETE with the usual JSON Content-Type and no body (curl -H, Python requests) revokes too.
    const third = await createKey(base);
    const withType = await fetch(`${base}/admin/keys/${third.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' } });
    assert.equal(withType.status, 200, await withType.clone().text());
    assert.equal(((await withType.json()) as { state?: string }).state, 'revoked');
    assert.equal((await chat(base, third.key)).status, 403);

    const second = await createKey(base);
    assert.equal((await chat(base, second.key)).status, 200);
    assert.equal((await callJson(base, 'PATCH', `/admin/keys/${second.id}`, MASTER_KEY, { expires_at: new Date(Date.now() - 1000).toISOString() })).status, 200);
    const expired = await chat(base, second.key);
    assert.equal(expired.status, 403);
    assert.equal(errorCode(expired), 'key_expired');
    assert.match(errorMessage(expired), /expired/);
  });

  // Revocation refuses every request that comes after it; one admitted before it finishes, as
  // gateways and OpenAI do (a key is checked when a request is admitted), and is billed to the key.
  test('a key revoked while its stream is under way: the stream finishes, its usage is the key\'s, the next request is refused', async () => {
    const { id, key } = await createKey(base);
    let release = (): void => undefined;
    upstream.enqueue({ kind: 'gated-stream', chunks: 2, release: new Promise<void>((resolve) => (release = resolve)) });
    const stream = openStream(base, { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, JSON.stringify({ model: 'gpt-4', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
    await eventually(() => stream.received().includes('data: {'), 10_000);
    assert.equal((await callJson(base, 'DELETE', `/admin/keys/${id}`, MASTER_KEY)).status, 200);
    const refused = await chat(base, key);
    assert.equal(errorCode(refused), 'key_revoked');
    release();
    const text = await stream.done;
    assert.match(text, /data: \[DONE\]\s*$/);
    assert.doesNotMatch(text, /"error"/);
    // Written in batches: read until it is there.
    const deadline = Date.now() + 10_000;
    let requests: number | undefined;
    while ((requests = ((await callJson(base, 'GET', `/admin/usage?key_id=${id}`, MASTER_KEY)).body.totals as Record<string, number>).requests) !== 1 && Date.now() < deadline) await sleep(50);
    assert.equal(requests, 1);
  });

  test('PATCH changes limits at once', async () => {
    const { id, key } = await createKey(base, { rpm_limit: 100 });
    assert.equal((await chat(base, key)).headers.get('x-ratelimit-limit'), '100');
    const patched = await callJson(base, 'PATCH', `/admin/keys/${id}`, MASTER_KEY, { rpm_limit: 7, name: 'renamed' });
    assert.equal(patched.body.rpm_limit, 7);
    assert.equal(patched.body.name, 'renamed');
    assert.equal((await chat(base, key)).headers.get('x-ratelimit-limit'), '7');
  });

  test('requests per minute: the limit, then 429 with Retry-After', async () => {
    const { key } = await createKey(base, { rpm_limit: 3 });
    const remaining = [];
    for (let index = 0; index < 3; index++) {
      const response = await chat(base, key);
      assert.equal(response.status, 200);
      remaining.push(response.headers.get('x-ratelimit-remaining'));
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    const refused = await chat(base, key);
    assert.equal(refused.status, 429);
    assert.equal(errorCode(refused), 'rate_limit_exceeded');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
  });

  test('tokens per minute: reserved from the estimate, settled from the reported usage', async () => {
    const { key } = await createKey(base, { tpm_limit: 100 });
    // Asks for more than the whole limit: let through on an empty window, then settled to the ~40 used.
    const first = await chat(base, key, { max_tokens: 500 });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '100');
    const tooMuch = await chat(base, key, { max_tokens: 90 });
    assert.equal(tooMuch.status, 429);
    assert.match(errorMessage(tooMuch), /tokens per minute/);
    assert.ok(Number(tooMuch.headers.get('retry-after')) >= 1);
    // Fits only because the first reservation was settled down to what was really used.
    const small = await chat(base, key, { max_tokens: 10 });
    assert.equal(small.status, 200, small.text);
  });

  test('budget race: 100 concurrent requests against a budget that fits one admit exactly one', async () => {
    // gpt-4 is $0.03 / $0.06 per 1K: with max_tokens 100 a request may cost ~$0.0062, so $0.007 fits one,
    // and still only one once the first has settled at its real cost (~$0.0014), however slowly they arrive.
    const { id, key } = await createKey(base, { max_budget: 0.007 });
    const responses = await Promise.all(Array.from({ length: 100 }, () => chat(base, key, { max_tokens: 100 })));
    const statuses = responses.map((response) => response.status);
    assert.equal(statuses.filter((status) => status === 200).length, 1, statuses.join(','));
    assert.ok(responses.filter((response) => response.status !== 200).every((response) => errorCode(response) === 'budget_exceeded'));
    await gateway.app.services.usage.flush();
    const after = await callJson(base, 'GET', `/admin/keys/${id}`, MASTER_KEY);
    const spend = Number(after.body.spend);
    assert.ok(spend > 0 && spend < 0.005, `spend settled to the real cost: ${spend}`);
  });

  test('sequential calls whose holds exceed the budget but whose real costs do not are all admitted', async () => {
    // Each call holds ~$0.0062 (max_tokens 100) and costs ~$0.0014: 12 holds are ~$0.074, 12 real costs ~$0.017.
    // The usage rows land a second later, after the last call: finished calls must count at their real cost meanwhile.
    const { id, key } = await createKey(base, { max_budget: 0.03 });
    for (let index = 0; index < 12; index++) {
      const response = await chat(base, key, { max_tokens: 100 });
      assert.equal(response.status, 200, `call ${index}: ${response.text}`);
    }
    await gateway.app.services.usage.flush();
    const stored = await gateway.app.services.store.keys.findById(id);
    const groups = await gateway.app.services.store.analytics.summarize({ keyId: id, start: Date.now() - 3_600_000, end: Date.now() + 1 });
    assert.equal(groups.reduce((sum, group) => sum + group.requests, 0), 12);
    const rowCost = groups.reduce((sum, group) => sum + group.cost, 0);
    assert.ok(rowCost > 0 && Math.abs((stored?.spend ?? 0) - rowCost) < 1e-9, `spend ${stored?.spend} is the sum of the rows ${rowCost}`);
    assert.equal(stored?.reserved, 0);
  });

  test('a budget that is used up: 403 when it never resets, 429 until the reset when it does', async () => {
    const spent = await createKey(base, { max_budget: 0 });
    const refused = await chat(base, spent.key);
    assert.equal(refused.status, 403);
    assert.equal(errorCode(refused), 'budget_exceeded');
    assert.match(errorMessage(refused), /budget/);
    assert.equal((await callJson(base, 'GET', `/admin/keys/${spent.id}`, MASTER_KEY)).body.state, 'over_budget');

    // A periodic budget of 0 admits nothing in any period: final, not a 429 to retry at every reset.
    const zeroDaily = await createKey(base, { max_budget: 0, budget_period: 'daily' });
    const never = await chat(base, zeroDaily.key);
    assert.equal(never.status, 403);
    assert.equal(errorCode(never), 'budget_exceeded');
    assert.equal(never.headers.get('retry-after'), null);
    assert.match(errorMessage(never), /budget of \$0/);

    // As in the budget race: with max_tokens 100 one request fits $0.007, a second does not until the reset.
    const daily = await createKey(base, { max_budget: 0.007, budget_period: 'daily' });
    assert.equal((await chat(base, daily.key, { max_tokens: 100 })).status, 200);
    const windowed = await chat(base, daily.key, { max_tokens: 100 });
    assert.equal(windowed.status, 429);
    assert.equal(errorCode(windowed), 'budget_exceeded');
    assert.ok(Number(windowed.headers.get('retry-after')) >= 1);
    assert.match(errorMessage(windowed), /resets at/);
  });

  test('usage is recorded per request and read back per key, model and day', async () => {
    const { id, key } = await createKey(base);
    for (let index = 0; index < 3; index++) assert.equal((await chat(base, key)).status, 200);
    assert.equal((await chat(base, key, { stream: true })).status, 200);
    const usage = await callJson(base, 'GET', '/api/usage', key);
    assert.equal(usage.status, 200, usage.text);
    assert.equal(usage.body.key_id, id);
    const totals = usage.body.totals as Record<string, number>;
    assert.equal(totals.requests, 4);
    assert.ok((totals.prompt_tokens ?? 0) > 0 && (totals.completion_tokens ?? 0) > 0);
    assert.equal(totals.total_tokens, (totals.prompt_tokens ?? 0) + (totals.completion_tokens ?? 0));
    assert.ok((totals.cost ?? 0) > 0);
    assert.deepEqual((usage.body.by_model as Array<{ model: string; requests: number }>).map((row) => [row.model, row.requests]), [['gpt-4', 4]]);
    const today = new Date().toISOString().slice(0, 10);
    assert.deepEqual((usage.body.by_day as Array<{ date: string }>).map((row) => row.date), [today]);

    const ranged = await callJson(base, 'GET', `/api/usage?start=${today}&end=${today}`, key);
    assert.equal((ranged.body.totals as Record<string, number>).requests, 4);
    const before = await callJson(base, 'GET', '/api/usage?start=2020-01-01&end=2020-01-31', key);
    assert.equal((before.body.totals as Record<string, number>).requests, 0);
    const bad = await callJson(base, 'GET', '/api/usage?start=yesterday', key);
    assert.equal(bad.status, 400);
    assert.equal((bad.body.error as { param: unknown }).param, 'start');

    const admin = await callJson(base, 'GET', `/admin/usage?key_id=${id}`, MASTER_KEY);
    assert.equal(admin.status, 200);
    assert.equal((admin.body.totals as Record<string, number>).requests, 4);
    assert.deepEqual((admin.body.by_key as Array<{ key_id: string }>).map((row) => row.key_id), [id]);
    const everyone = await callJson(base, 'GET', '/admin/usage', MASTER_KEY);
    assert.ok((everyone.body.by_key as Array<{ key_id: string }>).length > 1);
    assert.equal((await callJson(base, 'GET', '/admin/usage', CLIENT_KEY)).status, 403);
  });

  test('/api/usage and /admin/usage refuse an unknown query parameter with a 400 that names it, as the dashboard usage calls do; the documented ones work', async () => {
    const { id, key } = await createKey(base);
    for (const [path, caller, param] of [
      ['/api/usage?strat=2026-01-01', key, 'strat'],
      // A key sees only its own usage: key_id is no parameter here.
      [`/api/usage?key_id=${id}`, key, 'key_id'],
      ['/admin/usage?start=2026-01-01&keyid=abc', MASTER_KEY, 'keyid'],
      ['/admin/usage?model=gpt-4', MASTER_KEY, 'model'],
    ] as const) {
      const refused = await callJson(base, 'GET', path, caller);
      assert.equal(refused.status, 400, `${path}: ${refused.text}`);
      assert.deepEqual(refused.body.error, {
        message: `Unknown query parameter '${param}'. Known: ${path.startsWith('/api') ? 'start, end' : 'start, end, key_id'}.`,
        type: 'invalid_request_error',
        param,
        code: 'unknown_parameter',
      });
    }
    // A name that is not plain is not echoed.
    const odd = await callJson(base, 'GET', '/api/usage?%3Cb%3E=1', key);
    assert.equal(odd.status, 400);
    assert.equal((odd.body.error as { param: unknown }).param, null);
    assert.doesNotMatch(odd.text, /<b>/);
    for (const [path, caller] of [
      ['/api/usage?start=2026-01-01&end=2026-01-31', key],
      ['/api/usage?start=&end=', key],
      [`/admin/usage?start=2026-01-01T00:00:00Z&end=2026-01-31&key_id=${id}`, MASTER_KEY],
    ] as const) {
      const served = await callJson(base, 'GET', path, caller);
      assert.equal(served.status, 200, `${path}: ${served.text}`);
    }
  });
});

describe('the database goes away at runtime', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('known keys keep working from the cache, unknown keys get 503, usage waits in the spool and lands once', async () => {
    const base = gateway.url;
    const services = gateway.app.services;
    const { id, key } = await createKey(base, { max_budget: 5 });
    assert.equal((await chat(base, key)).status, 200);
    await services.usage.flush();
    const spentBefore = (await services.store.keys.findById(id))?.spend ?? 0;

    // Simulated outage: every store call the request path makes fails like a refused connection.
    const keys = services.store.keys;
    const usage = services.store.usage;
    const saved = { findById: keys.findById, reserveBudget: keys.reserveBudget, insertBatch: usage.insertBatch, ping: usage.ping };
    const down = async (): Promise<never> => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    };
    keys.findById = down;
    keys.reserveBudget = down;
    usage.insertBatch = down;
    usage.ping = down;
    try {
      // The key was read before the outage, so it is known; its budget is held in this instance meanwhile.
      for (let index = 0; index < 6; index++) {
        const response = await chat(base, key, { messages: [{ role: 'user', content: `during the outage ${index}` }] });
        assert.equal(response.status, 200, response.text);
      }
      const stranger = await chat(base, generateVirtualKey().key);
      assert.equal(stranger.status, 503);
      assert.equal(errorCode(stranger), 'auth_unavailable');
      assert.equal((await chat(base, CLIENT_KEY)).status, 200, 'static keys never touch the database');
      // Serving, so ready: a readiness tied to the database would pull a serving instance (litellm#34929).
      for (const probe of ['/health/ready', '/health/live']) assert.equal((await fetch(`${base}${probe}`)).status, 200, probe);
      await services.usage.flush();
      assert.ok(gateway.logs.some((line) => line.includes('usage store unavailable')));
      // RELIABILITY 18: the spool and what it drops are on /metrics.
      const scrape = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${MASTER_KEY}` } })).text();
      assert.match(scrape, /^llm_proxy_usage_pending_records [1-9]/m, 'the records waiting in the spool');
      assert.match(scrape, /^llm_proxy_usage_dropped_total\{reason="spool_full"\} 0$/m);
      assert.match(scrape, /^llm_proxy_usage_dropped_total\{reason="rejected"\} 0$/m);
    } finally {
      Object.assign(keys, { findById: saved.findById, reserveBudget: saved.reserveBudget });
      Object.assign(usage, { insertBatch: saved.insertBatch, ping: saved.ping });
    }
    await services.usage.flush();
    const summary = await services.store.analytics.summarize({ keyId: id, start: Date.now() - 3_600_000, end: Date.now() + 1 });
    assert.equal(summary.reduce((sum, group) => sum + group.requests, 0), 7, `every request once: none lost, none doubled\n${gateway.logs.slice(-15).join('')}`);
    await services.usage.flush();
    const again = await services.store.analytics.summarize({ keyId: id, start: Date.now() - 3_600_000, end: Date.now() + 1 });
    assert.equal(again.reduce((sum, group) => sum + group.requests, 0), 7);
    const stored = await services.store.keys.findById(id);
    assert.ok((stored?.spend ?? 0) > spentBefore, 'the spend made during the outage reached the key');
    assert.equal(stored?.reserved, 0);
  });
});

describe("another process holds the SQLite file's write lock", () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-locked-'));
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_DB: join(dir, 'proxy.db') });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('requests are not held up by the wait for the lock (better-sqlite3 waits on the event loop), and usage lands once it is released', async () => {
    const base = gateway.url;
    const { id, key } = await createKey(base, { max_budget: 5 });
    assert.equal((await chat(base, key)).status, 200);
    await gateway.app.services.usage.flush();
    // As `sqlite3 proxy.db 'BEGIN EXCLUSIVE; …'` or a backup would hold it.
    const holder = new Database(join(dir, 'proxy.db'));
    holder.exec('begin exclusive');
    let slowest = 0;
    let sent = 0;
    try {
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        const started = Date.now();
        const answer = await chat(base, sent % 2 === 0 ? key : CLIENT_KEY, { messages: [{ role: 'user', content: `locked ${sent}` }] });
        slowest = Math.max(slowest, Date.now() - started);
        assert.equal(answer.status, 200, answer.text);
        sent++;
      }
    } finally {
      holder.exec('rollback');
      holder.close();
    }
    // The default 5 s wait stalled every request, a static key's too, for as long as the lock lasted.
    assert.ok(slowest < 1_500, `slowest request ${slowest} ms`);
    await gateway.app.services.usage.flush();
    const summary = await gateway.app.services.store.analytics.summarize({ keyId: id, start: Date.now() - 3_600_000, end: Date.now() + 1 });
    assert.equal(summary.reduce((sum, group) => sum + group.requests, 0), 1 + Math.ceil(sent / 2), 'every request of the key once, none lost, none doubled');
  });
});
