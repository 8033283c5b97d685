// OpenAI's reasoning models refuse `max_tokens` (400 "Use 'max_completion_tokens' instead"): a
// client's max_tokens reaches one as max_completion_tokens, on its own and as a group's fallback,
// while other models get the field as sent.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, startGateway, type Gateway } from '../support/gateway-harness.js';

describe("max_tokens for OpenAI's reasoning models", () => {
  let openai: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    openai = await startFakeOpenAi({ apiKey: 'sk-test-openai-0123456789' });
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-reasoning-limit-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'models:\n  - name: gpt-4o\n    deployments:\n      - { provider: openai, model: gpt-4o }\n    fallbacks: [o3]\n    retries: 0\n');
    gateway = await startGateway({ LLM_PROXY_CONFIG: file, OPENAI_API_KEY: 'sk-test-openai-0123456789', OPENAI_BASE_URL: `${openai.url}/v1` });
  });
  after(async () => {
    await gateway.close();
    await openai.close();
  });

  const chat = (body: Record<string, unknown>) => fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(), body: JSON.stringify(body) });

  test('o3 gets max_completion_tokens; gpt-4o keeps max_tokens', async () => {
    assert.equal((await chat({ model: 'o3', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    const sent = openai.requests.at(-1)?.body as Record<string, unknown>;
    assert.deepEqual([sent.model, sent.max_completion_tokens, 'max_tokens' in sent], ['o3', 64, false]);
    assert.equal((await chat({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    assert.equal((openai.requests.at(-1)?.body as Record<string, unknown>).max_tokens, 64);
  });

  test("gpt-4o's fallback o3 gets the limit in its own name when gpt-4o fails", async () => {
    openai.enqueue({ kind: 'status', status: 503 });
    const response = await chat({ model: 'gpt-4o', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(response.status, 200);
    const last = openai.requests.at(-1)?.body as Record<string, unknown>;
    assert.deepEqual([last.model, last.max_completion_tokens, 'max_tokens' in last], ['o3', 32, false]);
  });
});
