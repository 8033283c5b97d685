// The web searches a request may be billed for on each kind of route, for its budget hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { ProviderKind } from '../providers/provider.js';
import type { Route } from '../routing/model-router.js';
import { searchBound } from './web-search-bound.js';

function route(kind: ProviderKind): Route {
  return { provider: { kind } } as unknown as Route;
}

const CHAT: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
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
