import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { validateChatRequest } from './chat-request-schema.js';

function refusal(body: unknown): { status: number; code: string | null; param: string | null; message: string } {
  try {
    validateChatRequest(body);
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    return { status: error.status, code: error.code, param: error.param, message: error.message };
  }
  assert.fail('expected a refusal');
}

const withPart = (part: unknown) => ({ model: 'gpt-4', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, part] }] });

describe('validateChatRequest', () => {
  test('a content part whose type is not a string: invalid_type naming the part type', () => {
    for (const type of [true, -0, null, 7, {}, ['text']]) {
      const refused = refusal(withPart({ type, text: 'x' }));
      assert.deepEqual({ status: refused.status, code: refused.code, param: refused.param }, { status: 400, code: 'invalid_type', param: 'messages[0].content[1].type' }, JSON.stringify(type));
      assert.equal(refused.message, "Invalid type for 'messages[0].content[1].type': expected string.");
    }
    assert.deepEqual(refusal(withPart({ text: 'x' })).param, 'messages[0].content[1].type');
    assert.deepEqual(refusal(withPart('text')).param, 'messages[0].content[1]');
  });

  test('a value inside a union is named by its own path; type errors of the union itself are unchanged', () => {
    assert.deepEqual(refusal({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }], metadata: { user: 1 } }).param, 'metadata.user');
    const hot = refusal({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }], temperature: 2.5 });
    assert.deepEqual([hot.code, hot.param], ['invalid_value', 'temperature']);
    assert.match(hot.message, /2/);
    const stops = refusal({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] });
    assert.deepEqual([stops.code, stops.param], ['invalid_value', 'stop']);
    const number = refusal({ model: 'gpt-4', messages: [{ role: 'user', content: 42 }] });
    assert.deepEqual([number.code, number.param], ['invalid_type', 'messages[0].content']);
    const word = refusal({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' });
    assert.deepEqual([word.code, word.param], ['invalid_type', 'temperature']);
  });

  test('a word outside a list names the words taken, and a missing field its type, not TypeBox\'s "union value"', () => {
    const user = [{ role: 'user', content: 'x' }];
    const role = refusal({ model: 'gpt-4', messages: [{ role: 'bogus', content: 'x' }] });
    assert.deepEqual([role.code, role.param], ['invalid_type', 'messages[0].role']);
    assert.equal(role.message, `Invalid type for 'messages[0].role': expected one of "system", "developer", "user", "assistant", "tool", "function".`);
    assert.equal(refusal({ model: 'gpt-4', messages: user, tool_choice: 'sometimes' }).message, `Invalid type for 'tool_choice': expected "none", "auto", "required" or an object.`);
    assert.equal(refusal({ model: 'gpt-4', messages: user, response_format: { type: 'yaml' } }).message, `Invalid type for 'response_format.type': expected one of "text", "json_object", "json_schema".`);
    assert.equal(refusal({ messages: user }).message, "Invalid type for 'model': expected a required field (a string).");
  });

  test('a tool of a type the proxy does not take is named by its type, with the types taken; a known type still names its broken field', () => {
    const user = [{ role: 'user', content: 'x' }];
    const tools = (tool: unknown) => ({ model: 'gpt-4', messages: user, tools: [{ type: 'function', function: { name: 'a' } }, tool] });
    const image = refusal(tools({ type: 'openrouter:image_generation' }));
    assert.deepEqual([image.status, image.code, image.param], [400, 'invalid_value', 'tools[1].type']);
    assert.equal(
      image.message,
      "Invalid value for 'tools[1].type': the tool type 'openrouter:image_generation' is not one the proxy takes: it takes 'function' and 'custom' tools, and on OpenRouter deployments OpenRouter's server tools openrouter:web_search, openrouter:web_fetch, openrouter:datetime.",
    );
    assert.equal(refusal(tools({ type: 'retrieval' })).param, 'tools[1].type');
    // No type, or a type that is no string: the schema's own wording, as before.
    assert.equal(refusal(tools({ function: { name: 'b' } })).param, 'tools[1]');
    assert.equal(refusal(tools({ type: 'function' })).param, 'tools[1].function');
    assert.equal(refusal(tools({ type: 'openrouter:web_fetch', parameters: { engine: 'bing' } })).param, 'tools[1].parameters.engine');
  });
});

describe("openai 6.x tool forms: custom tools, allowed_tools and custom tool_choice, custom calls replayed", () => {
  const user = [{ role: 'user', content: 'x' }];
  const custom = { type: 'custom', custom: { name: 'apply_patch', description: 'Edit files', format: { type: 'grammar', grammar: { syntax: 'lark', definition: 'start: /.+/' } } } };
  const fn = { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } };

  test('are taken, as OpenAI takes them', () => {
    const bodies = [
      { model: 'gpt-5', messages: user, tools: [fn, custom] },
      { model: 'gpt-5', messages: user, tools: [fn, custom], tool_choice: { type: 'custom', custom: { name: 'apply_patch' } } },
      { model: 'gpt-5', messages: user, tools: [fn, custom], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'lookup' } }, { type: 'custom', custom: { name: 'apply_patch' } }] } } },
      {
        model: 'gpt-5',
        tools: [custom],
        messages: [...user, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'apply_patch', input: '*** Begin Patch' } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'done' }],
      },
    ];
    for (const body of bodies) assert.equal(validateChatRequest(body), body);
  });

  test('a malformed one is named by its own path, by the form its type picks', () => {
    assert.deepEqual(refusal({ model: 'gpt-5', messages: user, tools: [{ type: 'function' }] }).param, 'tools[0].function');
    assert.deepEqual(refusal({ model: 'gpt-5', messages: user, tools: [{ type: 'custom', custom: {} }] }).param, 'tools[0].custom.name');
    assert.deepEqual(refusal({ model: 'gpt-5', messages: user, tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'sometimes', tools: [] } } }).param, 'tool_choice.allowed_tools.mode');
    assert.deepEqual(refusal({ model: 'gpt-5', messages: user, tool_choice: { type: 'function', function: {} } }).param, 'tool_choice.function.name');
    const call = refusal({ model: 'gpt-5', messages: [...user, { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'f' } }] }] });
    assert.deepEqual(call.param, 'messages[1].tool_calls[0].function.arguments');
  });
});
