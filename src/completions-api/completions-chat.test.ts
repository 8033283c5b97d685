// Legacy completions over chat: the request mapping, the refusals, and chat answers back as text_completion.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { validateCompletionRequest } from './completion-request.js';
import { completionToChat, promptText, toCompletion, toCompletionChunk } from './completions-chat.js';

describe('completions over chat', () => {
  it('the prompt becomes one user message; shared fields are copied', () => {
    const request = validateCompletionRequest({ model: 'm', prompt: 'Once', max_tokens: 5, temperature: 0.3, stop: ['\n'], n: 2, user: 'u', seed: 4, stream: true, stream_options: { include_usage: true } });
    assert.deepEqual(completionToChat(request, true), {
      model: 'm',
      messages: [{ role: 'user', content: 'Once' }],
      max_tokens: 5,
      temperature: 0.3,
      n: 2,
      stop: ['\n'],
      user: 'u',
      seed: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(completionToChat(validateCompletionRequest({ model: 'm', prompt: ['Only one'] }), true).messages[0]?.content, 'Only one');
  });

  // OpenAI's completions API writes 16 tokens when max_tokens is left out; a chat model has no such
  // default and wrote a whole answer (and billed it) for the request a native host answers in 16.
  it('emulation keeps the completions default of 16 tokens when max_tokens is absent or null', () => {
    assert.equal(completionToChat(validateCompletionRequest({ model: 'm', prompt: 'Once' }), true).max_tokens, 16);
    assert.equal(completionToChat(validateCompletionRequest({ model: 'm', prompt: 'Once', max_tokens: null }), true).max_tokens, 16);
    assert.equal(completionToChat(validateCompletionRequest({ model: 'm', prompt: 'Once', max_tokens: 200 }), true).max_tokens, 200);
    // Passed through, the host applies its own default: the chat form for counting sets none.
    assert.equal(completionToChat(validateCompletionRequest({ model: 'm', prompt: 'Once' }), false).max_tokens, undefined);
  });

  it('refuses what chat cannot honour when emulating, accepts it for counting only', () => {
    for (const [fields, param] of [
      [{ echo: true }, 'echo'],
      [{ logprobs: 0 }, 'logprobs'],
      [{ suffix: 'x' }, 'suffix'],
      [{ best_of: 3 }, 'best_of'],
      [{ prompt: ['a', 'b'] }, 'prompt'],
      [{ prompt: [[1, 2]] }, 'prompt'],
    ] as const) {
      const request = validateCompletionRequest({ model: 'm', prompt: 'p', ...fields });
      assert.throws(() => completionToChat(request, true), (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === param);
      assert.doesNotThrow(() => completionToChat(request, false));
    }
    assert.equal(promptText([1, 2, 3]), 'x x x');
    assert.equal(promptText([[1, 2], [3]]), 'x x\nx');
  });

  it('the refusal says which: one prompt in token ids is token ids, not several prompts', () => {
    const reason = (prompt: unknown) => {
      try {
        completionToChat(validateCompletionRequest({ model: 'm', prompt }), true);
      } catch (error) {
        if (error instanceof GatewayError) return error.message.split(' cannot')[0];
      }
      return undefined;
    };
    assert.equal(reason([1, 2, 3]), "'prompt' as token ids");
    assert.equal(reason([[1, 2]]), "'prompt' as token ids");
    assert.equal(reason([[1, 2], [3]]), "'prompt' as several prompts");
    assert.equal(reason(['a', 'b']), "'prompt' as several prompts");
    assert.equal(reason(['a']), undefined);
  });

  it('validation names the field', () => {
    assert.throws(() => validateCompletionRequest({ model: 'm', prompt: 3 }), (error: unknown) => error instanceof GatewayError && error.param === 'prompt');
    assert.throws(() => validateCompletionRequest({ model: 'm', logprobs: 9 }), (error: unknown) => error instanceof GatewayError && error.param === 'logprobs');
  });

  it('chat answers come back as text_completion objects', () => {
    const completion = toCompletion({
      id: 'chatcmpl-9',
      object: 'chat.completion',
      created: 7,
      model: 'claude',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, prompt_tokens_details: { cached_tokens: 0 } },
    });
    assert.deepEqual(completion, {
      id: 'cmpl-9',
      object: 'text_completion',
      created: 7,
      model: 'claude',
      choices: [{ text: 'Hi.', index: 0, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
    const base = { id: 'chatcmpl-9', object: 'chat.completion.chunk' as const, created: 7, model: 'claude' };
    assert.equal(toCompletionChunk({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }), undefined, 'the role chunk carries nothing');
    assert.deepEqual(toCompletionChunk({ ...base, choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] })?.choices, [{ text: 'Hi', index: 0, logprobs: null, finish_reason: null }]);
    assert.deepEqual(toCompletionChunk({ ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })?.usage, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
  });

  // Found by completions-chat.property.test.ts.
  it('max_tokens 0 (valid for completions, not for chat) is refused when emulating', () => {
    const request = validateCompletionRequest({ model: 'm', prompt: 'p', max_tokens: 0 });
    assert.throws(() => completionToChat(request, true), (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === 'max_tokens');
    assert.doesNotThrow(() => completionToChat(request, false));
  });

  it("a pass-through host's odd answer gives sound fields: counts 0 and summed, index by position, model and created filled in", () => {
    const odd = { id: 'chatcmpl-9', object: 'chat.completion', choices: [{ index: null, message: { role: 'assistant', content: 5 }, finish_reason: {} }], usage: { completion_tokens: 2, total_tokens: null } } as never;
    assert.deepEqual(toCompletion(odd), {
      id: 'cmpl-9',
      object: 'text_completion',
      created: 0,
      model: '',
      choices: [{ text: '', index: 0, logprobs: null, finish_reason: null }],
      usage: { prompt_tokens: 0, completion_tokens: 2, total_tokens: 2 },
    });
  });
});
