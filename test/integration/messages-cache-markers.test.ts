// /v1/messages translated through the chat pipeline (a Claude group with a GPT fallback the key may
// use; Claude on OpenRouter) keeps the client's cache_control breakpoints for models that cache on
// them, and sends none to models that do not (OpenAI, which takes no such field).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { KEYS, record } from '../support/conformance-providers.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const EPHEMERAL = { type: 'ephemeral' };
const HOUR = { type: 'ephemeral', ttl: '1h' };

/** What Claude Code sends: breakpoints on a tool, the system prompt, a tool result and the last user text. */
function markedRequest(model: string): Record<string, unknown> {
  return {
    model,
    max_tokens: 64,
    system: [
      { type: 'text', text: 'You are a coding agent.' },
      { type: 'text', text: 'Project rules: keep functions small.', cache_control: HOUR },
    ],
    tools: [{ name: 'read_file', description: 'Reads a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } }, cache_control: HOUR }],
    messages: [
      { role: 'user', content: 'Open the README.' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'read_file', input: { path: 'README.md' } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '# Project', cache_control: EPHEMERAL },
          { type: 'text', text: 'Summarise it.', cache_control: EPHEMERAL },
        ],
      },
    ],
  };
}

describe('/v1/messages translated: cache_control breakpoints', () => {
  let openai: FakeOpenAi;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAi({ apiKey: UPSTREAM_KEY }), startFakeAnthropic()]);
    gateway = await startGateway(
      {
        OPENAI_API_KEY: UPSTREAM_KEY,
        OPENAI_BASE_URL: `${openai.url}/v1`,
        OPENROUTER_API_KEY: UPSTREAM_KEY,
        OPENROUTER_BASE_URL: `${openai.url}/v1`,
        ANTHROPIC_API_KEY: KEYS.anthropic,
        ANTHROPIC_BASE_URL: anthropic.url,
      },
      {
        configure: (config) => {
          // The GPT fallback the key may use sends the call through the chat pipeline, to Claude first.
          config.models = [{ name: 'claude-backed', deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }], fallbacks: ['gpt-4o'] }];
        },
      },
    );
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openai?.close(), anthropic?.close()]);
  });
  beforeEach(() => {
    openai.reset();
    anthropic.reset();
  });

  async function send(model: string): Promise<void> {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify(markedRequest(model)),
    });
    assert.equal(response.status, 200, `${model}: ${await response.clone().text()}`);
    await response.text();
  }

  test('Claude reached through translation gets every breakpoint where the client put it', async () => {
    await send('claude-backed');
    const sent = record(anthropic.requests.at(-1)?.body);
    const system = sent.system as Array<Record<string, unknown>>;
    assert.deepEqual(system.at(-1), { type: 'text', text: 'Project rules: keep functions small.', cache_control: HOUR });
    assert.equal(system[0]?.cache_control, undefined);
    assert.deepEqual((sent.tools as Array<Record<string, unknown>>)[0]?.cache_control, HOUR);
    const last = (sent.messages as Array<{ content: Array<Record<string, unknown>> }>).at(-1)?.content ?? [];
    const result = last.find((block) => block.type === 'tool_result');
    assert.deepEqual(result?.cache_control, EPHEMERAL, JSON.stringify(last));
    assert.deepEqual(last.at(-1), { type: 'text', text: 'Summarise it.', cache_control: EPHEMERAL });
  });

  test('Claude on OpenRouter (an OpenAI-format host) gets them in the chat form, never on the tool message itself', async () => {
    await send('openrouter/anthropic/claude-sonnet-4.5');
    const sent = record(openai.requests.at(-1)?.body);
    assert.equal(sent.model, 'anthropic/claude-sonnet-4.5');
    const messages = sent.messages as Array<Record<string, unknown>>;
    assert.deepEqual((messages[0]?.content as Array<Record<string, unknown>>)[1], { type: 'text', text: 'Project rules: keep functions small.', cache_control: HOUR });
    const tool = messages.find((message) => message.role === 'tool');
    assert.equal(tool?.cache_control, undefined);
    assert.deepEqual(tool?.content, [{ type: 'text', text: '# Project', cache_control: EPHEMERAL }]);
    assert.deepEqual(messages.at(-1)?.content, [{ type: 'text', text: 'Summarise it.', cache_control: EPHEMERAL }]);
    assert.deepEqual((sent.tools as Array<Record<string, unknown>>)[0]?.cache_control, HOUR);
  });

  test('OpenAI, which caches without markers, is sent none', async () => {
    await send('gpt-4o');
    const sent = openai.requests.at(-1);
    assert.equal(record(sent?.body).model, 'gpt-4o');
    assert.doesNotMatch(JSON.stringify(sent?.body), /cache_control/);
  });
});
