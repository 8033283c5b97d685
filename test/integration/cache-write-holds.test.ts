// Budget holds over HTTP price the prompt at the dearest rate the call can be billed: a Claude request
// with a cache_control marker at the write rate (2x input with `ttl: "1h"`), on /v1/messages and on
// /v1/chat/completions alike (the translation carries the markers), one without at input, and
// an OpenAI model that caches every prompt by itself at its write rate. A key whose budget fits the
// plain-input hold but not the write-rate one is refused before any call; the refusal names the hold.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, heldIn } from '../support/key-support.js';

/** About 100K tokens by the local count: claude-sonnet-4-5 holds $0.30 at input, $0.375 at 5-minute writes, $0.60 at 1-hour ones. */
const LONG = 'word '.repeat(100_000);
const EPHEMERAL = { type: 'ephemeral' };

function messages(extra: Record<string, unknown> = {}, block: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: LONG, ...block }] }], ...extra };
}


describe('budget holds at prompt-cache write rates', () => {
  let anthropic: FakeAnthropic;
  let openai: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    anthropic = await startFakeAnthropic();
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-6.2-sol', 'anthropic/claude-sonnet-4.5'] });
    gateway = await startGateway({
      ANTHROPIC_API_KEY: UPSTREAM_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      OPENROUTER_API_KEY: UPSTREAM_KEY,
      OPENROUTER_BASE_URL: `${openai.url}/v1`,
      LLM_PROXY_RPM: '0',
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

  test('/v1/messages to Claude: unmarked is held at input, a cache_control marker at the write rate, ttl 1h at twice input', async () => {
    const { key } = await createKey(gateway.url, { name: 'fits-input', max_budget: 0.33 });
    const marked = await callJson(gateway.url, 'POST', '/v1/messages', key, messages({ system: [{ type: 'text', text: 'Be brief.', cache_control: EPHEMERAL }] }));
    assert.equal(marked.status, 403, marked.text.slice(0, 300));
    assert.equal(heldIn(marked), '$0.38');
    // A marker on a content block, or automatic caching (a top-level marker), counts the same.
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, messages({}, { cache_control: EPHEMERAL }))).status, 403);
    assert.equal((await callJson(gateway.url, 'POST', '/v1/messages', key, messages({ cache_control: EPHEMERAL }))).status, 403);
    assert.equal(anthropic.requests.length, 0, 'refused before any call');

    const plain = await callJson(gateway.url, 'POST', '/v1/messages', key, messages());
    assert.equal(plain.status, 200, plain.text.slice(0, 300));
    assert.equal(anthropic.requests.length, 1);

    const { key: roomier } = await createKey(gateway.url, { name: 'fits-5m', max_budget: 0.5 });
    const fiveMinutes = await callJson(gateway.url, 'POST', '/v1/messages', roomier, messages({}, { cache_control: EPHEMERAL }));
    assert.equal(fiveMinutes.status, 200, fiveMinutes.text.slice(0, 300));
    const hour = await callJson(gateway.url, 'POST', '/v1/messages', roomier, messages({}, { cache_control: { type: 'ephemeral', ttl: '1h' } }));
    assert.equal(hour.status, 403, hour.text.slice(0, 300));
    assert.equal(heldIn(hour), '$0.60');
  });

  test('/v1/chat/completions to Claude: the markers reach Anthropic, so a marked call is held at the write rate (1h at twice input)', async () => {
    const { key } = await createKey(gateway.url, { name: 'chat-marked', max_budget: 0.5 });
    const body = (part: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'text', text: LONG, ...part }] }],
      ...extra,
    });
    const hour = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ cache_control: { type: 'ephemeral', ttl: '1h' } }));
    assert.equal(hour.status, 403, hour.text.slice(0, 300));
    assert.equal(heldIn(hour), '$0.60');
    // A top-level marker (automatic caching) with a 1-hour ttl counts the same.
    const automatic = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({}, { cache_control: { type: 'ephemeral', ttl: '1h' } }));
    assert.equal(automatic.status, 403, automatic.text.slice(0, 300));
    assert.equal(anthropic.requests.length, 0, 'refused before any call');

    const fiveMinutes = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ cache_control: EPHEMERAL }));
    assert.equal(fiveMinutes.status, 200, fiveMinutes.text.slice(0, 300));
    assert.match(anthropic.requests[0]?.rawBody ?? '', /"cache_control":\{"type":"ephemeral"\}/);

    const { key: tight } = await createKey(gateway.url, { name: 'chat-fits-input', max_budget: 0.33 });
    const marked = await callJson(gateway.url, 'POST', '/v1/chat/completions', tight, body({ cache_control: EPHEMERAL }));
    assert.equal(marked.status, 403, marked.text.slice(0, 300));
    assert.equal(heldIn(marked), '$0.38');
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', tight, body({}));
    assert.equal(plain.status, 200, plain.text.slice(0, 300));
    assert.doesNotMatch(anthropic.requests[1]?.rawBody ?? '', /cache_control/);
  });

  test('/v1/chat/completions to Claude on OpenRouter: the body passes through, so its markers count', async () => {
    const { key } = await createKey(gateway.url, { name: 'openrouter-claude', max_budget: 0.33 });
    const body = (part: Record<string, unknown>) => ({ model: 'openrouter/anthropic/claude-sonnet-4.5', max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: LONG, ...part }] }] });
    const marked = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ cache_control: EPHEMERAL }));
    assert.equal(marked.status, 403, marked.text.slice(0, 300));
    assert.equal(heldIn(marked), '$0.38');
    assert.equal(openai.requests.length, 0);
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({}));
    assert.equal(plain.status, 200, plain.text.slice(0, 300));
    assert.equal(openai.requests.length, 1, 'served by OpenRouter');
  });

  test('an OpenAI model that caches every prompt by itself is held at its write rate, markers or not', async () => {
    // gpt-6.2-sol: $2 input, $2.50 written per 1M: $0.20 plain, $0.25 written (plus $0.00064 of output).
    const { key } = await createKey(gateway.url, { name: 'openai-writes', max_budget: 0.22 });
    const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { model: 'gpt-6.2-sol', max_tokens: 64, messages: [{ role: 'user', content: LONG }] });
    assert.equal(refused.status, 403, refused.text.slice(0, 300));
    assert.equal((refused.body.error as { code?: unknown }).code, 'budget_exceeded');
    assert.equal(heldIn(refused), '$0.25');
    assert.equal(openai.requests.length, 0);
  });
});
