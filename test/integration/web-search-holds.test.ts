// A budget hold covers the web searches a call may be billed for, beside its tokens: Claude's
// `web_search` tool at $10 per 1,000 up to its `max_uses` (or search_context_size's 1/5/10 through
// /v1/chat/completions; 1,000, the most a call is billed for, with no bound), Gemini's grounding at
// $35 per 1,000 prompts (2.x) or $14 per 1,000 queries up to 100 (3). So a call that may search is
// refused when what is left cannot pay for them, settles at the searches it ran, and calls in flight
// together never pass the budget by their searches.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ANTHROPIC_FIXTURE_DIR } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, errorCode, errorMessage, settledSpend, type JsonResponse } from '../support/key-support.js';

/** claude-sonnet-4-5 per 1K tokens; the fixture (anthropic-web-search): 1,520 in, 64 out, 2 searches. */
const SEARCHED = (1520 * 0.003 + 64 * 0.015) / 1000 + 2 * 0.01;

/** The hold a budget refusal names ("could cost up to $0.05"). */
function heldIn(response: JsonResponse): string {
  return /could cost up to (\$[0-9.]+)/.exec(errorMessage(response))?.[1] ?? `no hold in ${response.text.slice(0, 300)}`;
}

/** The error's type in Anthropic's shape (/v1/messages answers carry no OpenAI `code`). */
function errorType(response: JsonResponse): unknown {
  return (response.body.error as { type?: unknown } | undefined)?.type;
}

/** An Anthropic upstream answering the web-search fixture, each answer kept back until `release()` (or at once when open). */
async function startGatedAnthropic(): Promise<{ url: string; received: number; open: boolean; release(): void; close(): Promise<void> }> {
  const body = readFileSync(join(ANTHROPIC_FIXTURE_DIR, 'anthropic-web-search.response.json'));
  const waiting: ServerResponse[] = [];
  const answer = (response: ServerResponse) => response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  const state = {
    url: '',
    received: 0,
    open: true,
    release() {
      this.open = true;
      for (const response of waiting.splice(0)) answer(response);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      state.received++;
      if (state.open) answer(response);
      else waiting.push(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

const QUESTION = [{ role: 'user', content: 'Weather in Paris today?' }];

function messagesBody(tool: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'claude-sonnet-4-5', max_tokens: 256, messages: QUESTION, tools: [{ type: 'web_search_20250305', name: 'web_search', ...tool }] };
}

describe('budget holds include web-search fees', () => {
  let anthropic: Awaited<ReturnType<typeof startGatedAnthropic>>;
  let gemini: FakeGemini;
  let openai: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    anthropic = await startGatedAnthropic();
    gemini = await startFakeGemini();
    gemini.respondWith('grounding');
    // An OpenAI-format host that reports searches (LiteLLM's field), one a bad count.
    openai = await startFakeOpenAi({
      apiKey: UPSTREAM_KEY,
      models: ['gpt-4o'],
      usage: () => ({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, server_tool_use: { web_search_requests: 1e9 } }),
    });
    gateway = await startGateway({
      ANTHROPIC_API_KEY: UPSTREAM_KEY,
      ANTHROPIC_BASE_URL: anthropic.url,
      GEMINI_API_KEY: UPSTREAM_KEY,
      GEMINI_BASE_URL: gemini.url,
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      OPENROUTER_API_KEY: UPSTREAM_KEY,
      OPENROUTER_BASE_URL: `${openai.url}/v1`,
      LLM_PROXY_RPM: '0',
    });
  });
  after(async () => {
    await gateway.close();
    await anthropic.close();
    await gemini.close();
    await openai.close();
  });

  test("/v1/messages to Claude: the hold is max_uses searches at $0.01 (1,000 without max_uses), and a budget short of it is refused before any call", async () => {
    const before = anthropic.received;
    // About $0.004 of tokens (256 output at $15 per 1M), 5 × $0.01 of searches, and the prompt read
    // again by the search loop's 9 further iterations (src/rate-limit/claude-runs-bound.ts).
    const { key } = await createKey(gateway.url, { name: 'messages-max-uses-5', max_budget: 0.04 });
    const five = await callJson(gateway.url, 'POST', '/v1/messages', key, messagesBody({ max_uses: 5 }));
    assert.equal(five.status, 403, five.text.slice(0, 300));
    assert.equal(errorType(five), 'permission_error');
    assert.equal(heldIn(five), '$0.06');
    assert.match(errorMessage(five), /max_uses/);
    const unbounded = await callJson(gateway.url, 'POST', '/v1/messages', key, messagesBody());
    assert.equal(unbounded.status, 403, unbounded.text.slice(0, 300));
    // 1,000 searches ($10), the tokens and the loop's further readings of the prompt.
    assert.equal(heldIn(unbounded), '$10.01');
    assert.equal(anthropic.received, before, 'refused before any call');
    // One search fits; so does a call that forbids the tool (tool_choice none).
    const one = await callJson(gateway.url, 'POST', '/v1/messages', key, messagesBody({ max_uses: 1 }));
    assert.equal(one.status, 200, one.text.slice(0, 300));
    const none = await callJson(gateway.url, 'POST', '/v1/messages', key, { ...messagesBody(), tool_choice: { type: 'none' } });
    assert.equal(none.status, 200, none.text.slice(0, 300));
  });

  test('/v1/chat/completions to Claude: search_context_size bounds the hold (low 1, medium 5, high 10 searches), none at 1,000', async () => {
    const before = anthropic.received;
    const { key } = await createKey(gateway.url, { name: 'chat-claude-search', max_budget: 0.04 });
    const body = (options: Record<string, unknown>) => ({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: QUESTION, web_search_options: options });
    const medium = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ search_context_size: 'medium' }));
    assert.equal(medium.status, 403, medium.text.slice(0, 300));
    assert.equal(heldIn(medium), '$0.05');
    const unsized = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({}));
    assert.equal(heldIn(unsized), '$10.00');
    assert.equal(anthropic.received, before);
    const low = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, body({ search_context_size: 'low' }));
    assert.equal(low.status, 200, low.text.slice(0, 300));
  });

  test('Gemini grounding: 2.5 holds one grounded prompt ($0.035), 3 holds 100 queries ($1.40), on both routes', async () => {
    const before = gemini.requests.length;
    const { key } = await createKey(gateway.url, { name: 'gemini-search', max_budget: 0.03 });
    const chat = (model: string) => ({ model, max_tokens: 100, messages: QUESTION, web_search_options: {} });
    const flash = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, chat('gemini-2.5-flash'));
    assert.equal(flash.status, 403, flash.text.slice(0, 300));
    assert.equal(heldIn(flash), '$0.04');
    // Claude's web search tool on /v1/messages is Google Search on Gemini: held the same.
    const native = await callJson(gateway.url, 'POST', '/v1/messages', key, { ...messagesBody(), model: 'gemini-2.5-flash', max_tokens: 100 });
    assert.equal(native.status, 403, native.text.slice(0, 300));
    assert.equal(heldIn(native), '$0.04');
    const { key: roomier } = await createKey(gateway.url, { name: 'gemini-3-search', max_budget: 1 });
    const three = await callJson(gateway.url, 'POST', '/v1/chat/completions', roomier, chat('gemini-3-flash-preview'));
    assert.equal(three.status, 403, three.text.slice(0, 300));
    assert.equal(heldIn(three), '$1.40');
    assert.equal(gemini.requests.length, before, 'refused before any call');
    // Without web_search_options nothing is held for searches.
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { model: 'gemini-2.5-flash', max_tokens: 100, messages: QUESTION });
    assert.equal(plain.status, 200, plain.text.slice(0, 300));
  });

  test('settlement charges the searches the call ran, not the hold: the budget left is what was not spent', async () => {
    // Each call holds about $0.054 (5 searches) and costs $0.0255 (2 searches).
    const { id, key } = await createKey(gateway.url, { name: 'settles', max_budget: 0.1 });
    for (let call = 1; call <= 2; call++) {
      const answer = await callJson(gateway.url, 'POST', '/v1/messages', key, messagesBody({ max_uses: 5 }));
      assert.equal(answer.status, 200, `call ${call}: ${answer.text.slice(0, 300)}`);
    }
    const spend = await settledSpend(gateway.url, id, 2 * SEARCHED, 1e-9);
    assert.ok(Math.abs(spend - 2 * SEARCHED) < 1e-9, `spend ${spend} ≠ ${2 * SEARCHED}`);
    // $0.049 left: less than the next call's hold.
    const third = await callJson(gateway.url, 'POST', '/v1/messages', key, messagesBody({ max_uses: 5 }));
    assert.equal(third.status, 403, third.text.slice(0, 300));
    assert.match(errorMessage(third), /more than the \$0\.05 left/);
  });

  test('concurrent calls that may search are admitted only as far as the budget pays for their searches', async () => {
    const { id, key } = await createKey(gateway.url, { name: 'concurrent', max_budget: 0.12 });
    anthropic.open = false;
    const before = anthropic.received;
    try {
      const answers: JsonResponse[] = [];
      const calls = Array.from({ length: 6 }, () => callJson(gateway.url, 'POST', '/v1/messages', key, messagesBody({ max_uses: 5 })).then((answer) => answers.push(answer)));
      // Two holds of about $0.054 fit $0.12; the others are refused while those two are in flight.
      await eventually(() => answers.length + anthropic.received - before >= 6, 5000);
      assert.equal(anthropic.received - before, 2, 'two calls reach Claude');
      assert.equal(answers.length, 4);
      for (const refused of answers) {
        assert.equal(refused.status, 429, refused.text.slice(0, 300));
        assert.equal(errorType(refused), 'rate_limit_error');
        assert.match(errorMessage(refused), /Requests in flight hold the rest/);
      }
      anthropic.release();
      await Promise.all(calls);
      assert.deepEqual(answers.slice(4).map((answer) => answer.status), [200, 200]);
    } finally {
      anthropic.release();
    }
    const spend = await settledSpend(gateway.url, id, 2 * SEARCHED, 1e-9);
    assert.ok(Math.abs(spend - 2 * SEARCHED) < 1e-9, `spend ${spend} ≠ ${2 * SEARCHED}`);
  });

  test('an OpenAI-format host: web_search_options holds 1,000 searches, and a reported count past that is billed as 1,000', async () => {
    const { key } = await createKey(gateway.url, { name: 'openrouter-search', max_budget: 5 });
    const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { model: 'openrouter/openai/gpt-4o', max_tokens: 16, messages: QUESTION, web_search_options: {} });
    assert.equal(refused.status, 403, refused.text.slice(0, 300));
    assert.equal(errorCode(refused), 'budget_exceeded');
    assert.equal(heldIn(refused), '$10.00');
    const { id, key: rich } = await createKey(gateway.url, { name: 'openrouter-search-rich', max_budget: 100 });
    const answer = await callJson(gateway.url, 'POST', '/v1/chat/completions', rich, { model: 'openrouter/openai/gpt-4o', max_tokens: 16, messages: QUESTION, web_search_options: {} });
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    const cost = ours()[0]?.cost ?? 0;
    assert.ok(cost > 10 && cost < 10.001, `cost ${cost}: 1,000 searches and a few tokens`);
  });

  test("OpenAI's own API: a search model runs one search a call, so web_search_options holds one ($0.01); a count it reports is still billed", async () => {
    const { id, key } = await createKey(gateway.url, { name: 'openai-search', max_budget: 5 });
    const answer = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { model: 'gpt-4o', max_tokens: 16, messages: QUESTION, web_search_options: {} });
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    assert.ok((ours()[0]?.cost ?? 0) > 10, 'the fake reports 1e9 searches: billed as 1,000');
    const { key: poor } = await createKey(gateway.url, { name: 'openai-search-poor', max_budget: 0.005 });
    const refused = await callJson(gateway.url, 'POST', '/v1/chat/completions', poor, { model: 'gpt-4o', max_tokens: 16, messages: QUESTION, web_search_options: {} });
    assert.equal(refused.status, 403, refused.text.slice(0, 300));
    assert.equal(heldIn(refused), '$0.01');
  });
});
