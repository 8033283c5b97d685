// Discovery against a provider whose list endpoint answers what each test sets: a 200 that is not
// a list keeps the last list (stale), bad entries and oversized names never reach the model list,
// and a refresh that changes nothing leaves the router (and so the model index) alone.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startGateway, UPSTREAM_KEY, CLIENT_KEY, type Gateway } from '../support/gateway-harness.js';
import type { ModelView } from '../../src/catalog/model-view.js';

/** A `GET /v1/models` (any query) that answers `body` with status 200. */
async function startListServer(): Promise<{ url: string; body: string; close(): Promise<void> }> {
  const state = { url: '', body: '{"object":"list","data":[]}', close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/v1/models') res.writeHead(200, { 'content-type': 'application/json' }).end(state.body);
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

function list(ids: readonly string[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'acme', ...extra })) });
}

async function models(gateway: Gateway): Promise<ModelView[]> {
  const response = await fetch(`${gateway.url}/api/models`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
  assert.equal(response.status, 200);
  return ((await response.json()) as { models: ModelView[] }).models;
}

describe('model discovery over HTTP', () => {
  let upstream: Awaited<ReturnType<typeof startListServer>>;
  let gateway: Gateway;

  before(async () => {
    upstream = await startListServer();
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });
  beforeEach(async () => {
    // Each test starts from a fresh read of a known list.
    upstream.body = list(['team-finetune']);
    await gateway.app.services.discovery.refreshAll();
  });

  test('a 200 whose JSON is not a list keeps the last list, marked stale; an empty list empties it', async () => {
    const discovery = gateway.app.services.discovery;
    assert.equal((await models(gateway)).find((m) => m.id === 'team-finetune')?.stale, false);

    for (const body of ['{"error":"temporarily unavailable"}', '{"object":"list","data":{"id":"x"}}', '[]']) {
      upstream.body = body;
      await discovery.refreshAll();
      const kept = (await models(gateway)).find((m) => m.id === 'team-finetune');
      assert.ok(kept, `the last known list is kept after ${body}`);
      assert.equal(kept.stale, true, body);
      assert.equal(discovery.statusOf('openai')?.lastError, 'an answer that is not a model list');
      assert.equal(discovery.statusOf('openai')?.stale, true);
    }

    upstream.body = '{"object":"list","data":[]}';
    await discovery.refreshAll();
    assert.equal(discovery.statusOf('openai')?.stale, false);
    assert.equal((await models(gateway)).find((m) => m.id === 'team-finetune'), undefined, 'an explicit empty list is a real empty list');
  });

  test('ids that are not safe model names and figures that are not positive integers never reach the lists', async () => {
    upstream.body = JSON.stringify({
      object: 'list',
      data: [
        { id: 'bad model id' },
        { id: '../../admin' },
        { id: 'team-finetune', context_length: -5 },
        { id: 'team-long', context_length: 32768 },
      ],
    });
    await gateway.app.services.discovery.refreshAll();
    const all = await models(gateway);
    const ids = all.map((m) => m.id);
    for (const bad of ['bad model id', '../../admin', 'openai/../../admin']) assert.ok(!ids.includes(bad), bad);
    assert.equal(all.find((m) => m.id === 'team-finetune')?.context_length, null);
    assert.equal(all.find((m) => m.id === 'team-long')?.context_length, 32768);
    const v1 = await fetch(`${gateway.url}/v1/models`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    const v1Ids = ((await v1.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    assert.ok(v1Ids.includes('team-long'));
    assert.ok(!v1Ids.some((id) => id.includes(' ') || id.includes('..')), v1Ids.join(','));
    const search = await fetch(`${gateway.url}/api/models/search?q=admin`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(((await search.json()) as { count: number }).count, 0);
    assert.equal(gateway.app.services.router.discoveredFor('openai')?.has('../../admin'), false);
  });

  test('a list longer than the limit is cut, with one log line for as long as it stays too long', async () => {
    const logsBefore = gateway.logs.length;
    upstream.body = list(Array.from({ length: 10_050 }, (_, i) => `bulk-${i}`));
    await gateway.app.services.discovery.refreshAll();
    await gateway.app.services.discovery.refreshAll();
    assert.equal(gateway.app.services.router.discoveredFor('openai')?.size, 10_000);
    assert.equal(gateway.app.services.discovery.statusOf('openai')?.models, 10_000);
    const cutLines = gateway.logs.slice(logsBefore).filter((line) => line.includes('longer than 10000 models'));
    assert.equal(cutLines.length, 1, 'logged once, not per refresh');
    assert.match(cutLines[0] ?? '', /"cut":50/);
  });

  test('a refresh that finds the same list keeps the router version and the model index; a changed one rebuilds both', async () => {
    const { discovery, router, models: directory } = gateway.app.services;
    await models(gateway);
    const version = router.version;
    const index = directory.index();
    for (let i = 0; i < 3; i++) await discovery.refreshAll();
    assert.equal(router.version, version, 'no rebuild for an unchanged list');
    assert.equal(directory.index(), index, 'the model index is the same object');
    assert.equal(discovery.statusOf('openai')?.lastSuccessAt !== undefined, true);

    upstream.body = list(['team-finetune'], { context_length: 65536 });
    await discovery.refreshAll();
    assert.equal(router.version, version + 1, 'a changed figure rebuilds');
    assert.notEqual(directory.index(), index);
    assert.equal((await models(gateway)).find((m) => m.id === 'team-finetune')?.context_length, 65536);
  });

  test('a stale list read again unchanged is fresh again without a rebuild', async () => {
    const { discovery, router } = gateway.app.services;
    const version = router.version;
    upstream.body = '{"error":"temporarily unavailable"}';
    await discovery.refreshAll();
    assert.equal((await models(gateway)).find((m) => m.id === 'team-finetune')?.stale, true);
    upstream.body = list(['team-finetune']);
    await discovery.refreshAll();
    assert.equal(router.version, version);
    assert.equal((await models(gateway)).find((m) => m.id === 'team-finetune')?.stale, false);
  });
});

describe('model discovery over HTTP: display names', () => {
  let upstream: Awaited<ReturnType<typeof startListServer>>;
  let gateway: Gateway;

  before(async () => {
    upstream = await startListServer();
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('a 1 MB display name with control characters is stored and served cut to 256 characters, without them', async () => {
    upstream.body = JSON.stringify({
      data: [
        { type: 'model', id: 'claude-team-huge', display_name: `\u001b[2J${'N'.repeat(1_000_000)}` },
        { type: 'model', id: 'claude-team-lines', display_name: 'Team\r\nX-Injected: 1\u0000' },
      ],
      has_more: false,
    });
    await gateway.app.services.discovery.refreshAll();
    assert.equal(gateway.app.services.discovery.statusOf('anthropic')?.lastError, undefined);
    assert.equal(gateway.app.services.router.discoveredFor('anthropic')?.get('claude-team-huge')?.name?.length, 256);
    const all = await models(gateway);
    const huge = all.find((m) => m.id === 'claude-team-huge');
    assert.equal(huge?.name, `[2J${'N'.repeat(253)}`);
    assert.equal(all.find((m) => m.id === 'claude-team-lines')?.name, 'TeamX-Injected: 1');
    const details = await fetch(`${gateway.url}/api/models/claude-team-huge`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(((await details.json()) as { model: ModelView }).model.name.length, 256);
    const search = await fetch(`${gateway.url}/api/models/search?q=injected`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    assert.deepEqual(((await search.json()) as { models: ModelView[] }).models.map((m) => m.id), ['claude-team-lines']);
  });
  test('a list that echoes the provider key it was asked with never serves the key (/v1/models, /api/models)', async () => {
    upstream.body = JSON.stringify({
      object: 'list',
      data: [
        { id: UPSTREAM_KEY, object: 'model', created: 1700000000, owned_by: 'acme' },
        { id: 'echo-model', object: 'model', created: 1700000000, owned_by: `key ${UPSTREAM_KEY}` },
      ],
    });
    await gateway.app.services.discovery.refreshAll();
    for (const path of ['/v1/models', '/api/models', '/v1/models/echo-model']) {
      const response = await fetch(`${gateway.url}${path}`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
      assert.equal(response.status, 200, path);
      const text = await response.text();
      assert.ok(!text.includes(UPSTREAM_KEY), `${path} holds the provider key`);
    }
    assert.ok((await models(gateway)).some((m) => m.id === 'echo-model'), 'the entry without the key in its id is kept');
  });
});

describe('model discovery over HTTP: overlapping refreshes', () => {
  // Once `hold` is set, the next list request waits for `release`; any other answers `later` at once.
  const held = { hold: false, stall: false, requests: 0, release: (_body: string) => {}, arrived: () => {} };
  const arrived = new Promise<void>((resolve) => (held.arrived = resolve));
  const later = list(['newer-list-model']);
  let server: Server;
  let gateway: Gateway;

  before(async () => {
    server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/v1/models') return void res.writeHead(404).end();
      held.requests++;
      // Headers and half a body, then nothing: only the read's own 15 s bound ends it.
      if (held.stall) return void res.writeHead(200, { 'content-type': 'application/json' }).write('{"object":"list","data":[');
      if (!held.hold) return void res.writeHead(200, { 'content-type': 'application/json' }).end(later);
      held.hold = false;
      held.release = (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      held.arrived();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${url}/v1`, LLM_PROXY_RPM: '0' });
    // The start-up read is done: count from here.
    await gateway.app.services.discovery.refreshAll();
    held.requests = 0;
  });
  after(async () => {
    await gateway.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('a refresh while a read of the same list is in flight joins it: one request, and no older list applied over a newer one', async () => {
    const discovery = gateway.app.services.discovery;
    // A slow provider and a short discovery_interval_s: the next tick comes while the last read still waits.
    held.hold = true;
    const first = discovery.refreshAll();
    await arrived;
    const second = discovery.refreshAll();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(held.requests, 1, 'a second list request was sent while the first was in flight');
    held.release(list(['held-list-model']));
    await Promise.all([first, second]);
    assert.equal(held.requests, 1);
    const ids = (await models(gateway)).map((m) => m.id);
    assert.ok(ids.includes('held-list-model'), ids.join(','));
    assert.equal(discovery.statusOf('openai')?.lastError, undefined);
  });

  test('a read whose body stalls ends within its 15 s bound, so the reads joined to it never hang and the next refresh reads again', { timeout: 90_000 }, async () => {
    const discovery = gateway.app.services.discovery;
    held.requests = 0;
    held.stall = true;
    const started = Date.now();
    await Promise.all([discovery.refreshAll(), discovery.refreshAll()]);
    held.stall = false;
    assert.ok(Date.now() - started < 60_000, `the stalled read took ${Date.now() - started} ms`);
    assert.equal(held.requests, 1);
    assert.notEqual(discovery.statusOf('openai')?.lastError, undefined);
    await discovery.refreshAll();
    assert.equal(held.requests, 2, 'the refresh after it reads the list again');
    assert.equal(discovery.statusOf('openai')?.lastError, undefined);
  });
});
