// Grounding with Google Search, Gemini's web search: OpenAI's `web_search_options` turns it on, the
// sources come back as `url_citation` annotations, and the searches are billed beside the tokens, as
// Google bills them: Gemini 2.5 and before $35 per 1,000 grounded prompts, Gemini 3 and later $14 per
// 1,000 search queries. So a budget sees what the account is billed, plain and streamed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey } from '../support/key-support.js';

/** The fixture (gemini-grounding): 11 prompt + 140 search-result tokens in, 29 out, 2 queries. */
const TOKENS_IN = 151;
const TOKENS_OUT = 29;
/** Per 1K tokens, from the catalog. */
const COST = {
  'gemini-2.5-flash': (TOKENS_IN * 0.0003 + TOKENS_OUT * 0.0025) / 1000 + 0.035,
  'gemini-3-flash-preview': (TOKENS_IN * 0.0005 + TOKENS_OUT * 0.003) / 1000 + 2 * 0.014,
};

describe('Gemini: web_search_options is Grounding with Google Search', () => {
  let upstream: FakeGemini;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeGemini();
    upstream.respondWith('grounding');
    gateway = await startGateway({ GEMINI_API_KEY: UPSTREAM_KEY, GEMINI_BASE_URL: upstream.url, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('the googleSearch tool is sent, the sources come back as annotations, and each call costs its tokens and its searches', async () => {
    const { id, key } = await createKey(gateway.url, { name: 'grounded', max_budget: 10 });
    for (const model of Object.keys(COST)) {
      const body = { model, web_search_options: { search_context_size: 'low' }, messages: [{ role: 'user', content: 'Who won Euro 2024?' }] };
      const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body);
      assert.equal(plain.status, 200, JSON.stringify(plain.body));
      const sent = upstream.requests.at(-1)?.body as { tools?: unknown[] };
      assert.deepEqual(sent.tools, [{ googleSearch: {} }]);
      // Gemini chooses how much to search: the size is checked, then dropped with a warning.
      assert.match(plain.headers.get('x-llm-proxy-warnings') ?? '', /web_search_options\.search_context_size: not supported by gemini, ignored/);
      const message = (plain.body.choices as Array<{ message: { annotations?: Array<{ url_citation: { url: string; start_index: number } }> } }>)[0]?.message;
      assert.deepEqual(
        message?.annotations?.map((annotation) => [annotation.url_citation.start_index, new URL(annotation.url_citation.url).hostname]),
        [
          [0, 'vertexaisearch.cloud.google.com'],
          [57, 'vertexaisearch.cloud.google.com'],
          [57, 'vertexaisearch.cloud.google.com'],
        ],
      );
      assert.deepEqual((plain.body.usage as { server_tool_use?: unknown }).server_tool_use, { web_search_requests: 2 });
      const streamed = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      });
      const text = await streamed.text();
      assert.equal((text.match(/"annotations":\[\{"type":"url_citation"/g) ?? []).length, 1, text);
      assert.match(text, /"server_tool_use":\{"web_search_requests":2\}/);
    }
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 4);
    for (const record of ours()) {
      const expected = COST[record.model as keyof typeof COST];
      assert.ok(Math.abs((record.cost ?? 0) - expected) < 1e-12, `${record.model} ${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${expected}`);
    }
  });

  test('web_search_options of the wrong shape is a 400 naming the field, before Gemini is called', async () => {
    const { key } = await createKey(gateway.url, { name: 'misshapen' });
    const from = upstream.requests.length;
    const bad = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, {
      model: 'gemini-2.5-flash',
      web_search_options: { search_context_size: 'huge' },
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.equal(bad.status, 400);
    assert.equal((bad.body.error as { param: string }).param, 'web_search_options.search_context_size');
    assert.equal(upstream.requests.length, from);
  });
});

describe('Gemini: a grounded answer from the response cache', () => {
  let upstream: FakeGemini;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeGemini();
    upstream.respondWith('grounding');
    gateway = await startGateway({ GEMINI_API_KEY: UPSTREAM_KEY, GEMINI_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'memory' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test("keeps the queries Google Search ran (`web_search_queries`) when a stream's entry serves a whole answer, and the other way", async () => {
    const { key } = await createKey(gateway.url, { name: 'cached-grounded' });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const queries = ['UEFA Euro 2024 winner', 'who won euro 2024'];
    const streamedQueries = (text: string): string[] =>
      text
        .split('\n\n')
        .filter((frame) => frame.startsWith('data: {'))
        .flatMap((frame) => (JSON.parse(frame.slice(6)) as { choices: Array<{ delta: { web_search_queries?: string[] } }> }).choices[0]?.delta.web_search_queries ?? []);
    // Streamed first, then asked whole.
    const first = { model: 'gemini-2.5-flash', web_search_options: {}, messages: [{ role: 'user', content: 'Who won Euro 2024? (streamed first)' }] };
    const live = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ ...first, stream: true }) });
    assert.deepEqual(streamedQueries(await live.text()), queries);
    const whole = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, first);
    assert.equal(whole.headers.get('x-cache'), 'HIT');
    assert.deepEqual((whole.body.choices as Array<{ message: { web_search_queries?: string[] } }>)[0]?.message.web_search_queries, queries);
    // Asked whole first, then streamed.
    const second = { ...first, messages: [{ role: 'user', content: 'Who won Euro 2024? (whole first)' }] };
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, second);
    assert.deepEqual((plain.body.choices as Array<{ message: { web_search_queries?: string[] } }>)[0]?.message.web_search_queries, queries);
    const replay = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ ...second, stream: true }) });
    assert.equal(replay.headers.get('x-cache'), 'HIT');
    assert.deepEqual(streamedQueries(await replay.text()), queries);
  });
});
