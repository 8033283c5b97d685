// What a Messages body lets Anthropic run beside one sampling of its model, and what that may add to a hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CatalogEntry } from '../catalog/catalog-types.js';
import { claudeRuns, claudeRunsHold, SERVER_LOOP_ITERATIONS, type RunsPricing } from './claude-runs-bound.js';

const ASK = { model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };

function entry(id: string, input: number | null, output: number | null): CatalogEntry {
  return {
    id,
    name: id,
    provider: 'anthropic',
    context_length: 200_000,
    max_output_tokens: 1_000,
    input_cost: input,
    output_cost: output,
    supports_chat: true,
    supports_streaming: true,
    capabilities: [],
    modalities: { input: ['text'], output: ['text'] },
    source: { url: 'https://example.test', date: '2026-01-01' },
  };
}

describe('claudeRuns', () => {
  test('a body with no server tool, no advisor and no fallbacks runs nothing more (undefined)', () => {
    assert.equal(claudeRuns(ASK), undefined);
    assert.equal(claudeRuns('not a body'), undefined);
    // Client tools, Anthropic's schema-defined ones included, are run by the client: no server loop.
    assert.equal(claudeRuns({ ...ASK, tools: [{ name: 'f', input_schema: {} }, { type: 'bash_20250124', name: 'bash' }, { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' }] }), undefined);
    assert.equal(claudeRuns({ ...ASK, fallbacks: [] }), undefined);
  });

  test('every server tool runs in the sampling loop; tool_choice none runs none', () => {
    for (const type of ['web_search_20260209', 'web_fetch_20250910', 'code_execution_20250825', 'tool_search_tool_regex_20251119', 'tool_search_tool_bm25_20251119']) {
      assert.deepEqual(claudeRuns({ ...ASK, tools: [{ type, name: 'x' }] }), { iterations: SERVER_LOOP_ITERATIONS, advisors: [], fallbacks: [] }, type);
    }
    assert.equal(claudeRuns({ ...ASK, tools: [{ type: 'web_fetch_20250910', name: 'web_fetch' }], tool_choice: { type: 'none' } }), undefined);
  });

  test('MCP servers (the MCP connector) run their tools in the same loop; none declared, or tool_choice none, runs none', () => {
    const server = { type: 'url', url: 'https://mcp.example.com/sse', name: 'docs' };
    const looped = { iterations: SERVER_LOOP_ITERATIONS, advisors: [], fallbacks: [], mcp: true };
    // mcp-client-2025-04-04: the servers alone; mcp-client-2025-11-20 and later: each with an mcp_toolset in tools.
    assert.deepEqual(claudeRuns({ ...ASK, mcp_servers: [server] }), looped);
    assert.deepEqual(claudeRuns({ ...ASK, mcp_servers: [server], tools: [{ type: 'mcp_toolset', mcp_server_name: 'docs' }] }), looped);
    assert.deepEqual(claudeRuns({ ...ASK, mcp_servers: [server], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), looped);
    assert.equal(claudeRuns({ ...ASK, mcp_servers: [] }), undefined);
    assert.equal(claudeRuns({ ...ASK, mcp_servers: [server], tool_choice: { type: 'none' } }), undefined);
    // Fallback attempts run the same request, MCP servers included: each with its own loop.
    assert.equal(claudeRuns({ ...ASK, mcp_servers: [server], fallbacks: 'default' })?.iterations, SERVER_LOOP_ITERATIONS);
  });

  test('an advisor: its model, max_uses (else one per iteration), max_tokens and the TTL its prompt is cached at', () => {
    const runs = claudeRuns({
      ...ASK,
      tools: [
        { type: 'advisor_20260301', name: 'advisor', model: 'claude-big', max_uses: 3, max_tokens: 2048, caching: { type: 'ephemeral', ttl: '1h' } },
        { type: 'advisor_20260301', name: 'advisor', model: 'claude-big', caching: { type: 'ephemeral' } },
        { type: 'advisor_20260301', name: 'advisor' },
      ],
    });
    assert.deepEqual(runs?.advisors, [
      { model: 'claude-big', field: 'tools[0].model', uses: 3, maxTokens: 2048, writes: '1h' },
      { model: 'claude-big', field: 'tools[1].model', uses: SERVER_LOOP_ITERATIONS, maxTokens: undefined, writes: 'default' },
    ]);
    assert.equal(runs?.iterations, SERVER_LOOP_ITERATIONS);
    assert.equal(claudeRuns({ ...ASK, tools: [{ type: 'advisor_20260301', name: 'advisor', model: 'claude-big' }], tool_choice: { type: 'none' } }), undefined);
  });

  test('fallbacks: the entries that name a model, with their overrides, or "default"; the loop stays off without a server tool', () => {
    assert.deepEqual(claudeRuns({ ...ASK, fallbacks: [{ model: 'claude-a', max_tokens: 50, speed: 'fast' }, { max_tokens: 9 }, 'claude-b', { model: 'claude-c' }] }), {
      iterations: 1,
      advisors: [],
      fallbacks: [
        { model: 'claude-a', field: 'fallbacks[0].model', maxTokens: 50, speed: 'fast' },
        { model: 'claude-c', field: 'fallbacks[3].model', maxTokens: undefined, speed: undefined },
      ],
    });
    assert.deepEqual(claudeRuns({ ...ASK, fallbacks: 'default' })?.fallbacks, 'default');
  });
});

describe('claudeRunsHold', () => {
  // Per 1K tokens: the requested model $1 / $2, a dearer one $10 / $20.
  const small = entry('claude-x', 1, 2);
  const big = entry('claude-big', 10, 20);
  const pricing = (overrides: Partial<RunsPricing> = {}): RunsPricing => ({
    entry: small,
    entryOf: (model) => (model === 'claude-big' ? big : model === 'claude-unpriced' ? entry('claude-unpriced', null, null) : undefined),
    promptTokens: 1_000,
    output: 100,
    asked: 100,
    limit: (model) => model.max_output_tokens ?? 4_096,
    writesOf: () => 'none',
    scale: 1,
    body: ASK,
    ...overrides,
  });

  test('the loop: the prompt read again by each further iteration, at the requested model’s multiplier', () => {
    assert.equal(claudeRunsHold({ iterations: 10, advisors: [], fallbacks: [] }, pricing()), 9 * 1);
    assert.equal(claudeRunsHold({ iterations: 10, advisors: [], fallbacks: [] }, pricing({ scale: 1.1 })), 9 * 1.1);
  });

  test('an advisor at its own rates, or the requested model’s when the catalog does not price it', () => {
    const advisor = { model: 'claude-big', field: 'tools[0].model', uses: 2, maxTokens: 500, writes: 'none' as const };
    assert.equal(claudeRunsHold({ iterations: 1, advisors: [advisor], fallbacks: [] }, pricing()), 2 * (10 + 0.5 * 20));
    // No max_tokens: the advisor model's output limit (1,000 tokens).
    assert.equal(claudeRunsHold({ iterations: 1, advisors: [{ ...advisor, maxTokens: undefined }] , fallbacks: [] }, pricing()), 2 * (10 + 20));
    assert.equal(claudeRunsHold({ iterations: 1, advisors: [{ ...advisor, model: 'claude-unpriced' }], fallbacks: [] }, pricing()), 2 * (1 + 0.5 * 2));
  });

  test('fallback attempts read the prompt and what the attempts before them may have written, each with its own loop', () => {
    const runs = {
      iterations: 2,
      advisors: [],
      fallbacks: [
        { model: 'claude-big', field: 'fallbacks[0].model', maxTokens: 200, speed: undefined },
        { model: 'claude-x', field: 'fallbacks[1].model', maxTokens: undefined, speed: undefined },
      ],
    };
    // The requested model's second iteration: 1; claude-big reads 1,100 twice and writes 200: 11 + 4 + 11;
    // claude-x reads 1,300 twice and writes the request's 100: 1.3 + 0.2 + 1.3.
    assert.ok(Math.abs(claudeRunsHold(runs, pricing()) - (1 + 26 + 2.8)) < 1e-9);
    // "default": one attempt at the requested model's rates.
    assert.ok(Math.abs(claudeRunsHold({ iterations: 1, advisors: [], fallbacks: 'default' }, pricing()) - (1.1 + 0.2)) < 1e-9);
  });
});
