// Claude's web searches cost $10 per 1,000 beside the tokens (the results it read are input tokens):
// a call that searched is recorded and charged for them, on /v1/chat/completions (translated) and
// /v1/messages (native), plain and streamed, so a budget sees what the account is billed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, settledSpend } from '../support/key-support.js';

/** claude-sonnet-4-5 per 1K tokens; the fixture (anthropic-web-search): 1,520 in, 64 out, 2 searches. */
const TOKENS = (1520 * 0.003 + 64 * 0.015) / 1000;
const EXPECTED = TOKENS + 2 * 0.01;

describe("Claude's web searches in usage records and budgets", () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeAnthropic({ scenario: 'web-search' });
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('chat and messages, plain and streamed: each call costs its tokens and its two searches', async () => {
    // Room for the hold of a call whose web search tool has no max_uses: 1,000 searches ($10) and its tokens.
    const { id, key } = await createKey(gateway.url, { name: 'searcher', max_budget: 20 });
    const body = { model: 'claude-sonnet-4-5', max_tokens: 256, web_search_options: { search_context_size: 'medium' }, messages: [{ role: 'user', content: 'Weather in Paris today?' }] };
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body);
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    const message = (plain.body.choices as Array<{ message: { content: string; annotations?: Array<{ url_citation: { url: string } }> } }>)[0]?.message;
    assert.equal(message?.content, 'Today in Paris it is 12°C with light rain in the afternoon.');
    assert.deepEqual(message?.annotations?.map((annotation) => annotation.url_citation.url), ['https://weather.example.com/paris']);
    // OpenAI's web_search_options asks Claude to search: its web search tool is sent.
    const sent = upstream.requests.at(-1)?.body as { tools?: unknown[] };
    assert.deepEqual(sent.tools, [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }]);
    assert.deepEqual((plain.body.usage as { server_tool_use?: unknown }).server_tool_use, { web_search_requests: 2 });
    // Claude's own clients name the server tool in the Messages body.
    const { web_search_options: _options, ...messages } = body;
    const native = { ...messages, tools: [{ type: 'web_search_20250305', name: 'web_search' }] };
    for (const [path, sent] of [['/v1/chat/completions', { ...body, stream: true }], ['/v1/messages', native], ['/v1/messages', { ...native, stream: true }]] as const) {
      const answer = await callJson(gateway.url, 'POST', path, key, sent);
      assert.equal(answer.status, 200, `${path} ${JSON.stringify(answer.body)}`);
    }
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 4);
    for (const record of ours()) {
      assert.ok(Math.abs((record.cost ?? 0) - EXPECTED) < 1e-12, `${record.endpoint} ${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${EXPECTED}`);
    }
    const spend = await settledSpend(gateway.url, id, 4 * EXPECTED, 1e-9);
    assert.ok(Math.abs(spend - 4 * EXPECTED) < 1e-9, `spend ${spend} ≠ ${4 * EXPECTED}`);
  });
});
