// Limits of the Messages request that are Anthropic's, not OpenAI's.
// `max_tokens: 0` is Anthropic's prompt-cache pre-warming ("Set to `0` to populate the prompt cache
// without generating a response", @anthropic-ai/sdk MessageCreateParamsBase.max_tokens). A Claude
// model gets it as sent, every time (a pre-warm answered from the response cache would warm nothing);
// any other model, where it means nothing, gets a 400 naming `max_tokens`, with no call.
// `tools` is not capped at OpenAI's 128: Claude Code with a few MCP servers sends hundreds. Nor does
// every tool have a `name`: the SDK's `computer_toolset_20260801` and `browser_toolset_20260801` have none.
// And a message may have the role `system` (the SDK's MessageParam includes SystemMessageParam).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { KEYS } from '../support/conformance-providers.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

const PREWARM = {
  max_tokens: 0,
  system: [{ type: 'text' as const, text: 'A long, stable system prompt.', cache_control: { type: 'ephemeral' as const } }],
  messages: [{ role: 'user' as const, content: 'Hello' }],
};

describe('/v1/messages: requests the Anthropic SDK allows beyond OpenAI-shaped limits', () => {
  let openai: FakeOpenAi;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;
  let client: Anthropic;

  before(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAi({ apiKey: KEYS.openai }), startFakeAnthropic()]);
    gateway = await startGateway({
      OPENAI_API_KEY: KEYS.openai,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      ANTHROPIC_API_KEY: KEYS.anthropic,
      ANTHROPIC_BASE_URL: anthropic.url,
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'memory',
    });
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.url, maxRetries: 0 });
  });
  beforeEach(() => {
    anthropic.reset();
    openai.reset();
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });

  test('a Claude model gets it as sent, each time: never answered from the response cache', async () => {
    for (let round = 0; round < 2; round++) await client.messages.create({ model: 'claude-sonnet-4-5', ...PREWARM });
    assert.equal(anthropic.requests.length, 2);
    assert.equal((anthropic.requests[0]?.body as { max_tokens?: unknown }).max_tokens, 0);
  });

  test('more tools than OpenAI takes (Claude Code with MCP servers): a Claude model gets them all', async () => {
    const tools = Array.from({ length: 300 }, (_, index) => ({ name: `mcp__server__tool_${index}`, input_schema: { type: 'object' as const } }));
    await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }], tools });
    assert.equal((anthropic.requests[0]?.body as { tools?: unknown[] }).tools?.length, 300);
  });

  test('a server tool without a name (computer_toolset_20260801): passed to Claude, refused elsewhere naming it', async () => {
    const body = { max_tokens: 64, messages: [{ role: 'user' as const, content: 'Open the page.' }], tools: [{ type: 'computer_toolset_20260801' as const }] };
    await client.messages.create({ model: 'claude-sonnet-4-5', ...body });
    assert.deepEqual((anthropic.requests[0]?.body as { tools?: unknown[] }).tools, [{ type: 'computer_toolset_20260801' }]);
    await assert.rejects(client.messages.create({ model: 'gpt-4o', ...body }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.BadRequestError);
      assert.match(error.message, /tools\[0\].*computer_toolset_20260801/);
      return true;
    });
    assert.equal(openai.requests.length, 0);
  });

  test('a client tool without a name: 400 naming tools[0].name, nothing upstream', async () => {
    const tools = [{ input_schema: { type: 'object' } }] as unknown as Anthropic.Tool[];
    await assert.rejects(client.messages.create({ model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], tools }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.BadRequestError);
      assert.match(error.message, /tools\[0\]\.name/);
      return true;
    });
    assert.equal(openai.requests.length, 0);
  });

  test('a system-role message: passed to Claude as sent, a system message in its place for other models', async () => {
    const messages = [
      { role: 'user' as const, content: 'Hi' },
      { role: 'system' as const, content: [{ type: 'text' as const, text: 'Answer in French.' }] },
      { role: 'user' as const, content: 'How are you?' },
    ];
    await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages });
    assert.deepEqual((anthropic.requests[0]?.body as { messages?: unknown }).messages, messages);
    await client.messages.create({ model: 'gpt-4o', max_tokens: 64, messages });
    assert.deepEqual(openai.requests[0]?.body?.messages, [
      { role: 'user', content: 'Hi' },
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'How are you?' },
    ]);
  });

  test('another model: 400 naming max_tokens, nothing upstream', async () => {
    await assert.rejects(client.messages.create({ model: 'gpt-4o', ...PREWARM }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.BadRequestError);
      assert.match(error.message, /max_tokens/);
      return true;
    });
    assert.equal(openai.requests.length, 0);
  });
});
