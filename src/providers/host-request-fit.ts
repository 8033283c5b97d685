// OpenAI's chat fields under the names a host honours, for the hosts that differ. DeepSeek and
// Ollama take the output limit only as `max_tokens` and silently ignore `max_completion_tokens`
// (the answer runs to the host's own cap). Mistral refuses every field it does not know
// (422 "Extra inputs are not permitted"), so it gets `max_tokens` too, `seed` as `random_seed`, a
// `developer` message as `system`; `user`, which it has no field for, is dropped with a warning, and
// so is another host's reasoning (`reasoning_content`, `reasoning`) on assistant messages replayed
// from an earlier turn. Pure; copies only what changes.
// @see https://github.com/ollama/ollama/issues/7125, https://github.com/earendil-works/pi/issues/8018 (ignored max_completion_tokens)
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

/** `max_completion_tokens` moved to `max_tokens` (the client's own `max_tokens` wins) in `copy`. */
function moveOutputLimit(copy: Record<string, unknown>): void {
  copy.max_tokens ??= copy.max_completion_tokens;
  delete copy.max_completion_tokens;
}

/** `request` with its output limit as `max_tokens`, or undefined when it has no `max_completion_tokens`. */
export function fitMaxTokens(request: ChatCompletionRequest): ChatCompletionRequest | undefined {
  if (request.max_completion_tokens === undefined) return undefined;
  const copy: Record<string, unknown> = { ...request };
  moveOutputLimit(copy);
  return copy as unknown as ChatCompletionRequest;
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
  if (request.max_completion_tokens !== undefined) moveOutputLimit(copy);
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
