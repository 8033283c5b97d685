// The web searches and fetches a request may be billed for on each kind of route, for its budget hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionRequest, OpenRouterWebFetchConfig } from '../openai/types.js';
import type { ProviderKind } from '../providers/provider.js';
import type { Route } from '../routing/model-router.js';
import { MAX_BILLED_SEARCHES, WEB_SEARCH_COST } from '../catalog/call-cost.js';
import { openRouterWebFee, searchBound } from './web-search-bound.js';

function route(kind: ProviderKind): Route {
  return { provider: { kind } } as unknown as Route;
}

const CHAT: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);
const KINDS: ProviderKind[] = ['anthropic', 'gemini', 'openai', 'openrouter', 'azure'];

describe('searchBound', () => {
  test('a request that asks for no search has no bound to compute (undefined)', () => {
    assert.equal(searchBound(CHAT, undefined), undefined);
    assert.equal(searchBound({ ...CHAT, web_search_options: null }, undefined), undefined);
    assert.equal(searchBound(CHAT, { tools: [{ name: 'f', input_schema: {} }] }), undefined);
    assert.equal(searchBound(CHAT, { tools: [{ type: 'web_search_20250305', name: 'web_search' }], tool_choice: { type: 'none' } }), undefined);
  });

  test("web_search_options: Claude (translated) by search_context_size 1/5/10 or no bound; OpenAI's own APIs one search a call; Gemini and other hosts no bound", () => {
    for (const [size, claude] of [['low', 1], ['medium', 5], ['high', 10], [undefined, Infinity], ['huge', Infinity]] as const) {
      const bound = searchBound({ ...CHAT, web_search_options: size === undefined ? {} : { search_context_size: size } }, undefined);
      assert.ok(bound !== undefined);
      assert.deepEqual(KINDS.map((kind) => bound(route(kind))), [claude, Infinity, 1, Infinity, 1], String(size));
    }
  });

  test("a native Messages body: Claude's web search tools' max_uses added up (no bound when one has none); other routes get the chat form", () => {
    const tools = [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }, { type: 'web_search_20260209', name: 'web_search', max_uses: 4 }, { name: 'f', input_schema: {} }];
    const bounded = searchBound(CHAT, { tools });
    assert.deepEqual(KINDS.map((kind) => bounded?.(route(kind))), [7, 0, 0, 0, 0]);
    const open = searchBound({ ...CHAT, web_search_options: {} }, { tools: [{ type: 'web_search_20250305', name: 'web_search' }] });
    assert.deepEqual(KINDS.map((kind) => open?.(route(kind))), [Infinity, Infinity, 1, Infinity, 1]);
  });
});

describe("openRouterWebFee: OpenRouter's openrouter:web_search server tool", () => {
  const openrouter = (upstreamModel: string): Route => ({ provider: { kind: 'openrouter' }, upstreamModel }) as unknown as Route;
  const searching = (parameters: Record<string, unknown> | undefined, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest =>
    ({ ...CHAT, tools: [{ type: 'openrouter:web_search', ...(parameters === undefined ? {} : { parameters }) }], ...extra }) as ChatCompletionRequest;

  test("Exa: the larger of max_uses searches at $0.01 (what the key is billed) and the results (max_results a search, 5 unless set; max_total_results, 50 unless set) at $0.004", () => {
    near(openRouterWebFee(searching({ engine: 'exa', max_uses: 3 }), openrouter('openai/gpt-4o')), 0.06, '3 searches of 5 results');
    near(openRouterWebFee(searching({ engine: 'exa', max_uses: 2, max_results: 10, max_total_results: 12 }), openrouter('openai/gpt-4o')), 0.048, '12 results at most');
    near(openRouterWebFee(searching({ max_uses: 20, max_results: 1 }), openrouter('meta-llama/llama-3.3-70b-instruct')), 0.2, 'auto is Exa off the native vendors: 20 searches > 20 results');
  });

  test('no max_uses: nothing bounds the searches, held at the most one call is billed (1,000 searches, $10)', () => {
    near(openRouterWebFee(searching(undefined), openrouter('meta-llama/llama-3.3-70b-instruct')), MAX_BILLED_SEARCHES * WEB_SEARCH_COST, 'no parameters');
    near(openRouterWebFee(searching({ max_results: 2 }), openrouter('openai/gpt-4o')), MAX_BILLED_SEARCHES * WEB_SEARCH_COST, 'native search');
  });

  test("native search: max_uses bounds Anthropic's (OpenRouter forwards it), not the other vendors'", () => {
    near(openRouterWebFee(searching({ max_uses: 2 }), openrouter('anthropic/claude-sonnet-4.5')), 0.02, 'Claude');
    near(openRouterWebFee(searching({ engine: 'native', max_uses: 2 }), openrouter('openai/gpt-4o')), MAX_BILLED_SEARCHES * WEB_SEARCH_COST, 'OpenAI ignores max_uses');
  });

  test("two tools add up; tool_choice none and other providers hold nothing", () => {
    const two = { ...CHAT, tools: [{ type: 'openrouter:web_search', parameters: { engine: 'exa', max_uses: 1 } }, { type: 'openrouter:web_search', parameters: { engine: 'exa', max_uses: 1 } }] } as ChatCompletionRequest;
    near(openRouterWebFee(two, openrouter('openai/gpt-4o')), 0.04, 'two tools');
    assert.equal(openRouterWebFee(searching({ engine: 'exa', max_uses: 3 }, { tool_choice: 'none' }), openrouter('openai/gpt-4o')), 0);
    assert.equal(openRouterWebFee(searching({ engine: 'exa', max_uses: 3 }), { provider: { kind: 'openai' }, upstreamModel: 'gpt-4o' } as unknown as Route), 0);
  });
});

describe("openRouterWebFee: OpenRouter's openrouter:web_fetch server tool", () => {
  const openrouter: Route = { provider: { kind: 'openrouter' }, upstreamModel: 'openai/gpt-4o' } as unknown as Route;
  const fetching = (parameters: OpenRouterWebFetchConfig | undefined, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
    ...CHAT,
    tools: [{ type: 'openrouter:web_fetch', ...(parameters === undefined ? {} : { parameters }) }],
    ...extra,
  });

  test("max_uses pages at the engine's price: Exa, Parallel and auto (Exa where the provider has no fetch) $0.001, Firecrawl and native $0.0025, OpenRouter's fetcher free", () => {
    for (const [engine, page] of [['exa', 0.001], ['parallel', 0.001], [undefined, 0.001], ['auto', 0.001], ['firecrawl', 0.0025], ['native', 0.0025], ['openrouter', 0]] as const) {
      near(openRouterWebFee(fetching({ ...(engine === undefined ? {} : { engine }), max_uses: 4, max_content_tokens: 100 }), openrouter), 4 * page, String(engine));
    }
  });

  test("no max_uses: OpenRouter's cap of 50 for native and its own fetcher, 1,000 pages for the uncapped engines", () => {
    near(openRouterWebFee(fetching(undefined), openrouter), MAX_BILLED_SEARCHES * 0.001, 'auto');
    near(openRouterWebFee(fetching({ engine: 'firecrawl' }), openrouter), MAX_BILLED_SEARCHES * 0.0025, 'firecrawl');
    near(openRouterWebFee(fetching({ engine: 'native' }), openrouter), 50 * 0.0025, 'native');
    assert.equal(openRouterWebFee(fetching({ engine: 'openrouter' }), openrouter), 0);
  });

  test('adds to a search tool beside it; datetime, tool_choice none and other providers hold nothing', () => {
    const both = { ...CHAT, tools: [{ type: 'openrouter:web_search', parameters: { engine: 'exa', max_uses: 1 } }, { type: 'openrouter:web_fetch', parameters: { engine: 'exa', max_uses: 5 } }, { type: 'openrouter:datetime' }] } as ChatCompletionRequest;
    near(openRouterWebFee(both, openrouter), 0.02 + 0.005, 'one search of 5 results and 5 pages');
    assert.equal(openRouterWebFee({ ...CHAT, tools: [{ type: 'openrouter:datetime', parameters: { timezone: 'Europe/Paris' } }] }, openrouter), 0);
    assert.equal(openRouterWebFee(fetching({ max_uses: 3 }, { tool_choice: 'none' }), openrouter), 0);
    assert.equal(openRouterWebFee(fetching({ max_uses: 3 }), { provider: { kind: 'openai' }, upstreamModel: 'gpt-4o' } as unknown as Route), 0);
  });
});
