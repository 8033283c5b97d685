// openai 6.x forms neither translator can send: custom tools (free-text input), their calls replayed,
// `tool_choice` `custom`, and audio output. Each is a 400 naming the field, never misread. And
// `tool_choice` `allowed_tools`, sent where the provider can express it exactly, else a 400 too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import { assertRefused, makeTarget } from '../../test/providers/codec-harness.js';
import { openAiCase } from '../../test/providers/openai-cases.js';
import { convertAnthropicRequest } from './anthropic/convert-request.js';
import { convertGeminiRequest } from './gemini/convert-request.js';

const custom = { type: 'custom', custom: { name: 'apply_patch' } };
const weather = { type: 'function', function: { name: 'weather', parameters: { type: 'object' } } };
const ask = (fields: Record<string, unknown>) => ({ ...openAiCase('text'), ...fields }) as unknown as ChatCompletionRequest;
const replayed = [
  { role: 'user', content: 'patch it' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'apply_patch', input: '*** Begin Patch' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: 'done' },
];

for (const [provider, convert] of [['anthropic', convertAnthropicRequest], ['gemini', convertGeminiRequest]] as const) {
  describe(`${provider}: openai 6.x custom tools and tool choices`, () => {
    const refused = (fields: Record<string, unknown>, code: string, param: string) => assertRefused(() => convert(ask(fields), makeTarget(provider)), { code, param });

    it('a custom tool, or its call replayed, is a 400 naming it', () => {
      refused({ tools: [weather, custom] }, 'invalid_value', 'tools[1]');
      refused({ tools: [weather], messages: replayed }, 'invalid_value', 'messages[1].tool_calls[0]');
    });

    it("modalities asking for audio (gpt-4o-audio's spoken answer) is an unsupported_parameter, not a text answer with a warning; text alone is taken", () => {
      refused({ modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'mp3' } }, 'unsupported_parameter', 'modalities');
      const target = makeTarget(provider);
      convert(ask({ modalities: ['text'] }), target);
      assert.deepEqual(target.warnings, []);
    });

    it('tool_choice custom is an unsupported_parameter, not read as another choice', () => {
      refused({ tools: [weather], tool_choice: { type: 'custom', custom: { name: 'apply_patch' } } }, 'unsupported_parameter', 'tool_choice');
    });

    it('tool_choice allowed_tools must name tools of the request, as functions', () => {
      const allowed = (tools: unknown[], mode = 'required') => ({ tools: [weather, clock], tool_choice: { type: 'allowed_tools', allowed_tools: { mode, tools } } });
      refused(allowed([{ type: 'function', function: { name: 'nowhere' } }]), 'invalid_value', 'tool_choice.allowed_tools.tools[0]');
      refused(allowed([fn('weather'), { type: 'custom', custom: { name: 'apply_patch' } }]), 'invalid_value', 'tool_choice.allowed_tools.tools[1]');
      refused(allowed([]), 'invalid_value', 'tool_choice.allowed_tools.tools');
      refused(allowed([fn('weather')], 'sometimes'), 'invalid_value', 'tool_choice.allowed_tools');
    });
  });
}

const clock = { type: 'function', function: { name: 'clock', parameters: { type: 'object' } } };
const search = { type: 'function', function: { name: 'search', parameters: { type: 'object' } } };
const fn = (name: string) => ({ type: 'function', function: { name } });
const allowedTools = (mode: 'auto' | 'required', names: string[]) => ({ tools: [weather, clock, search], tool_choice: { type: 'allowed_tools', allowed_tools: { mode, tools: names.map(fn) } } });

// OpenAI: the model sees every tool in `tools`, and may call only those allowed_tools names (the
// full list stays, for the prompt cache). Sent only where the provider can say exactly that.
describe('tool_choice allowed_tools on Gemini: allowedFunctionNames', () => {
  const config = (fields: Record<string, unknown>) => {
    const body = convertGeminiRequest(ask(fields), makeTarget('gemini'));
    return { declared: body.tools?.[0]?.functionDeclarations?.map((each) => each.name), toolConfig: body.toolConfig };
  };

  it('required → ANY limited to the names; auto → VALIDATED limited to them (calls or text); every tool declared either way', () => {
    assert.deepEqual(config(allowedTools('required', ['weather', 'clock'])), { declared: ['weather', 'clock', 'search'], toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather', 'clock'] } } });
    assert.deepEqual(config(allowedTools('auto', ['search'])), { declared: ['weather', 'clock', 'search'], toolConfig: { functionCallingConfig: { mode: 'VALIDATED', allowedFunctionNames: ['search'] } } });
  });

  it('naming every tool is plain auto or required (AUTO, ANY)', () => {
    assert.deepEqual(config(allowedTools('auto', ['search', 'weather', 'clock'])).toolConfig, { functionCallingConfig: { mode: 'AUTO' } });
    assert.deepEqual(config(allowedTools('required', ['search', 'weather', 'clock', 'weather'])).toolConfig, { functionCallingConfig: { mode: 'ANY' } });
  });
});

describe('tool_choice allowed_tools on Claude: only where it means the same', () => {
  const choice = (fields: Record<string, unknown>) => {
    const body = convertAnthropicRequest(ask(fields), makeTarget('anthropic'));
    return { tools: body.tools?.map((each) => each.name), choice: body.tool_choice };
  };

  it('every tool named is auto or any; one tool required is that tool; all tools are sent either way', () => {
    assert.deepEqual(choice(allowedTools('auto', ['weather', 'clock', 'search'])), { tools: ['weather', 'clock', 'search'], choice: { type: 'auto' } });
    assert.deepEqual(choice(allowedTools('required', ['weather', 'clock', 'search'])), { tools: ['weather', 'clock', 'search'], choice: { type: 'any' } });
    assert.deepEqual(choice(allowedTools('required', ['clock'])), { tools: ['weather', 'clock', 'search'], choice: { type: 'tool', name: 'clock' } });
  });

  it('a subset Claude cannot limit its calls to is a 400 naming tool_choice: sending only those tools would change what the model sees', () => {
    for (const fields of [allowedTools('required', ['weather', 'clock']), allowedTools('auto', ['clock'])]) {
      assertRefused(() => convertAnthropicRequest(ask(fields), makeTarget('anthropic')), { code: 'unsupported_parameter', param: 'tool_choice', message: /sees every tool/ });
    }
  });
});
