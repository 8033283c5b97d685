// Legacy completions over chat, for providers that do not serve /completions: the prompt becomes one
// user message, the chat answer comes back as `text_completion` objects. Pure: no I/O. Fields chat
// cannot honour (echo, logprobs, suffix, best_of > 1, several prompts, token ids) are refused, never faked.
import { invalidRequest } from '../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse } from '../openai/types.js';
import type { CompletionPrompt, CompletionRequest, CompletionResponse } from './completion-request.js';

function unsupported(param: string, detail: string): never {
  throw invalidRequest(`'${param}' ${detail} cannot be served by this model: it has no completions endpoint, and the proxy emulates completions over chat.`, 'unsupported_parameter', param);
}

/** Fields copied as they are onto the chat request. */
const SHARED = ['max_tokens', 'temperature', 'top_p', 'n', 'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'user', 'seed'] as const;

/** The text of a prompt for counting, whatever its form (token ids count as one token each). */
export function promptText(prompt: CompletionPrompt | null | undefined): string {
  if (prompt === undefined || prompt === null) return '';
  if (typeof prompt === 'string') return prompt;
  return (prompt as unknown[]).map((item) => (typeof item === 'string' ? item : Array.isArray(item) ? item.map(() => 'x').join(' ') : 'x')).join(typeof prompt[0] === 'number' ? ' ' : '\n');
}

/**
 * The chat request a completions request stands for. With `strict`, it will be sent (emulation):
 * what chat cannot do is refused with a 400. Without, it only feeds counts and limits (the native path).
 */
export function completionToChat(request: CompletionRequest, strict: boolean): ChatCompletionRequest {
  if (strict) {
    if (request.echo === true) unsupported('echo', 'true');
    if (request.logprobs !== undefined && request.logprobs !== null) unsupported('logprobs', 'set');
    if (typeof request.suffix === 'string' && request.suffix.length > 0) unsupported('suffix', 'set');
    if (typeof request.best_of === 'number' && request.best_of > 1) unsupported('best_of', 'above 1');
    const prompt = request.prompt;
    if (Array.isArray(prompt)) {
      if (prompt.length > 1) unsupported('prompt', 'as several prompts');
      if (typeof prompt[0] !== 'string') unsupported('prompt', 'as token ids');
    }
  }
  const chat: ChatCompletionRequest = { model: request.model, messages: [{ role: 'user', content: promptText(request.prompt) }] };
  for (const field of SHARED) {
    const value = request[field];
    if (value !== undefined && value !== null) (chat as Record<string, unknown>)[field] = value;
  }
  if (request.stream === true) {
    chat.stream = true;
    if (request.stream_options !== undefined && request.stream_options !== null) chat.stream_options = request.stream_options;
  }
  return chat;
}

export function completionId(chatId: string): string {
  return chatId.startsWith('cmpl-') ? chatId : `cmpl-${chatId.replace(/^chatcmpl-/, '')}`;
}

/** A chat.completion → a text_completion. */
export function toCompletion(chat: ChatCompletionResponse): CompletionResponse {
  return {
    id: completionId(chat.id),
    object: 'text_completion',
    created: chat.created,
    model: chat.model,
    choices: chat.choices.map((choice) => ({ text: choice.message.content ?? '', index: choice.index, logprobs: null, finish_reason: choice.finish_reason })),
    ...(chat.usage === undefined ? {} : { usage: { prompt_tokens: chat.usage.prompt_tokens, completion_tokens: chat.usage.completion_tokens, total_tokens: chat.usage.total_tokens } }),
    ...(chat.system_fingerprint === undefined ? {} : { system_fingerprint: chat.system_fingerprint }),
  };
}

/** A chat chunk → a text_completion chunk; undefined for chunks that carry nothing (the role chunk). */
export function toCompletionChunk(chunk: ChatCompletionChunk): CompletionResponse | undefined {
  const choices = chunk.choices
    .filter((choice) => (typeof choice.delta.content === 'string' && choice.delta.content.length > 0) || (choice.finish_reason !== null && choice.finish_reason !== undefined))
    .map((choice) => ({ text: choice.delta.content ?? '', index: choice.index, logprobs: null, finish_reason: choice.finish_reason ?? null }));
  const usage = chunk.usage;
  if (choices.length === 0 && (usage === undefined || usage === null)) return undefined;
  return {
    id: completionId(chunk.id),
    object: 'text_completion',
    created: chunk.created,
    model: chunk.model,
    choices,
    ...(usage === undefined || usage === null ? {} : { usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens } }),
  };
}
