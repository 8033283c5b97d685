// Rate multipliers (Claude's fast mode, inference geography) set in the config's `model_catalog:`,
// over HTTP on native /v1/messages: a model the built-in catalog lacks gets them, a built-in one has
// its fast-mode multiplier corrected and keeps its geography; each call's record, the key's spend,
// its budget hold and /api/models all follow the config.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, heldIn, settledSpend } from '../support/key-support.js';
import { configFile } from '../support/reliability-support.js';

const CONFIG = `
model_catalog:
  claude-next:
    provider: anthropic
    input_cost: 0.005
    output_cost: 0.025
    cache_writes: cache_control
    rate_multipliers: { fast: 6, inference_geo: { us: 1.1 } }
  claude-opus-4-8:
    rate_multipliers: { fast: 3 }
`;

/** The fixture's tokens (anthropic-compaction-fast: 162,000 in, 3,100 out, fast and US-only) at $5 / $25 per MTok. */
const TOKENS = (162_000 * 5 + 3_100 * 25) / 1e6;

describe('rate multipliers from model_catalog', () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeAnthropic({ scenario: 'compaction-fast' });
    gateway = await startGateway({
      ANTHROPIC_API_KEY: UPSTREAM_KEY,
      ANTHROPIC_BASE_URL: upstream.url,
      LLM_PROXY_CONFIG: configFile(CONFIG),
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'off',
    });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('/api/models shows the configured multipliers, merged over the built-in ones', async () => {
    const next = await callJson(gateway.url, 'GET', '/api/models/claude-next', CLIENT_KEY);
    assert.equal(next.status, 200, next.text);
    assert.deepEqual((next.body.model as Record<string, unknown>).rate_multipliers, { fast: 6, inference_geo: { us: 1.1 } });
    const opus = await callJson(gateway.url, 'GET', '/api/models/claude-opus-4-8', CLIENT_KEY);
    assert.deepEqual((opus.body.model as Record<string, unknown>).rate_multipliers, { fast: 3, inference_geo: { us: 1.1 } }, 'fast corrected, the geography kept');
  });

  test('a call in fast mode and US-only is billed at the configured multipliers, and the key charged as much', async () => {
    const { id, key } = await createKey(gateway.url, { name: 'configured-fast', max_budget: 50 });
    const body = { max_tokens: 200, speed: 'fast', inference_geo: 'us', context_management: { edits: [{ type: 'compact_20260112' }] }, messages: [{ role: 'user', content: 'Go on.' }] };
    for (const model of ['claude-next', 'claude-opus-4-8']) {
      const answer = await callJson(gateway.url, 'POST', '/v1/messages', key, { ...body, model });
      assert.equal(answer.status, 200, answer.text.slice(0, 300));
    }
    const expected: Record<string, number> = { 'claude-next': TOKENS * 6 * 1.1, 'claude-opus-4-8': TOKENS * 3 * 1.1 };
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 2);
    for (const record of ours()) {
      const want = expected[record.model] ?? NaN;
      assert.ok(Math.abs((record.cost ?? 0) - want) < 1e-9, `${record.model}: ${record.cost} ≠ ${want}`);
    }
    const total = TOKENS * 9 * 1.1;
    const spend = await settledSpend(gateway.url, id, total, 1e-9);
    assert.ok(Math.abs(spend - total) < 1e-9, `spend ${spend} ≠ ${total}`);
  });

  test('the budget hold takes the configured multipliers: fast mode and the dearest geography', async () => {
    const { key } = await createKey(gateway.url, { name: 'held-fast', max_budget: 10 });
    // 100,000 output tokens at $25 per MTok: $2.50, at 1.1x without a geography ($2.75), at 6.6x in fast mode ($16.50).
    const body = { model: 'claude-next', max_tokens: 100_000, messages: [{ role: 'user', content: 'Go on.' }] };
    const fast = await callJson(gateway.url, 'POST', '/v1/messages', key, { ...body, speed: 'fast' });
    assert.equal(fast.status, 403, fast.text.slice(0, 300));
    assert.equal(heldIn(fast), '$16.50');
    const standard = await callJson(gateway.url, 'POST', '/v1/messages', key, body);
    assert.equal(standard.status, 200, standard.text.slice(0, 300));
  });
});
