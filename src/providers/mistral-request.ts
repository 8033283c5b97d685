// Mistral's chat API refuses every field it does not know (422 "Extra inputs are not permitted"),
// so OpenAI's names for what it does take are sent under Mistral's: `max_completion_tokens` as
// `max_tokens`, `seed` as `random_seed`, a `developer` message as `system`. `user`, which it has no
// field for, is dropped with a warning, and so is another host's reasoning (`reasoning_content`,
// `reasoning`) on assistant messages replayed from an earlier turn. Pure; copies only what changes.
// @see https://github.com/Vali-98/ChatterUI/issues/143 (seed), https://github.com/editor-code-assistant/eca/issues/231 (max_completion_tokens)
// @see https://github.com/charmbracelet/crush/issues/1590 (assistant reasoning_content)
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';
import { warnIgnored } from './chat-request-fields.js';
import type { ChatTarget } from './provider.js';
import { isRecord } from '../json/guards.js';

const REASONING_FIELDS = ['reasoning_content', 'reasoning'] as const;

function fitMessage(message: ChatMessage): ChatMessage | undefined {
  if (!isRecord(message)) return undefined;
  if (message.role === 'developer') return { ...message, role: 'system' };
  if (message.role !== 'assistant' || !REASONING_FIELDS.some((field) => field in message)) return undefined;
  const copy: Record<string, unknown> = { ...message };
  for (const field of REASONING_FIELDS) delete copy[field];
  return copy as unknown as ChatMessage;
}

/** `request` as Mistral takes it, or undefined when it needs no change. */
export function fitMistralRequest(request: ChatCompletionRequest, target: ChatTarget): ChatCompletionRequest | undefined {
  let messages: ChatMessage[] | undefined;
  let reasoning = false;
  if (Array.isArray(request.messages)) {
    request.messages.forEach((message, index) => {
      const fitted = fitMessage(message);
      if (fitted === undefined) return;
      if (fitted.role === 'assistant') reasoning = true;
      messages ??= [...request.messages];
      messages[index] = fitted;
    });
  }
  const renames = request.max_completion_tokens !== undefined || request.seed !== undefined;
  if (messages === undefined && !renames && request.user === undefined) return undefined;
  const copy: Record<string, unknown> = { ...request };
  if (messages !== undefined) copy.messages = messages;
  if (reasoning) warnIgnored(target, target.provider, 'reasoning_content on assistant messages');
  if (request.max_completion_tokens !== undefined) {
    copy.max_tokens ??= request.max_completion_tokens;
    delete copy.max_completion_tokens;
  }
  if (request.seed !== undefined) {
    copy.random_seed ??= request.seed;
    delete copy.seed;
  }
  if (request.user !== undefined) {
    delete copy.user;
    warnIgnored(target, target.provider, 'user');
  }
  return copy as unknown as ChatCompletionRequest;
}
