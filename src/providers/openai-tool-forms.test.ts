// openai 6.x forms neither translator can send: custom tools (free-text input), their calls replayed,
// `tool_choice` `allowed_tools` or `custom`, and audio output. Each is a 400 naming the field, never misread.
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

    it('tool_choice allowed_tools or custom is an unsupported_parameter, not read as another choice', () => {
      refused({ tools: [weather], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'weather' } }] } } }, 'unsupported_parameter', 'tool_choice');
      refused({ tools: [weather], tool_choice: { type: 'custom', custom: { name: 'apply_patch' } } }, 'unsupported_parameter', 'tool_choice');
    });
  });
}
