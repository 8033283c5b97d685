// The user guide's condensation examples ("Context Condensation" and the Customer Support Chatbot's
// get_conversation_summary), run as written in Python with `requests` against the real proxy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { pythonExamples, pythonHas, runExample } from '../support/usage-guide.js';

const examples = pythonExamples();
const skip = pythonHas() ? false : 'python3 with the requests package is not installed here';
const SUMMARY = 'The customer cannot access their account, forgot the password and asked for a reset.';

function isSummariserCall(body: Record<string, unknown>): boolean {
  const first = (body.messages as Array<{ content?: unknown }> | undefined)?.[0]?.content;
  return typeof first === 'string' && first.startsWith('You condense conversations');
}

describe('USAGE.md condensation examples', { skip }, () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let port: number;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: (body) => (isSummariserCall(body) ? SUMMARY : undefined) });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1` });
    port = Number(new URL(gateway.url).port);
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  async function run(heading: string): Promise<string> {
    const source = examples.get(heading);
    assert.ok(source !== undefined, `USAGE.md has no python example under "${heading}"`);
    const result = await runExample(source, port);
    assert.equal(result.code, 0, `${heading} failed:\n${result.stderr}`);
    return result.stdout;
  }

  test('Context Condensation', async () => {
    const out = await run('Context Condensation');
    assert.equal(out, `Condensed context: ${SUMMARY}\n`);
    // No condense.model configured: the cheapest chat model in the catalog wrote it, with the default budget.
    const call = upstream.requests.find((request) => request.body !== undefined && isSummariserCall(request.body));
    assert.equal(call?.body?.max_tokens, 512);
    assert.ok(gateway.usage.recent().some((record) => record.endpoint === 'condense' && record.status === 'ok'));
  });

  test('Customer Support Chatbot: get_conversation_summary', async () => {
    upstream.reset();
    const out = await run('Customer Support Chatbot');
    assert.match(out, /^Conversation:\nBot 1: Hello from the fake upstream\. You said: Hi, I can't access my account\n/);
    assert.ok(out.endsWith(`\nSummary: ${SUMMARY}\n`), out);
    const call = upstream.requests.find((request) => request.body !== undefined && isSummariserCall(request.body));
    assert.equal(call?.body?.max_tokens, 100);
    // All three exchanges went to the summariser, and not the system prompt, which the answer's messages keep verbatim.
    const transcript = String((call?.body?.messages as Array<{ content: string }>)[1]?.content);
    assert.match(transcript, /Hi, I can't access my account/);
    assert.match(transcript, /Can you help me reset it\?/);
    assert.doesNotMatch(transcript, /TechCorp/);
  });
});
