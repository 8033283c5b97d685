// Requests translated between formats, fitted to what the provider on the other side takes: Claude
// Code's long `metadata.user_id` as a short stable `user`; a tool history without `tools` sent to
// Claude with definitions of its tools; `output_config.effort` reaching Claude through the chat form.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { KEYS, record, type Json } from '../support/conformance-providers.js';
import { readAnthropicJson, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

/** Claude Code's `metadata.user_id`: a JSON object of ids, about 150 characters. */
const CLAUDE_CODE_USER = JSON.stringify({
  device_id: 'c0ffee00d1ce0bad5eed0fa11cafe0000000000000000000000000000000000a',
  account_uuid: '00000000-0000-4000-8000-000000000000',
  session_id: '9b2b5a0e-8f3c-4d6e-a1b2-c3d4e5f60718',
});

describe('translated requests fitted to the provider', () => {
  let openai: FakeOpenAi;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    [openai, anthropic] = await Promise.all([startFakeOpenAi({ apiKey: KEYS.openai }), startFakeAnthropic()]);
    gateway = await startGateway(
      {
        OPENAI_API_KEY: KEYS.openai,
        OPENAI_BASE_URL: `${openai.url}/v1`,
        OPENROUTER_API_KEY: KEYS.openai,
        OPENROUTER_BASE_URL: `${openai.url}/v1`,
        ANTHROPIC_API_KEY: KEYS.anthropic,
        ANTHROPIC_BASE_URL: anthropic.url,
        LLM_PROXY_RPM: '0',
        LLM_PROXY_CACHE: 'off',
      },
      {
        configure: (config) => {
          // A small window, so that X-LLM-Proxy-Context: truncate rewrites the conversation and Claude gets the chat form.
          config.model_catalog = { 'claude-sonnet-4-6': { context_length: 300 } };
        },
      },
    );
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openai, anthropic].map((fake) => fake?.close()));
  });
  beforeEach(() => [openai, anthropic].forEach((fake) => fake.reset()));

  async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
    const response = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, text: await response.text(), headers: response.headers };
  }

  test("openai 6.x custom tools reach OpenAI as sent (they were a 400 'tools[0].function'); Claude refuses them naming the field, before any call", async () => {
    const tools = [
      { type: 'function', function: { name: 'read', parameters: { type: 'object', properties: {} } } },
      { type: 'custom', custom: { name: 'apply_patch', description: 'Edit files', format: { type: 'text' } } },
    ];
    const tool_choice = { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'custom', custom: { name: 'apply_patch' } }] } };
    const messages = [
      { role: 'user', content: 'Fix it' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'apply_patch', input: '*** Begin Patch' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'done' },
    ];
    const sent = await post('/v1/chat/completions', { model: 'gpt-4o-mini', tools, tool_choice, messages });
    assert.equal(sent.status, 200, sent.text);
    const body = record(openai.requests[0]?.body);
    assert.deepEqual([body.tools, body.tool_choice, body.messages], [tools, tool_choice, messages]);
    const refused = await post('/v1/chat/completions', { model: 'claude-sonnet-4-5', max_tokens: 64, tools, messages: [{ role: 'user', content: 'Fix it' }] });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(record(record(JSON.parse(refused.text) as Json).error).param, 'tools[1]');
    assert.equal(anthropic.requests.length, 0);
  });

  test('tool_choice allowed_tools reaches Claude where it can say the same (one tool required → that tool, every tool still sent); a subset is a 400 before any call', async () => {
    const tools = ['read', 'write', 'list'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } }));
    const allowed = (mode: string, names: string[]) => ({ type: 'allowed_tools', allowed_tools: { mode, tools: names.map((name) => ({ type: 'function', function: { name } })) } });
    const ask = { model: 'claude-sonnet-4-5', max_tokens: 64, tools, messages: [{ role: 'user', content: 'Read it' }] };
    const sent = await post('/v1/chat/completions', { ...ask, tool_choice: allowed('required', ['read']) });
    assert.equal(sent.status, 200, sent.text);
    const body = record(anthropic.requests[0]?.body);
    assert.deepEqual([(body.tools as Array<{ name: string }>).map((tool) => tool.name), body.tool_choice], [['read', 'write', 'list'], { type: 'tool', name: 'read' }]);
    const refused = await post('/v1/chat/completions', { ...ask, tool_choice: allowed('auto', ['read', 'list']) });
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual([record(record(JSON.parse(refused.text) as Json).error).code, record(record(JSON.parse(refused.text) as Json).error).param], ['unsupported_parameter', 'tool_choice']);
    assert.equal(anthropic.requests.length, 1);
  });

  test("/v1/messages to an OpenAI-format host: Claude Code's long metadata.user_id goes as a short id, the same every time", async () => {
    const request = { model: 'openrouter/anthropic/claude-sonnet-4.5', max_tokens: 64, metadata: { user_id: CLAUDE_CODE_USER }, messages: [{ role: 'user', content: 'Hi' }] };
    const first = await post('/v1/messages', request);
    const second = await post('/v1/messages', request);
    assert.equal(first.status, 200, first.text);
    assert.equal(second.status, 200, second.text);
    const users = openai.requests.map((sent) => record(sent.body).user);
    assert.equal(users.length, 2);
    assert.equal(typeof users[0], 'string');
    // OpenRouter refuses more than 128; OpenAI's safety_identifier more than 64.
    assert.ok((users[0] as string).length <= 64, String(users[0]));
    assert.equal(users[1], users[0]);
    // A short id is passed on as it came.
    await post('/v1/messages', { ...request, metadata: { user_id: 'user-42' } });
    assert.equal(record(openai.requests[2]?.body).user, 'user-42');
  });

  test('chat to Claude: a conversation with tool calls in its history and no tools gets definitions of those tools, and may call none', async () => {
    const response = await post('/v1/chat/completions', {
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny, 21 °C' },
        { role: 'user', content: 'Now summarise the conversation.' },
      ],
    });
    assert.equal(response.status, 200, response.text);
    const sent = record(anthropic.requests[0]?.body);
    // Anthropic answers 400 "Requests which include `tool_use` or `tool_result` blocks must define tools" otherwise.
    const tools = sent.tools as Json[] | undefined;
    assert.deepEqual(tools?.map((tool) => tool.name), ['get_weather']);
    assert.deepEqual(sent.tool_choice, { type: 'none' });
    // The history itself is unchanged.
    assert.deepEqual((sent.messages as Json[])[1], { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] });
    assert.equal(response.headers.get('x-llm-proxy-warnings'), null);
  });

  test("/v1/messages to Claude through the chat form (the context policy rewrote the conversation): output_config.effort reaches Claude", async () => {
    const filler = 'The quick brown fox jumps over the lazy dog. '.repeat(30);
    const response = await post(
      '/v1/messages',
      {
        model: 'claude-sonnet-4-6',
        max_tokens: 64,
        thinking: { type: 'adaptive' },
        output_config: { effort: 'low' },
        messages: [
          { role: 'user', content: filler },
          { role: 'assistant', content: 'Noted.' },
          { role: 'user', content: 'Hi' },
        ],
      },
      { 'x-llm-proxy-context': 'truncate' },
    );
    assert.equal(response.status, 200, response.text);
    assert.match(response.headers.get('x-llm-proxy-context-method') ?? '', /truncate/);
    const sent = record(anthropic.requests[0]?.body);
    assert.equal((sent.messages as Json[]).length, 1);
    assert.deepEqual(sent.thinking, { type: 'adaptive' });
    assert.deepEqual(sent.output_config, { effort: 'low' });
  });

  test('reasoning_effort a Claude model has no level for goes as its nearest lower one, and the warning lists the levels it takes', async () => {
    const cases: Array<[string, string, string, string]> = [
      ['claude-opus-4-6', 'xhigh', 'high', 'claude-opus-4-6 takes low, medium, high or max; sent high'],
      ['claude-mythos-preview', 'xhigh', 'high', 'claude-mythos-preview takes low, medium, high or max; sent high'],
      ['claude-sonnet-4-6', 'minimal', 'low', 'claude-sonnet-4-6 takes low, medium, high or max; sent low'],
      ['claude-opus-4-7', 'minimal', 'low', 'claude-opus-4-7 takes low, medium, high, xhigh or max; sent low'],
    ];
    for (const [model, asked, sent, note] of cases) {
      // Named with its provider: the built-in catalog does not list Mythos Preview.
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 64, reasoning_effort: asked, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(response.status, 200, `${model} ${asked}: ${response.text}`);
      assert.deepEqual(record(anthropic.requests.at(-1)?.body).output_config, { effort: sent }, `${model} ${asked}`);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), `reasoning_effort: ${note}`);
    }
  });

  test("reasoning_effort none on a Claude model that cannot turn thinking off goes as its lowest setting, with a warning, where Anthropic refused 'disabled'", async () => {
    const cases: Array<[string, Json, Json | undefined, string | null]> = [
      ['claude-opus-5-5', { type: 'adaptive' }, { effort: 'low' }, 'reasoning_effort: claude-opus-5-5 cannot turn thinking off; sent low'],
      ['claude-fable-5-1', { type: 'adaptive' }, { effort: 'low' }, 'reasoning_effort: claude-fable-5-1 cannot turn thinking off; sent low'],
      ['claude-mythos-preview', { type: 'adaptive' }, { effort: 'low' }, 'reasoning_effort: claude-mythos-preview cannot turn thinking off; sent low'],
      ['claude-sonnet-5-5', { type: 'between_tools' }, undefined, 'reasoning_effort: claude-sonnet-5-5 cannot turn thinking off; sent between_tools (no thinking before the answer)'],
      // These take 'disabled' (Opus 5 at its default effort).
      ['claude-opus-5', { type: 'disabled' }, undefined, null],
      ['claude-haiku-5-5', { type: 'disabled' }, undefined, null],
      ['claude-opus-4-7', { type: 'disabled' }, undefined, null],
    ];
    for (const [model, thinking, config, warning] of cases) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 64, reasoning_effort: 'none', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      const sent = record(anthropic.requests.at(-1)?.body);
      assert.deepEqual([sent.thinking, sent.output_config], [thinking, config], model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), warning, model);
    }
  });

  const weather = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
  const ask = { role: 'user', content: 'Weather in Paris?' };
  /** A tool loop whose assistant turn came back without its thinking_blocks. */
  const loop = [
    ask,
    { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'toolu_01', content: '18°C' },
  ];

  test("the client's own thinking (extra_body) goes as the model takes it, with a warning: disabled where thinking cannot be turned off, budget_tokens where thinking is adaptive only; Anthropic refused both", async () => {
    const cases: Array<[string, Json, Json, Json | undefined, string | null]> = [
      ['claude-fable-5', { type: 'disabled' }, { type: 'adaptive' }, { effort: 'low' }, 'thinking: claude-fable-5 cannot turn thinking off; sent low'],
      ['claude-sonnet-5-5', { type: 'disabled' }, { type: 'between_tools' }, undefined, 'thinking: claude-sonnet-5-5 cannot turn thinking off; sent between_tools (no thinking before the answer)'],
      ['claude-opus-4-7', { type: 'enabled', budget_tokens: 20000 }, { type: 'adaptive' }, { effort: 'high' }, 'thinking: claude-opus-4-7 takes no budget_tokens (adaptive thinking only, Claude Opus 4.7 and later); sent adaptive at effort high'],
      ['claude-mythos-5', { type: 'enabled', budget_tokens: 1024, display: 'omitted' }, { type: 'adaptive', display: 'omitted' }, { effort: 'low' }, 'thinking: claude-mythos-5 takes no budget_tokens (adaptive thinking only, Claude Opus 4.7 and later); sent adaptive at effort low'],
      // What the model takes goes as it came.
      ['claude-opus-4-6', { type: 'enabled', budget_tokens: 2048 }, { type: 'enabled', budget_tokens: 2048 }, undefined, null],
      ['claude-opus-5', { type: 'disabled' }, { type: 'disabled' }, undefined, null],
    ];
    for (const [model, thinking, sentThinking, config, warning] of cases) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 4096, thinking, messages: [ask] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      const sent = record(anthropic.requests.at(-1)?.body);
      assert.deepEqual([sent.thinking, sent.output_config], [sentThinking, config], model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), warning, model);
    }
  });

  test("the client's own between_tools reaches Claude Sonnet 5.5 (it was a 400 invalid_value from the proxy), at high effort at most; elsewhere it goes as disabled would, said (Anthropic refuses it there)", async () => {
    const cases: Array<[string, Json | undefined, Json, Json | undefined, string | null]> = [
      ['claude-sonnet-5-5', undefined, { type: 'between_tools' }, undefined, null],
      ['claude-sonnet-5-5', { effort: 'max' }, { type: 'between_tools' }, { effort: 'high' }, 'output_config.effort: between_tools runs at effort low, medium or high (claude-sonnet-5-5 refuses it at max); sent high'],
      ['claude-opus-5', undefined, { type: 'disabled' }, undefined, "thinking: claude-opus-5 takes no between_tools (Claude Sonnet 5.5's lowest setting); sent disabled (no thinking)"],
      ['claude-opus-5-5', undefined, { type: 'adaptive' }, { effort: 'low' }, "thinking: claude-opus-5-5 takes no between_tools (Claude Sonnet 5.5's lowest setting); claude-opus-5-5 cannot turn thinking off; sent low"],
    ];
    for (const [model, output_config, sentThinking, config, warning] of cases) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 4096, thinking: { type: 'between_tools' }, ...(output_config === undefined ? {} : { output_config }), messages: [ask] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      const sent = record(anthropic.requests.at(-1)?.body);
      assert.deepEqual([sent.thinking, sent.output_config], [sentThinking, config], model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), warning, model);
    }
  });

  test("the client's own adaptive thinking on Claude 4.5 and earlier goes as a budget for its effort, said; Anthropic refused it ('adaptive' does not match 'disabled', 'enabled')", async () => {
    const response = await post('/v1/chat/completions', { model: 'anthropic/claude-sonnet-4-5', max_tokens: 20000, thinking: { type: 'adaptive' }, output_config: { effort: 'medium' }, messages: [ask] });
    assert.equal(response.status, 200, response.text);
    const sent = record(anthropic.requests.at(-1)?.body);
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 8192 });
    assert.equal(response.headers.get('x-llm-proxy-warnings'), 'thinking: claude-sonnet-4-5 takes no adaptive thinking (a budget only, Claude 4.5 and earlier); sent budget_tokens 8192, the budget of effort medium');
  });

  test("Claude's signed thinking comes back on the answer as thinking_blocks; replayed with the assistant turn, it reaches Claude first in that turn and thinking stays on in the tool loop", async () => {
    anthropic.respondWith('thinking-tools');
    const thinking = { type: 'enabled', budget_tokens: 2048 };
    const first = await post('/v1/chat/completions', { model: 'anthropic/claude-opus-4-6', max_tokens: 4096, thinking, tools: [weather], messages: [ask] });
    assert.equal(first.status, 200, first.text);
    const reply = record(record((JSON.parse(first.text) as { choices: Json[] }).choices[0]).message);
    const blocks = (readAnthropicJson('anthropic-thinking-tools.response.json') as { content: Json[] }).content.slice(0, 1);
    assert.deepEqual(reply.thinking_blocks, blocks);
    // The client sends the assistant message back as it came (the openai SDK keeps unknown fields).
    const replay = await post('/v1/chat/completions', {
      model: 'anthropic/claude-opus-4-6',
      max_tokens: 4096,
      thinking,
      tools: [weather],
      messages: [ask, reply, { role: 'tool', tool_call_id: record((reply.tool_calls as Json[])[0]).id, content: '18°C' }],
    });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.headers.get('x-llm-proxy-warnings'), null);
    const sent = record(anthropic.requests.at(-1)?.body);
    assert.deepEqual(sent.thinking, thinking);
    const turn = (sent.messages as Json[])[1];
    assert.deepEqual([turn?.role, (turn?.content as Json[]).map((block) => block.type)], ['assistant', ['thinking', 'tool_use']]);
    assert.deepEqual((turn?.content as Json[])[0], blocks[0]);
  });

  test('a tool loop whose assistant turn came without thinking_blocks: a budget goes off where thinking can stop (Anthropic refuses it then), adaptive where it cannot (Mythos Preview); adaptive thinking stays as asked, unsaid', async () => {
    const cases: Array<[string, Json, Json | undefined, Json | undefined, string | null]> = [
      ['claude-sonnet-4-5', { thinking: { type: 'enabled', budget_tokens: 2048 } }, undefined, undefined, 'so it is off for this call'],
      ['claude-mythos-preview', { thinking: { type: 'enabled', budget_tokens: 2048 } }, { type: 'adaptive' }, { effort: 'low' }, 'claude-mythos-preview cannot turn thinking off, so it went as adaptive at effort low'],
      // Adaptive thinking may skip a step (a forced call skips it), so Claude takes a turn that opens with its call.
      ['claude-opus-4-6', { thinking: { type: 'adaptive' } }, { type: 'adaptive' }, undefined, null],
      ['claude-opus-5', { thinking: { type: 'adaptive' }, output_config: { effort: 'xhigh' } }, { type: 'adaptive' }, { effort: 'xhigh' }, null],
      ['claude-haiku-5-5', { reasoning_effort: 'high' }, { type: 'adaptive' }, { effort: 'high' }, null],
      ['claude-sonnet-5-5', { thinking: { type: 'between_tools' } }, { type: 'between_tools' }, undefined, null],
      ['claude-opus-5-5', { thinking: { type: 'adaptive' } }, { type: 'adaptive' }, undefined, null],
    ];
    for (const [model, asked, thinking, config, said] of cases) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 4096, tools: [weather], messages: loop, ...asked });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      const sent = record(anthropic.requests.at(-1)?.body);
      assert.deepEqual([sent.thinking, sent.output_config], [thinking, config], model);
      const warnings = response.headers.get('x-llm-proxy-warnings');
      if (said === null) assert.equal(warnings, null, model);
      else assert.ok((warnings ?? '').includes('came without its thinking_blocks (replay the message as the answer gave it)') && (warnings ?? '').includes(said), `${model}: ${warnings}`);
    }
  });

  test('a budget with a forced tool call on Claude Mythos Preview (it cannot stop thinking) goes as adaptive at the effort the budget means, said; Anthropic refused it ("Thinking may not be enabled when tool_choice forces tool use.")', async () => {
    const response = await post('/v1/chat/completions', { model: 'anthropic/claude-mythos-preview', max_tokens: 20000, tools: [weather], tool_choice: 'required', thinking: { type: 'enabled', budget_tokens: 16384 }, messages: [ask] });
    assert.equal(response.status, 200, response.text);
    const sent = record(anthropic.requests.at(-1)?.body);
    assert.deepEqual([sent.tool_choice, sent.thinking, sent.output_config], [{ type: 'any' }, { type: 'adaptive' }, { effort: 'high' }]);
    assert.equal(response.headers.get('x-llm-proxy-warnings'), 'thinking: Claude does not think on a budget when a tool call is forced (tool_choice required or named), and claude-mythos-preview cannot turn thinking off, so it went as adaptive at effort high');
  });

  test('a forced tool call on the Claude models that think on every answer and take one (Fable 5, Mythos 5) keeps their thinking, with no warning that it is off', async () => {
    for (const model of ['claude-fable-5', 'claude-mythos-5']) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 64, tools: [weather], tool_choice: 'required', reasoning_effort: 'high', messages: [ask] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      const sent = record(anthropic.requests.at(-1)?.body);
      assert.deepEqual([sent.tool_choice, sent.thinking, sent.output_config], [{ type: 'any' }, { type: 'adaptive' }, { effort: 'high' }], model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), null, model);
    }
    // Adaptive thinking takes a forced call on every model that takes one: it stays, unsaid.
    const opus = await post('/v1/chat/completions', { model: 'anthropic/claude-opus-4-7', max_tokens: 64, tools: [weather], tool_choice: 'required', reasoning_effort: 'high', messages: [ask] });
    assert.equal(opus.status, 200, opus.text);
    assert.deepEqual(record(anthropic.requests.at(-1)?.body).thinking, { type: 'adaptive' });
    assert.equal(opus.headers.get('x-llm-proxy-warnings'), null);
    // A budget (manual thinking) does not (Anthropic: "Thinking may not be enabled when tool_choice forces tool use."): off, said.
    const sonnet = await post('/v1/chat/completions', { model: 'anthropic/claude-sonnet-4-5', max_tokens: 4096, tools: [weather], tool_choice: 'required', reasoning_effort: 'high', messages: [ask] });
    assert.equal(sonnet.status, 200, sonnet.text);
    assert.equal(record(anthropic.requests.at(-1)?.body).thinking, undefined);
    assert.match(sonnet.headers.get('x-llm-proxy-warnings') ?? '', /thinking: Claude does not think on a budget when a tool call is forced/);
  });

  test("output_config.effort on a Claude model that takes none (Sonnet and Haiku 4.5 and earlier) is dropped with a warning, and a level the model lacks goes as its nearest lower one; Anthropic refused both", async () => {
    const cases: Array<[string, string, Json | undefined, string]> = [
      ['claude-sonnet-4-5', 'low', undefined, 'output_config.effort: claude-sonnet-4-5 takes no effort (Claude Opus 4.5, and the 4.6 models and later, do), ignored'],
      ['claude-haiku-4-5', 'high', undefined, 'output_config.effort: claude-haiku-4-5 takes no effort (Claude Opus 4.5, and the 4.6 models and later, do), ignored'],
      ['claude-opus-4-5-20251101', 'max', { effort: 'high' }, 'output_config.effort: claude-opus-4-5-20251101 takes low, medium or high; sent high'],
      ['claude-opus-4-6', 'xhigh', { effort: 'high' }, 'output_config.effort: claude-opus-4-6 takes low, medium, high or max; sent high'],
    ];
    for (const [model, effort, config, warning] of cases) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 64, output_config: { effort }, messages: [ask] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      assert.deepEqual(record(anthropic.requests.at(-1)?.body).output_config, config, model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), warning, model);
    }
  });

  test("the client's own thinking on a Claude 3 or 3.5 model (no extended thinking) is dropped with a warning; Anthropic refused it", async () => {
    for (const thinking of [{ type: 'enabled', budget_tokens: 2048 }, { type: 'adaptive' }]) {
      const response = await post('/v1/chat/completions', { model: 'anthropic/claude-3-5-haiku-20241022', max_tokens: 4096, thinking, messages: [ask] });
      assert.equal(response.status, 200, response.text);
      assert.equal(record(anthropic.requests.at(-1)?.body).thinking, undefined);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), 'thinking: claude-3-5-haiku-20241022 does not think (Claude 3.7 and later do), ignored');
    }
  });

  test('tool_choice required or named on the Claude models that refuse a forced tool call goes as auto, with a warning; Anthropic answered 400 "tool_choice: type "tool" and "any" are not supported for this model."', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['claude-opus-5-5', 'required', "tool_choice: claude-opus-5-5 refuses a forced tool call (Fable and Mythos 5.1, Opus and Sonnet 5.5 and later do), so it went as auto: the model may answer without calling a tool"],
      ['claude-fable-5-1', { type: 'function', function: { name: 'get_weather' } }, "tool_choice: claude-fable-5-1 refuses a forced tool call (Fable and Mythos 5.1, Opus and Sonnet 5.5 and later do), so it went as auto: the model may answer without calling get_weather"],
      ['claude-sonnet-5-5', 'required', "tool_choice: claude-sonnet-5-5 refuses a forced tool call (Fable and Mythos 5.1, Opus and Sonnet 5.5 and later do), so it went as auto: the model may answer without calling a tool"],
    ];
    for (const [model, tool_choice, warning] of cases) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 64, tools: [weather], tool_choice, reasoning_effort: 'low', messages: [ask] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      const sent = record(anthropic.requests.at(-1)?.body);
      // Thinking stays: nothing is forced any more.
      assert.deepEqual([sent.tool_choice, sent.thinking], [{ type: 'auto' }, { type: 'adaptive' }], model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), warning, model);
    }
    // Fable 5 takes a forced call.
    const fable = await post('/v1/chat/completions', { model: 'anthropic/claude-fable-5', max_tokens: 64, tools: [weather], tool_choice: 'required', messages: [ask] });
    assert.equal(fable.status, 200, fable.text);
    assert.deepEqual(record(anthropic.requests.at(-1)?.body).tool_choice, { type: 'any' });
  });

  test("JSON mode on the Claude models that refuse a forced tool call: a json_schema in Claude's subset goes as output_config.format, json_object as the json_response tool with tool_choice auto and a warning", async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const structured = await post('/v1/chat/completions', { model: 'anthropic/claude-opus-5-5', max_tokens: 64, response_format: { type: 'json_schema', json_schema: { name: 'place', schema } }, messages: [ask] });
    assert.equal(structured.status, 200, structured.text);
    const sent = record(anthropic.requests.at(-1)?.body);
    assert.deepEqual([sent.output_config, sent.tools, sent.tool_choice], [{ format: { type: 'json_schema', schema } }, undefined, undefined]);
    assert.equal(structured.headers.get('x-llm-proxy-warnings'), null);
    // With the client's tools and a required choice: auto, the tools, and the format.
    const withTools = await post('/v1/chat/completions', { model: 'anthropic/claude-sonnet-5-5', max_tokens: 64, tools: [weather], tool_choice: 'required', response_format: { type: 'json_schema', json_schema: { name: 'place', schema } }, messages: [ask] });
    assert.equal(withTools.status, 200, withTools.text);
    const both = record(anthropic.requests.at(-1)?.body);
    assert.deepEqual([both.output_config, (both.tools as Json[]).length, both.tool_choice], [{ format: { type: 'json_schema', schema } }, 1, { type: 'auto' }]);

    const object = await post('/v1/chat/completions', { model: 'anthropic/claude-fable-5-2', max_tokens: 64, response_format: { type: 'json_object' }, messages: [ask] });
    assert.equal(object.status, 200, object.text);
    const tool = record(anthropic.requests.at(-1)?.body);
    assert.deepEqual([(tool.tools as Array<{ name: string }>).map((each) => each.name), tool.tool_choice, tool.output_config], [['json_response'], { type: 'auto' }, undefined]);
    assert.equal(
      object.headers.get('x-llm-proxy-warnings'),
      "response_format: claude-fable-5-2 refuses a forced tool call, and json_object has no form in Claude's structured outputs, so the json_response tool went with tool_choice auto: the answer may come as text",
    );
  });

  test('temperature and top_p on the Claude models that take no sampling settings (Opus 4.7 and later) are dropped with a warning; Anthropic answered 400 "`temperature` is deprecated for this model."', async () => {
    for (const model of ['claude-opus-4-7', 'claude-haiku-5-5', 'claude-mythos-preview']) {
      const response = await post('/v1/chat/completions', { model: `anthropic/${model}`, max_tokens: 64, temperature: 0.2, messages: [ask] });
      assert.equal(response.status, 200, `${model}: ${response.text}`);
      assert.equal(record(anthropic.requests.at(-1)?.body).temperature, undefined, model);
      assert.equal(response.headers.get('x-llm-proxy-warnings'), `temperature: ${model} takes no sampling settings (Claude Opus 4.7 and later), ignored`, model);
    }
    const topP = await post('/v1/chat/completions', { model: 'anthropic/claude-opus-5', max_tokens: 64, top_p: 0.5, messages: [ask] });
    assert.equal(topP.status, 200, topP.text);
    assert.equal(record(anthropic.requests.at(-1)?.body).top_p, undefined);
    assert.equal(topP.headers.get('x-llm-proxy-warnings'), 'top_p: claude-opus-5 takes no sampling settings (Claude Opus 4.7 and later), ignored');
    // temperature 1 is the default they take; older models take any.
    await post('/v1/chat/completions', { model: 'anthropic/claude-opus-4-7', max_tokens: 64, temperature: 1, messages: [ask] });
    assert.equal(record(anthropic.requests.at(-1)?.body).temperature, 1);
    await post('/v1/chat/completions', { model: 'anthropic/claude-sonnet-4-6', max_tokens: 64, temperature: 0.2, messages: [ask] });
    assert.equal(record(anthropic.requests.at(-1)?.body).temperature, 0.2);
  });

  test('a prefill (a last assistant message) to Claude 4.6 and later is a 400 naming it, before any call; Anthropic refused it ("This model does not support assistant message prefill")', async () => {
    const messages = [ask, { role: 'assistant', content: '{"city": "' }];
    const refused = await post('/v1/chat/completions', { model: 'anthropic/claude-sonnet-4-6', max_tokens: 64, messages });
    assert.equal(refused.status, 400, refused.text);
    const error = (JSON.parse(refused.text) as { error: { code: string; param: string } }).error;
    assert.deepEqual([error.code, error.param], ['unsupported_content', 'messages[1]']);
    assert.equal(anthropic.requests.length, 0);
    const older = await post('/v1/chat/completions', { model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, messages });
    assert.equal(older.status, 200, older.text);
  });

  test('/v1/messages to Claude through the chat form: the stop sequence Claude ended on comes back as stop_sequence, plain and streamed', async () => {
    const filler = 'The quick brown fox jumps over the lazy dog. '.repeat(30);
    anthropic.respondWith('stop');
    try {
      for (const stream of [false, true]) {
        const response = await post(
          '/v1/messages',
          { model: 'claude-sonnet-4-6', max_tokens: 64, stream, stop_sequences: ['5'], messages: [{ role: 'user', content: filler }, { role: 'assistant', content: 'Noted.' }, { role: 'user', content: 'Count to 10.' }] },
          { 'x-llm-proxy-context': 'truncate' },
        );
        assert.equal(response.status, 200, response.text);
        assert.match(response.headers.get('x-llm-proxy-context-method') ?? '', /truncate/);
        if (stream) assert.match(response.text, /"stop_reason":"stop_sequence","stop_sequence":"5"/);
        else assert.deepEqual([record(JSON.parse(response.text) as Json).stop_reason, record(JSON.parse(response.text) as Json).stop_sequence], ['stop_sequence', '5']);
      }
    } finally {
      anthropic.respondWith('text');
    }
  });
});

