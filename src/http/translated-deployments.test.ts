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

  it('a model the catalog does not mark as reasoning gets no reasoning_effort', () => {
    const plain = chatFormFor(chat, route('groq', []));
    assert.equal('reasoning_effort' in plain, false);
    assert.equal(plain.max_tokens, 100);
    assert.equal(chat.reasoning_effort, 'low');
  });
});
