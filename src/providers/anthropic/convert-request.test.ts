import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionRequest } from '../../openai/types.js';
import { assertRefused, makeTarget, type ExpectedRefusal } from '../../../test/providers/codec-harness.js';
import { openAiCase, weatherFunction, type ChatCase } from '../../../test/providers/openai-cases.js';
import { anthropicRequestFor, readAnthropicJson } from '../../../test/support/fake-anthropic.js';
import { convertAnthropicRequest } from './convert-request.js';
import { JSON_RESPONSE_TOOL } from './convert-tools.js';
import { parseAnthropicResponse } from './convert-response.js';

const CASES: Array<[ChatCase, string[]]> = [
  ['text', []],
  ['multi-turn', ['top_p: not supported by anthropic together with temperature, ignored']],
  ['image', []],
  ['image-url', []],
  ['tools', []],
  ['parallel-tools', []],
  ['tool-result', []],
  ['legacy-functions', []],
  ['json-mode', []],
  ['stop', []],
  ['max-tokens', []],
];

function convert(request: ChatCompletionRequest, overrides: Parameters<typeof makeTarget>[1] = {}) {
  const target = makeTarget('anthropic', overrides);
  return { body: convertAnthropicRequest(request, target), warnings: target.warnings };
}

function rejects(request: ChatCompletionRequest, expected: ExpectedRefusal): void {
  assertRefused(() => convert(request), expected);
}

const user = (content: string) => ({ role: 'user' as const, content });

describe('convertAnthropicRequest on the fixture cases', () => {
  for (const [name, warnings] of CASES) {
    it(`builds anthropic-${name}.request.json`, () => {
      const { body, warnings: got } = convert(openAiCase(name), { legacyFunctions: name === 'legacy-functions' });
      assert.deepEqual(body, anthropicRequestFor(name, 'claude-sonnet-4-5'));
      assert.deepEqual(got, warnings);
    });
  }

  it('adds stream: true when the client streams', () => {
    const { body } = convert(openAiCase('text'), { stream: true });
    assert.deepEqual(body, { ...(readAnthropicJson('anthropic-text.request.json') as object), stream: true });
  });
});

describe('convertAnthropicRequest field decisions', () => {
  it('takes max_tokens from the catalog default, then 4096', () => {
    assert.equal(convert(openAiCase('text'), { defaultMaxTokens: 64000 }).body.max_tokens, 64000);
    assert.equal(convert({ ...openAiCase('text'), max_tokens: 50 }, { defaultMaxTokens: 64000 }).body.max_tokens, 50);
    assert.equal(convert({ ...openAiCase('text'), max_tokens: 50, max_completion_tokens: 70 }).body.max_tokens, 70);
  });

  it('refuses a temperature above 1 instead of clamping it', () => {
    rejects({ ...openAiCase('text'), temperature: 1.5 }, { code: 'invalid_value', param: 'temperature', message: /0 to 1.*1\.5/ });
    assert.equal(convert({ ...openAiCase('text'), temperature: 1 }).body.temperature, 1);
    assert.equal(convert({ ...openAiCase('text'), temperature: 0 }).body.temperature, 0);
  });

  it('sends top_p alone when there is no temperature', () => {
    const { body, warnings } = convert({ ...openAiCase('text'), top_p: 0.5 });
    assert.equal(body.top_p, 0.5);
    assert.deepEqual(warnings, []);
  });

  it('accepts n=1 and refuses more choices', () => {
    assert.doesNotThrow(() => convert({ ...openAiCase('text'), n: 1 }));
    rejects({ ...openAiCase('text'), n: 2 }, { code: 'unsupported_parameter', param: 'n' });
  });

  it('refuses logprobs', () => {
    rejects({ ...openAiCase('text'), logprobs: true }, { code: 'unsupported_parameter', param: 'logprobs' });
    rejects({ ...openAiCase('text'), top_logprobs: 2 }, { code: 'unsupported_parameter', param: 'top_logprobs' });
    assert.doesNotThrow(() => convert({ ...openAiCase('text'), logprobs: false }));
  });

  it('drops seed, penalties, logit_bias and unknown fields with a warning each', () => {
    const { body, warnings } = convert({
      ...openAiCase('text'),
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: 0,
      logit_bias: { '50256': -100 },
      store: null,
      service_tier: 'auto',
    });
    assert.deepEqual(body, readAnthropicJson('anthropic-text.request.json'));
    assert.deepEqual(warnings, [
      'seed: not supported by anthropic, ignored',
      'presence_penalty: not supported by anthropic, ignored',
      'logit_bias: not supported by anthropic, ignored',
      'service_tier: not supported by anthropic, ignored',
    ]);
  });

  it('passes user as metadata.user_id and drops message names with a warning', () => {
    const { body, warnings } = convert({ model: 'm', messages: [{ role: 'user', name: 'alice', content: 'Hi' }], user: 'u-1' });
    assert.deepEqual(body.metadata, { user_id: 'u-1' });
    assert.deepEqual(warnings, ['messages[].name: not supported by anthropic, ignored']);
  });

  it("passes safety_identifier (OpenAI's successor to user) as metadata.user_id, before user", () => {
    const { body, warnings } = convert({ ...openAiCase('text'), safety_identifier: 'hash-of-alice', user: 'u-1' });
    assert.deepEqual(body.metadata, { user_id: 'hash-of-alice' });
    assert.deepEqual(warnings, []);
  });

  it("web_search_options becomes Claude's web search tool, beside the client's own tools", () => {
    const { body, warnings } = convert({
      ...openAiCase('tools'),
      web_search_options: { search_context_size: 'low', user_location: { type: 'approximate', approximate: { city: 'Paris', country: 'FR', timezone: 'Europe/Paris' } } },
    });
    assert.deepEqual(body.tools?.at(-1), { type: 'web_search_20250305', name: 'web_search', max_uses: 1, user_location: { type: 'approximate', city: 'Paris', country: 'FR', timezone: 'Europe/Paris' } });
    assert.equal(body.tools?.length, 2);
    assert.ok(!warnings.some((warning) => warning.startsWith('web_search_options')), warnings.join('; '));
    assert.deepEqual(convert({ ...openAiCase('text'), web_search_options: {} }).body.tools, [{ type: 'web_search_20250305', name: 'web_search' }]);
    rejects({ ...openAiCase('text'), web_search_options: 'yes' }, { code: 'invalid_value', param: 'web_search_options' });
    rejects({ ...openAiCase('text'), web_search_options: { search_context_size: 'huge' } }, { code: 'invalid_value', param: 'web_search_options.search_context_size' });
    rejects({ ...openAiCase('text'), web_search_options: { user_location: { city: 'Paris' } } }, { code: 'invalid_value', param: 'web_search_options.user_location' });
    // Claude refuses two tools of one name: a client tool named web_search cannot stand beside it.
    const named = { type: 'function' as const, function: { name: 'web_search', parameters: { type: 'object' } } };
    rejects({ ...openAiCase('text'), tools: [named], web_search_options: {} }, { code: 'invalid_value', param: 'web_search_options' });
  });

  it('turns a single stop string into a list', () => {
    assert.deepEqual(convert({ ...openAiCase('text'), stop: 'END' }).body.stop_sequences, ['END']);
  });

  it('maps tool_choice none, named and required with parallel calls off', () => {
    const tools = openAiCase('tools').tools;
    assert.deepEqual(convert({ ...openAiCase('text'), tools, tool_choice: 'none' }).body.tool_choice, { type: 'none' });
    assert.deepEqual(convert({ ...openAiCase('text'), tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } }).body.tool_choice, {
      type: 'tool',
      name: 'get_weather',
    });
    assert.deepEqual(convert({ ...openAiCase('text'), tools, tool_choice: 'required', parallel_tool_calls: false }).body.tool_choice, {
      type: 'any',
      disable_parallel_tool_use: true,
    });
    assert.equal(convert({ ...openAiCase('text'), tools, tool_choice: 'none', parallel_tool_calls: false }).body.tool_choice?.type, 'none');
  });

  it('maps legacy function_call none and named', () => {
    const functions = [weatherFunction] as unknown as ChatCompletionRequest['functions'];
    assert.deepEqual(convert({ ...openAiCase('text'), functions, function_call: 'none' }).body.tool_choice, { type: 'none' });
    assert.deepEqual(convert({ ...openAiCase('text'), functions, function_call: { name: 'get_weather' } }).body.tool_choice, { type: 'tool', name: 'get_weather' });
  });

  it('declares a function without parameters with an empty object schema', () => {
    const { body } = convert({ ...openAiCase('text'), tools: [{ type: 'function', function: { name: 'now' } }] });
    assert.deepEqual(body.tools, [{ name: 'now', input_schema: { type: 'object', properties: {} } }]);
  });

  it('emulates json_object with a forced tool whose schema is any object', () => {
    const { body } = convert({ ...openAiCase('text'), response_format: { type: 'json_object' } });
    assert.deepEqual(body.tools, [{ name: JSON_RESPONSE_TOOL, description: 'Respond with a JSON object.', input_schema: { type: 'object' } }]);
    assert.deepEqual(body.tool_choice, { type: 'tool', name: JSON_RESPONSE_TOOL });
  });

  it('lets the model call client tools before answering in JSON mode', () => {
    const base = { ...openAiCase('tools'), response_format: { type: 'json_object' as const } };
    assert.deepEqual(convert(base).body.tool_choice, { type: 'any' });
    assert.deepEqual(convert({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } }).body.tool_choice, { type: 'tool', name: 'get_weather' });
    assert.deepEqual(convert({ ...base, tool_choice: 'none' }).body.tool_choice, { type: 'tool', name: JSON_RESPONSE_TOOL });
    // No tool_choice with tools is "auto" in OpenAI's API: the client's tools stay callable.
    const { tool_choice: _omitted, ...withoutChoice } = base;
    assert.deepEqual(convert(withoutChoice).body.tool_choice, { type: 'any' });
    assert.deepEqual(
      convert(base).body.tools?.map((tool) => tool.name),
      ['get_weather', JSON_RESPONSE_TOOL],
    );
  });

  it('a final assistant turn (a prefill) loses the trailing whitespace of its last text, with a warning; earlier turns keep theirs', () => {
    const prefill = convert({ model: 'm', messages: [{ role: 'user', content: 'Say world' }, { role: 'assistant', content: 'Say: \n\t' }] });
    assert.deepEqual(prefill.body.messages.at(-1), { role: 'assistant', content: 'Say:' });
    assert.deepEqual(prefill.warnings, ['messages[1].content: trailing whitespace removed (anthropic refuses it at the end of a final assistant message)']);
    // Merged assistant messages: the last text block is trimmed, the warning names the message it came from.
    const parts = convert({
      model: 'm',
      messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'One ' }, { role: 'assistant', content: [{ type: 'text', text: 'Two ' }, { type: 'text', text: 'three ', cache_control: { type: 'ephemeral' } }] }],
    });
    assert.deepEqual(parts.body.messages.at(-1)?.content, [{ type: 'text', text: 'One ' }, { type: 'text', text: 'Two ' }, { type: 'text', text: 'three', cache_control: { type: 'ephemeral' } }]);
    assert.match(parts.warnings.join(), /^messages\[2\]\.content: trailing whitespace removed/);
    const untouched = convert({ model: 'm', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello ' }, { role: 'user', content: 'Go on ' }] });
    assert.deepEqual(untouched.body.messages.map((message) => message.content), ['Hi', 'Hello ', 'Go on ']);
    assert.deepEqual(untouched.warnings, []);
  });

  it('refuses two tools of one name (Anthropic answers "Tool names must be unique"), naming the second, across tools and functions', () => {
    const tool = (name: string) => ({ type: 'function' as const, function: { name } });
    rejects({ ...openAiCase('text'), tools: [tool('a'), tool('b'), tool('c'), tool('a')] }, { code: 'invalid_value', param: 'tools[3].function.name', message: /'a'.*unique/ });
    rejects({ ...openAiCase('text'), tools: [tool('a')], functions: [{ name: 'b' }, { name: 'a' }] }, { code: 'invalid_value', param: 'functions[1].name' });
    assert.deepEqual(convert({ ...openAiCase('text'), tools: [tool('a'), tool('A')] }).body.tools?.map((entry) => entry.name), ['a', 'A']);
  });

  it("refuses a tool name outside Anthropic's rule (letters, digits, _ and -, 1 to 128), naming the param, before anything is sent", () => {
    const tools = (...names: string[]) => ({ ...openAiCase('text'), tools: names.map((name) => ({ type: 'function' as const, function: { name } })) });
    for (const name of ['get weather', 'a.b', 'ns:tool', 'a/b', 'naïve', '', 'x'.repeat(129), 'tab\t', 'line\n']) {
      rejects(tools('ok', name), { code: 'invalid_value', param: 'tools[1].function.name', message: /anthropic needs a tool name of 1 to 128 characters/ });
    }
    rejects({ ...openAiCase('text'), functions: [{ name: 'get weather' }] }, { code: 'invalid_value', param: 'functions[0].name' });
    // Unlike Gemini's rule, a leading digit or dash is fine, and so are 128 characters.
    const fine = ['1st_tool', '-x', 'A_b-9', 'x'.repeat(128)];
    assert.deepEqual(convert(tools(...fine)).body.tools?.map((entry) => entry.name), fine);
  });

  it('refuses a client tool that takes the JSON-mode name, and a JSON schema whose root is not an object', () => {
    rejects({ ...openAiCase('text'), tools: [{ type: 'function', function: { name: JSON_RESPONSE_TOOL } }] }, { code: 'invalid_value', param: 'tools[0].function.name' });
    rejects(
      { ...openAiCase('text'), response_format: { type: 'json_schema', json_schema: { name: 'list', schema: { type: 'array', items: { type: 'string' } } } } },
      { code: 'invalid_value', param: 'response_format.json_schema.schema' },
    );
  });

  it('refuses tool call arguments that are not a JSON object', () => {
    const call = (args: string) => ({
      model: 'm',
      messages: [user('Hi'), { role: 'assistant' as const, content: null, tool_calls: [{ id: 'c1', type: 'function' as const, function: { name: 'f', arguments: args } }] }],
    });
    rejects(call('{"a":'), { code: 'invalid_value', param: 'messages[1].tool_calls[0].function.arguments', message: /not valid JSON/ });
    rejects(call('[1,2]'), { code: 'invalid_value', param: 'messages[1].tool_calls[0].function.arguments' });
    assert.deepEqual(convert(call('')).body.messages[1], { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'f', input: {} }] });
  });

  it('refuses content Anthropic cannot take, naming the part', () => {
    rejects(
      { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'Listen' }, { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] },
      { code: 'unsupported_content', param: 'messages[0].content[1]' },
    );
    rejects(
      { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }] },
      { code: 'unsupported_content', param: 'messages[0].content[0]', message: /image\/bmp/ },
    );
    rejects({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } }] }] }, {
      code: 'invalid_value',
      param: 'messages[0].content[0].image_url.url',
    });
    rejects({ model: 'm', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }, user('Hi')] }, {
      code: 'unsupported_content',
      param: 'messages[0].content[0]',
    });
  });

  it('sends an inline PDF as a document block', () => {
    const { body } = convert({ model: 'm', messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } }] }] });
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }] }]);
  });

  it('refuses a tool message without its call id and a function message without an earlier call', () => {
    rejects({ model: 'm', messages: [user('Hi'), { role: 'tool', content: 'x' }] }, { code: 'invalid_value', param: 'messages[1].tool_call_id' });
    rejects({ model: 'm', messages: [user('Hi'), { role: 'function', name: 'f', content: 'x' }] }, { code: 'invalid_value', param: 'messages[1].name' });
  });

  it('puts tool results before text merged into the same user turn, and drops empty turns', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        user('Hi'),
        { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        user('Also this.'),
        { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: 'done' }] },
        { role: 'assistant', content: null },
      ],
    });
    assert.deepEqual(body.messages, [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: [{ type: 'text', text: 'done' }] }, { type: 'text', text: 'Also this.' }] },
    ]);
  });

  it('rewrites tool call ids Anthropic would refuse, the same way on calls and results', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        user('Hi'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'fc:12.3/x', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'fc:12.3/x', content: 'ok' },
      ],
    });
    const id = (body.messages[1]?.content as Array<{ id: string }>)[0]?.id ?? '';
    assert.match(id, /^fc_12_3_x_[A-Za-z0-9_-]{12}$/);
    assert.deepEqual(body.messages.slice(1), [
      { role: 'assistant', content: [{ type: 'tool_use', id, name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'ok' }] },
    ]);
  });

  // Found by translated-requests.property.test.ts: all three became `call_1`, which Anthropic refuses as a repeated id.
  it('keeps ids apart that differ only in characters Anthropic refuses; a valid id stays as it is', () => {
    const ids = ['call.1', 'call 1', 'call_1'];
    const { body } = convert({
      model: 'm',
      messages: [
        user('Hi'),
        { role: 'assistant', content: null, tool_calls: ids.map((id) => ({ id, type: 'function', function: { name: 'f', arguments: '{}' } })) },
        ...ids.map((id) => ({ role: 'tool' as const, tool_call_id: id, content: id })),
      ],
    });
    const uses = (body.messages[1]?.content as Array<{ id: string }>).map((block) => block.id);
    const results = (body.messages[2]?.content as Array<{ tool_use_id: string }>).map((block) => block.tool_use_id);
    assert.equal(new Set(uses).size, 3);
    assert.deepEqual(results, uses);
    assert.equal(uses[2], 'call_1');
  });

  it('removes a draft-07 $schema from tool schemas', () => {
    const { body } = convert(openAiCase('tools'));
    const [tool] = body.tools ?? [];
    assert.ok(tool !== undefined && 'input_schema' in tool);
    assert.equal(Object.hasOwn(tool.input_schema, '$schema'), false);
  });
});

describe('whitespace-only text', () => {
  // Found by translated-requests.property.test.ts: sent as a text block, and Anthropic answered 400
  // "text content blocks must contain non-whitespace text" (a model's "\n" before its tool calls, replayed).
  it('is dropped like empty text, in any role; a message left with nothing is left out', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        { role: 'system', content: ' \n' },
        user('Weather?'),
        { role: 'assistant', content: '\n\n', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '\t' }] },
        { role: 'user', content: [{ type: 'text', text: ' ' }, { type: 'text', text: 'And now?' }] },
      ],
    });
    assert.equal(body.system, undefined);
    assert.deepEqual(body.messages, [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1' }, { type: 'text', text: 'And now?' }] },
    ]);
  });

  it('a tool output given as a string of only whitespace (a shell printing "\\r\\n") is dropped as in parts', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        user('Run it.'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'bash', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '\r\n' },
      ],
    });
    assert.deepEqual(body.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1' }] });
  });
});

describe('stop sequences', () => {
  // Found by translated-requests.property.test.ts: sent as they came, and Anthropic answered
  // 400 "stop_sequences: each stop sequence must contain non-whitespace" (`stop: ["\n"]` is common).
  it('an empty or whitespace-only stop sequence → 400 naming it; others go as stop_sequences', () => {
    rejects({ model: 'm', messages: [user('Hi')], stop: '\n' }, { code: 'invalid_value', param: 'stop', message: /only whitespace/ });
    rejects({ model: 'm', messages: [user('Hi')], stop: ['END', ' \t'] }, { code: 'invalid_value', param: 'stop[1]' });
    rejects({ model: 'm', messages: [user('Hi')], stop: [''] }, { code: 'invalid_value', param: 'stop[0]' });
    assert.deepEqual(convert({ model: 'm', messages: [user('Hi')], stop: ['END', '\nUser:'] }).body.stop_sequences, ['END', '\nUser:']);
  });
});

describe('a tool history without tools', () => {
  // Anthropic answers 400 "Requests which include `tool_use` or `tool_result` blocks must define tools".
  const call = (id: string, name: string) => ({ id, type: 'function' as const, function: { name, arguments: '{}' } });
  it('each tool the history called is defined, and none may be called', () => {
    const { body, warnings } = convert({
      model: 'm',
      messages: [
        user('Weather and time?'),
        { role: 'assistant', content: null, tool_calls: [call('call_1', 'get_weather'), call('call_2', 'get_time'), call('call_3', 'get_weather')] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: 'Noon' },
        { role: 'tool', tool_call_id: 'call_3', content: 'Sunny' },
        user('Summarise.'),
      ],
    });
    assert.deepEqual(body.tools?.map((tool) => ('input_schema' in tool ? [tool.name, tool.input_schema] : [])), [['get_weather', { type: 'object' }], ['get_time', { type: 'object' }]]);
    assert.deepEqual(body.tool_choice, { type: 'none' });
    assert.deepEqual(warnings, []);
  });

  it('a result whose call is not in the history still gets a tool; the client\'s own tools or JSON mode leave it alone', () => {
    const orphan = convert({ model: 'm', messages: [user('Go'), { role: 'tool', tool_call_id: 'call_9', content: 'done' }] }).body;
    assert.deepEqual(orphan.tools?.map((tool) => tool.name), ['earlier_tool']);
    const history = [user('Go'), { role: 'assistant' as const, content: null, tool_calls: [call('call_1', 'get_weather')] }, { role: 'tool' as const, tool_call_id: 'call_1', content: 'Sunny' }];
    const json = convert({ model: 'm', messages: history, response_format: { type: 'json_object' } }).body;
    assert.deepEqual(json.tools?.map((tool) => tool.name), [JSON_RESPONSE_TOOL]);
    assert.equal(convert({ model: 'm', messages: [user('Hi')] }).body.tools, undefined);
  });
});

describe('output_config.effort', () => {
  it("the client's own level is Claude's, checked, and wins over reasoning_effort's", () => {
    const text = openAiCase('text');
    assert.deepEqual(convert({ ...text, model: 'claude-sonnet-4-6', output_config: { effort: 'max' } }, { model: 'claude-sonnet-4-6' }).body.output_config, { effort: 'max' });
    const both = convert({ ...text, reasoning_effort: 'high', output_config: { effort: 'low' } }, { model: 'claude-sonnet-4-6' });
    assert.deepEqual(both.body.output_config, { effort: 'low' });
    assert.deepEqual(both.body.thinking, { type: 'adaptive' });
    assert.match(both.warnings.join('; '), /reasoning_effort: the request's own output_config.effort is sent instead/);
    rejects({ ...text, output_config: { effort: 'extreme' } }, { code: 'invalid_value', param: 'output_config.effort' });
  });
});

describe('a request with nothing to send', () => {
  // Found by translated-requests.property.test.ts: the body went out with no messages, and anthropic answered 400 to it.
  it('only system messages or empty content → 400 naming messages', () => {
    for (const messages of [[{ role: 'system' as const, content: 'Be brief.' }], [{ role: 'user' as const, content: [] }], [{ role: 'user' as const, content: '' }, { role: 'assistant' as const, content: null }]]) {
      rejects({ model: 'm', messages }, { code: 'invalid_value', param: 'messages', message: /at least one user, assistant or tool message/ });
    }
  });
});

describe('many parts', () => {
  it('consecutive user messages of 150,000 text parts each merge into one turn (no spread that overflows the stack)', () => {
    const parts = Array.from({ length: 150_000 }, () => ({ type: 'text' as const, text: 'a' }));
    const { body } = convert({ model: 'm', messages: [{ role: 'user', content: parts }, { role: 'user', content: parts }] });
    assert.equal(body.messages.length, 1, 'one merged turn');
    const merged = body.messages[0]?.content;
    assert.equal(Array.isArray(merged) ? merged.length : 0, 300_000);
  });
});

describe('extended thinking', () => {
  const SIGNED = { type: 'thinking', thinking: 'The user wants the weather; I should call the tool.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' };
  const call = { id: 'toolu_01', type: 'function' as const, function: { name: 'get_weather', arguments: '{"location":"Paris"}' } };

  it("the client's thinking (through extra_body) is Claude's, checked", () => {
    assert.deepEqual(convert({ ...openAiCase('text'), thinking: { type: 'enabled', budget_tokens: 2048 } }).body.thinking, { type: 'enabled', budget_tokens: 2048 });
    // Adaptive on Claude 4.6 and later (4.5 and earlier take budgets only: see below).
    assert.deepEqual(convert({ ...openAiCase('text'), thinking: { type: 'adaptive' } }, { model: 'claude-sonnet-4-6' }).body.thinking, { type: 'adaptive' });
    assert.deepEqual(convert({ ...openAiCase('text'), thinking: { type: 'adaptive' } }, { model: 'claude-sonnet-4-6' }).warnings, []);
    rejects({ ...openAiCase('text'), thinking: { type: 'enabled' } }, { code: 'invalid_value', param: 'thinking' });
    rejects({ ...openAiCase('text'), thinking: 'on' }, { code: 'invalid_value', param: 'thinking' });
  });

  it('an assistant turn replayed with its thinking_blocks gives them back first, signed, before its tool calls', () => {
    const request: ChatCompletionRequest = {
      model: 'claude-sonnet-4-5',
      thinking: { type: 'enabled', budget_tokens: 2048 },
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call], thinking_blocks: [SIGNED, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }] },
        { role: 'tool', tool_call_id: 'toolu_01', content: '18°C' },
      ],
    };
    const { body, warnings } = convert(request);
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2048 });
    assert.deepEqual(warnings, []);
    const turn = body.messages[1]?.content as Array<{ type: string }>;
    assert.deepEqual(turn.map((block) => block.type), ['thinking', 'redacted_thinking', 'tool_use']);
    assert.deepEqual(turn[0], SIGNED);
    rejects({ ...request, messages: [request.messages[0]!, { ...request.messages[1]!, thinking_blocks: [{ type: 'thinking', thinking: 'x' }] }, request.messages[2]!] }, { code: 'invalid_value', param: 'messages[1].thinking_blocks[0]' });
  });

  it("a tool loop whose assistant turn came back without its thinking_blocks gets thinking off, said, instead of Claude's 400", () => {
    const { body, warnings } = convert({
      model: 'claude-sonnet-4-5',
      thinking: { type: 'enabled', budget_tokens: 2048 },
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'toolu_01', content: '18°C' },
      ],
    });
    assert.equal(body.thinking, undefined);
    assert.match(warnings.join('\n'), /^thinking: the assistant turn whose tool calls this answers came without its thinking_blocks/m);
  });

  it("the client's thinking keeps its display; another display is a 400 naming it", () => {
    assert.deepEqual(convert({ ...openAiCase('text'), thinking: { type: 'adaptive', display: 'summarized' } }, { model: 'claude-sonnet-4-6' }).body.thinking, { type: 'adaptive', display: 'summarized' });
    assert.deepEqual(convert({ ...openAiCase('text'), thinking: { type: 'enabled', budget_tokens: 2048, display: 'omitted' } }).body.thinking, { type: 'enabled', budget_tokens: 2048, display: 'omitted' });
    rejects({ ...openAiCase('text'), thinking: { type: 'adaptive', display: 'full' } }, { code: 'invalid_value', param: 'thinking.display' });
  });

  it('reasoning_effort becomes a thinking budget on Claude 4.5 and adaptive thinking with output_config.effort on 4.6 and later', () => {
    const budget = convert({ ...openAiCase('text'), reasoning_effort: 'medium' }, { defaultMaxTokens: 64000 });
    assert.deepEqual(budget.body.thinking, { type: 'enabled', budget_tokens: 8192 });
    assert.equal(budget.body.output_config, undefined);
    assert.deepEqual(budget.warnings, []);
    const adaptive = convert({ ...openAiCase('text'), model: 'claude-opus-4-7', reasoning_effort: 'low' }, { model: 'claude-opus-4-7' });
    assert.deepEqual(adaptive.body.thinking, { type: 'adaptive' });
    assert.deepEqual(adaptive.body.output_config, { effort: 'low' });
    assert.deepEqual(adaptive.warnings, []);
    const off = convert({ ...openAiCase('text'), reasoning_effort: 'none' });
    assert.deepEqual(off.body.thinking, { type: 'disabled' });
    const old = convert({ ...openAiCase('text'), reasoning_effort: 'high' }, { model: 'claude-3-5-haiku-20241022' });
    assert.equal(old.body.thinking, undefined);
    assert.deepEqual(old.warnings, ['reasoning_effort: claude-3-5-haiku-20241022 does not think (Claude 3.7 and later do), ignored']);
  });

  it("the client's own thinking wins over reasoning_effort, whose level still goes as the effort where the model takes one", () => {
    const budget = convert({ ...openAiCase('text'), reasoning_effort: 'high', thinking: { type: 'enabled', budget_tokens: 2048 } });
    assert.deepEqual(budget.body.thinking, { type: 'enabled', budget_tokens: 2048 });
    assert.deepEqual(budget.warnings, ["reasoning_effort: the request's own thinking is sent instead, ignored"]);
    const adaptive = convert({ ...openAiCase('text'), reasoning_effort: 'high', thinking: { type: 'adaptive', display: 'summarized' } }, { model: 'claude-opus-4-6' });
    assert.deepEqual(adaptive.body.thinking, { type: 'adaptive', display: 'summarized' });
    assert.deepEqual(adaptive.body.output_config, { effort: 'high' });
    assert.deepEqual(adaptive.warnings, []);
  });

  it('a budget the effort asks for is fitted under max_tokens, or thinking is off when not even the smallest fits', () => {
    const fitted = convert({ ...openAiCase('text'), reasoning_effort: 'high', max_tokens: 6000 });
    assert.deepEqual(fitted.body.thinking, { type: 'enabled', budget_tokens: 3000 });
    assert.deepEqual(fitted.warnings, ['reasoning_effort: thinking budget lowered to 3000 tokens to fit max_tokens 6000']);
    const small = convert({ ...openAiCase('text'), reasoning_effort: 'low', max_completion_tokens: 1500 });
    assert.deepEqual(small.body.thinking, { type: 'enabled', budget_tokens: 1024 });
    const none = convert({ ...openAiCase('text'), reasoning_effort: 'low', max_tokens: 1000 });
    assert.equal(none.body.thinking, undefined);
    assert.deepEqual(none.warnings, ["reasoning_effort: max_tokens 1000 leaves no room for Claude's smallest thinking budget (1024 tokens), so thinking is off for this call"]);
    // The model's own output limit, when the client set none, leaves room for the default budgets.
    assert.deepEqual(convert({ ...openAiCase('text'), reasoning_effort: 'high' }, { defaultMaxTokens: 64000 }).body.thinking, { type: 'enabled', budget_tokens: 16384 });
  });

  it("while Claude thinks, a temperature other than 1 and a top_p under 0.95 are dropped, said, instead of Claude's 400", () => {
    const warm = convert({ ...openAiCase('text'), reasoning_effort: 'low', temperature: 0.2 });
    assert.equal(warm.body.temperature, undefined);
    assert.deepEqual(warm.warnings, ['temperature: Claude takes none but 1 while thinking, ignored']);
    const adaptive = { model: 'claude-sonnet-4-6' };
    assert.equal(convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, temperature: 1 }, adaptive).body.temperature, 1);
    const narrow = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, top_p: 0.5 }, adaptive);
    assert.equal(narrow.body.top_p, undefined);
    assert.deepEqual(narrow.warnings, ['top_p: Claude takes 0.95 to 1 while thinking, ignored']);
    assert.equal(convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, top_p: 0.97 }, adaptive).body.top_p, 0.97);
    // Off, sampling is the client's.
    assert.equal(convert({ ...openAiCase('text'), reasoning_effort: 'none', temperature: 0.2 }).body.temperature, 0.2);
  });

  it('a forced tool call (JSON mode included) gets a thinking budget off, said, instead of Claude\'s 400; adaptive thinking stays, unsaid', () => {
    const json = convert({ ...openAiCase('text'), thinking: { type: 'enabled', budget_tokens: 2048 }, response_format: { type: 'json_object' } }, { model: 'claude-sonnet-4-6' });
    assert.equal(json.body.thinking, undefined);
    assert.match(json.warnings.join('\n'), /^thinking: Claude does not think on a budget when a tool call is forced, as JSON mode is here/m);
    const adaptive = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, response_format: { type: 'json_object' } }, { model: 'claude-sonnet-4-6' });
    assert.deepEqual([adaptive.body.thinking, adaptive.body.tool_choice, adaptive.warnings], [{ type: 'adaptive' }, { type: 'tool', name: JSON_RESPONSE_TOOL }, []]);
    const auto = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }], tool_choice: 'auto' }, { model: 'claude-sonnet-4-6' });
    assert.deepEqual(auto.body.thinking, { type: 'adaptive' });
  });

  it("the client's own thinking on a model that refuses it as given: disabled goes as the model's lowest, budget_tokens as adaptive with the effort its budget means, each said", () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];
    // Fable, Mythos and Opus 5.5 think on every answer: their lowest is adaptive at low effort.
    const off = convert({ ...openAiCase('text'), thinking: { type: 'disabled' } }, { model: 'claude-fable-5' });
    assert.deepEqual([off.body.thinking, off.body.output_config], [{ type: 'adaptive' }, { effort: 'low' }]);
    assert.deepEqual(off.warnings, ['thinking: claude-fable-5 cannot turn thinking off; sent low']);
    // Sonnet 5.5 has between_tools for it.
    const between = convert({ ...openAiCase('text'), thinking: { type: 'disabled' } }, { model: 'claude-sonnet-5-5' });
    assert.deepEqual([between.body.thinking, between.body.output_config], [{ type: 'between_tools' }, undefined]);
    // Opus 4.7 and every model since (Mythos Preview aside) think adaptively only.
    const budget = convert({ ...openAiCase('text'), thinking: { type: 'enabled', budget_tokens: 8000, display: 'summarized' } }, { model: 'claude-opus-4-7' });
    assert.deepEqual([budget.body.thinking, budget.body.output_config], [{ type: 'adaptive', display: 'summarized' }, { effort: 'medium' }]);
    assert.deepEqual(budget.warnings, ['thinking: claude-opus-4-7 takes no budget_tokens (adaptive thinking only, Claude Opus 4.7 and later); sent adaptive at effort medium']);
    // The client's own effort wins over the one its budget means, without a word.
    const own = convert({ ...openAiCase('text'), thinking: { type: 'enabled', budget_tokens: 2000 }, output_config: { effort: 'max' } }, { model: 'claude-fable-5' });
    assert.deepEqual([own.body.thinking, own.body.output_config], [{ type: 'adaptive' }, { effort: 'max' }]);
    assert.deepEqual(own.warnings, ['thinking: claude-fable-5 takes no budget_tokens (adaptive thinking only, Claude Opus 4.7 and later); sent adaptive at effort low']);
    // What the model takes goes as it came.
    for (const [model, thinking] of [['claude-sonnet-4-6', { type: 'enabled', budget_tokens: 2048 }], ['claude-mythos-preview', { type: 'enabled', budget_tokens: 2048 }], ['claude-opus-5', { type: 'disabled' }], ['claude-haiku-5-5', { type: 'disabled' }]] as const) {
      const sent = convert({ ...openAiCase('text'), thinking }, { model });
      assert.deepEqual([sent.body.thinking, sent.warnings], [thinking, []], model);
    }
    // With a forced call on a model that takes one and thinks on every answer, thinking stays: nothing is turned off.
    const forced = convert({ ...openAiCase('text'), tools, tool_choice: 'required', thinking: { type: 'disabled' } }, { model: 'claude-mythos-5' });
    assert.deepEqual([forced.body.thinking, forced.body.tool_choice], [{ type: 'adaptive' }, { type: 'any' }]);
  });

  it("a forced tool call on a model that thinks on every answer and takes one (Fable 5, Mythos 5, Mythos Preview) keeps the thinking, with no word of it being off", () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];
    for (const model of ['claude-fable-5', 'claude-mythos-5', 'claude-mythos-preview']) {
      const { body, warnings } = convert({ ...openAiCase('text'), tools, tool_choice: 'required', reasoning_effort: 'high' }, { model });
      assert.deepEqual(body.tool_choice, { type: 'any' }, model);
      assert.deepEqual(body.thinking, { type: 'adaptive' }, model);
      assert.deepEqual(body.output_config, { effort: 'high' }, model);
      assert.deepEqual(warnings, [], model);
    }
    // Adaptive thinking takes a forced call on a model that can think or not too.
    const opus = convert({ ...openAiCase('text'), tools, tool_choice: 'required', reasoning_effort: 'high' }, { model: 'claude-opus-4-7' });
    assert.deepEqual([opus.body.thinking, opus.warnings], [{ type: 'adaptive' }, []]);
    // A budget does not: off, said.
    const sonnet = convert({ ...openAiCase('text'), tools, tool_choice: 'required', reasoning_effort: 'low' }, { model: 'claude-sonnet-4-5' });
    assert.equal(sonnet.body.thinking, undefined);
    assert.match(sonnet.warnings.join('\n'), /^thinking: Claude does not think on a budget when a tool call is forced/m);
  });

  it('a tool loop without thinking_blocks keeps adaptive thinking as asked, unsaid: Claude may skip thinking in a step, so the API takes a turn that opens with its call (a budget is what it refuses)', () => {
    const loop: ChatCompletionRequest['messages'] = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'toolu_01', content: '18°C' },
    ];
    const cases: Array<[string, Partial<ChatCompletionRequest>, unknown, unknown]> = [
      ['claude-sonnet-4-6', { thinking: { type: 'adaptive' } }, { type: 'adaptive' }, undefined],
      ['claude-opus-4-7', { reasoning_effort: 'high' }, { type: 'adaptive' }, { effort: 'high' }],
      // Claude 5 and later: no `disabled` sent, and the client's xhigh is not lowered for it.
      ['claude-opus-5', { thinking: { type: 'adaptive' }, output_config: { effort: 'xhigh' } }, { type: 'adaptive' }, { effort: 'xhigh' }],
      ['claude-haiku-5-5', { thinking: { type: 'adaptive' }, output_config: { effort: 'max' } }, { type: 'adaptive' }, { effort: 'max' }],
      // The models that cannot turn thinking off: as asked, and no warning that they think on without it.
      ['claude-sonnet-5-5', { thinking: { type: 'between_tools' } }, { type: 'between_tools' }, undefined],
      ['claude-opus-5-5', { thinking: { type: 'adaptive' } }, { type: 'adaptive' }, undefined],
      ['claude-fable-5-1', { reasoning_effort: 'high' }, { type: 'adaptive' }, { effort: 'high' }],
    ];
    for (const [model, asked, thinking, config] of cases) {
      const { body, warnings } = convert({ model, messages: loop, tools: [{ type: 'function', function: { name: 'get_weather' } }], ...asked }, { model });
      assert.deepEqual([body.thinking, body.output_config, warnings], [thinking, config, []], model);
    }
    // A budget still goes off (Claude 4.5 and earlier take nothing else), said; disabled is not needed before Claude 5.
    const budget = convert({ model: 'claude-sonnet-4-5', thinking: { type: 'adaptive' }, messages: loop }, { model: 'claude-sonnet-4-5', defaultMaxTokens: 64000 });
    assert.equal(budget.body.thinking, undefined);
    assert.match(budget.warnings.join('\n'), /came without its thinking_blocks .*so it is off for this call$/m);
  });

  it('reasoning_effort none with the client\'s own max effort on Opus 5 and later: disabled, at effort high (Claude refuses disabled above high there)', () => {
    const none = convert({ ...openAiCase('text'), reasoning_effort: 'none', output_config: { effort: 'max' } }, { model: 'claude-opus-5' });
    assert.deepEqual([none.body.thinking, none.body.output_config], [{ type: 'disabled' }, { effort: 'high' }]);
    assert.match(none.warnings.join('\n'), /^output_config.effort: claude-opus-5 takes thinking disabled at effort high or below; sent high$/m);
  });

  it('Claude Mythos Preview (takes a budget, cannot turn thinking off): a budget where Claude refuses one (a forced call, a tool loop without thinking_blocks) goes as adaptive at the effort it means, said', () => {
    const model = 'claude-mythos-preview';
    const forced = convert({ ...openAiCase('tools'), model, tool_choice: 'required', thinking: { type: 'enabled', budget_tokens: 2048 } }, { model, defaultMaxTokens: 64000 });
    assert.deepEqual([forced.body.tool_choice, forced.body.thinking, forced.body.output_config], [{ type: 'any' }, { type: 'adaptive' }, { effort: 'low' }]);
    assert.deepEqual(forced.warnings, [`thinking: Claude does not think on a budget when a tool call is forced (tool_choice required or named), and ${model} cannot turn thinking off, so it went as adaptive at effort low`]);
    const loop = convert(
      {
        model,
        thinking: { type: 'enabled', budget_tokens: 20000, display: 'summarized' },
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: 'toolu_01', content: '18°C' },
        ],
      },
      { model, defaultMaxTokens: 64000 },
    );
    assert.deepEqual([loop.body.thinking, loop.body.output_config], [{ type: 'adaptive', display: 'summarized' }, { effort: 'high' }]);
    assert.deepEqual(loop.warnings, [
      `thinking: the assistant turn whose tool calls this answers came without its thinking_blocks (replay the message as the answer gave it), and Claude refuses a budget then; ${model} cannot turn thinking off, so it went as adaptive at effort high`,
    ]);
    // The client's own effort wins over the budget's.
    const own = convert({ ...openAiCase('tools'), model, tool_choice: 'required', thinking: { type: 'enabled', budget_tokens: 2048 }, output_config: { effort: 'max' } }, { model, defaultMaxTokens: 64000 });
    assert.deepEqual([own.body.thinking, own.body.output_config], [{ type: 'adaptive' }, { effort: 'max' }]);
    // Without a forced call or a loop the budget goes as sent.
    const plain = convert({ ...openAiCase('tools'), model, thinking: { type: 'enabled', budget_tokens: 2048 } }, { model, defaultMaxTokens: 64000 });
    assert.deepEqual([plain.body.thinking, plain.warnings], [{ type: 'enabled', budget_tokens: 2048 }, []]);
  });

  it("the client's own effort on a model that takes none is dropped, said; a level it lacks goes as the nearest lower; thinking on Claude 3.5 is dropped, said", () => {
    const sonnet = convert({ ...openAiCase('text'), output_config: { effort: 'low' } }, { model: 'claude-sonnet-4-5' });
    assert.deepEqual([sonnet.body.output_config, sonnet.warnings], [undefined, ['output_config.effort: claude-sonnet-4-5 takes no effort (Claude Opus 4.5, and the 4.6 models and later, do), ignored']]);
    // Used as the budget of the client's adaptive thinking: not ignored, not said.
    const budget = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, output_config: { effort: 'low' } }, { model: 'claude-haiku-4-5' });
    assert.deepEqual([budget.body.thinking, budget.body.output_config], [{ type: 'enabled', budget_tokens: 1024 }, undefined]);
    assert.equal(budget.warnings.length, 1);
    const opus = convert({ ...openAiCase('text'), output_config: { effort: 'max' } }, { model: 'claude-opus-4-5-20251101' });
    assert.deepEqual([opus.body.output_config, opus.warnings], [{ effort: 'high' }, ['output_config.effort: claude-opus-4-5-20251101 takes low, medium or high; sent high']]);
    const old = convert({ ...openAiCase('text'), thinking: { type: 'enabled', budget_tokens: 2048 } }, { model: 'claude-3-5-haiku-20241022' });
    assert.deepEqual([old.body.thinking, old.warnings], [undefined, ['thinking: claude-3-5-haiku-20241022 does not think (Claude 3.7 and later do), ignored']]);
  });

  it("the client's own between_tools (Claude Sonnet 5.5's lowest setting) goes to Sonnet 5.5 as sent; elsewhere as the client's disabled would, said", () => {
    const sonnet = convert({ ...openAiCase('text'), thinking: { type: 'between_tools' } }, { model: 'claude-sonnet-5-5' });
    assert.deepEqual([sonnet.body.thinking, sonnet.body.output_config, sonnet.warnings], [{ type: 'between_tools' }, undefined, []]);
    const effort = convert({ ...openAiCase('text'), thinking: { type: 'between_tools' }, output_config: { effort: 'medium' } }, { model: 'claude-sonnet-5-5' });
    assert.deepEqual([effort.body.thinking, effort.body.output_config, effort.warnings], [{ type: 'between_tools' }, { effort: 'medium' }, []]);
    const cases: Array<[string, unknown, unknown, string]> = [
      ['claude-opus-5', { type: 'disabled' }, undefined, 'thinking: claude-opus-5 takes no between_tools (Claude Sonnet 5.5\'s lowest setting); sent disabled (no thinking)'],
      ['claude-sonnet-4-5', { type: 'disabled' }, undefined, 'thinking: claude-sonnet-4-5 takes no between_tools (Claude Sonnet 5.5\'s lowest setting); sent disabled (no thinking)'],
      ['claude-fable-5-1', { type: 'adaptive' }, { effort: 'low' }, 'thinking: claude-fable-5-1 takes no between_tools (Claude Sonnet 5.5\'s lowest setting); claude-fable-5-1 cannot turn thinking off; sent low'],
    ];
    for (const [model, thinking, config, warning] of cases) {
      const sent = convert({ ...openAiCase('text'), thinking: { type: 'between_tools' } }, { model });
      assert.deepEqual([sent.body.thinking, sent.body.output_config, sent.warnings], [thinking, config, [warning]], model);
    }
  });

  it('between_tools above high effort (Claude Sonnet 5.5 refuses it at xhigh and max) goes at high, said, whichever field asked', () => {
    const own = convert({ ...openAiCase('text'), thinking: { type: 'between_tools' }, output_config: { effort: 'max' } }, { model: 'claude-sonnet-5-5' });
    assert.deepEqual([own.body.thinking, own.body.output_config], [{ type: 'between_tools' }, { effort: 'high' }]);
    assert.deepEqual(own.warnings, ['output_config.effort: between_tools runs at effort low, medium or high (claude-sonnet-5-5 refuses it at max); sent high']);
    const mapped = convert({ ...openAiCase('text'), thinking: { type: 'between_tools' }, reasoning_effort: 'xhigh' }, { model: 'claude-sonnet-5-5' });
    assert.deepEqual([mapped.body.thinking, mapped.body.output_config], [{ type: 'between_tools' }, { effort: 'high' }]);
    assert.deepEqual(mapped.warnings, ['reasoning_effort: between_tools runs at effort low, medium or high (claude-sonnet-5-5 refuses it at xhigh); sent high']);
    // reasoning_effort none is between_tools there too: the client's own max meets the same limit.
    const none = convert({ ...openAiCase('text'), reasoning_effort: 'none', output_config: { effort: 'max' } }, { model: 'claude-sonnet-5-5' });
    assert.deepEqual([none.body.thinking, none.body.output_config], [{ type: 'between_tools' }, { effort: 'high' }]);
  });

  it("the client's own adaptive thinking on Claude 4.5 and earlier (budgets only) goes as a budget for its effort, fitted under max_tokens, said", () => {
    const high = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' } }, { model: 'claude-sonnet-4-5', defaultMaxTokens: 64000 });
    assert.deepEqual([high.body.thinking, high.body.output_config], [{ type: 'enabled', budget_tokens: 16384 }, undefined]);
    assert.deepEqual(high.warnings, ['thinking: claude-sonnet-4-5 takes no adaptive thinking (a budget only, Claude 4.5 and earlier); sent budget_tokens 16384, the budget of effort high']);
    // The effort comes from output_config.effort, else reasoning_effort, else adaptive's default (high); display stays.
    const low = convert({ ...openAiCase('text'), thinking: { type: 'adaptive', display: 'summarized' }, output_config: { effort: 'low' } }, { model: 'claude-opus-4-5-20251101', defaultMaxTokens: 64000 });
    assert.deepEqual(low.body.thinking, { type: 'enabled', budget_tokens: 1024, display: 'summarized' });
    const medium = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' }, reasoning_effort: 'medium' }, { model: 'claude-3-7-sonnet-20250219', defaultMaxTokens: 64000 });
    assert.deepEqual([medium.body.thinking, medium.warnings], [{ type: 'enabled', budget_tokens: 8192 }, ['thinking: claude-3-7-sonnet-20250219 takes no adaptive thinking (a budget only, Claude 4.5 and earlier); sent budget_tokens 8192, the budget of effort medium']]);
    // Under the default max_tokens (4096) the budget is lowered, as reasoning_effort's is; under 1,025 thinking is off.
    const fitted = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' } }, { model: 'claude-haiku-4-5' });
    assert.deepEqual(fitted.body.thinking, { type: 'enabled', budget_tokens: 2048 });
    assert.deepEqual(fitted.warnings.at(-1), 'thinking: thinking budget lowered to 2048 tokens to fit max_tokens 4096');
    const off = convert({ ...openAiCase('text'), max_tokens: 1000, thinking: { type: 'adaptive' } }, { model: 'claude-haiku-4-5' });
    assert.equal(off.body.thinking, undefined);
    assert.deepEqual(off.warnings.at(-1), "thinking: max_tokens 1000 leaves no room for Claude's smallest thinking budget (1024 tokens), so thinking is off for this call");
    // 4.6 and later, and Mythos Preview, take adaptive as sent.
    for (const model of ['claude-sonnet-4-6', 'claude-opus-4-7', 'claude-mythos-preview']) {
      const sent = convert({ ...openAiCase('text'), thinking: { type: 'adaptive' } }, { model });
      assert.deepEqual([sent.body.thinking, sent.warnings], [{ type: 'adaptive' }, []], model);
    }
  });

  it("JSON mode with thinking on Claude 4.5 and later: structured outputs (output_config.format) instead of the forced tool, so thinking stays", () => {
    const schema = (openAiCase('json-mode').response_format as { json_schema: { schema: Record<string, unknown> } }).json_schema.schema;
    const sonnet = convert({ ...openAiCase('json-mode'), reasoning_effort: 'medium' }, { model: 'claude-sonnet-4-5', defaultMaxTokens: 64000 });
    assert.deepEqual(sonnet.body.thinking, { type: 'enabled', budget_tokens: 8192 });
    assert.deepEqual(sonnet.body.output_config, { format: { type: 'json_schema', schema: { ...schema, additionalProperties: false } } });
    assert.equal(sonnet.body.tools, undefined);
    assert.equal(sonnet.body.tool_choice, undefined);
    assert.deepEqual(sonnet.warnings, []);
    // 4.6 and later: the effort and the format in one output_config.
    const opus = convert({ ...openAiCase('json-mode'), reasoning_effort: 'high' }, { model: 'claude-opus-4-7' });
    assert.deepEqual(opus.body.output_config, { effort: 'high', format: { type: 'json_schema', schema: { ...schema, additionalProperties: false } } });
    assert.deepEqual(opus.body.thinking, { type: 'adaptive' });
    // Without thinking, the forced tool stays (it serves every Claude model and every schema).
    const plain = convert(openAiCase('json-mode'), { model: 'claude-sonnet-4-5' });
    assert.equal(plain.body.output_config, undefined);
    assert.deepEqual(plain.body.tool_choice, { type: 'tool', name: JSON_RESPONSE_TOOL });
  });

  it('JSON mode with thinking keeps the forced tool (thinking off, said) where structured outputs cannot serve', () => {
    const forcedTool = (request: ChatCompletionRequest, model = 'claude-sonnet-4-5') => {
      const { body, warnings } = convert(request, { model, defaultMaxTokens: 64000 });
      assert.equal(body.output_config?.format, undefined, model);
      assert.deepEqual(body.tool_choice, { type: 'tool', name: JSON_RESPONSE_TOOL });
      assert.equal(body.thinking, undefined);
      assert.match(warnings.join('\n'), /structured outputs, which keep thinking, need Claude 4\.5 or later/);
    };
    const thinking = { ...openAiCase('json-mode'), reasoning_effort: 'high' as const };
    // Before 4.5, no structured outputs.
    forcedTool(thinking, 'claude-sonnet-4-20250514');
    forcedTool(thinking, 'claude-3-7-sonnet-20250219');
    // json_object has no schema to give.
    forcedTool({ ...thinking, response_format: { type: 'json_object' } });
    // A map (open object) would lose its meaning closed.
    forcedTool({ ...thinking, response_format: { type: 'json_schema', json_schema: { name: 'tags', schema: { type: 'object', additionalProperties: { type: 'string' } } } } });
  });

  it("a strict json_schema makes JSON mode's forced tool strict on Claude 4.5 and later, its schema in Claude's subset; else it goes as before, said", () => {
    const jsonTool = (request: ChatCompletionRequest, model: string) => {
      const { body, warnings } = convert(request, { model });
      return { tool: body.tools?.find((tool) => tool.name === JSON_RESPONSE_TOOL) as Record<string, unknown> | undefined, warnings };
    };
    const schema = { type: 'object', properties: { city: { type: 'string', minLength: 2 } }, required: ['city'], additionalProperties: false };
    const asked = (strict: boolean | undefined, given: Record<string, unknown> = schema): ChatCompletionRequest => ({
      ...openAiCase('text'),
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema: given, ...(strict === undefined ? {} : { strict }) } },
    });
    const strict = jsonTool(asked(true), 'claude-sonnet-4-5');
    assert.equal(strict.tool?.strict, true);
    assert.deepEqual(strict.tool?.input_schema, { type: 'object', properties: { city: { type: 'string', description: '{minLength: 2}' } }, required: ['city'], additionalProperties: false });
    assert.deepEqual(strict.warnings, []);
    // Not asked: the tool is not strict (OpenAI does not hold the answer to the schema either).
    for (const unasked of [false, undefined]) assert.equal(jsonTool(asked(unasked), 'claude-sonnet-4-5').tool?.strict, undefined);
    const old = jsonTool(asked(true), 'claude-opus-4-1-20250805');
    assert.equal(old.tool?.strict, undefined);
    assert.deepEqual(old.warnings, ['response_format.json_schema.strict: claude-opus-4-1-20250805 has no strict tool use (Claude 4.5 and later do), ignored']);
    const open = jsonTool(asked(true, { type: 'object', additionalProperties: { type: 'string' } }), 'claude-sonnet-4-5');
    assert.equal(open.tool?.strict, undefined);
    assert.match(open.warnings.join('\n'), /^response_format\.json_schema\.strict: the schema is outside Claude's strict subset/m);
    // The request's strict tools and the JSON tool share Claude's limit of 20 strict tools.
    const weather = { type: 'function' as const, function: { name: 'w0', strict: true, parameters: { type: 'object', properties: {}, additionalProperties: false } } };
    const tools = Array.from({ length: 20 }, (_, index) => ({ ...weather, function: { ...weather.function, name: `w${index}` } }));
    const full = jsonTool({ ...asked(true), tools }, 'claude-sonnet-4-5');
    assert.equal(full.tool?.strict, undefined);
    assert.match(full.warnings.join('\n'), /response_format\.json_schema\.strict: .*20 strict tools/);
  });
});

describe('strict tool use', () => {
  const ask = [user('Weather in Paris?')];
  const tool = (name: string, parameters: Record<string, unknown> | undefined, strict: boolean | undefined = true) => ({ type: 'function' as const, function: { name, ...(parameters === undefined ? {} : { parameters }), ...(strict === undefined ? {} : { strict }) } });
  const closed = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) => ({ type: 'object', properties, required, additionalProperties: false });

  it("a strict tool stays strict on Claude 4.5 and later, its schema in Claude's subset (no beta header: it is generally available)", () => {
    const schema = closed({ city: { type: 'string', minLength: 2, default: 'Paris' }, days: { type: ['integer', 'null'], minimum: 1 } });
    for (const model of ['claude-sonnet-4-5', 'claude-opus-4-6', 'claude-haiku-4-5-20251001', 'claude-fable-5']) {
      const { body, warnings } = convert({ model: 'm', messages: ask, tools: [tool('weather', schema)] }, { model });
      assert.deepEqual(body.tools, [
        {
          name: 'weather',
          strict: true,
          input_schema: closed({ city: { type: 'string', description: '{minLength: 2}' }, days: { type: ['integer', 'null'], description: '{minimum: 1}' } }),
        },
      ], model);
      assert.deepEqual(warnings, [], model);
    }
    // Not strict: sent as it came.
    const plain = convert({ model: 'm', messages: ask, tools: [tool('weather', schema, false)] });
    assert.deepEqual(plain.body.tools, [{ name: 'weather', input_schema: schema }]);
    // A strict tool without parameters takes none: the empty object, closed.
    assert.deepEqual(convert({ model: 'm', messages: ask, tools: [tool('now', undefined)] }).body.tools, [{ name: 'now', strict: true, input_schema: { type: 'object', properties: {}, additionalProperties: false } }]);
    // Legacy functions[] too.
    assert.equal((convert({ model: 'm', messages: ask, functions: [{ name: 'weather', parameters: schema, strict: true }] }, { legacyFunctions: true }).body.tools?.[0] as { strict?: boolean }).strict, true);
  });

  it('before Claude 4.5, or for a schema outside the subset, the tool goes as before, without strict, and a warning says why', () => {
    const schema = closed({ city: { type: 'string' } });
    const old = convert({ model: 'm', messages: ask, tools: [tool('weather', schema)] }, { model: 'claude-opus-4-1' });
    assert.deepEqual(old.body.tools, [{ name: 'weather', input_schema: schema }]);
    assert.deepEqual(old.warnings, ['tools[0].function.strict: claude-opus-4-1 has no strict tool use (Claude 4.5 and later do), ignored']);
    const map = { type: 'object', properties: { tags: { type: 'object', additionalProperties: { type: 'string' } } }, required: ['tags'] };
    const unfit = convert({ model: 'm', messages: ask, tools: [tool('tag', map)] });
    assert.deepEqual(unfit.body.tools, [{ name: 'tag', input_schema: map }]);
    assert.deepEqual(unfit.warnings, ["tools[0].function.strict: the schema is outside Claude's strict subset, or past its limits for one request (20 strict tools, 24 optional and 16 union-typed properties in all), ignored"]);
  });

  it("Claude's limits hold across the request: 20 strict tools, 24 optional properties in all, and the output format shares them", () => {
    const many = Array.from({ length: 21 }, (_, index) => tool(`t${index}`, closed({ a: { type: 'string' } })));
    const { body, warnings } = convert({ model: 'm', messages: ask, tools: many });
    const strictness = (body.tools ?? []).map((each) => (each as { strict?: boolean }).strict === true);
    assert.deepEqual(strictness, [...Array.from({ length: 20 }, () => true), false]);
    assert.deepEqual(warnings.map((warning) => warning.split(':')[0]), ['tools[20].function.strict']);
    const optional = (prefix: string) => ({ type: 'object', properties: Object.fromEntries(Array.from({ length: 13 }, (_, index) => [`${prefix}${index}`, { type: 'string' }])), additionalProperties: false });
    const shared = convert({ model: 'm', messages: ask, tools: [tool('a', optional('a')), tool('b', optional('b'))] });
    assert.deepEqual((shared.body.tools ?? []).map((each) => (each as { strict?: boolean }).strict), [true, undefined]);
    // The output format takes what the strict tools left: here none, so JSON mode keeps its forced tool.
    const format = { type: 'json_schema' as const, json_schema: { name: 'out', schema: optional('o') } };
    const thinking = { model: 'm', messages: ask, reasoning_effort: 'low' as const, response_format: format };
    assert.notEqual(convert({ ...thinking }).body.output_config?.format, undefined);
    const spent = convert({ ...thinking, tools: [tool('a', optional('a'))] });
    assert.equal(spent.body.output_config?.format, undefined);
  });
});

describe('interleaved thinking replayed (thinking, text, tool_use, thinking, tool_use in one answer)', () => {
  const fixture = readAnthropicJson('anthropic-interleaved-thinking.response.json') as { content: Array<Record<string, unknown>> };
  const answer = parseAnthropicResponse(fixture, makeTarget('anthropic', { model: 'claude-opus-4-6' })).choices[0]!.message;
  const results = (answer.tool_calls ?? []).map((call) => ({ role: 'tool' as const, tool_call_id: call.id, content: 'done' }));
  const replay = (message: unknown): ChatCompletionRequest => ({
    model: 'claude-opus-4-6',
    thinking: { type: 'enabled', budget_tokens: 2048 },
    messages: [{ role: 'user', content: 'Revenue for 150 units at $50, against the monthly average?' }, message as ChatCompletionRequest['messages'][number], ...results],
  });
  const turnOf = (message: unknown) => convert(replay(message), { model: 'claude-opus-4-6' }).body.messages[1]?.content as Array<Record<string, unknown>>;
  const kinds = (blocks: Array<Record<string, unknown>>) => blocks.map((block) => (block.type === 'tool_use' ? block.id : block.type === 'thinking' ? block.signature : block.type));
  const [sig1, sig2] = fixture.content.filter((block) => block.type === 'thinking').map((block) => block.signature);

  it('the answer sent back as it came reaches Claude in its own order, each block as Claude wrote it (the position field stays here)', () => {
    const { body, warnings } = convert(replay(answer), { model: 'claude-opus-4-6' });
    assert.deepEqual(body.messages[1]?.content, fixture.content);
    assert.deepEqual(warnings, []);
  });

  it('blocks without positions (an older answer, a client that drops unknown fields) go first, as before', () => {
    const bare = { ...answer, thinking_blocks: answer.thinking_blocks?.map(({ after_tool_call_id: _after, ...block }) => block) };
    assert.deepEqual(kinds(turnOf(bare)), [sig1, sig2, 'text', 'toolu_01InterleavedCalc', 'toolu_01InterleavedQuery']);
  });

  it("positions that do not fit the turn's calls (a call left out, calls reordered) change nothing: the blocks go first in their own order", () => {
    const [calc, query] = answer.tool_calls ?? [];
    assert.deepEqual(kinds(turnOf({ ...answer, tool_calls: [query] })), [sig1, sig2, 'text', 'toolu_01InterleavedQuery']);
    const swapped = { ...answer, thinking_blocks: [{ ...answer.thinking_blocks![0]!, after_tool_call_id: 'toolu_01InterleavedQuery' }, answer.thinking_blocks![1]!] };
    assert.deepEqual(kinds(turnOf({ ...swapped, tool_calls: [calc, query] })), [sig1, sig2, 'text', 'toolu_01InterleavedCalc', 'toolu_01InterleavedQuery']);
  });

  it('a position that is not a string is the proxy’s 400, naming it', () => {
    const bad = { ...answer, thinking_blocks: [answer.thinking_blocks![0]!, { ...answer.thinking_blocks![1]!, after_tool_call_id: 3 }] };
    assertRefused(() => convert(replay(bad), { model: 'claude-opus-4-6' }), { code: 'invalid_value', param: 'messages[1].thinking_blocks[1].after_tool_call_id' });
  });
});
