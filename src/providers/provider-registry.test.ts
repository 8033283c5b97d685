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

test("an Azure endpoint written with Azure's /openai (or /openai/v1) path is the resource itself: the deployment paths are not doubled", () => {
  for (const endpoint of ['https://acme.openai.azure.com', 'https://acme.openai.azure.com/', 'https://acme.openai.azure.com/openai', 'https://acme.openai.azure.com/openai/', 'https://acme.openai.azure.com/openai/v1/']) {
    assert.equal(baseUrlOf({ AZURE_OPENAI_API_KEY: 'azure-key-123456', AZURE_OPENAI_ENDPOINT: endpoint }, 'azure'), 'https://acme.openai.azure.com/', endpoint);
  }
});

test('Ollama keeps getting /v1 added to the bare server address', () => {
  assert.equal(baseUrlOf({ OLLAMA_BASE_URL: 'http://127.0.0.1:11434' }, 'ollama'), 'http://127.0.0.1:11434/v1');
});
