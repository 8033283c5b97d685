import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import { chatFormFor } from './translated-deployments.js';

function route(kind: string, capabilities: string[]): Route {
  return { provider: { kind }, entry: { capabilities } } as unknown as Route;
}

const chat: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100, reasoning_effort: 'low' };

describe('chatFormFor', () => {
  it('leaves the request as it is when the deployment takes it (the same object: no copy)', () => {
    assert.equal(chatFormFor(chat, route('groq', ['reasoning'])), chat);
    assert.equal(chatFormFor({ ...chat, max_tokens: undefined, max_completion_tokens: 100 }, route('openai', ['reasoning'])).max_completion_tokens, 100);
  });

  it('OpenAI and Azure get max_completion_tokens, other hosts max_tokens', () => {
    const openai = chatFormFor(chat, route('openai', ['reasoning']));
    assert.deepEqual([openai.max_completion_tokens, openai.max_tokens, openai.reasoning_effort], [100, undefined, 'low']);
    const groq = chatFormFor({ ...chat, max_tokens: undefined, max_completion_tokens: 100 }, route('groq', ['reasoning']));
    assert.deepEqual([groq.max_tokens, groq.max_completion_tokens], [100, undefined]);
    assert.equal(chat.max_tokens, 100, 'the shared request is not changed');
  });

  it("Claude gets the client's thinking and no reasoning_effort; every other model the reverse", () => {
    const both: ChatCompletionRequest = { ...chat, thinking: { type: 'enabled', budget_tokens: 1024 } };
    const claude = chatFormFor(both, route('anthropic', ['reasoning']));
    assert.deepEqual([claude.thinking, 'reasoning_effort' in claude], [{ type: 'enabled', budget_tokens: 1024 }, false]);
    const gemini = chatFormFor(both, route('gemini', ['reasoning']));
    assert.deepEqual(['thinking' in gemini, gemini.reasoning_effort], [false, 'low']);
  });

  it("Claude gets the client's output_config (its effort level); no other model does", () => {
    const leveled: ChatCompletionRequest = { ...chat, thinking: { type: 'adaptive' }, output_config: { effort: 'low' } };
    assert.deepEqual(chatFormFor(leveled, route('anthropic', ['reasoning'])).output_config, { effort: 'low' });
    assert.equal('output_config' in chatFormFor(leveled, route('openai', ['reasoning'])), false);
    assert.equal('output_config' in chatFormFor({ ...chat, output_config: { effort: 'low' } }, route('groq', ['reasoning'])), false);
  });

  it('a model the catalog does not mark as reasoning gets no reasoning_effort', () => {
    const plain = chatFormFor(chat, route('groq', []));
    assert.equal('reasoning_effort' in plain, false);
    assert.equal(plain.max_tokens, 100);
    assert.equal(chat.reasoning_effort, 'low');
  });

  it("a replayed turn's reasoning_content goes to DeepSeek (which requires it back with tool calls) and OpenAI-compatible servers only", () => {
    const replayed: ChatCompletionRequest = {
      model: 'm',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }], reasoning_content: 'think' },
        { role: 'tool', tool_call_id: 'c', content: 'ok' },
      ],
      max_tokens: 100,
    };
    assert.equal(chatFormFor(replayed, route('deepseek', ['reasoning'])), replayed);
    assert.equal(chatFormFor(replayed, route('openai-compatible', [])), replayed);
    for (const kind of ['openai', 'groq', 'mistral']) {
      const sent = chatFormFor(replayed, route(kind, ['reasoning']));
      assert.equal(sent.messages.some((message) => 'reasoning_content' in message), false, kind);
      assert.deepEqual(sent.messages[2], replayed.messages[2]);
    }
    assert.equal(replayed.messages[1]?.reasoning_content, 'think', 'the shared request is not changed');
  });
});
