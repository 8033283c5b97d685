// Property tests of completions over chat: any request the completions schema accepts becomes a chat
// request the chat schema accepts (what every chat codec expects), or a 400 naming the param; and
// any chat answer, whole or in chunks, becomes text_completion objects with sound fields or a throw
// (which the pipeline answers with a 502).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertJsonClean, assertUsage } from '../../test/providers/openai-shape.js';
import { acceptedBy, checkUnlessThrows, openAiChunk, openAiCompletion } from '../../test/providers/wire-arbitraries.js';
import { GatewayError } from '../errors/gateway-error.js';
import { isRecord } from '../json/guards.js';
import { validateChatRequest } from '../openai/chat-request-schema.js';
import type { ChatCompletionChunk, ChatCompletionResponse } from '../openai/types.js';
import { validateCompletionRequest, type CompletionRequest } from './completion-request.js';
import { completionToChat, toCompletion, toCompletionChunk } from './completions-chat.js';

const RUNS = { numRuns: 400, seed: 20261128 };

const completionRequest = fc
  .record(
    {
      model: fc.constant('gpt-3.5-turbo-instruct'),
      prompt: fc.oneof(fc.string({ maxLength: 6 }), fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 2 }), fc.array(fc.nat(50), { minLength: 1, maxLength: 3 }), fc.array(fc.array(fc.nat(50), { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }), fc.constant(null)),
      suffix: fc.constantFrom(null, '', 'end'),
      max_tokens: fc.constantFrom(null, 0, 1, 16),
      temperature: fc.constantFrom(null, 0, 1.5),
      top_p: fc.constantFrom(null, 1),
      n: fc.constantFrom(null, 1, 3),
      stream: fc.constantFrom(null, true, false),
      stream_options: fc.constantFrom(null, { include_usage: true }),
      logprobs: fc.constantFrom(null, 0, 5),
      echo: fc.constantFrom(null, true, false),
      stop: fc.constantFrom<unknown>(null, 'x', ['a', 'b']),
      best_of: fc.constantFrom(null, 0, 1, 2),
      logit_bias: fc.constantFrom<unknown>(null, { '1': 5 }),
      user: fc.constantFrom('u'),
      seed: fc.constantFrom(null, 7),
    },
    { requiredKeys: ['model'] },
  )
  .filter(acceptedBy(validateCompletionRequest)) as unknown as fc.Arbitrary<CompletionRequest>;

describe('completions over chat, property-based', () => {
  it('any request the completions schema accepts → a chat request the chat schema accepts, or a 400 naming the param', () => {
    fc.assert(
      fc.property(completionRequest, fc.boolean(), (request, strict) => {
        let chat: unknown;
        try {
          chat = completionToChat(structuredClone(request), strict);
        } catch (error) {
          assert.ok(strict, 'the native path never refuses');
          assert.ok(error instanceof GatewayError && error.status === 400 && typeof error.param === 'string', String(error));
          return;
        }
        // Only the strict (emulation) form is sent; the native path's chat form only feeds counts and limits.
        if (strict) validateChatRequest(JSON.parse(JSON.stringify(chat)));
      }),
      RUNS,
    );
  });

  it('any chat answer → a text_completion with one choice per chat choice and sound usage, or a throw', () => {
    fc.assert(
      fc.property(openAiCompletion, (body) => checkUnlessThrows(() => toCompletion(body as unknown as ChatCompletionResponse), assertCompletion)),
      RUNS,
    );
  });

  it('any chat chunk → a text_completion chunk, nothing, or a throw', () => {
    fc.assert(
      fc.property(openAiChunk, (chunk) =>
        checkUnlessThrows(
          () => toCompletionChunk(chunk as unknown as ChatCompletionChunk),
          (completion) => {
            if (completion !== undefined) assertCompletion(completion);
          },
        ),
      ),
      RUNS,
    );
  });
});

function assertCompletion(completion: unknown): void {
  assertJsonClean(completion);
  assert.ok(isRecord(completion));
  assert.ok(typeof completion.id === 'string' && completion.id.startsWith('cmpl-'), 'id');
  assert.equal(completion.object, 'text_completion');
  assert.equal(typeof completion.model, 'string', 'model');
  assert.equal(typeof completion.created, 'number', 'created');
  assert.ok(Array.isArray(completion.choices));
  for (const choice of completion.choices as unknown[]) {
    assert.ok(isRecord(choice));
    assert.equal(typeof choice.text, 'string', 'text');
    assert.ok(Number.isSafeInteger(choice.index) && (choice.index as number) >= 0, 'index');
  }
  if (completion.usage !== undefined && completion.usage !== null) assertUsage(completion.usage, 'usage');
}
