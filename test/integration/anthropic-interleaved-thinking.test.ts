// Claude's interleaved thinking (thinking, tool_use, thinking, tool_use in one answer) through
// /v1/chat/completions with the official `openai` SDK as the client: the answer, plain or streamed,
// sent back as it came, reaches the fake Anthropic in Claude's order, which refuses a reordered turn
// with Anthropic's 400, as the API does.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { readAnthropicJson, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

type Json = Record<string, unknown>;

const tools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'calculator', parameters: { type: 'object', properties: { expression: { type: 'string' } }, required: ['expression'] } } },
  { type: 'function', function: { name: 'database_query', parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } } },
];
const ask: OpenAI.ChatCompletionMessageParam = { role: 'user', content: 'Revenue for 150 units at $50 each, against our average monthly revenue?' };
const request = { model: 'anthropic/claude-opus-4-6', max_tokens: 4096, tools, thinking: { type: 'adaptive' } };
/** Claude's answer as Anthropic sent it: the order a replay must keep. */
const ANSWER = (readAnthropicJson('anthropic-interleaved-thinking.response.json') as { content: Json[] }).content;

/** The conversation after the answer: the assistant message as the client got it, then a result for each call. */
function loop(message: Json): OpenAI.ChatCompletionMessageParam[] {
  const calls = (message.tool_calls ?? []) as Array<{ id: string }>;
  return [ask, message as unknown as OpenAI.ChatCompletionMessageParam, ...calls.map((call) => ({ role: 'tool' as const, tool_call_id: call.id, content: 'done' }))];
}

describe("Claude's interleaved thinking, replayed by an OpenAI client", () => {
  let upstream: FakeAnthropic;
  let gateway: Gateway;
  let client: OpenAI;

  before(async () => {
    upstream = await startFakeAnthropic({ scenario: 'interleaved-thinking' });
    gateway = await startGateway({ ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
    client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  });
  beforeEach(() => upstream.reset());
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  /** Sends the loop back (the fake answers with the same scenario) and returns the assistant turn Claude got. */
  async function replay(message: Json): Promise<Json[]> {
    await client.chat.completions.create({ ...request, messages: loop(message) } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const sent = upstream.requests.at(-1)?.body as { messages: Array<{ content: Json[] }> };
    return sent.messages[1]?.content ?? [];
  }

  test('plain: the assistant message sent back as it came reaches Claude as Claude wrote it', async () => {
    const completion = await client.chat.completions.create({ ...request, messages: [ask] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const message = JSON.parse(JSON.stringify(completion.choices[0]?.message)) as Json;
    assert.deepEqual(await replay(message), ANSWER);
  });

  test('streamed: the message put together from the chunks, sent back, reaches Claude as Claude wrote it', async () => {
    const stream = await client.chat.completions.create({ ...request, messages: [ask], stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    let content = '';
    const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
    const thinking: Json[] = [];
    for await (const chunk of stream) {
      const delta = (chunk.choices[0]?.delta ?? {}) as OpenAI.ChatCompletionChunk.Choice.Delta & { thinking_blocks?: Json[] };
      content += delta.content ?? '';
      for (const call of delta.tool_calls ?? []) {
        const known = calls[call.index];
        if (known === undefined) calls[call.index] = { id: call.id ?? '', type: 'function', function: { name: call.function?.name ?? '', arguments: call.function?.arguments ?? '' } };
        else known.function.arguments += call.function?.arguments ?? '';
      }
      thinking.push(...(delta.thinking_blocks ?? []));
    }
    assert.deepEqual(await replay({ role: 'assistant', content, tool_calls: calls, thinking_blocks: thinking }), ANSWER);
  });

  test("the same blocks without their positions go first, as before: Claude's order is lost, and the fake refuses the turn with Anthropic's 400", async () => {
    const completion = await client.chat.completions.create({ ...request, messages: [ask] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const message = JSON.parse(JSON.stringify(completion.choices[0]?.message)) as Json;
    const bare = (message.thinking_blocks as Json[]).map(({ after_tool_call_id: _after, ...block }) => block);
    const refused = await client.chat.completions.create({ ...request, messages: loop({ ...message, thinking_blocks: bare }) } as OpenAI.ChatCompletionCreateParamsNonStreaming).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof OpenAI.APIError, String(refused));
    assert.equal(refused.status, 400);
    assert.match(refused.message, /messages\.1\.content\.1: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified/);
  });
});
