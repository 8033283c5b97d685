// A 400 raised on the chat form of a translated Messages request names the client's own path: the
// Anthropic request is translated, a provider translator refuses it, and the error is mapped back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTarget } from '../../test/providers/codec-harness.js';
import { GatewayError, invalidValue, isGatewayError, upstreamError } from '../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import { convertAnthropicRequest } from '../providers/anthropic/convert-request.js';
import { convertGeminiRequest } from '../providers/gemini/convert-request.js';
import { validateMessagesRequest } from './messages-request.js';
import { toChatRequest } from './to-chat-request.js';

type Convert = (request: ChatCompletionRequest) => unknown;
const gemini: Convert = (request) => convertGeminiRequest(request, makeTarget('gemini'));
const anthropic: Convert = (request) => convertAnthropicRequest(request, makeTarget('anthropic'));

/** The 400 the provider translator raises for the translated request, as the client gets it. */
function refusal(body: Record<string, unknown>, convert: Convert): { chatParam: string | null; param: string | null; message: string } {
  const { chat, params } = toChatRequest(validateMessagesRequest({ model: 'm', max_tokens: 10, ...body }), []);
  try {
    convert(chat);
  } catch (error) {
    assert.ok(isGatewayError(error), String(error));
    const mapped = params.mapError(error, false);
    assert.ok(mapped instanceof GatewayError);
    assert.equal(mapped.status, 400);
    assert.equal(mapped.code, error.code);
    return { chatParam: error.param, param: mapped.param, message: mapped.message };
  }
  assert.fail('the translator took the request');
}

const tool = (name: string) => ({ name, input_schema: { type: 'object' } });
const urlImage = { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } };

describe('ClientParams: chat-side 400s name the Messages request', () => {
  it("a tool's function fields are the client tool's own", () => {
    const bad = refusal({ messages: [{ role: 'user', content: 'Hi' }], tools: [tool('ok'), tool('get weather')] }, gemini);
    assert.equal(bad.chatParam, 'tools[1].function.name');
    assert.equal(bad.param, 'tools[1].name');
    assert.match(bad.message, /^Invalid value for 'tools\[1\]\.name': gemini needs/);
    assert.doesNotMatch(bad.message, /\.function\./);
  });

  it('message indexes: system is a chat message, tool_results are one tool message each, images and text keep their block index', () => {
    const conversation = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'a', name: 'f', input: {} }, { type: 'tool_use', id: 'b', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'a', content: 'one' }, { type: 'tool_result', tool_use_id: 'b', content: 'two' }, { type: 'text', text: 'And this?' }, urlImage] },
    ];
    // Chat: system, user, assistant, tool, tool, user [text, image]: the image is the chat's messages[5].content[1].
    const image = refusal({ system: 'Be brief.', messages: conversation, tools: [tool('f')] }, gemini);
    assert.equal(image.chatParam, 'messages[5].content[1]');
    assert.equal(image.param, 'messages[2].content[3]');
    assert.match(image.message, /^Unsupported content in 'messages\[2\]\.content\[3\]'/);

    // A result for a call no earlier turn made: the chat's second tool message is the client's second block.
    const orphan = structuredClone(conversation);
    (orphan[2]?.content as Array<Record<string, unknown>>)[1] = { type: 'tool_result', tool_use_id: 'zzz', content: 'two' };
    (orphan[2]?.content as unknown[]).splice(2);
    const unmatched = refusal({ system: 'Be brief.', messages: orphan, tools: [tool('f')] }, gemini);
    assert.equal(unmatched.chatParam, 'messages[4].tool_call_id');
    assert.equal(unmatched.param, 'messages[2].content[1].tool_use_id');
  });

  it('an image inside a tool_result is named inside it', () => {
    const messages = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }] },
      { role: 'user', content: [{ type: 'text', text: 'Here:' }, { type: 'tool_result', tool_use_id: 'a', content: [{ type: 'text', text: 'see' }, urlImage] }] },
    ];
    // Chat: user, assistant, tool, user [image (moved first), text].
    const inResult = refusal({ messages, tools: [tool('f')] }, gemini);
    assert.equal(inResult.chatParam, 'messages[3].content[0]');
    assert.equal(inResult.param, 'messages[2].content[1].content[1]');
  });

  it('top-level fields the translation renamed (a whitespace stop sequence refused for Claude)', () => {
    const stop = refusal({ messages: [{ role: 'user', content: 'Hi' }], stop_sequences: ['END', '\n'] }, anthropic);
    assert.equal(stop.chatParam, 'stop[1]');
    assert.equal(stop.param, 'stop_sequences[1]');
    assert.match(stop.message, /'stop_sequences\[1\]'/);
  });

  it('maps each renamed path; leaves the others; a rewritten conversation is named whole', () => {
    const request = validateMessagesRequest({
      model: 'm',
      max_tokens: 10,
      system: [{ type: 'text', text: 'S' }],
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 's' }, { type: 'tool_use', id: 'a', name: 'f', input: {} }] },
      ],
      output_config: { effort: 'low' },
    });
    const { params } = toChatRequest(request, [], { reasoning: true });
    const table: Array<[string, string]> = [
      ['messages[0].content', 'system'],
      ['messages[1].content', 'messages[0].content'],
      ['messages[1].role', 'messages[0].role'],
      ['messages[2].tool_calls[0].function.arguments', 'messages[1].content[1].input'],
      ['messages[2].tool_calls[0].function.name', 'messages[1].content[1].name'],
      ['messages[2].tool_calls[0]', 'messages[1].content[1]'],
      ['messages[9]', 'messages'],
      ['messages', 'messages'],
      ['tools[2].function.parameters.properties.x', 'tools[2].input_schema.properties.x'],
      ['tools[2].function', 'tools[2]'],
      ['tool_choice.function.name', 'tool_choice.name'],
      ['parallel_tool_calls', 'tool_choice.disable_parallel_tool_use'],
      ['max_completion_tokens', 'max_tokens'],
      ['max_tokens', 'max_tokens'],
      ['stop', 'stop_sequences'],
      ['user', 'metadata.user_id'],
      ['reasoning_effort', 'output_config.effort'],
      ['response_format.json_schema.schema.properties.$x', 'output_config.format.schema.properties.$x'],
      ['response_format', 'output_config.format'],
      ['temperature', 'temperature'],
      ['model', 'model'],
    ];
    for (const [chat, client] of table) assert.equal(params.map(chat), client, chat);
    assert.equal(params.map('messages[1].content', true), 'messages');
    assert.equal(toChatRequest({ ...request, output_config: undefined, thinking: { type: 'enabled', budget_tokens: 2000 } }, [], { reasoning: true }).params.map('reasoning_effort'), 'thinking');

    // `$` in a path is no replacement pattern; other statuses and unmapped params stand as they were.
    const dollar = params.mapError(invalidValue('response_format.json_schema.schema.$defs', 'x'), false) as GatewayError;
    assert.equal(dollar.message, "Invalid value for 'output_config.format.schema.$defs': x.");
    const same = invalidValue('temperature', 'x');
    assert.equal(params.mapError(same, false), same);
    const upstream = upstreamError(500, 'p', 'boom');
    assert.equal(params.mapError(upstream, false), upstream);
  });
});

describe('ClientParams: the provider warnings of a translated Messages request name its fields', () => {
  /** The X-LLM-Proxy-Warnings entries of the translator for the translated request, as the client gets them. */
  function warned(body: Record<string, unknown>, provider: 'anthropic' | 'gemini', rewritten = false): { chat: string[]; client: string[] } {
    const { chat, params } = toChatRequest(validateMessagesRequest({ model: 'm', max_tokens: 10, ...body }), []);
    const target = makeTarget(provider);
    if (provider === 'gemini') convertGeminiRequest(chat, target);
    else convertAnthropicRequest(chat, target);
    return { chat: target.warnings, client: target.warnings.map((warning) => params.mapWarning(warning, rewritten)) };
  }

  it('gemini: the dropped user and parallel-tool-call fields are metadata.user_id and disable_parallel_tool_use', () => {
    const { chat, client } = warned(
      { messages: [{ role: 'user', content: 'Hi' }], metadata: { user_id: 'u-1' }, tools: [tool('a')], tool_choice: { type: 'auto', disable_parallel_tool_use: true } },
      'gemini',
    );
    assert.deepEqual(chat, ['user: not supported by gemini, ignored', 'parallel_tool_calls: not supported by gemini, ignored']);
    assert.deepEqual(client, ['metadata.user_id: not supported by gemini, ignored', 'tool_choice.disable_parallel_tool_use: not supported by gemini, ignored']);
  });

  it("anthropic (a mixed group): a prefill's trailing whitespace names the client's message, not the chat form's (system is not a message)", () => {
    const body = { system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Sure ' }] };
    const { chat, client } = warned(body, 'anthropic');
    assert.match(chat[0] ?? '', /^messages\[2\]\.content: trailing whitespace removed/);
    assert.match(client[0] ?? '', /^messages\[1\]\.content: trailing whitespace removed/);
    // Once the context policy rewrote the messages, their indexes match nothing the client sent.
    assert.match(warned(body, 'anthropic', true).client[0] ?? '', /^messages: trailing whitespace removed/);
  });

  it('an entry that names no field it knows is left as it is', () => {
    const { params } = toChatRequest(validateMessagesRequest({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }), []);
    for (const warning of ['top_p: not supported by anthropic together with temperature, ignored', "cache_control on a 'tool' message (mark its content part instead): not supported by groq, ignored", 'no field here']) {
      assert.equal(params.mapWarning(warning, false), warning);
    }
  });
});
