// OpenRouter's server tools over HTTP. `openrouter:web_search` (the replacement for the deprecated
// `plugins: [{ id: "web" }]`): forwarded unchanged to an OpenRouter deployment, its reported searches
// billed, and held before the call (max_uses searches at $0.01, or Exa's results at $0.004, the larger).
// `openrouter:web_fetch` and `openrouter:datetime`: forwarded unchanged; fetches held at their engine's
// price a page (OpenRouter reports no count of them, so they are not billed). Any other provider is
// refused with a 400 naming the tool before any call.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, fakeProviderEnv, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, heldIn } from '../support/key-support.js';

const SEARCHES = 2;
const FETCHES = 3;
const TOOL = { type: 'openrouter:web_search', parameters: { engine: 'exa', max_results: 3, max_uses: 2, allowed_domains: ['example.com'] } };
// OpenRouter's documented example configuration, every parameter set.
const FETCH = { type: 'openrouter:web_fetch', parameters: { engine: 'exa', max_uses: 10, max_content_tokens: 100000, allowed_domains: ['docs.example.com'], blocked_domains: ['private.example.com'] } };
const QUESTION = [{ role: 'user', content: 'news?' }];
const body = (extra: Record<string, unknown> = {}) => ({ model: 'openrouter/openai/gpt-4o-mini', max_tokens: 16, messages: QUESTION, tools: [TOOL], ...extra });

/**
 * OpenRouter's usage (its ChatUsage schema): the server tools' calls in server_tool_use_details, the
 * searches counted apart; a call without its search tool reports its other tools' calls alone.
 */
function searchedUsage(body: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!Array.isArray(body.tools)) return undefined;
  const searching = body.tools.some((tool: { type?: unknown }) => tool.type === 'openrouter:web_search');
  const details = searching ? { tool_calls_requested: SEARCHES, tool_calls_executed: SEARCHES, web_search_requests: SEARCHES } : { tool_calls_requested: FETCHES, tool_calls_executed: FETCHES };
  return { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25, cost: 0.001, server_tool_use_details: details };
}

describe('OpenRouter server tools', () => {
  let openrouter: FakeOpenAi;
  let openai: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    openrouter = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['openai/gpt-4o-mini', 'meta-llama/llama-3.3-70b-instruct'], usage: searchedUsage });
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini'] });
    gateway = await startGateway({ ...fakeProviderEnv({ openrouter, openai }), LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
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

  test("web fetch and datetime reach an OpenRouter deployment as sent, beside a function tool; the fetches are not billed as searches", async () => {
    const { id, key } = await createKey(gateway.url, { name: 'or-fetch', max_budget: 100 });
    const tools = [FETCH, { type: 'openrouter:datetime', parameters: { timezone: 'Europe/Paris' } }, { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
    const answer = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ tools }));
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    assert.deepEqual(openrouter.requests.at(-1)?.body?.tools, tools);
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    // OpenRouter reports FETCHES server tool calls and no searches: no count of fetches to bill, and those calls are no searches.
    const cost = ours()[0]?.cost ?? 0;
    assert.ok(cost > 0 && cost < 0.001, `cost ${cost}: the tokens alone`);
  });

  test("the budget hold covers the fetches at their engine's price a page: max_uses of them, 1,000 when nothing bounds them; OpenRouter's own fetcher is free", async () => {
    const { key } = await createKey(gateway.url, { name: 'or-fetch-hold', max_budget: 0.5 });
    const fetching = (parameters: Record<string, unknown> | undefined) => body({ tools: [{ type: 'openrouter:web_fetch', ...(parameters === undefined ? {} : { parameters }) }] });
    assert.equal((await callJson(gateway.url, 'POST', '/v1/chat/completions', key, fetching({ engine: 'exa', max_uses: 3 }))).status, 200);
    assert.equal((await callJson(gateway.url, 'POST', '/v1/chat/completions', key, fetching({ engine: 'openrouter' }))).status, 200);
    const unbounded = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, fetching(undefined));
    assert.equal(unbounded.status, 403, unbounded.text.slice(0, 300));
    assert.match(heldIn(unbounded), /^\$1\.00/, '1,000 fetches at Exa\'s $0.001 (auto falls back to Exa)');
    const firecrawl = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, fetching({ engine: 'firecrawl', max_uses: 200 }));
    assert.equal(firecrawl.status, 403, firecrawl.text.slice(0, 300));
    assert.match(heldIn(firecrawl), /^\$0\.50/, '200 pages at $0.0025');
    assert.equal(openrouter.requests.length, 2, 'refused before any call');
  });

  test('a web fetch parameter of the wrong type is a 400 naming it, before any call', async () => {
    const { key } = await createKey(gateway.url, { name: 'or-fetch-bad', max_budget: 100 });
    // An engine OpenRouter does not document has no known price to hold.
    for (const parameters of [{ max_uses: 'three' }, { allowed_domains: 'example.com' }, { max_content_tokens: -1 }, { engine: 'bing' }]) {
      const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ tools: [{ type: 'openrouter:web_fetch', parameters }] }));
      assert.equal(refused.status, 400, refused.text.slice(0, 300));
      const error = (refused.body as { error: { message: string; param: string } }).error;
      assert.equal(error.param, `tools[0].parameters.${Object.keys(parameters)[0]}`, error.message);
    }
    assert.equal(openrouter.requests.length, 0);
  });

  test("a server tool the gateway does not take is a 400 naming its type and the ones it takes, before any call", async () => {
    const { key } = await createKey(gateway.url, { name: 'or-tool-unknown', max_budget: 100 });
    // Image generation has no price to hold; the advisor and subagent tools run (and bill) other models.
    for (const type of ['openrouter:image_generation', 'openrouter:advisor', 'openrouter:subagent']) {
      const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ tools: [{ type: 'function', function: { name: 'lookup' } }, { type, parameters: { model: 'anthropic/claude-opus-4.7' } }] }));
      assert.equal(refused.status, 400, refused.text.slice(0, 300));
      const error = (refused.body as { error: { message: string; param: string; code: string } }).error;
      assert.equal(error.param, 'tools[1].type');
      assert.equal(error.code, 'invalid_value');
      assert.ok(error.message.includes(`'${type}'`), error.message);
      for (const taken of ['openrouter:web_search', 'openrouter:web_fetch', 'openrouter:datetime']) assert.ok(error.message.includes(taken), error.message);
      assert.doesNotMatch(error.message, /union/);
    }
    assert.equal(openrouter.requests.length, 0);
  });

  test('web fetch or datetime on another provider is a 400 naming the tool and OpenRouter, before any call', async () => {
    const { key } = await createKey(gateway.url, { name: 'or-fetch-elsewhere', max_budget: 100 });
    for (const tool of [FETCH, { type: 'openrouter:datetime' }]) {
      const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ model: 'gpt-4o-mini', tools: [{ type: 'function', function: { name: 'lookup' } }, tool] }));
      assert.equal(refused.status, 400, refused.text.slice(0, 300));
      const error = (refused.body as { error: { message: string; param: string } }).error;
      assert.equal(error.param, 'tools[1]');
      assert.ok(error.message.includes(`'${tool.type}' is taken only by OpenRouter deployments`), error.message);
      assert.match(error.message, /openai/);
    }
    assert.equal(openai.requests.length, 0);
  });
});
