import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatMessage } from '../openai/types.js';
import { messageText } from './extractive-summary.js';

describe('messageText', () => {
  it("reads a custom tool's call (openai 6.x: free text in custom.input) as it reads a function call", () => {
    const message = {
      role: 'assistant',
      content: 'Patching.',
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'read', arguments: '{"path":"a.ts"}' } },
        { id: 'call_2', type: 'custom', custom: { name: 'apply_patch', input: '*** Begin Patch' } },
      ],
    } as ChatMessage;
    assert.equal(messageText(message), 'Patching. [called read({"path":"a.ts"})] [called apply_patch(*** Begin Patch)]');
  });
});
