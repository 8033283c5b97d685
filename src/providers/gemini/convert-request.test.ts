import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionRequest } from '../../openai/types.js';
import { assertRefused, makeTarget, type ExpectedRefusal } from '../../../test/providers/codec-harness.js';
import { openAiCase, TINY_PNG_BASE64, type ChatCase } from '../../../test/providers/openai-cases.js';
import { readGeminiJson } from '../../../test/support/fake-gemini.js';
import { convertGeminiRequest, PLACEHOLDER_THOUGHT_SIGNATURE, requiresThoughtSignature } from './convert-request.js';
import { parseGeminiResponse } from './convert-response.js';

const strict = 'tools[0].function.strict: not supported by gemini, ignored';
const CASES: Array<[ChatCase, string[]]> = [
  ['text', []],
  ['multi-turn', ['user: not supported by gemini, ignored']],
  ['image', []],
  ['tools', [strict]],
  ['parallel-tools', [strict]],
  ['tool-result', [strict, 'parallel_tool_calls: not supported by gemini, ignored']],
  ['legacy-functions', []],
  ['json-mode', []],
  ['stop', []],
  ['max-tokens', []],
];

function convert(request: ChatCompletionRequest, overrides: Parameters<typeof makeTarget>[1] = {}) {
  const target = makeTarget('gemini', overrides);
  return { body: convertGeminiRequest(request, target), warnings: target.warnings };
}

function rejects(request: ChatCompletionRequest, expected: ExpectedRefusal): void {
  assertRefused(() => convert(request), expected);
}

const user = (content: string) => ({ role: 'user' as const, content });

describe('convertGeminiRequest on the fixture cases', () => {
  for (const [name, warnings] of CASES) {
    it(`builds gemini-${name}.request.json`, () => {
      const { body, warnings: got } = convert(openAiCase(name));
      assert.deepEqual(body, readGeminiJson(`gemini-${name}.request.json`));
      assert.deepEqual(got, warnings);
    });
  }

  it('builds the same body when streaming (the codec picks the streaming path)', () => {
    assert.deepEqual(convert(openAiCase('tools'), { stream: true }).body, readGeminiJson('gemini-tools.request.json'));
  });

  it('refuses an http(s) image URL: fileData takes uploaded files only', () => {
    rejects(openAiCase('image-url'), { code: 'unsupported_content', param: 'messages[0].content[1]', message: /base64 data URL/ });
  });
});

describe('convertGeminiRequest field decisions', () => {
  it('modalities with image asks Gemini for pictures (responseModalities); text alone sends nothing', () => {
    const asked = (modalities: string[]) => convert({ model: 'gemini-2.5-flash-image', messages: [user('Draw a cat')], modalities } as ChatCompletionRequest);
    assert.deepEqual(asked(['text', 'image']).body.generationConfig?.responseModalities, ['TEXT', 'IMAGE']);
    assert.deepEqual(asked(['image']).body.generationConfig?.responseModalities, ['IMAGE']);
    assert.equal(asked(['text']).body.generationConfig?.responseModalities, undefined);
    assert.deepEqual(asked(['text', 'image']).warnings, []);
  });

  it('sends a Gemini Files API URI as fileData', () => {
    const uri = 'https://generativelanguage.googleapis.com/v1beta/files/abc-123';
    const { body } = convert({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: uri } }] }] });
    assert.deepEqual(body.contents, [{ role: 'user', parts: [{ fileData: { fileUri: uri } }] }]);
  });

  it('sends audio and inline files as inlineData', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
            { type: 'image_url', image_url: { url: `data:image/jpg;base64,${TINY_PNG_BASE64}` } },
          ],
        },
      ],
    });
    assert.deepEqual(body.contents[0]?.parts, [
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
      { inlineData: { mimeType: 'image/jpeg', data: TINY_PNG_BASE64 } },
    ]);
  });

  it('accepts temperature up to 2 and refuses more', () => {
    assert.equal(convert({ ...openAiCase('text'), temperature: 1.5 }).body.generationConfig?.temperature, 1.5);
    rejects({ ...openAiCase('text'), temperature: 2.5 }, { code: 'invalid_value', param: 'temperature', message: /0 to 2/ });
  });

  it('maps n, seed, penalties and logprobs', () => {
    const { body, warnings } = convert({ ...openAiCase('text'), n: 2, seed: 42, presence_penalty: 0.5, frequency_penalty: -0.5, logprobs: true, top_logprobs: 3 });
    assert.deepEqual(body.generationConfig, { candidateCount: 2, seed: 42, presencePenalty: 0.5, frequencyPenalty: -0.5, responseLogprobs: true, logprobs: 3 });
    assert.deepEqual(warnings, []);
    assert.equal(convert({ ...openAiCase('text'), n: 1 }).body.generationConfig, undefined);
  });

  it("drops a top-level cache_control with a warning, silently when it came from /v1/messages' translation", () => {
    assert.deepEqual(convert({ ...openAiCase('text'), cache_control: { type: 'ephemeral' } }).warnings, ['cache_control: not supported by gemini, ignored']);
    assert.deepEqual(convert({ ...openAiCase('text'), cache_control: { type: 'ephemeral' } }, { stripCacheMarkers: true }).warnings, []);
  });

  it('maps reasoning_effort to thinkingConfig for the routed model, and drops it for one that does not think', () => {
    const flash = convert({ ...openAiCase('text'), reasoning_effort: 'none' }, { model: 'gemini-2.5-flash' });
    assert.deepEqual(flash.body.generationConfig, { thinkingConfig: { thinkingBudget: 0 } });
    assert.deepEqual(flash.warnings, []);
    const pro = convert({ ...openAiCase('text'), reasoning_effort: 'medium' }, { model: 'gemini-3-pro-preview' });
    assert.deepEqual(pro.body.generationConfig, { thinkingConfig: { thinkingLevel: 'high' } });
    assert.deepEqual(pro.warnings, ['reasoning_effort: gemini-3-pro-preview takes low or high; sent high']);
    const old = convert({ ...openAiCase('text'), reasoning_effort: 'low' }, { model: 'gemini-2.0-flash' });
    assert.equal(old.body.generationConfig, undefined);
    assert.deepEqual(old.warnings, ['reasoning_effort: gemini-2.0-flash is not known to think (Gemini 2.5 and later take it), ignored']);
  });

  it("takes Google's own OpenAI-compatible settings (extra_body.google): thinking_config and cached_content", () => {
    const google = { thinking_config: { thinking_budget: 800, include_thoughts: true }, cached_content: 'cachedContents/abc123' };
    const nested = convert({ ...openAiCase('text'), extra_body: { google } }, { model: 'gemini-2.5-flash' });
    assert.deepEqual(nested.body.generationConfig, { thinkingConfig: { thinkingBudget: 800, includeThoughts: true } });
    assert.equal(nested.body.cachedContent, 'cachedContents/abc123');
    assert.deepEqual(nested.warnings, []);
    // extra_body={"google": …} in the Python SDK puts it at the top level.
    const top = convert({ ...openAiCase('text'), google: { thinking_config: { thinking_level: 'low' } } }, { model: 'gemini-3-flash-preview' });
    assert.deepEqual(top.body.generationConfig, { thinkingConfig: { thinkingLevel: 'low' } });
  });

  it("the client's own thinking_config wins over reasoning_effort, said; keys it does not read are dropped with a warning", () => {
    const both = convert({ ...openAiCase('text'), reasoning_effort: 'high', extra_body: { google: { thinking_config: { include_thoughts: true } }, other: 1 } }, { model: 'gemini-2.5-flash' });
    assert.deepEqual(both.body.generationConfig, { thinkingConfig: { includeThoughts: true } });
    assert.deepEqual(both.warnings, ["reasoning_effort: the request's own thinking_config is sent instead, ignored", 'extra_body.other: not supported by gemini, ignored']);
    const unknown = convert({ ...openAiCase('text'), google: { safety_settings: [] } });
    assert.deepEqual(unknown.warnings, ['google.safety_settings: not supported by gemini, ignored']);
  });

  it('web_search_options turns on Grounding with Google Search, beside function declarations; its size and location are checked, then dropped', () => {
    const plain = convert({ ...openAiCase('text'), web_search_options: {} });
    assert.deepEqual(plain.body.tools, [{ googleSearch: {} }]);
    assert.equal(plain.body.toolConfig, undefined);
    assert.deepEqual(plain.warnings, []);
    const located = convert({
      ...openAiCase('tools'),
      web_search_options: { search_context_size: 'high', user_location: { type: 'approximate', approximate: { city: 'Paris', country: 'FR' } } },
    });
    assert.deepEqual(located.body.tools?.map((tool) => Object.keys(tool)), [['functionDeclarations'], ['googleSearch']]);
    assert.ok(located.warnings.includes('web_search_options.search_context_size: not supported by gemini, ignored'));
    assert.ok(located.warnings.includes('web_search_options.user_location: not supported by gemini, ignored'));
    rejects({ ...openAiCase('text'), web_search_options: { user_location: { city: 'Paris' } } }, { code: 'invalid_value', param: 'web_search_options.user_location' });
    rejects({ ...openAiCase('text'), web_search_options: true }, { code: 'invalid_value', param: 'web_search_options' });
  });

  it('refuses a Google setting of the wrong shape, naming it', () => {
    rejects({ ...openAiCase('text'), extra_body: { google: { thinking_config: { thinking_budget: 1.5 } } } }, { code: 'invalid_value', param: 'extra_body.google.thinking_config.thinking_budget' });
    rejects({ ...openAiCase('text'), google: { thinking_config: { thinking_level: 'max' } } }, { code: 'invalid_value', param: 'google.thinking_config.thinking_level' });
    rejects({ ...openAiCase('text'), google: { thinking_config: { thinking_budget: 100, thinking_level: 'low' } } }, { code: 'invalid_value', param: 'google.thinking_config.thinking_level' });
    rejects({ ...openAiCase('text'), google: { thinking_config: { include_thoughts: 'yes' } } }, { code: 'invalid_value', param: 'google.thinking_config.include_thoughts' });
    rejects({ ...openAiCase('text'), google: { cached_content: '../etc/passwd' } }, { code: 'invalid_value', param: 'google.cached_content' });
    rejects({ ...openAiCase('text'), google: 'on' }, { code: 'invalid_value', param: 'google' });
  });

  it('drops user, logit_bias and unknown fields with a warning each', () => {
    const { body, warnings } = convert({ ...openAiCase('text'), user: 'u', logit_bias: { '1': 2 }, prediction: { type: 'content', content: 'x' }, metadata: { a: 'b' } });
    assert.deepEqual(body, readGeminiJson('gemini-text.request.json'));
    assert.deepEqual(warnings, [
      'user: not supported by gemini, ignored',
      'logit_bias: not supported by gemini, ignored',
      'prediction: not supported by gemini, ignored',
      'metadata: not supported by gemini, ignored',
    ]);
  });

  it('maps json_object to the JSON mime type alone', () => {
    assert.deepEqual(convert({ ...openAiCase('text'), response_format: { type: 'json_object' } }).body.generationConfig, { responseMimeType: 'application/json' });
    assert.equal(convert({ ...openAiCase('text'), response_format: { type: 'text' } }).body.generationConfig, undefined);
  });

  it('maps tool_choice none and named, and legacy function_call', () => {
    const tools = openAiCase('tools').tools;
    assert.deepEqual(convert({ ...openAiCase('text'), tools, tool_choice: 'none' }).body.toolConfig, { functionCallingConfig: { mode: 'NONE' } });
    assert.deepEqual(convert({ ...openAiCase('text'), tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } }).body.toolConfig, {
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] },
    });
    const functions = [{ name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } }];
    assert.deepEqual(convert({ ...openAiCase('text'), functions, function_call: { name: 'f' } }).body.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] } });
    assert.deepEqual(convert({ ...openAiCase('text'), functions, function_call: 'none' }).body.toolConfig, { functionCallingConfig: { mode: 'NONE' } });
  });

  it('declares functions without arguments without parameters', () => {
    const { body } = convert({
      ...openAiCase('text'),
      tools: [
        { type: 'function', function: { name: 'now' } },
        { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
        // `{}` is a valid OpenAI declaration of no arguments; Gemini refuses a schema without a type.
        { type: 'function', function: { name: 'tick', parameters: {} } },
      ],
    });
    assert.deepEqual(body.tools, [{ functionDeclarations: [{ name: 'now' }, { name: 'ping' }, { name: 'tick' }] }]);
  });

  it('puts the placeholder thought signature on the first replayed call for Gemini 3 and later', () => {
    const { body } = convert(openAiCase('tool-result'), { model: 'gemini-3-pro-preview' });
    assert.deepEqual(body.contents[1], {
      role: 'model',
      parts: [
        { functionCall: { name: 'get_weather', args: { location: 'Paris', unit: 'celsius', days: null } }, thoughtSignature: PLACEHOLDER_THOUGHT_SIGNATURE },
        { functionCall: { name: 'get_weather', args: { location: 'Tokyo', unit: 'celsius', days: null } } },
      ],
    });
    assert.equal(requiresThoughtSignature('gemini-2.5-flash'), false);
    assert.equal(requiresThoughtSignature('gemini-3.1-flash-lite'), true);
    assert.equal(requiresThoughtSignature('gemini-10-ultra'), true);
    assert.equal(requiresThoughtSignature('gemma-3-27b-it'), false);
  });

  it("gives back the thought signature an answer's call carried (Google's extra_content), in place of the placeholder", () => {
    const answer = parseGeminiResponse(readGeminiJson('gemini-tools.response.json'), makeTarget('gemini', { model: 'gemini-3-pro-preview' }));
    const call = answer.choices[0]?.message.tool_calls?.[0];
    const signature = call?.extra_content?.google?.thought_signature;
    assert.ok(typeof signature === 'string' && signature.length > 20);
    const { body } = convert(
      {
        model: 'gemini-3-pro-preview',
        messages: [
          user('Weather in Paris?'),
          answer.choices[0]!.message as ChatCompletionRequest['messages'][number],
          { role: 'tool', tool_call_id: call!.id, content: '{"temperature":18}' },
        ],
      },
      { model: 'gemini-3-pro-preview' },
    );
    const parts = body.contents[1]?.parts ?? [];
    assert.equal(parts.find((part) => part.functionCall !== undefined)?.thoughtSignature, signature);
    assert.ok(!JSON.stringify(body).includes(PLACEHOLDER_THOUGHT_SIGNATURE));
  });

  it('refuses a tool result whose call id was never issued', () => {
    rejects({ model: 'm', messages: [user('Hi'), { role: 'tool', tool_call_id: 'call_unknown', content: 'x' }] }, { code: 'invalid_value', param: 'messages[1].tool_call_id' });
  });

  it('refuses tool call arguments that are not a JSON object', () => {
    rejects(
      { model: 'm', messages: [user('Hi'), { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: 'nope' } }] }] },
      { code: 'invalid_value', param: 'messages[1].tool_calls[0].function.arguments' },
    );
    rejects(
      { model: 'm', messages: [user('Hi'), { role: 'assistant', content: null, function_call: { name: 'f', arguments: '"s"' } }] },
      { code: 'invalid_value', param: 'messages[1].function_call.arguments' },
    );
  });

  it('refuses a function name outside Gemini\'s rule, and two functions of one name, naming the param', () => {
    const tools = (...names: string[]) => ({ model: 'm', messages: [user('Hi')], tools: names.map((name) => ({ type: 'function' as const, function: { name } })) });
    for (const name of ['get weather', '1st_tool', 'x'.repeat(65), 'naïve', '', 'a/b']) {
      rejects(tools('ok', name), { code: 'invalid_value', param: 'tools[1].function.name', message: /starts with a letter or an underscore.*at most 64/ });
    }
    rejects({ model: 'm', messages: [user('Hi')], functions: [{ name: 'get weather' }] }, { code: 'invalid_value', param: 'functions[0].name' });
    const fine = ['_x', 'a.b:c-d_9', `a${'x'.repeat(63)}`];
    assert.deepEqual(convert(tools(...fine)).body.tools?.[0]?.functionDeclarations?.map((entry) => entry.name), fine);
    // Gemini answers "Duplicate function declaration found"; the second is named.
    rejects(tools('a', 'b', 'c', 'b'), { code: 'invalid_value', param: 'tools[3].function.name', message: /'b'.*unique/ });
    rejects({ ...tools('a'), functions: [{ name: 'a' }] }, { code: 'invalid_value', param: 'functions[0].name' });
  });

  it('refuses non-text parts in system and tool messages, and unknown part types', () => {
    rejects({ model: 'm', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }] }, user('Hi')] }, {
      code: 'unsupported_content',
      param: 'messages[0].content[0]',
    });
    rejects({ model: 'm', messages: [{ role: 'user', content: [{ type: 'video_url', video_url: 'x' }] }] }, { code: 'unsupported_content', param: 'messages[0].content[0]' });
    rejects({ model: 'm', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] }, { code: 'unsupported_content', param: 'messages[0].content[0]' });
  });

  it('wraps tool results that are not JSON objects in {output}', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        user('Hi'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }, { id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'a', content: '[1,2]' },
        { role: 'tool', tool_call_id: 'b', content: [{ type: 'text', text: '{"ok":' }, { type: 'text', text: 'true}' }] },
      ],
    });
    assert.deepEqual(body.contents[2], {
      role: 'user',
      parts: [{ functionResponse: { name: 'f', response: { output: [1, 2] } } }, { functionResponse: { name: 'g', response: { ok: true } } }],
    });
  });
});

describe('tool results in another order than their calls', () => {
  // Gemini gets no call ids: it pairs two results of one function with its calls by position.
  it('are sent in the order of the calls', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        user('Weather in Paris and Tokyo?'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'p', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 't', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } },
            { id: 'x', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'x', content: '12:00' },
        { role: 'tool', tool_call_id: 't', content: 'rain in Tokyo' },
        { role: 'tool', tool_call_id: 'p', content: 'sun in Paris' },
        user('Thanks'),
      ],
    });
    assert.deepEqual(body.contents[2], {
      role: 'user',
      parts: [
        { functionResponse: { name: 'get_weather', response: { output: 'sun in Paris' } } },
        { functionResponse: { name: 'get_weather', response: { output: 'rain in Tokyo' } } },
        { functionResponse: { name: 'get_time', response: { output: '12:00' } } },
        { text: 'Thanks' },
      ],
    });
  });

  it('in the order of the calls of assistant messages merged into one turn', () => {
    const call = (id: string) => ({ id, type: 'function' as const, function: { name: 'f', arguments: `{"n":"${id}"}` } });
    const { body } = convert({
      model: 'm',
      messages: [
        user('Go'),
        { role: 'assistant', content: null, tool_calls: [call('a'), call('b')] },
        { role: 'assistant', content: null, tool_calls: [call('c')] },
        { role: 'tool', tool_call_id: 'c', content: 'C' },
        { role: 'tool', tool_call_id: 'b', content: 'B' },
        { role: 'tool', tool_call_id: 'a', content: 'A' },
      ],
    });
    assert.deepEqual(
      body.contents[2]?.parts.map((part) => part.functionResponse?.response),
      [{ output: 'A' }, { output: 'B' }, { output: 'C' }],
    );
  });
});

describe('a request with nothing to send', () => {
  // Found by translated-requests.property.test.ts: the body went out with no messages, and gemini answered 400 to it.
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
    assert.equal(body.contents.length, 1, 'one merged turn');
    const merged = body.contents[0]?.parts;
    assert.equal(Array.isArray(merged) ? merged.length : 0, 300_000);
  });
});

describe('stop sequences', () => {
  it("more than Gemini's 5 → 400 naming stop; up to 5 go as stopSequences", () => {
    const stops = ['A:', 'B:', 'C:', 'D:', 'E:', 'F:'];
    rejects({ ...openAiCase('text'), stop: stops }, { code: 'invalid_value', param: 'stop', message: /at most 5 stop sequences, got 6/ });
    assert.deepEqual(convert({ ...openAiCase('text'), stop: stops.slice(0, 5) }).body.generationConfig?.stopSequences, stops.slice(0, 5));
  });
});
