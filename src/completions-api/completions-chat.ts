// Legacy completions over chat, for providers that do not serve /completions: the prompt becomes one
// user message, the chat answer comes back as `text_completion` objects. Pure: no I/O. Fields chat
// cannot honour (echo, logprobs, suffix, best_of > 1, several prompts, token ids) are refused, never faked.
import { invalidRequest } from '../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse } from '../openai/types.js';
import { isRecord } from '../json/guards.js';
import { upstreamTokenCount as count } from '../providers/token-count.js';
import type { CompletionChoice, CompletionPrompt, CompletionRequest, CompletionResponse } from './completion-request.js';

function unsupported(param: string, detail: string): never {
  throw invalidRequest(`'${param}' ${detail} cannot be served by this model: it has no completions endpoint, and the proxy emulates completions over chat.`, 'unsupported_parameter', param);
}

/** `max_tokens` when a completions request leaves it out, as OpenAI's API reference gives it. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/** Fields copied as they are onto the chat request. */
const SHARED = ['max_tokens', 'temperature', 'top_p', 'n', 'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'user', 'seed'] as const;

/** The text of a prompt for counting, whatever its form (token ids count as one token each). */
export function promptText(prompt: CompletionPrompt | null | undefined): string {
  if (prompt === undefined || prompt === null) return '';
  if (typeof prompt === 'string') return prompt;
  return (prompt as unknown[]).map((item) => (typeof item === 'string' ? item : Array.isArray(item) ? item.map(() => 'x').join(' ') : 'x')).join(typeof prompt[0] === 'number' ? ' ' : '\n');
}

/** How many prompts a request holds: a list of texts or of token-id lists is several, anything else one. */
function promptCount(prompt: CompletionPrompt | null | undefined): number {
  return Array.isArray(prompt) && prompt.length > 1 && typeof prompt[0] !== 'number' ? prompt.length : 1;
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
    // Completions take 0 (with echo, the prompt alone); chat takes at least 1, and echo is refused above.
    if (request.max_tokens === 0) unsupported('max_tokens', '0');
    const prompt = request.prompt;
    // A flat list of numbers is one prompt in token ids, however long: refused as such, not as several prompts.
    if (Array.isArray(prompt)) {
      if (promptCount(prompt) > 1) unsupported('prompt', 'as several prompts');
      if (typeof prompt[0] !== 'string') unsupported('prompt', 'as token ids');
    }
  }
  const chat: ChatCompletionRequest = { model: request.model, messages: [{ role: 'user', content: promptText(request.prompt) }] };
  for (const field of SHARED) {
    const value = request[field];
    if (value !== undefined && value !== null) (chat as Record<string, unknown>)[field] = value;
  }
  // OpenAI's completions default: 16 tokens. A chat model has none, so the emulation sets it; a host
  // the request is passed through to applies its own.
  if (strict && chat.max_tokens === undefined) chat.max_tokens = COMPLETIONS_DEFAULT_MAX_TOKENS;
  if (!strict) {
    // Passed through, the host makes n completions of each prompt of a list, generating (and billing)
    // best_of of them when that is more: the chat request stands for them all in the token and
    // budget holds and in the usage check, or a list of prompts or a best_of spent past both.
    const completions = promptCount(request.prompt) * Math.max(request.n ?? 1, request.best_of ?? 1);
    if (completions > 1) chat.n = completions;
    // The host gets the body as sent: OpenRouter's model fallbacks and preset (a generic host may be
    // OpenRouter) go on the chat request too, so a key's allowlist is checked against them
    // (src/keys/openrouter-models.ts) and the hold covers them.
    if (request.models !== undefined) chat.models = request.models;
    if (request.preset !== undefined) chat.preset = request.preset;
  }
  if (request.stream === true) {
    chat.stream = true;
    if (request.stream_options !== undefined && request.stream_options !== null) chat.stream_options = request.stream_options;
  }
  return chat;
}

/**
 * A chat answer's usage in completions' form. A pass-through host's answer is unchecked: a count that
 * is missing or no count is 0 (it left `prompt_tokens` out, or `total_tokens` null), and the total
 * is the sum, as OpenAI defines it. A missing `model` or `created` likewise becomes '' or 0 below.
 */
function usageOf(usage: unknown): NonNullable<CompletionResponse['usage']> {
  const record = isRecord(usage) ? usage : {};
  const prompt = count(record.prompt_tokens);
  const completion = count(record.completion_tokens);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** One choice; what is not a string or an index (a pass-through host's) is '', the position or null. */
function completionChoice(text: unknown, index: unknown, position: number, finish: unknown): CompletionChoice {
  return {
    text: typeof text === 'string' ? text : '',
    index: Number.isSafeInteger(index) && (index as number) >= 0 ? (index as number) : position,
    logprobs: null,
    finish_reason: typeof finish === 'string' ? finish : null,
  };
}

export function completionId(chatId: string): string {
  return chatId.startsWith('cmpl-') ? chatId : `cmpl-${chatId.replace(/^chatcmpl-/, '')}`;
}

/** A chat.completion → a text_completion. */
export function toCompletion(chat: ChatCompletionResponse): CompletionResponse {
  return {
    id: completionId(chat.id),
    object: 'text_completion',
    created: typeof chat.created === 'number' ? chat.created : 0,
    model: typeof chat.model === 'string' ? chat.model : '',
    choices: chat.choices.map((choice, position) => completionChoice(choice.message.content, choice.index, position, choice.finish_reason)),
    ...(chat.usage === undefined ? {} : { usage: usageOf(chat.usage) }),
    ...(chat.system_fingerprint === undefined ? {} : { system_fingerprint: chat.system_fingerprint }),
  };
}

/** A chat chunk → a text_completion chunk; undefined for chunks that carry nothing (the role chunk). */
export function toCompletionChunk(chunk: ChatCompletionChunk): CompletionResponse | undefined {
  const choices = chunk.choices
    .filter((choice) => (typeof choice.delta.content === 'string' && choice.delta.content.length > 0) || (choice.finish_reason !== null && choice.finish_reason !== undefined))
    .map((choice, position) => completionChoice(choice.delta.content, choice.index, position, choice.finish_reason));
  const usage = chunk.usage;
  if (choices.length === 0 && (usage === undefined || usage === null)) return undefined;
  return {
    id: completionId(chunk.id),
    object: 'text_completion',
    created: typeof chunk.created === 'number' ? chunk.created : 0,
    model: typeof chunk.model === 'string' ? chunk.model : '',
    choices,
    ...(usage === undefined || usage === null ? {} : { usage: usageOf(usage) }),
  };
}
