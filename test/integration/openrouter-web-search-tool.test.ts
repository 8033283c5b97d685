// OpenRouter's `openrouter:web_search` server tool (the replacement for the deprecated `plugins: [{ id: "web" }]`)
// over HTTP: forwarded unchanged to an OpenRouter deployment, its reported searches billed, and held
// before the call (max_uses searches at $0.01, or Exa's results at $0.004, the larger); any other
// provider is refused with a 400 naming the tool before any call.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, heldIn } from '../support/key-support.js';

const SEARCHES = 2;
const TOOL = { type: 'openrouter:web_search', parameters: { engine: 'exa', max_results: 3, max_uses: 2, allowed_domains: ['example.com'] } };
const QUESTION = [{ role: 'user', content: 'news?' }];
const body = (extra: Record<string, unknown> = {}) => ({ model: 'openrouter/openai/gpt-4o-mini', max_tokens: 16, messages: QUESTION, tools: [TOOL], ...extra });

/** OpenRouter's usage (its ChatUsage schema): the server tool's searches in server_tool_use_details. */
function searchedUsage(body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!Array.isArray(body.tools)) return undefined;
  return { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, cost: 0.001, server_tool_use_details: { tool_calls_requested: SEARCHES, tool_calls_executed: SEARCHES, web_search_requests: SEARCHES } };
}

describe('OpenRouter web search server tool', () => {
  let openrouter: FakeOpenAi;
  let openai: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    openrouter = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['openai/gpt-4o-mini', 'meta-llama/llama-3.3-70b-instruct'], usage: searchedUsage });
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini'] });
    gateway = await startGateway({
      OPENROUTER_API_KEY: UPSTREAM_KEY,
      OPENROUTER_BASE_URL: `${openrouter.url}/v1`,
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'off',
    });
  });
  beforeEach(() => {
    openrouter.reset();
    openai.reset();
  });
  after(async () => {
    await gateway.close();
    await openrouter.close();
    await openai.close();
  });

  test('an OpenRouter deployment gets the tool as sent, and the key is charged the searches OpenRouter reports', async () => {
    const { id, key } = await createKey(gateway.url, { name: 'or-tool', max_budget: 100 });
    const answer = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body());
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    assert.deepEqual(openrouter.requests.at(-1)?.body?.tools, [TOOL]);
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    const cost = ours()[0]?.cost ?? 0;
    assert.ok(cost >= SEARCHES * 0.01 && cost < SEARCHES * 0.01 + 0.001, `cost ${cost}: the tokens and ${SEARCHES} searches at $0.01`);
  });

  test('the budget hold covers the searches: max_uses at $0.01 or Exa results at $0.004, the larger; no max_uses holds $10', async () => {
    const { key } = await createKey(gateway.url, { name: 'or-tool-hold', max_budget: 0.03 });
    assert.equal((await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ tools: undefined }))).status, 200);
    // 2 searches of 3 results: 6 × $0.004 = $0.024 > 2 × $0.01, beside the tokens: fits $0.03.
    assert.equal((await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body())).status, 200);
    const moreResults = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ tools: [{ type: 'openrouter:web_search', parameters: { engine: 'exa', max_uses: 3 } }] }));
    assert.equal(moreResults.status, 403, moreResults.text.slice(0, 300));
    assert.match(heldIn(moreResults), /^\$0\.06/);
    const unbounded = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ tools: [{ type: 'openrouter:web_search' }] }));
    assert.equal(unbounded.status, 403, unbounded.text.slice(0, 300));
    assert.match(heldIn(unbounded), /^\$10\.0/);
    assert.equal(openrouter.requests.length, 2, 'refused before any call');
  });

  test('another provider is a 400 naming the tool and OpenRouter, before any call', async () => {
    const { key } = await createKey(gateway.url, { name: 'or-tool-elsewhere', max_budget: 100 });
    const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ model: 'gpt-4o-mini' }));
    assert.equal(refused.status, 400, refused.text.slice(0, 300));
    const error = (refused.body as { error: { message: string; param: string } }).error;
    assert.equal(error.param, 'tools[0]');
    assert.match(error.message, /openrouter:web_search/);
    assert.match(error.message, /OpenRouter/);
    assert.equal(openai.requests.length, 0);
  });
});
