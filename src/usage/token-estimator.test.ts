import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import { estimatePromptTokens } from './token-estimator.js';

function request(content: ChatCompletionRequest['messages'][number]['content'], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'gpt-4o', messages: [{ role: 'user', content }], ...extra };
}

test('counts text with the per-message framing', async () => {
  // "Hello world" is 2 tokens; 4 for the message, 3 to prime the reply.
  assert.equal(await estimatePromptTokens(request('Hello world')), 9);
  assert.ok((await estimatePromptTokens(request('word '.repeat(1000)))) >= 1000);
});

test('special-token text is counted as text, not refused', async () => {
  assert.ok((await estimatePromptTokens(request('<|endoftext|> and <|im_start|>'))) > 7);
});

test('images, other parts, tools and schemas all count', async () => {
  const text = await estimatePromptTokens(request([{ type: 'text', text: 'What is this?' }]));
  const withImage = await estimatePromptTokens(request([{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }]));
  assert.equal(withImage - text, 765);
  const withTools = await estimatePromptTokens(request('hi', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }));
  assert.ok(withTools > (await estimatePromptTokens(request('hi'))));
});
