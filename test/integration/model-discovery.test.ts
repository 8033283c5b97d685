// Discovery against a provider whose list endpoint answers what each test sets: a 200 that is not
// a list keeps the last list (stale), bad entries never reach the model list, and a refresh that
// changes nothing leaves the router (and so the model index) alone.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startGateway, UPSTREAM_KEY, CLIENT_KEY, type Gateway } from '../support/gateway-harness.js';
import type { ModelView } from '../../src/catalog/model-view.js';

/** A `GET /v1/models` that answers `body` with status 200. */
async function startListServer(): Promise<{ url: string; body: string; close(): Promise<void> }> {
  const state = { url: '', body: '{"object":"list","data":[]}', close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') res.writeHead(200, { 'content-type': 'application/json' }).end(state.body);
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
});
