// Claude usage that Anthropic bills beyond the top-level counts and base rates, over HTTP on native
// /v1/messages (plain and streamed): compaction iterations (usage.iterations), fast mode (usage.speed)
// and US-only inference (usage.inference_geo). Each record, and the key's spend, is what Anthropic bills.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, settledSpend } from '../support/key-support.js';

/**
 * The fixture (anthropic-compaction-fast) on Opus 4.8 ($5 / $25 per MTok): the top-level 2,000 in and
 * 100 out plus the compaction's 160,000 and 3,000, at 2x (fast mode) and 1.1x (US-only) on top.
 */
const EXPECTED = ((162_000 * 5 + 3_100 * 25) * 2 * 1.1) / 1e6;
/** What the call was billed from the top-level counts at base rates. */
const BEFORE = (2_000 * 5 + 100 * 25) / 1e6;

describe('Claude compaction, fast mode and US-only inference in usage records and budgets', () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeAnthropic({ scenario: 'compaction-fast' });
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('/v1/messages, plain and streamed: each call costs what Anthropic bills, and the key is charged as much', async () => {
    assert.ok(EXPECTED > BEFORE * 100, 'the fixture must tell the two apart');
    const { id, key } = await createKey(gateway.url, { name: 'compacting-fast', max_budget: 10 });
    const body = {
      model: 'claude-opus-4-8',
      max_tokens: 200,
      speed: 'fast',
      inference_geo: 'us',
      context_management: { edits: [{ type: 'compact_20260112' }] },
      messages: [{ role: 'user', content: 'Go on.' }],
    };
    const plain = await callJson(gateway.url, 'POST', '/v1/messages', key, body);
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    const streamed = await callJson(gateway.url, 'POST', '/v1/messages', key, { ...body, stream: true });
    assert.equal(streamed.status, 200);

    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 2);
    for (const record of ours()) {
      assert.equal(record.promptTokens, 162_000, `${record.stream}`);
      assert.equal(record.completionTokens, 3_100, `${record.stream}`);
      assert.ok(Math.abs((record.cost ?? 0) - EXPECTED) < 1e-9, `${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${EXPECTED}`);
    }
    const spend = await settledSpend(gateway.url, id, 2 * EXPECTED, 1e-9);
    assert.ok(Math.abs(spend - 2 * EXPECTED) < 1e-9, `spend ${spend} ≠ ${2 * EXPECTED}`);
  });
});
