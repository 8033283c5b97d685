// /v1/messages to a Claude group with a GPT fallback the key may use: Claude gets the client's body
// as it came (thinking, top_k, betas) and answers with its own bytes and events; when Claude fails,
// the same call moves to GPT in the chat form and answers in the Messages format. The client's
// cache_control breakpoints reach every model that caches on them (Claude, Claude on OpenRouter
// through the chat form) and no other (OpenAI takes no such field); the chat form's markers reaching
// the Anthropic translation are covered by src/anthropic-api/to-chat-request.test.ts.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { KEYS, record } from '../support/conformance-providers.js';
import { FAKE_COUNT_TOKENS, readAnthropicFixture, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

/** What Claude Code sends that only Claude understands. */
const REQUEST = {
  max_tokens: 2048,
  top_k: 5,
  thinking: { type: 'enabled', budget_tokens: 1024 },
  system: [{ type: 'text', text: 'You are a coding agent.', cache_control: { type: 'ephemeral' } }],
  messages: [{ role: 'user', content: 'Hello' }],
};

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

describe('/v1/messages: a Claude group with a GPT fallback', () => {
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
          // Two groups on two Claude models: the failover tests open the breaker of theirs only.
          config.models = [
            { name: 'claude-primary', deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }], fallbacks: ['gpt-4o'] },
            { name: 'claude-flaky', deployments: [{ provider: 'anthropic', model: 'claude-haiku-4-5' }], fallbacks: ['gpt-4o'] },
            // No Claude at all: translated for every deployment, the chat form made for o3.
            { name: 'o3-first', deployments: [{ provider: 'openai', model: 'o3' }], fallbacks: ['gpt-4o'] },
          ];
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

  async function post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'cache-control': 'no-store', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, text: await response.text(), headers: response.headers };
  }

  test('Claude gets the body as it came, with its beta, and its answer comes back byte for byte', async () => {
    const answer = await post({ ...REQUEST, model: 'claude-primary' }, { 'anthropic-beta': 'interleaved-thinking-2025-05-14' });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(anthropic.requests[0]?.body, { ...REQUEST, model: 'claude-sonnet-4-5' });
    assert.equal(anthropic.requests[0]?.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14');
    assert.equal(answer.text, readAnthropicFixture('anthropic-text.response.json'));
    assert.equal(openai.requests.length, 0);
    // Nothing was dropped on the way to Claude: the translation's warnings (top_k, thinking) are not this answer's.
    assert.equal(answer.headers.get('x-llm-proxy-warnings'), null);
  });

  test('a Claude stream is passed through as Claude sent it', async () => {
    const answer = await post({ ...REQUEST, model: 'claude-primary', stream: true });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.text, readAnthropicFixture('anthropic-text.chunks.txt'));
    assert.equal(record(anthropic.requests[0]?.body).stream, true);
  });

  test('when Claude fails, GPT answers the same call in the Messages format, with what the translation dropped said', async () => {
    for (let index = 0; index < 4; index++) anthropic.enqueue({ kind: 'error', status: 529 });
    const answer = await post({ ...REQUEST, model: 'claude-flaky' });
    assert.equal(answer.status, 200, answer.text);
    const message = record(JSON.parse(answer.text) as unknown);
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.match(answer.headers.get('x-llm-proxy-route') ?? '', /^anthropic\/claude-haiku-4-5=upstream_error, .*openai\/gpt-4o=200$/);
    assert.match(answer.headers.get('x-llm-proxy-warnings') ?? '', /top_k/);
    const sent = record(openai.requests.at(-1)?.body);
    assert.equal(sent.model, 'gpt-4o');
    // The chat form made for Claude, fitted to GPT: its output limit as OpenAI names it, no reasoning_effort for a model that does not reason.
    assert.equal(sent.max_completion_tokens, 2048);
    assert.equal(sent.max_tokens, undefined);
    assert.equal(sent.reasoning_effort, undefined);
    assert.doesNotMatch(JSON.stringify(sent), /cache_control/);
  });

  test('without Claude, each deployment still gets the chat form as it takes it: no reasoning_effort for the fallback that does not reason', async () => {
    for (let index = 0; index < 3; index++) openai.enqueue({ kind: 'status', status: 500 });
    const answer = await post({ ...REQUEST, model: 'o3-first', top_k: undefined });
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.headers.get('x-llm-proxy-route') ?? '', /^openai\/o3=upstream_error, .*openai\/gpt-4o=200$/);
    const [first, last] = [record(openai.requests[0]?.body), record(openai.requests.at(-1)?.body)];
    assert.deepEqual([first.model, first.reasoning_effort], ['o3', 'low']);
    assert.deepEqual([last.model, last.reasoning_effort, last.max_completion_tokens], ['gpt-4o', undefined, 2048]);
  });

  test('a Claude stream cut after its first content ends with an error event; no fallback once bytes are out', async () => {
    anthropic.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 4 });
    const answer = await post({ ...REQUEST, model: 'claude-primary', stream: true });
    assert.equal(answer.status, 200);
    assert.match(answer.text, /event: message_start/);
    assert.match(answer.text, /event: error\ndata: .*"type":"error"/);
    assert.doesNotMatch(answer.text, /event: message_stop/);
    assert.equal(openai.requests.length, 0, 'GPT was not called after Claude had started answering');
    // The server goes on serving.
    assert.equal((await post({ ...REQUEST, model: 'claude-primary' })).status, 200);
  });

  test('a Claude stream that fails after its first content without a broken connection counts against its deployment', async () => {
    const failures = async () => {
      const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments: Record<string, { failures: number; inFlight: number }> }>;
      return providers.anthropic?.deployments['anthropic/claude-sonnet-4-5'];
    };
    const before = (await failures())?.failures ?? 0;
    for (const scenario of ['stream-overloaded', 'stream-truncated'] as const) {
      anthropic.enqueue({ kind: 'scenario', scenario });
      const answer = await post({ ...REQUEST, model: 'claude-primary', stream: true });
      assert.match(answer.text, /event: error/);
    }
    const after = await failures();
    assert.equal(after?.failures, before + 2, JSON.stringify(after));
    assert.equal(after?.inFlight, 0);
  });

  test("count_tokens asks Claude's own count; when Claude fails, the failover answers with the proxy's count", async () => {
    const count = async (model: string) => {
      const response = await fetch(`${gateway.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
        body: JSON.stringify({ model, system: REQUEST.system, messages: REQUEST.messages }),
      });
      return { status: response.status, body: record(JSON.parse(await response.text()) as unknown) };
    };
    const claude = await count('claude-primary');
    assert.deepEqual(claude, { status: 200, body: { input_tokens: FAKE_COUNT_TOKENS } });
    assert.equal(anthropic.requests.at(-1)?.path, '/v1/messages/count_tokens');
    for (let index = 0; index < 4; index++) anthropic.enqueue({ kind: 'error', status: 529 });
    const local = await count('claude-flaky');
    assert.equal(local.status, 200);
    assert.equal(typeof local.body.input_tokens, 'number');
    assert.notEqual(local.body.input_tokens, FAKE_COUNT_TOKENS);
    assert.ok((local.body.input_tokens as number) > 0);
    assert.equal(openai.requests.length, 0, 'GPT is never asked to count');
  });

  test('a stream that fails on Claude before its first byte is served by GPT as Anthropic events; the SDK reads it', async () => {
    for (let index = 0; index < 4; index++) anthropic.enqueue({ kind: 'error', status: 529 });
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.url, maxRetries: 0 });
    const stream = client.messages.stream({ ...REQUEST, model: 'claude-flaky', messages: [{ role: 'user', content: 'Hello' }] } as unknown as Anthropic.MessageCreateParamsStreaming, { headers: { 'cache-control': 'no-store' } });
    const message = await stream.finalMessage();
    assert.equal(message.type, 'message');
    assert.ok(message.content.some((block) => block.type === 'text' && block.text.length > 0), JSON.stringify(message));
    assert.equal(record(openai.requests.at(-1)?.body).stream, true);
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

  test('Claude in a group with a GPT fallback gets every breakpoint where the client put it', async () => {
    await send('claude-primary');
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

  test('OpenAI, which caches without markers, is sent none, and a tool result as its text', async () => {
    await send('gpt-4o');
    const sent = openai.requests.at(-1);
    assert.equal(record(sent?.body).model, 'gpt-4o');
    assert.doesNotMatch(JSON.stringify(sent?.body), /cache_control/);
    // The part the translation made only to carry the result's marker is gone with it.
    const tool = (record(sent?.body).messages as Array<Record<string, unknown>>).find((message) => message.role === 'tool');
    assert.equal(tool?.content, '# Project');
  });
});
