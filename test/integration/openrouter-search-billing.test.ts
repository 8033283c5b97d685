// OpenRouter reports a chat call's web searches as `usage.server_tool_use_details.web_search_requests`
// (its API schema's ChatUsage, in the answer and in the last chunk of a stream), not in LiteLLM's
// `server_tool_use`: the key is charged them ($0.01 each) beside the tokens, plain and streamed,
// while the client gets OpenRouter's usage as it was sent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, settledSpend } from '../support/key-support.js';
import { openRouterUsage } from '../support/openrouter-usage.js';

const SEARCHES = 3;
const QUESTION = [{ role: 'user', content: 'Weather in Paris today?' }];
/** The web plugin asked for: OpenRouter searches, and says how many times. */
const SEARCHED = { model: 'openrouter/openai/gpt-4o', max_tokens: 300, messages: QUESTION, plugins: [{ id: 'web', max_results: 3 }] };

describe("OpenRouter's searches in server_tool_use_details are billed", () => {
  let openrouter: FakeOpenAi;
  let gateway: Gateway;
  /** What the same tokens cost without a search. */
  let tokensOnly = 0;

  before(async () => {
    openrouter = await startFakeOpenAi({
      apiKey: UPSTREAM_KEY,
      models: ['openai/gpt-4o'],
      // A request whose `user` is `miscounted` is answered with more output than max_tokens allows.
      usage: (body) => ({ ...openRouterUsage(Array.isArray(body.plugins) ? SEARCHES : undefined), ...(body.user === 'miscounted' ? { completion_tokens: 1_000_000 } : {}) }),
    });
    gateway = await startGateway({ OPENROUTER_API_KEY: UPSTREAM_KEY, OPENROUTER_BASE_URL: `${openrouter.url}/v1`, LLM_PROXY_RPM: '0' });
    const { id, key } = await createKey(gateway.url, { name: 'openrouter-tokens-only', max_budget: 100 });
    const plain = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { ...SEARCHED, plugins: undefined });
    assert.equal(plain.status, 200, plain.text.slice(0, 300));
    tokensOnly = await costOf(id);
    assert.ok(tokensOnly > 0, 'the model is priced');
  });
  after(async () => {
    await gateway.close();
    await openrouter.close();
  });

  async function costOf(id: string): Promise<number> {
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    return ours()[0]?.cost ?? Number.NaN;
  }

  async function assertCharged(id: string): Promise<void> {
    const expected = tokensOnly + SEARCHES * 0.01;
    const cost = await costOf(id);
    assert.ok(Math.abs(cost - expected) < 1e-9, `cost ${cost}: the tokens (${tokensOnly}) and ${SEARCHES} searches at $0.01`);
    const spend = await settledSpend(gateway.url, id, expected, 1e-9);
    assert.ok(Math.abs(spend - expected) < 1e-9, `the key's spend ${spend} ≠ ${expected}`);
  }

  test('a plain answer: the key is charged the searches, and the client gets the usage as OpenRouter sent it', async () => {
    const { id, key } = await createKey(gateway.url, { name: 'openrouter-searched', max_budget: 100 });
    const answer = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, SEARCHED);
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    assert.deepEqual(answer.body.usage, openRouterUsage(SEARCHES));
    await assertCharged(id);
  });

  test('a report whose token count is not believed is billed from the estimate, and its searches still are', async () => {
    const { id, key } = await createKey(gateway.url, { name: 'openrouter-searched-miscounted', max_budget: 100 });
    const answer = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { ...SEARCHED, user: 'miscounted' });
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
    await eventually(() => ours().length >= 1);
    const record = ours()[0];
    assert.equal(record?.estimated, true);
    assert.ok(record?.completionTokens !== undefined && record.completionTokens < 1_000, `completion ${record?.completionTokens} estimated`);
    // The prompt as reported, the output as estimated from the answer (less than reported), and the searches.
    const cost = record?.cost ?? 0;
    assert.ok(cost > SEARCHES * 0.01 && cost < tokensOnly + SEARCHES * 0.01, `cost ${cost}: some of ${tokensOnly} of tokens and ${SEARCHES} searches at $0.01`);
  });

  for (const includeUsage of [false, true]) {
    test(`a stream ${includeUsage ? 'with' : 'without'} the client's include_usage: the last chunk's searches are charged`, async () => {
      const { id, key } = await createKey(gateway.url, { name: `openrouter-searched-stream-${includeUsage}`, max_budget: 100 });
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...SEARCHED, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) }),
      });
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.match(text, /data: \[DONE\]/);
      const usages = text
        .split('\n')
        .filter((line) => line.startsWith('data: {'))
        .map((line) => (JSON.parse(line.slice(6)) as { usage?: unknown }).usage)
        .filter((usage) => usage !== undefined && usage !== null);
      assert.deepEqual(usages, includeUsage ? [openRouterUsage(SEARCHES)] : [], 'the usage chunk as OpenRouter sent it, only when asked');
      await assertCharged(id);
    });
  }
});
