// Warnings a config gets without being refused: weak static client keys on a public listener.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../config/config-loader.js';
import { azureEndpointWarnings, configWarnings, weakClientKeysWarning } from './config-warnings.js';

const STRONG = 's'.repeat(32);
const MASTER = 'm'.repeat(40);

function configFor(env: Record<string, string>) {
  return loadConfig({ LLM_PROXY_DB: join(tmpdir(), 'config-warnings-unused.db'), LLM_PROXY_MASTER_KEY: MASTER, ...env }).config;
}

test('short client keys on a public listener are named by their place in the list, never by the key', () => {
  const warning = weakClientKeysWarning(configFor({ HOST: '0.0.0.0', LLM_PROXY_API_KEYS: `your-api-key,${STRONG},team-key` }));
  assert.ok(warning !== undefined);
  assert.match(warning, /^auth\.api_keys: keys 1, 3 of LLM_PROXY_API_KEYS are shorter than 32 characters while the proxy listens on 0\.0\.0\.0/);
  assert.ok(!warning.includes('your-api-key') && !warning.includes('team-key') && !warning.includes(STRONG), warning);
  assert.match(weakClientKeysWarning(configFor({ HOST: '::', LLM_PROXY_API_KEYS: 'k' })) ?? '', /^auth\.api_keys: key 1 of LLM_PROXY_API_KEYS is shorter/);
  assert.deepEqual(
    configWarnings(configFor({ HOST: '0.0.0.0', LLM_PROXY_API_KEYS: 'k' })).map((warning) => warning.component),
    ['auth'],
  );
});

test('strong keys, or any key on loopback, get no warning', () => {
  assert.equal(weakClientKeysWarning(configFor({ HOST: '0.0.0.0', LLM_PROXY_API_KEYS: `${STRONG},${STRONG}x` })), undefined);
  for (const host of ['127.0.0.1', 'localhost', '::1']) assert.equal(weakClientKeysWarning(configFor({ HOST: host, LLM_PROXY_API_KEYS: 'your-api-key' })), undefined, host);
  assert.deepEqual(configWarnings(configFor({ HOST: '127.0.0.1', LLM_PROXY_API_KEYS: 'your-api-key' })), []);
});

test("an Azure endpoint ending in /openai/v1 with a dated api_version is warned of: the calls go to the deployment API", () => {
  const azure = (version?: string) => configFor({ AZURE_OPENAI_API_KEY: 'k', AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com/openai/v1/', ...(version === undefined ? {} : { AZURE_OPENAI_API_VERSION: version }) });
  const [warning] = azureEndpointWarnings(azure('2024-10-21'));
  assert.match(warning ?? '', /^providers\.azure\.api_version: '2024-10-21' is a dated version/);
  assert.doesNotMatch(warning ?? '', /res\.openai\.azure\.com/, 'the URL is not printed');
  assert.deepEqual(configWarnings(azure('2024-10-21')).map((entry) => entry.component), ['routing']);
  // The v1 API as configured, or the deployment API on a bare endpoint: nothing to say.
  for (const version of [undefined, 'v1', 'preview']) assert.deepEqual(azureEndpointWarnings(azure(version)), [], String(version));
  assert.deepEqual(azureEndpointWarnings(configFor({ AZURE_OPENAI_API_KEY: 'k', AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com', AZURE_OPENAI_API_VERSION: '2024-10-21' })), []);
});
