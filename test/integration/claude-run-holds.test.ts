// Budget holds over HTTP for what a native Claude call may run beyond one sampling of the requested
// model: the server-tool loop re-reading the prompt (up to Anthropic's 10 iterations; the MCP
// connector's servers run their tools in it too), advisor
// consultations (at the advisor model's rates, max_uses × max_tokens) and server-side fallback
// attempts (at each fallback model's rates). A key whose budget fits the call without them but not
// with them is refused before any call.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, errorMessage, heldIn } from '../support/key-support.js';

/** About 100,000 prompt tokens; `inference_geo: "global"` so the holds take no US-only multiplier. */
function messages(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, max_tokens: 2_000, inference_geo: 'global', messages: [{ role: 'user', content: 'word '.repeat(100_000) }], ...extra };
}

const ADVISOR = { type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-4-8' };

describe('budget holds for the other runs a native Claude call may make', () => {
  let anthropic: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    anthropic = await startFakeAnthropic();
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: anthropic.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  beforeEach(() => anthropic.reset());
  after(async () => {
    await gateway.close();
    await anthropic.close();
  });

  test('a server tool holds the prompt re-read by each of the loop’s 10 iterations; no server tool, or tool_choice none, holds one', async () => {
    const { key } = await createKey(gateway.url, { name: 'looping', max_budget: 1 });
    // Sonnet 4.6 ($3 / $15 per MTok): $0.30 in, $0.03 out.
    const sonnet = (extra: Record<string, unknown> = {}) => callJson(gateway.url, 'POST', '/v1/messages', key, messages('claude-sonnet-4-6', extra));
    assert.equal((await sonnet()).status, 200);
    const client = { name: 'lookup', description: 'Looks a word up.', input_schema: { type: 'object', properties: {} } };
    assert.equal((await sonnet({ tools: [client] })).status, 200, 'a client tool runs no server loop');
    // Two searches ($0.02) and nine more readings of the prompt ($2.70).
    const search = await sonnet({ tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }] });
    assert.equal(search.status, 403, search.text.slice(0, 300));
    assert.equal(heldIn(search), '$3.05');
    const code = await sonnet({ tools: [{ type: 'code_execution_20250825', name: 'code_execution' }] });
    assert.equal(code.status, 403, code.text.slice(0, 300));
    assert.equal(heldIn(code), '$3.03');
    assert.equal(anthropic.requests.length, 2, 'refused before any call');
    assert.equal((await sonnet({ tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }], tool_choice: { type: 'none' } })).status, 200);
  });

  test('MCP servers hold the loop their tools run in, as a server tool does: refused before any call on a small budget, sent on an adequate one', async () => {
    const small = await createKey(gateway.url, { name: 'mcp-small', max_budget: 1 });
    const ample = await createKey(gateway.url, { name: 'mcp-ample', max_budget: 5 });
    const mcp = { mcp_servers: [{ type: 'url', url: 'https://mcp.example.com/sse', name: 'docs' }], tools: [{ type: 'mcp_toolset', mcp_server_name: 'docs' }] };
    const sonnet = (key: string, extra: Record<string, unknown> = {}) => callJson(gateway.url, 'POST', '/v1/messages', key, messages('claude-sonnet-4-6', extra));
    // $0.33 for one sampling, and nine more readings of the prompt ($2.70).
    const refused = await sonnet(small.key, mcp);
    assert.equal(refused.status, 403, refused.text.slice(0, 300));
    assert.equal(heldIn(refused), '$3.03');
    assert.match(errorMessage(refused), /mcp_servers/, 'the refusal names what the loop comes from');
    assert.equal(anthropic.requests.length, 0, 'refused before any call');
    assert.equal((await sonnet(small.key, { ...mcp, tool_choice: { type: 'none' } })).status, 200, 'tool_choice none runs no MCP tool');
    const sent = await sonnet(ample.key, mcp);
    assert.equal(sent.status, 200, sent.text.slice(0, 300));
    assert.equal(anthropic.requests.length, 2);
    const body = anthropic.requests[1]?.body as Record<string, unknown> | undefined;
    assert.deepEqual(body?.mcp_servers, mcp.mcp_servers, 'the servers reach Anthropic as they came');
  });

  test('an advisor holds max_uses consultations of the prompt and its max_tokens at the advisor model’s rates', async () => {
    const { key } = await createKey(gateway.url, { name: 'advised', max_budget: 1 });
    const sonnet = (extra: Record<string, unknown>) => callJson(gateway.url, 'POST', '/v1/messages', key, messages('claude-sonnet-4-6', extra));
    // $0.33 + the loop's $2.70 + 2 × Opus 4.8 ($5 / $25 per MTok): $0.50 in, $0.10 out.
    const bounded = await sonnet({ tools: [{ ...ADVISOR, max_uses: 2, max_tokens: 4_000 }] });
    assert.equal(bounded.status, 403, bounded.text.slice(0, 300));
    assert.equal(heldIn(bounded), '$4.23');
    // The advisor's own prompt cached for an hour: written at $10 per MTok.
    const cached = await sonnet({ tools: [{ ...ADVISOR, max_uses: 2, max_tokens: 4_000, caching: { type: 'ephemeral', ttl: '1h' } }] });
    assert.equal(heldIn(cached), '$5.23');
    // Unbounded: one consultation per iteration of the loop (10), each up to Opus 4.8's 128,000 output tokens ($3.20).
    const unbounded = await sonnet({ tools: [ADVISOR] });
    assert.equal(heldIn(unbounded), '$40.03');
    assert.equal(anthropic.requests.length, 0, 'refused before any call');
  });

  test('server-side fallbacks hold one more attempt per fallback model, at its rates, speed and max_tokens', async () => {
    const { key } = await createKey(gateway.url, { name: 'falling-back', max_budget: 1.5 });
    // Fable 5 ($10 / $50 per MTok): $1.00 in, $0.10 out.
    const fable = (extra: Record<string, unknown> = {}) => callJson(gateway.url, 'POST', '/v1/messages', key, messages('claude-fable-5', extra));
    assert.equal((await fable()).status, 200);
    // Opus 4.8 reads the prompt and what Fable may have written before declining (102,000 × $5 per MTok) and writes 2,000 ($0.05).
    const opus = await fable({ fallbacks: [{ model: 'claude-opus-4-8' }] });
    assert.equal(opus.status, 403, opus.text.slice(0, 300));
    assert.equal(heldIn(opus), '$1.66');
    // Its own max_tokens (4,000: $0.10) in fast mode (2×).
    const fast = await fable({ fallbacks: [{ model: 'claude-opus-4-8', max_tokens: 4_000, speed: 'fast' }] });
    assert.equal(heldIn(fast), '$2.32');
    // "default": Anthropic picks the model, so the attempt is held at the requested model's rates.
    const chosen = await fable({ fallbacks: 'default' });
    assert.equal(heldIn(chosen), '$2.22');
    assert.equal(anthropic.requests.length, 1, 'refused before any call');
  });
});
