// The `condense` context policy with the response cache on: a repeated over-long request reuses the
// summary (no summariser call) and so its chat answer is a cache hit too; scoped per key, held to
// Cache-Control, and an extractive fallback is never kept.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const SUMMARISER_PROMPT = /^You condense conversations/;
const OTHER_KEY = 'sk-other-tenant-key-0123456789';

function isSummariserCall(body: Record<string, unknown> | undefined): boolean {
  const first = (body?.messages as Array<{ content?: unknown }> | undefined)?.[0]?.content;
  return typeof first === 'string' && SUMMARISER_PROMPT.test(first);
}

/** About `turns` × 40 tokens: well over the 400-token window set below. */
function longConversation(turns: number, topic: string): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [{ role: 'system', content: 'You are the support assistant.' }];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({ role: 'user', content: `Turn ${turn} about ${topic}: please check parcel ${1000 + turn} and tell me when it arrives at the depot.` });
    messages.push({ role: 'assistant', content: `Parcel ${1000 + turn} is on its way and should arrive within three working days.` });
  }
  messages.push({ role: 'user', content: 'What is my order number?' });
  return messages;
}

describe('condense policy with the response cache', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let summaries = 0;

  before(async () => {
    upstream = await startFakeOpenAi({
      apiKey: UPSTREAM_KEY,
      // A different summary every call: a cached one is recognisable by its number.
      answer: (body) => (isSummariserCall(body) ? `Summary number ${++summaries}.` : undefined),
    });
    gateway = await startGateway(
      { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_CACHE: 'memory', LLM_PROXY_API_KEYS: `${CLIENT_KEY},${OTHER_KEY}` },
      {
        configure: (config) => {
          config.condense = { model: 'gpt-4o-mini' };
          config.model_catalog = { 'gpt-3.5-turbo': { context_length: 400 } };
        },
      },
    );
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });
  beforeEach(() => upstream.reset());

  async function chat(messages: unknown, headers: Record<string, string> = authHeaders()): Promise<{ response: Response; text: string }> {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...headers, 'x-llm-proxy-context': 'condense' },
      body: JSON.stringify({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }),
    });
    return { response, text: await response.text() };
  }

  const summariserCalls = () => upstream.requests.filter((request) => isSummariserCall(request.body)).length;
  const chatCalls = () => upstream.requests.filter((request) => !isSummariserCall(request.body)).length;
  const sentSummary = () => String((upstream.requests.find((request) => !isSummariserCall(request.body))?.body?.messages as Array<{ content: unknown }>)[1]?.content);

  test('a repeated request is answered without a summariser call or a chat call; condense records only the first', async () => {
    const messages = longConversation(12, 'refunds');
    const first = await chat(messages);
    assert.equal(first.response.status, 200, first.text);
    assert.equal(first.response.headers.get('x-cache'), 'MISS');
    assert.equal(first.response.headers.get('x-llm-proxy-context-method'), 'condense');
    assert.deepEqual([summariserCalls(), chatCalls()], [1, 1]);
    assert.match(sentSummary(), /^Summary of the earlier conversation: Summary number \d+\.$/);

    upstream.reset();
    const second = await chat(messages);
    assert.equal(second.response.status, 200, second.text);
    assert.equal(second.response.headers.get('x-cache'), 'HIT');
    assert.deepEqual([summariserCalls(), chatCalls()], [0, 0]);
    assert.equal(second.text, first.text);
    const condenseRecords = gateway.usage.recent().filter((entry) => entry.endpoint === 'condense' && [first, second].some((call) => call.response.headers.get('x-request-id') === entry.requestId));
    assert.equal(condenseRecords.length, 1);
  });

  test("another key neither reads the summary nor the answer: it gets its own summary", async () => {
    const messages = longConversation(12, 'deliveries');
    const mine = await chat(messages);
    assert.equal(mine.response.status, 200, mine.text);
    const mySummary = sentSummary();
    upstream.reset();
    const theirs = await chat(messages, authHeaders(OTHER_KEY));
    assert.equal(theirs.response.status, 200, theirs.text);
    assert.equal(theirs.response.headers.get('x-cache'), 'MISS');
    assert.deepEqual([summariserCalls(), chatCalls()], [1, 1]);
    assert.notEqual(sentSummary(), mySummary);
  });

  test('Cache-Control: no-store keeps the summariser called every time', async () => {
    const messages = longConversation(12, 'invoices');
    for (let round = 0; round < 2; round++) {
      upstream.reset();
      const call = await chat(messages, { ...authHeaders(), 'cache-control': 'no-store' });
      assert.equal(call.response.status, 200, call.text);
      assert.deepEqual([summariserCalls(), chatCalls()], [1, 1], `round ${round}`);
    }
  });

  test('an extractive summary (the summariser failed) is not kept: the next request asks the model again', async () => {
    const messages = longConversation(12, 'warranties');
    upstream.enqueue({ kind: 'status', status: 400 });
    const failed = await chat(messages);
    assert.equal(failed.response.status, 200, failed.text);
    assert.equal(summariserCalls(), 1);
    assert.doesNotMatch(sentSummary(), /Summary number/);
    upstream.reset();
    const next = await chat(messages);
    assert.equal(next.response.status, 200, next.text);
    assert.equal(summariserCalls(), 1);
    assert.match(sentSummary(), /Summary number \d+\./);
  });
});
