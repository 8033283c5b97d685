// The model catalog over real HTTP: every Model Discovery, Model Management and Model Selection
// example of USAGE.md (same requests, same reads as the Python), discovery, staleness, config
// overrides and aliases, 400s for bad parameters and 404s for unknown or traversal ids.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import type { ModelView } from '../../src/catalog/model-view.js';
import type { ErrorBody } from '../../src/openai/types.js';

/** The API's own types: the test reads what the server declares it sends. */
type Model = ModelView;
interface ModelList {
  models: Model[];
  count: number;
  limit?: number | null;
  offset?: number;
}

const ANTHROPIC_KEY = 'sk-ant-upstream-test-key-0123456789';

/** A fake Anthropic list endpoint (`GET /v1/models`), the only Anthropic call discovery makes. */
async function startFakeAnthropicModels(ids: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.headers['x-api-key'] !== ANTHROPIC_KEY) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
      return;
    }
    if (req.method === 'GET' && req.url?.startsWith('/v1/models')) {
      const data = ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-09-29T00:00:00Z' }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data, has_more: false, first_id: ids[0], last_id: ids.at(-1) }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'Not found' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'llm-proxy-catalog-')), 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** `requests.get(url, headers={"Authorization": "Bearer your-api-key"}, params=params)`. */
async function get<T>(gateway: Gateway, path: string, params?: Record<string, string>, key = CLIENT_KEY): Promise<{ status: number; body: T }> {
  const query = params === undefined ? '' : `?${new URLSearchParams(params).toString()}`;
  const response = await fetch(`${gateway.url}${path}${query}`, { headers: { Authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as T };
}

/** A GET with the path sent byte for byte (fetch would resolve `..` and `\`). */
function rawGet(gateway: Gateway, path: string, key = CLIENT_KEY): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const { port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers: { authorization: `Bearer ${key}` } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Python's `a >= b` and `a + b`: None raises TypeError, which is what USAGE.md's code would hit. */
function pyGe(left: number | null, right: number): boolean {
  if (left === null) throw new TypeError("'>=' not supported between instances of 'NoneType' and 'int'");
  return left >= right;
}
function pyAdd(left: number | null, right: number | null): number {
  if (left === null || right === null) throw new TypeError("unsupported operand type(s) for +: 'NoneType' and 'float'");
  return left + right;
}

describe('model catalog over HTTP', () => {
  let openai: FakeOpenAi;
  let anthropic: { url: string; close(): Promise<void> };
  let gateway: Gateway;

  before(async () => {
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4', 'gpt-3.5-turbo', 'gpt-4o-mini', 'my-finetune', 'team-tuned'] });
    anthropic = await startFakeAnthropicModels(['claude-sonnet-4-5-20250929', 'claude-3-5-haiku-latest']);
    const config = configFile(`
aliases:
  fast: openai/gpt-4o-mini
model_catalog:
  team-tuned:
    name: Team tuned
    context_length: 16384
    input_cost: 0.001
    output_cost: 0.002
    capabilities: [chat, streaming, function_calling]
  gpt-4o-mini:
    input_cost: 0.0001
`);
    gateway = await startGateway({
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
      LLM_PROXY_CONFIG: config,
      LLM_PROXY_RPM: '0',
    });
  });
  after(async () => {
    await gateway.close();
    await openai.close();
    await anthropic.close();
  });

  test('USAGE Quick Start, Model Discovery: list, then filter by provider', async () => {
    const { status, body } = await get<ModelList>(gateway, '/api/models');
    assert.equal(status, 200);
    const models = body.models;
    assert.ok(models.length > 50, `Available models: ${models.length}`);
    const openaiModels = models.filter((m) => m.provider === 'openai');
    const anthropicModels = models.filter((m) => m.provider === 'anthropic');
    assert.ok(openaiModels.length > 0, `OpenAI models: ${openaiModels.length}`);
    // Every model is served by one of the two configured providers (the `fast` alias by openai).
    assert.equal(openaiModels.length + anthropicModels.length, models.length);
    assert.ok(anthropicModels.length > 0);
  });

  test('USAGE Authentication: GET /api/models with the headers dict (Content-Type included)', async () => {
    const response = await fetch(`${gateway.url}/api/models`, { headers: { Authorization: `Bearer ${CLIENT_KEY}`, 'Content-Type': 'application/json' } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const unauthenticated = await fetch(`${gateway.url}/api/models`);
    assert.equal(unauthenticated.status, 401);
    assert.equal(((await unauthenticated.json()) as ErrorBody).error.code, 'invalid_api_key');
  });

  test('USAGE List Available Models: count, chat models, vision models', async () => {
    const { body: modelsData } = await get<ModelList>(gateway, '/api/models');
    assert.equal(modelsData.count, modelsData.models.length, `Total models: ${modelsData.count}`);
    const chatModels = modelsData.models.filter((m) => m.supports_chat);
    const visionModels = modelsData.models.filter((m) => (m.capabilities ?? []).includes('vision'));
    assert.ok(chatModels.length > 0 && chatModels.length < modelsData.count, `Chat models: ${chatModels.length}`);
    assert.ok(visionModels.length > 0, `Vision models: ${visionModels.length}`);
    for (const m of modelsData.models) {
      assert.ok(Array.isArray(m.capabilities), `${m.id}: capabilities is a list`);
      assert.equal(typeof m.name, 'string');
    }
    const ids = modelsData.models.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'each model once');
    assert.ok(!ids.includes('gpt-4o-2024-08-06'), 'catalog aliases are not models of their own');
    assert.ok(modelsData.models.find((m) => m.id === 'gpt-4o')?.aliases.includes('gpt-4o-2024-08-06'));
  });

  test('USAGE Search Models: by name, and the advanced search with supports_chat=True', async () => {
    const { status, body: gpt4Models } = await get<ModelList>(gateway, '/api/models/search', { q: 'gpt-4' });
    assert.equal(status, 200);
    assert.ok(gpt4Models.models.length > 0, `GPT-4 models: ${gpt4Models.models.length}`);
    assert.equal(gpt4Models.count, gpt4Models.models.length);
    assert.ok(gpt4Models.models.some((m) => m.id === 'gpt-4'));
    for (const m of gpt4Models.models) assert.ok(`${m.id}\n${m.name}\n${m.aliases.join('\n')}`.toLowerCase().includes('gpt-4'), m.id);

    // requests sends Python's True as "True".
    const { status: advancedStatus, body: advanced } = await get<ModelList>(gateway, '/api/models/search', {
      q: 'claude',
      provider: 'anthropic',
      supports_chat: 'True',
      min_context: '100000',
    });
    assert.equal(advancedStatus, 200);
    assert.ok(advanced.models.length >= 20, `Advanced search results: ${advanced.models.length}`);
    for (const m of advanced.models) {
      assert.equal(m.provider, 'anthropic');
      assert.equal(m.supports_chat, true);
      assert.ok((m.context_length ?? 0) >= 100_000, m.id);
      assert.ok(`${m.id} ${m.name}`.toLowerCase().includes('claude'), m.id);
    }
  });

  test('USAGE Get Model Details: gpt-4 is 8192 tokens at $0.03/$0.06 per 1K', async () => {
    const { status, body: gpt4Info } = await get<{ model: Model }>(gateway, '/api/models/gpt-4');
    assert.equal(status, 200);
    assert.equal(gpt4Info.model.name, 'GPT-4');
    assert.equal(gpt4Info.model.context_length, 8192);
    assert.equal(gpt4Info.model.input_cost, 0.03);
    assert.equal(gpt4Info.model.output_cost, 0.06);
    assert.equal(`Input cost: $${gpt4Info.model.input_cost}/1K tokens`, 'Input cost: $0.03/1K tokens');
  });

  test('a Claude model shows the multipliers its rates take (fast mode, US-only inference); others show null', async () => {
    const opus = await get<{ model: Model }>(gateway, '/api/models/claude-opus-4-8');
    assert.equal(opus.status, 200);
    assert.deepEqual(opus.body.model.rate_multipliers, { fast: 2, inference_geo: { us: 1.1 } });
    const sonnet = await get<{ model: Model }>(gateway, '/api/models/claude-sonnet-4-5-20250929');
    assert.equal(sonnet.body.model.rate_multipliers, null);
    const { body } = await get<ModelList>(gateway, '/api/models');
    assert.deepEqual(body.models.find((m) => m.id === 'claude-opus-4-8')?.rate_multipliers, { fast: 2, inference_geo: { us: 1.1 } });
    assert.equal(body.models.find((m) => m.id === 'gpt-4')?.rate_multipliers, null);
  });

  test('USAGE Cost Optimization, Model Selection: the cheapest chat model with enough context', async () => {
    await gateway.app.services.discovery.refreshAll(); // with unknown discovered models in the list
    // USAGE.md iterates `get_available_models()`, which its Model Management section defines as the
    // whole JSON object; iterating that dict yields its keys. The list is `["models"]`.
    const selectModel = async (requirements: { min_context?: number }) => {
      const { body } = await get<ModelList>(gateway, '/api/models');
      const suitable = body.models.filter((m) => m.supports_chat && pyGe(m.context_length, requirements.min_context ?? 4000));
      suitable.sort((a, b) => pyAdd(a.input_cost, a.output_cost) - pyAdd(b.input_cost, b.output_cost));
      return { chosen: suitable[0], suitable };
    };
    for (const minContext of [undefined, 100_000, 500_000]) {
      const { chosen, suitable } = await selectModel(minContext === undefined ? {} : { min_context: minContext });
      assert.ok(chosen, `a model for min_context=${minContext}`);
      const cheapest = Math.min(...suitable.map((m) => pyAdd(m.input_cost, m.output_cost)));
      assert.equal(pyAdd(chosen.input_cost, chosen.output_cost), cheapest);
      assert.ok((chosen.context_length ?? 0) >= (minContext ?? 4000));
    }
    // The same answer from the server: sort=cost.
    const { body: sorted } = await get<ModelList>(gateway, '/api/models/search', { supports_chat: 'true', min_context: '100000', sort: 'cost', limit: '1' });
    const { chosen } = await selectModel({ min_context: 100_000 });
    assert.equal(pyAdd(sorted.models[0]?.input_cost ?? null, sorted.models[0]?.output_cost ?? null), pyAdd(chosen?.input_cost ?? null, chosen?.output_cost ?? null));
  });

  test('discovery: a model the catalog does not know appears with nulls and routes', async () => {
    const before = await get<ModelList>(gateway, '/api/models');
    await gateway.app.services.discovery.refreshAll();
    const { body } = await get<ModelList>(gateway, '/api/models');
    const finetune = body.models.find((m) => m.id === 'my-finetune');
    assert.ok(finetune, 'my-finetune is listed after discovery');
    assert.ok(before.body.count <= body.count);
    assert.equal(finetune.provider, 'openai');
    assert.equal(finetune.input_cost, null);
    assert.equal(finetune.output_cost, null);
    assert.equal(finetune.context_length, null);
    assert.equal(finetune.supports_chat, null, 'not known to be a chat model');
    assert.deepEqual(finetune.capabilities, []);
    assert.equal(finetune.discovered, true);
    assert.equal(finetune.stale, false);
    assert.equal(body.models.find((m) => m.id === 'gpt-4')?.discovered, true);
    assert.equal(body.models.find((m) => m.id === 'gpt-4o')?.discovered, false);
    // Anthropic's list reported an alias: it is folded onto its model, which is now marked discovered.
    const haiku = body.models.find((m) => m.id === 'claude-3-5-haiku-20241022');
    assert.equal(haiku?.discovered, true);
    assert.ok(haiku?.aliases.includes('claude-3-5-haiku-latest'));

    const details = await get<{ model: Model }>(gateway, '/api/models/my-finetune');
    assert.equal(details.status, 200);
    assert.equal(details.body.model.id, 'my-finetune');

    const chat = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${CLIENT_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'my-finetune', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 200);
    assert.equal(openai.requests.at(-1)?.body?.model, 'my-finetune');
  });

  test('config: model_catalog fills in a discovered model and overrides a price; an alias is its own model', async () => {
    await gateway.app.services.discovery.refreshAll();
    const { body } = await get<ModelList>(gateway, '/api/models');
    const tuned = body.models.find((m) => m.id === 'team-tuned');
    assert.equal(tuned?.name, 'Team tuned');
    assert.equal(tuned?.context_length, 16384);
    assert.equal(tuned?.input_cost, 0.001);
    assert.equal(tuned?.output_cost, 0.002);
    assert.equal(tuned?.supports_chat, true);
    assert.equal(tuned?.provider, 'openai');
    const mini = body.models.find((m) => m.id === 'gpt-4o-mini');
    assert.equal(mini?.input_cost, 0.0001);
    assert.equal(mini?.output_cost, 0.0006, 'fields the config does not name keep the built-in figure');
    const fast = body.models.find((m) => m.id === 'fast');
    assert.equal(fast?.alias_of, 'openai/gpt-4o-mini');
    assert.equal(fast?.input_cost, 0.0001);
    assert.deepEqual(fast?.routes, ['openai/gpt-4o-mini']);
    assert.equal((await get<{ model: Model }>(gateway, '/api/models/fast')).body.model.alias_of, 'openai/gpt-4o-mini');
  });

  test('/v1/models lists the same models as /api/models, each once', async () => {
    const { body: list } = await get<{ object: string; data: Array<{ id: string; object: string; owned_by: string }> }>(gateway, '/v1/models');
    const { body: catalog } = await get<ModelList>(gateway, '/api/models');
    const ids = list.data.map((model) => model.id);
    assert.equal(list.object, 'list');
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(ids, catalog.models.map((m) => m.id));
    assert.equal(list.data.find((model) => model.id === 'claude-sonnet-4-5-20250929')?.owned_by, 'anthropic');
  });

  test('details by alias, provider/model, an encoded slash, and a trailing slash', async () => {
    for (const path of [
      '/api/models/gpt-4o-2024-08-06',
      '/api/models/openai/gpt-4o',
      '/api/models/openai%2Fgpt-4o',
      '/api/models/openai%2fgpt-4o',
      '/api/models/gpt-4o/',
    ]) {
      const { status, body } = await get<{ model: Model }>(gateway, path);
      assert.equal(status, 200, path);
      assert.equal(body.model.id, 'gpt-4o', path);
    }
    const { status, body } = await get<{ model: Model }>(gateway, '/api/models/anthropic/claude-sonnet-4-5-20250929');
    assert.equal(status, 200);
    assert.equal(body.model.provider, 'anthropic');
    assert.equal(body.model.context_length, 200_000);
    assert.equal((await get<{ model: Model }>(gateway, '/api/models/claude-sonnet-4-5')).body.model.id, 'claude-sonnet-4-5-20250929');
  });

  test('search paging, sorting and capability filters over HTTP', async () => {
    const { body: page } = await get<ModelList>(gateway, '/api/models/search', { provider: 'openai', sort: '-context_length', limit: '5', offset: '0' });
    assert.equal(page.models.length, 5);
    assert.ok(page.count > 5);
    assert.equal(page.limit, 5);
    assert.equal(page.offset, 0);
    const contexts = page.models.map((m) => m.context_length ?? -1);
    assert.deepEqual(contexts, [...contexts].sort((a, b) => b - a));
    const { body: next } = await get<ModelList>(gateway, '/api/models/search', { provider: 'openai', sort: '-context_length', limit: '5', offset: '5' });
    assert.equal(next.count, page.count);
    assert.ok(!next.models.some((m) => page.models.some((p) => p.id === m.id)));

    const { body: cheap } = await get<ModelList>(gateway, '/api/models/search', { sort: 'input_cost' });
    const costs = cheap.models.map((m) => m.input_cost);
    const firstNull = costs.indexOf(null);
    assert.ok(firstNull > 0, 'unknown costs exist (my-finetune) and come last');
    assert.ok(costs.slice(firstNull).every((cost) => cost === null));

    const { body: tools } = await get<ModelList>(gateway, '/api/models/search', { capability: 'vision,function_calling', supports_chat: '1' });
    assert.ok(tools.count > 0);
    for (const m of tools.models) assert.ok(m.capabilities.includes('vision') && m.capabilities.includes('function_calling'), m.id);
    const { body: cheapInput } = await get<ModelList>(gateway, '/api/models/search', { max_input_cost: '0.0005', supports_chat: 'False' });
    for (const m of cheapInput.models) assert.ok(m.supports_chat === false && (m.input_cost ?? 1) <= 0.0005, m.id);
  });

  test('bad search parameters: 400 invalid_value naming the parameter', async () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ supports_chat: 'yes' }, 'supports_chat', 'invalid_value'],
      [{ min_context: '-1' }, 'min_context', 'invalid_value'],
      [{ min_context: 'lots' }, 'min_context', 'invalid_value'],
      [{ max_input_cost: 'Infinity' }, 'max_input_cost', 'invalid_value'],
      [{ limit: '0' }, 'limit', 'invalid_value'],
      [{ limit: '1001' }, 'limit', 'invalid_value'],
      [{ offset: '-5' }, 'offset', 'invalid_value'],
      [{ sort: 'price' }, 'sort', 'invalid_value'],
      [{ capability: 'telepathy' }, 'capability', 'invalid_value'],
      [{ providr: 'openai' }, 'providr', 'unknown_parameter'],
    ];
    for (const [params, param, code] of cases) {
      const { status, body } = await get<ErrorBody>(gateway, '/api/models/search', params);
      assert.equal(status, 400, JSON.stringify(params));
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.type, 'invalid_request_error');
      assert.equal(body.error.code, code);
      assert.equal(body.error.param, param);
      assert.ok(body.error.message.includes(param), body.error.message);
    }
    const repeated = await fetch(`${gateway.url}/api/models/search?provider=openai&provider=anthropic`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(repeated.status, 400);
  });

  test('unknown and traversal ids: 404 model_not_found, never another route', async () => {
    const paths = [
      '/api/models/no-such-model',
      '/api/models/openai/no-such-model',
      '/api/models/..%2f..%2fhealth',
      '/api/models/%2e%2e/',
      '/api/models/%2e%2e%2fhealth',
      '/api/models/%252e%252e',
      '/api/models/\\..\\health',
      '/api/models/..\\..\\admin',
      '/api/models/../health',
      '/api/models/../../v1/models',
      '/api/models/%00',
      '/api/models/gpt-4%00',
      '/api/models/gpt-4%0d%0aX-Injected:%201',
      `/api/models/${'a'.repeat(300)}`,
    ];
    for (const path of paths) {
      const { status, body } = await rawGet(gateway, path);
      assert.equal(status, 404, path);
      const parsed = JSON.parse(body) as ErrorBody;
      assert.equal(parsed.error.code, 'model_not_found', path);
      // The id is in the path, not a body field: no `param`, as on /v1/models/{id}.
      assert.equal(parsed.error.param, null, path);
      assert.ok(!parsed.error.message.includes('\n'), path);
    }
  });

  test('GET /v1/models/{id}: one entry of the list, by its id or its provider/model name (slash plain or %2F)', async () => {
    const { body: list } = await get<{ data: Array<{ id: string; object: string; created: number; owned_by: string }> }>(gateway, '/v1/models');
    const cases: Array<[string, string, string]> = [
      ['/v1/models/gpt-4o', 'gpt-4o', 'gpt-4o'],
      ['/v1/models/openai/gpt-4o', 'openai/gpt-4o', 'gpt-4o'],
      ['/v1/models/openai%2Fgpt-4o', 'openai/gpt-4o', 'gpt-4o'],
      ['/v1/models/openai%2fgpt-4o', 'openai/gpt-4o', 'gpt-4o'],
      ['/v1/models/gpt-4o/', 'gpt-4o', 'gpt-4o'],
      ['/v1/models/anthropic/claude-sonnet-4-5-20250929', 'anthropic/claude-sonnet-4-5-20250929', 'claude-sonnet-4-5-20250929'],
      ['/v1/models/fast', 'fast', 'fast'],
    ];
    for (const [path, id, listed] of cases) {
      const { status, body } = await get<Record<string, unknown>>(gateway, path);
      assert.equal(status, 200, path);
      const entry = list.data.find((model) => model.id === listed);
      assert.ok(entry, `${listed} is listed`);
      // The list's entry, under the name asked for (as OpenAI's retrieve answers).
      assert.deepEqual(body, { ...entry, id }, path);
    }
    const unauthenticated = await fetch(`${gateway.url}/v1/models/gpt-4o`);
    assert.equal(unauthenticated.status, 401);
    assert.equal(((await unauthenticated.json()) as ErrorBody).error.code, 'invalid_api_key');
  });

  test('GET /v1/models/{id}: unknown, unlisted and traversal ids are 404 model_not_found, never another route (4a#10)', async () => {
    const ids = [
      'no-such-model',
      'openai/no-such-model',
      // Routes and resolves in a chat request, but is no id the list shows: exact names only.
      'gpt-4o-2024-08-06',
      'OPENAI/gpt-4o',
      '..%2f..%2fadmin',
      '..%2f..%2fadmin%2fkeys',
      '%2e%2e/',
      '%2e%2e%2fhealth',
      '%252e',
      '%252e%252e%252fhealth',
      '\\..\\',
      '..\\..\\admin',
      '../../admin/keys',
      'openai/../gpt-4o',
      'openai/./gpt-4o',
      '%00',
      'gpt-4o%00',
      'gpt-4o%0d%0aX-Injected:%201',
      'a'.repeat(300),
    ];
    for (const id of ids) {
      const path = `/v1/models/${id}`;
      // The master key too: `../../admin/keys` must not reach the admin API with the one key that could use it.
      for (const key of [CLIENT_KEY, MASTER_KEY]) {
        const { status, headers, body } = await rawGet(gateway, path, key);
        assert.equal(status, 404, `${path}: ${body.slice(0, 200)}`);
        assert.match(String(headers['content-type']), /^application\/json/, path);
        assert.match(String(headers['x-request-id']), /^[A-Za-z0-9._:-]{1,128}$/, path);
        const parsed = JSON.parse(body) as ErrorBody;
        assert.deepEqual(Object.keys(parsed), ['error'], path);
        assert.deepEqual({ ...parsed.error, message: typeof parsed.error.message }, { message: 'string', type: 'invalid_request_error', param: null, code: 'model_not_found' }, path);
        assert.ok(!/[\r\n\0]/.test(parsed.error.message), path);
      }
    }
  });

  test('a key allowlist filters the list, the search, the details and /v1/models', async () => {
    const limited = await createKey(gateway.url, { name: 'catalog-limited', models: ['gpt-4', 'gpt-4o-mini'] });
    const { body } = await get<ModelList>(gateway, '/api/models', undefined, limited.key);
    // `fast` is an alias of openai/gpt-4o-mini: the same model, so the key may use it too.
    assert.deepEqual(body.models.map((model) => model.id).sort(), ['fast', 'gpt-4', 'gpt-4o-mini']);
    assert.equal(body.count, 3);
    const search = await get<ModelList>(gateway, '/api/models/search', { q: 'gpt' }, limited.key);
    assert.deepEqual(search.body.models.map((model) => model.id).sort(), ['fast', 'gpt-4', 'gpt-4o-mini']);
    assert.equal((await get<ErrorBody>(gateway, '/api/models/gpt-4o', undefined, limited.key)).status, 403);
    assert.equal((await get<{ model: { id: string } }>(gateway, '/api/models/gpt-4', undefined, limited.key)).status, 200);
    const openai = await get<{ data: Array<{ id: string }> }>(gateway, '/v1/models', undefined, limited.key);
    assert.deepEqual(openai.body.data.map((model) => model.id).sort(), ['fast', 'gpt-4', 'gpt-4o-mini']);
    // One model of /v1/models: hidden as the list hides it (404, not /api/models' 403).
    for (const [path, status] of [['/v1/models/gpt-4', 200], ['/v1/models/openai/gpt-4', 200], ['/v1/models/gpt-4o', 404], ['/v1/models/openai%2Fgpt-4o', 404]] as const) {
      const answer = await get<ErrorBody>(gateway, path, undefined, limited.key);
      assert.equal(answer.status, status, path);
      if (status === 404) assert.equal(answer.body.error.code, 'model_not_found', path);
    }
  });
});

describe('model catalog: a provider that cannot be reached stays listed, marked stale', () => {
  let groq: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    groq = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['llama-3.1-8b-instant', 'groq-preview-model'] });
    gateway = await startGateway({
      GROQ_API_KEY: UPSTREAM_KEY,
      GROQ_BASE_URL: `${groq.url}/v1`,
      // Never reachable: its catalog models are listed, stale from the first failed read.
      MISTRAL_API_KEY: UPSTREAM_KEY,
      MISTRAL_BASE_URL: `http://127.0.0.1:${await closedPort()}/v1`,
      LLM_PROXY_RPM: '0',
    });
  });
  after(async () => {
    await gateway.close();
    await groq.close();
  });

  test('stale after a failed refresh, fresh again is not needed to stay listed', async () => {
    await gateway.app.services.discovery.refreshAll();
    let { body } = await get<ModelList>(gateway, '/api/models');
    const preview = body.models.find((m) => m.id === 'groq-preview-model');
    assert.equal(preview?.discovered, true);
    assert.equal(preview?.stale, false);
    const mistral = body.models.filter((m) => m.provider === 'mistral');
    assert.ok(mistral.length > 0, 'an unreachable provider keeps its catalog models');
    assert.ok(mistral.every((m) => m.stale));

    await groq.close();
    await gateway.app.services.discovery.refreshAll();
    ({ body } = await get<ModelList>(gateway, '/api/models'));
    const after = body.models.find((m) => m.id === 'groq-preview-model');
    assert.ok(after, 'the last known list is kept');
    assert.equal(after.stale, true);
    assert.ok(body.models.filter((m) => m.provider === 'groq').every((m) => m.stale));
    const { body: details } = await get<{ model: Model }>(gateway, '/api/models/groq-preview-model');
    assert.equal(details.model.stale, true);
    const { body: search } = await get<ModelList>(gateway, '/api/models/search', { provider: 'groq', q: 'preview' });
    assert.deepEqual(
      search.models.map((m) => [m.id, m.stale]),
      [['groq-preview-model', true]],
    );
  });
});
