// The catalog names each model by what a request with that name does: a listed id routes to the
// provider and model whose figures it shows, in /api/models and /v1/models alike; and a key's
// allowlist is compared by where names route.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, fakeProviderEnv, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import type { ModelView } from '../../src/catalog/model-view.js';

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'llm-proxy-names-')), 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

async function get<T>(gateway: Gateway, path: string, key = CLIENT_KEY): Promise<{ status: number; body: T }> {
  const response = await fetch(`${gateway.url}${path}`, { headers: { Authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as T };
}

/** A chat request; answers the status and the `X-LLM-Proxy-Route` header (which deployment answered). */
async function chat(gateway: Gateway, model: string, key = CLIENT_KEY): Promise<{ status: number; route: string | null }> {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.arrayBuffer();
  return { status: response.status, route: response.headers.get('x-llm-proxy-route') };
}

interface OpenAiList {
  data: Array<{ id: string; owned_by: string }>;
}

describe('model catalog names: a listed id routes where its figures say', () => {
  let openai: FakeOpenAi;
  let groq: FakeOpenAi;
  let gpu: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini', 'gpt-oss-120b'] });
    groq = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['openai/gpt-oss-120b', 'llama-3.1-8b-instant'] });
    gpu = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['llama-local'] });
    gateway = await startGateway({
      ...fakeProviderEnv({ openai, groq }),
      LLM_PROXY_CONFIG: configFile(`
providers:
  gpu: { type: openai-compatible, api_key: ${UPSTREAM_KEY}, base_url: "${gpu.url}/v1", models: [llama-local] }
aliases:
  gpt-4: gpu/llama-local
  fast: openai/gpt-4o-mini
model_catalog:
  llama-local: { context_length: 32768, input_cost: 0.0002, output_cost: 0.0004 }
models:
  - name: team-model
    deployments:
      - { provider: gpu, model: llama-local }
      - { provider: groq, model: llama-3.1-8b-instant }
routing: { retries: 0 }
`),
      LLM_PROXY_RPM: '0',
    });
    await gateway.app.services.discovery.refreshAll();
  });
  after(async () => {
    await gateway.close();
    await openai.close();
    await groq.close();
    await gpu.close();
  });

  test("an id starting with another configured provider's name is listed in the provider/model form that reaches it", async () => {
    const { body } = await get<{ models: ModelView[] }>(gateway, '/api/models');
    const groqEntry = gateway.app.services.catalog.get('openai/gpt-oss-120b');
    assert.equal(groqEntry?.provider, 'groq', 'the built-in catalog has it as a groq model');
    // `openai/gpt-oss-120b` routes to the provider openai, model gpt-oss-120b: groq's figures may not carry that name.
    assert.equal(body.models.find((m) => m.id === 'openai/gpt-oss-120b'), undefined);
    const listed = body.models.find((m) => m.id === 'groq/openai/gpt-oss-120b');
    assert.equal(listed?.provider, 'groq');
    assert.equal(listed?.context_length, groqEntry?.context_length);
    assert.equal(listed?.input_cost, groqEntry?.input_cost);
    assert.deepEqual(listed?.routes, ['groq/openai/gpt-oss-120b']);

    const v1 = await get<OpenAiList>(gateway, '/v1/models');
    assert.equal(v1.body.data.find((m) => m.id === 'openai/gpt-oss-120b'), undefined);
    assert.equal(v1.body.data.find((m) => m.id === 'groq/openai/gpt-oss-120b')?.owned_by, 'groq');
    const one = await get<{ id: string; owned_by: string }>(gateway, '/v1/models/groq/openai/gpt-oss-120b');
    assert.equal(one.status, 200);
    assert.equal(one.body.owned_by, 'groq');

    // The details of each name describe where a request with it goes.
    const viaGroq = await get<{ model: ModelView }>(gateway, '/api/models/groq/openai/gpt-oss-120b');
    assert.equal(viaGroq.body.model.provider, 'groq');
    const viaOpenAi = await get<{ model: ModelView }>(gateway, '/api/models/openai/gpt-oss-120b');
    assert.equal(viaOpenAi.status, 200);
    assert.equal(viaOpenAi.body.model.provider, 'openai');
    assert.deepEqual(viaOpenAi.body.model.routes, ['openai/gpt-oss-120b']);

    // And the requests go there.
    groq.reset();
    openai.reset();
    assert.deepEqual(await chat(gateway, 'groq/openai/gpt-oss-120b'), { status: 200, route: 'groq/openai/gpt-oss-120b=200' });
    assert.equal(groq.requests.at(-1)?.body?.model, 'openai/gpt-oss-120b');
    assert.deepEqual(await chat(gateway, 'openai/gpt-oss-120b'), { status: 200, route: 'openai/gpt-oss-120b=200' });
    assert.equal(openai.requests.at(-1)?.body?.model, 'gpt-oss-120b');
    for (const model of body.models.filter((m) => m.provider === 'groq')) {
      const route = gateway.app.services.router.resolve(model.id);
      assert.equal(route?.provider.name, 'groq', `${model.id} routes to groq`);
    }
  });

  test('a config alias that shadows a catalog id shows its target; the shadowed model is listed as provider/model', async () => {
    const { body } = await get<{ models: ModelView[] }>(gateway, '/api/models');
    const gpt4 = body.models.filter((m) => m.id === 'gpt-4');
    assert.equal(gpt4.length, 1);
    assert.equal(gpt4[0]?.alias_of, 'gpu/llama-local');
    assert.equal(gpt4[0]?.provider, 'gpu');
    assert.equal(gpt4[0]?.context_length, 32768, "the target's window, not GPT-4's 8,192");
    assert.equal(gpt4[0]?.input_cost, 0.0002);
    assert.deepEqual(gpt4[0]?.routes, ['gpu/llama-local']);
    const details = await get<{ model: ModelView }>(gateway, '/api/models/gpt-4');
    assert.deepEqual(details.body.model, gpt4[0]);
    const retrieved = await get<{ id: string; owned_by: string }>(gateway, '/v1/models/gpt-4');
    assert.equal(retrieved.body.owned_by, 'gpu');
    assert.equal((await get<OpenAiList>(gateway, '/v1/models')).body.data.find((m) => m.id === 'gpt-4')?.owned_by, 'gpu');

    // OpenAI's GPT-4 is still there, under the name that reaches it.
    const openaiGpt4 = body.models.find((m) => m.id === 'openai/gpt-4');
    assert.equal(openaiGpt4?.provider, 'openai');
    assert.equal(openaiGpt4?.context_length, 8192);
    assert.equal(openaiGpt4?.input_cost, 0.03);
    assert.deepEqual(await chat(gateway, 'gpt-4'), { status: 200, route: 'gpu/llama-local=200' });
    assert.deepEqual(await chat(gateway, 'openai/gpt-4'), { status: 200, route: 'openai/gpt-4=200' });
  });

  test("a group's provider/model route is that provider's deployment alone, as a request with it is", async () => {
    const group = await get<{ model: ModelView }>(gateway, '/api/models/team-model');
    assert.deepEqual(group.body.model.routes, ['gpu/llama-local', 'groq/llama-3.1-8b-instant']);
    const instant = gateway.app.services.catalog.get('llama-3.1-8b-instant');
    assert.equal(instant?.provider, 'groq');

    const viaGroq = await get<{ model: ModelView }>(gateway, '/api/models/groq/llama-3.1-8b-instant');
    assert.equal(viaGroq.status, 200);
    assert.equal(viaGroq.body.model.id, 'groq/llama-3.1-8b-instant');
    assert.equal(viaGroq.body.model.provider, 'groq');
    assert.equal(viaGroq.body.model.context_length, instant?.context_length);
    assert.equal(viaGroq.body.model.input_cost, instant?.input_cost);
    assert.deepEqual(viaGroq.body.model.routes, ['groq/llama-3.1-8b-instant']);
    const viaGpu = await get<{ model: ModelView }>(gateway, '/api/models/gpu%2Fllama-local');
    assert.equal(viaGpu.body.model.provider, 'gpu');
    assert.equal(viaGpu.body.model.context_length, 32768);
    assert.deepEqual(viaGpu.body.model.routes, ['gpu/llama-local']);

    for (const [path, owner] of [
      ['/v1/models/team-model', 'gpu'],
      ['/v1/models/groq/llama-3.1-8b-instant', 'groq'],
      ['/v1/models/gpu/llama-local', 'gpu'],
    ] as const) {
      const retrieved = await get<{ id: string; owned_by: string }>(gateway, path);
      assert.equal(retrieved.status, 200, path);
      assert.equal(retrieved.body.owned_by, owner, path);
    }
    assert.deepEqual(await chat(gateway, 'groq/llama-3.1-8b-instant'), { status: 200, route: 'groq/llama-3.1-8b-instant=200' });
  });

  test('a key allowlist entry allows every name that routes to the same provider and model, and nothing else', async () => {
    const cases: Array<[string[], Record<string, number>]> = [
      [['gpt-4o-mini'], { 'gpt-4o-mini': 200, 'openai/gpt-4o-mini': 200, fast: 200, 'groq/gpt-4o-mini': 403, 'gpu/gpt-4o-mini': 403, 'gpt-4': 403 }],
      [['openai/gpt-4o-mini'], { 'gpt-4o-mini': 200, fast: 200, 'groq/gpt-4o-mini': 403 }],
      [['fast'], { fast: 200, 'gpt-4o-mini': 200, 'openai/gpt-4o-mini': 200, 'groq/gpt-4o-mini': 403 }],
      // A group is not its deployments: it also balances and falls back.
      [['team-model'], { 'team-model': 200, 'gpu/llama-local': 403, 'gpt-4': 403 }],
      [['gpu/llama-local'], { 'gpt-4': 200, 'llama-local': 200, 'team-model': 403, 'openai/gpt-4': 403 }],
    ];
    for (const [models, expected] of cases) {
      const { key } = await createKey(gateway.url, { name: `allow-${models.join('-')}`, models });
      for (const [model, status] of Object.entries(expected)) {
        const response = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
        });
        const body = (await response.json()) as { error?: { code: string } };
        assert.equal(response.status, status, `${models.join(',')} → ${model}`);
        if (status === 403) assert.equal(body.error?.code, 'model_not_allowed', model);
      }
    }

    // The lists show what the key may use, by the same rule.
    const { key } = await createKey(gateway.url, { name: 'allow-listed', models: ['openai/gpt-4o-mini'] });
    const listed = await get<OpenAiList>(gateway, '/v1/models', key);
    assert.deepEqual(listed.body.data.map((m) => m.id).sort(), ['fast', 'gpt-4o-mini']);
    assert.equal((await get<{ id: string }>(gateway, '/v1/models/gpt-4o-mini', key)).status, 200);
    const groupKey = await createKey(gateway.url, { name: 'allow-deployment', models: ['gpu/llama-local'] });
    const catalog = await get<{ models: ModelView[] }>(gateway, '/api/models', groupKey.key);
    assert.deepEqual(catalog.body.models.map((m) => m.id).sort(), ['gpt-4', 'llama-local'], 'not the group that also reaches groq');
    assert.equal((await get<unknown>(gateway, '/api/models/team-model', groupKey.key)).status, 403);

    // /api/condense checks its model the same way.
    const condense = async (model: string) =>
      fetch(`${gateway.url}/api/condense`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'a long question' }, { role: 'assistant', content: 'a long answer' }] }),
      });
    assert.equal((await condense('gpt-4o-mini')).status, 200);
    assert.equal((await condense('groq/gpt-4o-mini')).status, 403);
  });
});
