// Azure OpenAI's v1 API ({endpoint}/openai/v1/..., the deployment named by the body's `model`, no
// dated api-version), chosen by an endpoint ending in /openai/v1 or by api_version v1/preview, over
// real HTTP with the openai client against a fake Azure that refuses the other API's shape. The
// deployment API stays what a dated api_version selects.
// @see https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, CLIENT_KEY, eventually, startGateway, type Gateway } from '../support/gateway-harness.js';

const AZURE_KEY = 'azure-v1-key-0123456789abcdef';

describe('Azure OpenAI v1 API', () => {
  let azure: FakeOpenAi;
  let gateway: Gateway;
  let client: OpenAI;

  before(async () => {
    azure = await startFakeOpenAi({ apiKey: AZURE_KEY, azureCatalog: ['gpt-4o-2024-08-06', 'text-embedding-3-small', 'dall-e-3'] });
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-azure-v1-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      `providers:
  azure: { models: [prod-gpt4o, embed-prod] }
  azure-preview: { type: azure, api_key: ${AZURE_KEY}, base_url: "${azure.url}", api_version: preview, models: [preview-gpt4o] }
  azure-dated: { type: azure, api_key: ${AZURE_KEY}, base_url: "${azure.url}/openai/v1", api_version: 2024-10-21, models: [dated-gpt4o] }
`,
    );
    // The endpoint as Microsoft's v1 samples write the openai client's base_url.
    gateway = await startGateway({ LLM_PROXY_CONFIG: file, AZURE_OPENAI_API_KEY: AZURE_KEY, AZURE_OPENAI_ENDPOINT: `${azure.url}/openai/v1/` });
    client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await azure.close();
  });

  test('chat: an endpoint ending in /openai/v1 calls /openai/v1/chat/completions with the deployment as model, no api-version, the key in api-key', async () => {
    azure.reset();
    const answer = await client.chat.completions.create({ model: 'azure/prod-gpt4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.match(answer.choices[0]?.message.content ?? '', /You said: hi/);
    const sent = azure.requests.at(-1);
    assert.equal(sent?.path, '/openai/v1/chat/completions');
    assert.equal(sent?.body?.model, 'prod-gpt4o');
    assert.equal(sent?.headers['api-key'], AZURE_KEY);
    assert.equal(sent?.headers.authorization, undefined);
  });

  test('chat stream: v1 takes stream_options, so usage is asked and reported', async () => {
    azure.reset();
    const stream = await client.chat.completions.create({ model: 'prod-gpt4o', messages: [{ role: 'user', content: 'stream me' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.match(text, /You said: stream me/);
    assert.ok(usage !== undefined && usage !== null && usage.completion_tokens > 0, 'the usage chunk came through');
    const sent = azure.requests.at(-1);
    assert.equal(sent?.path, '/openai/v1/chat/completions');
    assert.equal(sent?.body?.model, 'prod-gpt4o');
    assert.deepEqual(sent?.body?.stream_options, { include_usage: true });
  });

  test('embeddings: /openai/v1/embeddings with the deployment as model', async () => {
    azure.reset();
    const answer = await client.embeddings.create({ model: 'azure/embed-prod', input: ['one', 'two'] });
    assert.equal(answer.data.length, 2);
    const sent = azure.requests.at(-1);
    assert.equal(sent?.path, '/openai/v1/embeddings');
    assert.equal(sent?.body?.model, 'embed-prod');
    assert.equal(sent?.headers['api-key'], AZURE_KEY);
  });

  test('api_version preview selects the v1 API on a resource endpoint and is sent as api-version=preview', async () => {
    azure.reset();
    const answer = await client.chat.completions.create({ model: 'azure-preview/preview-gpt4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.object, 'chat.completion');
    assert.equal(azure.requests.at(-1)?.path, '/openai/v1/chat/completions?api-version=preview');
    assert.equal(azure.requests.at(-1)?.body?.model, 'preview-gpt4o');
  });

  test('a dated api_version keeps the deployment API, whatever the endpoint ends with', async () => {
    azure.reset();
    const answer = await client.chat.completions.create({ model: 'azure-dated/dated-gpt4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.object, 'chat.completion');
    assert.equal(azure.requests.at(-1)?.path, '/openai/deployments/dated-gpt4o/chat/completions?api-version=2024-10-21');
  });

  test('/v1/completions: the v1 API has no legacy completions, so they are served over its chat', async () => {
    azure.reset();
    const response = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: authHeaders(), body: JSON.stringify({ model: 'azure/prod-gpt4o', prompt: 'Once upon a time', max_tokens: 9 }) });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-emulated'), 'chat');
    const body = (await response.json()) as { object: string };
    assert.equal(body.object, 'text_completion');
    assert.equal(azure.requests.at(-1)?.path, '/openai/v1/chat/completions');
  });

  test("discovery: /openai/v1/models lists Azure's model catalog, not the deployments, so it is not read as routes", async () => {
    azure.reset();
    await gateway.app.services.discovery.refreshAll();
    const response = await fetch(`${gateway.url}/v1/models`, { headers: authHeaders() });
    const ids = ((await response.json()) as { data: Array<{ id: string }> }).data.map((model) => model.id);
    assert.ok(ids.includes('prod-gpt4o') || ids.includes('azure/prod-gpt4o'), ids.join(', '));
    for (const catalogued of ['gpt-4o-2024-08-06', 'dall-e-3']) assert.ok(!ids.some((id) => id.endsWith(catalogued)), `${catalogued} is not a deployment: ${ids.join(', ')}`);
    assert.equal(azure.requests.filter((request) => request.path.startsWith('/openai/v1/models')).length, 0);
  });

  test('the Azure key appears in no log line', async () => {
    await eventually(() => gateway.logs.length > 0);
    assert.ok(!gateway.logs.some((line) => line.includes(AZURE_KEY)));
  });
});
