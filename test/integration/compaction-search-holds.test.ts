// Budget holds over HTTP for what a call may bill beside its tokens: a Claude compaction the request
// can trigger (a `compact_20260112` edit, once the prompt may reach the trigger) and OpenRouter's web
// plugin (`plugins: [{ id: "web" }]` or a `:online` model: $4 per 1,000 Exa results, 5 by default).
// A key whose budget fits the call without them but not with them is refused before any call.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, heldIn } from '../support/key-support.js';


const COMPACT = { edits: [{ type: 'compact_20260112' }] };

function messages(words: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  // inference_geo named: the hold takes no US-only multiplier, so the figures below are the base rates'.
  return { model: 'claude-opus-4-8', max_tokens: 64, inference_geo: 'global', messages: [{ role: 'user', content: 'word '.repeat(words) }], ...extra };
}

describe('budget holds for compaction and web search fees', () => {
  let anthropic: FakeAnthropic;
  let openai: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    anthropic = await startFakeAnthropic();
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['openai/gpt-4o-mini', 'anthropic/claude-sonnet-4.5'] });
    gateway = await startGateway({
      ANTHROPIC_API_KEY: UPSTREAM_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
      OPENROUTER_API_KEY: UPSTREAM_KEY,
      OPENROUTER_BASE_URL: `${openai.url}/v1`,
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'off',
    });
  });
  beforeEach(() => {
    anthropic.reset();
    openai.reset();
  });
  after(async () => {
    await gateway.close();
    await anthropic.close();
    await openai.close();
  });

  test('a compact_20260112 edit holds one compaction (the prompt in, the model’s 128,000-token output limit out) once the prompt may reach the trigger', async () => {
    const { key } = await createKey(gateway.url, { name: 'compacting', max_budget: 1 });
    // About 100,000 tokens: Opus 4.8 ($5 / $25 per MTok) holds $0.50 without compaction.
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, messages(100_000))).status, 200);
    const compacting = await callJson(gateway.url, 'POST', '/v1/messages', key, messages(100_000, { context_management: COMPACT }));
    assert.equal(compacting.status, 403, compacting.text.slice(0, 300));
    // $0.50 + a compaction of $0.50 in and 128,000 × $25 / MTok = $3.20 out.
    assert.equal(heldIn(compacting), '$4.20');
    // A lower trigger reaches a shorter prompt (40,000 tokens, ×1.5 past 50,000): $0.20 + $0.20 + $3.20.
    const lower = await callJson(gateway.url, 'POST', '/v1/messages', key, messages(40_000, { context_management: { edits: [{ type: 'compact_20260112', trigger: { type: 'input_tokens', value: 50_000 } }] } }));
    assert.equal(lower.status, 403, lower.text.slice(0, 300));
    assert.equal(heldIn(lower), '$3.60');
    assert.equal(anthropic.requests.length, 1, 'refused before any call');
    // A prompt that cannot reach the default trigger (150,000) holds nothing more.
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, messages(40_000, { context_management: COMPACT }))).status, 200);
  });

  test('OpenRouter’s web plugin: Exa’s results at $0.004 each (5 unless max_results says), native search at $0.01 a result, :online as the plugin', async () => {
    const { key } = await createKey(gateway.url, { name: 'searching', max_budget: 0.03 });
    const body = (extra: Record<string, unknown>) => ({ model: 'openrouter/openai/gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'news?' }], ...extra });
    assert.equal((await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({}))).status, 200);
    // OpenAI's models search natively on OpenRouter unless `engine` says otherwise: 5 × $0.01.
    const native = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ plugins: [{ id: 'web' }] }));
    assert.equal(native.status, 403, native.text.slice(0, 300));
    assert.equal(heldIn(native), '$0.05');
    const online = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ model: 'openrouter/openai/gpt-4o-mini:online' }));
    assert.equal(online.status, 403, online.text.slice(0, 300));
    assert.equal(heldIn(online), '$0.05');
    const exaMany = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ plugins: [{ id: 'web', engine: 'exa', max_results: 10 }] }));
    assert.equal(exaMany.status, 403, exaMany.text.slice(0, 300));
    assert.equal(heldIn(exaMany), '$0.04');
    assert.equal(openai.requests.length, 1, 'refused before any call');
    // 5 Exa results: $0.02 fits.
    const exa = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ plugins: [{ id: 'web', engine: 'exa' }] }));
    assert.equal(exa.status, 200, exa.text.slice(0, 300));
    assert.deepEqual(openai.requests.at(-1)?.body?.plugins, [{ id: 'web', engine: 'exa' }]);
  });
});
