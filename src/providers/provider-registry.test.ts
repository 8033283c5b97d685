import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config-loader.js';
import { buildProviders } from './provider-registry.js';

function baseUrlOf(env: Record<string, string>, name: string): string | undefined {
  const { config } = loadConfig({ LLM_PROXY_DB: join(tmpdir(), 'provider-registry-unused.db'), LLM_PROXY_API_KEYS: 'k', ...env });
  return buildProviders(config).providers.find((provider) => provider.name === name)?.baseUrl.href;
}

test("an Azure endpoint written with Azure's /openai path is the resource itself: the deployment paths are not doubled", () => {
  for (const endpoint of ['https://acme.openai.azure.com', 'https://acme.openai.azure.com/', 'https://acme.openai.azure.com/openai', 'https://acme.openai.azure.com/openai/']) {
    assert.equal(baseUrlOf({ AZURE_OPENAI_API_KEY: 'azure-key-123456', AZURE_OPENAI_ENDPOINT: endpoint }, 'azure'), 'https://acme.openai.azure.com/', endpoint);
  }
});

test("Azure's v1 API: an endpoint ending in /openai/v1, or api_version v1/preview, is served at the endpoint's /openai/v1", () => {
  const key = { AZURE_OPENAI_API_KEY: 'azure-key-123456' };
  for (const endpoint of ['https://acme.openai.azure.com/openai/v1', 'https://acme.openai.azure.com/openai/v1/']) {
    assert.equal(baseUrlOf({ ...key, AZURE_OPENAI_ENDPOINT: endpoint }, 'azure'), 'https://acme.openai.azure.com/openai/v1', endpoint);
  }
  for (const version of ['v1', 'preview']) {
    for (const endpoint of ['https://acme.openai.azure.com', 'https://acme.openai.azure.com/', 'https://acme.openai.azure.com/openai', 'https://acme.openai.azure.com/openai/v1/']) {
      assert.equal(baseUrlOf({ ...key, AZURE_OPENAI_ENDPOINT: endpoint, AZURE_OPENAI_API_VERSION: version }, 'azure'), 'https://acme.openai.azure.com/openai/v1', `${endpoint} ${version}`);
    }
  }
  // A dated api-version is the deployment API's (the v1 paths refuse one): the endpoint is the resource.
  assert.equal(baseUrlOf({ ...key, AZURE_OPENAI_ENDPOINT: 'https://acme.openai.azure.com/openai/v1/', AZURE_OPENAI_API_VERSION: '2024-10-21' }, 'azure'), 'https://acme.openai.azure.com/');
});

test('Ollama keeps getting /v1 added to the bare server address', () => {
  assert.equal(baseUrlOf({ OLLAMA_BASE_URL: 'http://127.0.0.1:11434' }, 'ollama'), 'http://127.0.0.1:11434/v1');
});
