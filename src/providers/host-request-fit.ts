// OpenAI's chat fields under the names a host honours, for the hosts that differ. DeepSeek and
// Ollama take the output limit only as `max_tokens` and silently ignore `max_completion_tokens`
// (the answer runs to the host's own cap), and take no `developer` role (DeepSeek answers 400
// "unknown variant `developer`"; Ollama's templates know only system): it goes as `system`, as
// OpenAI itself treats it for older models. Mistral refuses every field it does not know
// (422 "Extra inputs are not permitted"), so it gets those two too, `seed` as `random_seed`; `user`,
// which it has no field for, is dropped with a warning, as are OpenAI's service fields (`store`, …), and so is another host's reasoning
// (`reasoning_content`, `reasoning`) on assistant messages replayed from an earlier turn. Groq
// refuses `reasoning_content` there too (400 "property 'reasoning_content' is unsupported"): it is
// dropped with a warning; Groq's own `reasoning` stays. Both refuse OpenAI's token-level fields
// (`logprobs`, `top_logprobs`, `logit_bias`), and Mistral audio and web search: what the client
// would miss in the answer is a 400 naming the field before any call, the rest is dropped. Mistral
// gets legacy functions as tools (legacy-functions.ts). Both refuse the `extra_content` (Gemini's
// thought signature) that the proxy's Gemini answers put on tool calls, so a conversation that moves
// from Gemini to them loses it, silently: it means nothing to another model, as `thinking_blocks`
// (src/providers/openai-compatible.ts). xAI refuses `name` on any message but a user's: dropped with
// a warning. Pure; copies only what changes.
// @see https://github.com/ollama/ollama/issues/7125, https://github.com/earendil-works/pi/issues/8018 (ignored max_completion_tokens)
// @see https://github.com/earendil-works/pi/issues/1048 (DeepSeek and the developer role)
// @see https://github.com/Vali-98/ChatterUI/issues/143 (seed), https://github.com/editor-code-assistant/eca/issues/231 (max_completion_tokens)
// @see https://github.com/charmbracelet/crush/issues/1590 (assistant reasoning_content)
// @see https://github.com/tashfeenahmed/freellmapi/issues/1070, https://github.com/janhq/jan/issues/8136 (Groq and reasoning_content)
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';
import { refuseAudioOutput, unsupportedParameter, warnIgnored } from './chat-request-fields.js';
import type { ChatTarget } from './provider.js';
import { isRecord } from '../json/guards.js';
import { convertLegacyFunctionsToTools } from './legacy-functions.js';

const NO_FIELDS: readonly string[] = [];
/** Every field another host's reasoning comes in (Mistral refuses both). */
const REASONING_FIELDS: readonly string[] = ['reasoning_content', 'reasoning'];
/** Groq takes its own `reasoning` on assistant messages, and refuses DeepSeek's name for it. */
const GROQ_REFUSED_FIELDS: readonly string[] = ['reasoning_content'];

/** Whether `record` has any of `fields` (a loop: no closure per message on every request to the host). */
function hasAny(record: Record<string, unknown>, fields: readonly string[]): boolean {
  for (const field of fields) if (field in record) return true;
  return false;
}

/** Whether a tool call of the message carries `extra_content`. */
function hasCallExtras(message: Record<string, unknown>): boolean {
  const calls = message.tool_calls;
  if (!Array.isArray(calls)) return false;
  for (const call of calls) if (isRecord(call) && call.extra_content !== undefined) return true;
  return false;
}

function withoutCallExtras(calls: unknown[]): unknown[] {
  return calls.map((call) => {
    if (!isRecord(call) || call.extra_content === undefined) return call;
    const { extra_content: _extra, ...rest } = call;
    return rest;
  });
}

/**
 * A message as the host takes it, or undefined when it is fine as it is; `system`: a developer
 * message becomes a system one; `reasoning`: the fields to drop from an assistant's message;
 * `extras`: its tool calls' `extra_content` is dropped too.
 */
function fitMessage(message: ChatMessage, system: boolean, reasoning: readonly string[], extras: boolean): { message: ChatMessage; dropped: boolean } | undefined {
  if (!isRecord(message)) return undefined;
  if (system && message.role === 'developer') return { message: { ...message, role: 'system' }, dropped: false };
  if (message.role !== 'assistant') return undefined;
  const dropped = hasAny(message, reasoning);
  const callExtras = extras && hasCallExtras(message);
  if (!dropped && !callExtras) return undefined;
  const copy: Record<string, unknown> = { ...message };
  for (const field of reasoning) delete copy[field];
  if (callExtras) copy.tool_calls = withoutCallExtras(copy.tool_calls as unknown[]);
  return { message: copy as unknown as ChatMessage, dropped };
}

type MessageFit = (message: ChatMessage) => { message: ChatMessage; dropped: boolean } | undefined;

/**
 * The messages fitted (a copy), or undefined when none changed; `dropped` says whether reasoning was
 * taken out (tool calls' `extra_content` is taken out without a word).
 */
function fitMessages(request: ChatCompletionRequest, system: boolean, reasoning: readonly string[], extras = false): { messages: ChatMessage[]; dropped: boolean } | undefined {
  return fitEach(request, (message) => fitMessage(message, system, reasoning, extras));
}

/** Each message through `fit`: a copy of the list, or undefined when none changed; `dropped` when any fit says so. */
function fitEach(request: ChatCompletionRequest, fit: MessageFit): { messages: ChatMessage[]; dropped: boolean } | undefined {
  if (!Array.isArray(request.messages)) return undefined;
  let messages: ChatMessage[] | undefined;
  let dropped = false;
  // A loop, not forEach: every request to these hosts passes here, and most change nothing.
  const list = request.messages;
  for (let index = 0; index < list.length; index++) {
    const result = fit(list[index] as ChatMessage);
    if (result === undefined) continue;
    if (result.dropped) dropped = true;
    messages ??= [...list];
    messages[index] = result.message;
  }
  return messages === undefined ? undefined : { messages, dropped };
}

/** `max_completion_tokens` moved to `max_tokens` (the client's own `max_tokens` wins) in `copy`. */
function moveOutputLimit(copy: Record<string, unknown>): void {
  copy.max_tokens ??= copy.max_completion_tokens;
  delete copy.max_completion_tokens;
}

/** `request` with its output limit as `max_tokens` and `developer` messages as `system`, or undefined when it needs neither. */
export function fitMaxTokensAndRoles(request: ChatCompletionRequest): ChatCompletionRequest | undefined {
  const fitted = fitMessages(request, true, NO_FIELDS);
  if (request.max_completion_tokens === undefined && fitted === undefined) return undefined;
  const copy: Record<string, unknown> = { ...request };
  if (fitted !== undefined) copy.messages = fitted.messages;
  if (request.max_completion_tokens !== undefined) moveOutputLimit(copy);
  return copy as unknown as ChatCompletionRequest;
}

/**
 * The index of a last assistant message that is a prefill (text, no tool calls, not yet marked), or -1.
 * Mistral answers 400 "Expected last role User or Tool (or Assistant with prefix True) for serving but
 * got assistant" unless it says `prefix: true`, Mistral's own prefill (Claude continues such a turn too).
 * @see https://docs.mistral.ai/capabilities/completion/ (prefix)
 */
function prefillIndex(messages: readonly ChatMessage[]): number {
  const last = messages[messages.length - 1];
  if (!isRecord(last) || last.role !== 'assistant' || last.prefix === true) return -1;
  const calls = last.tool_calls;
  return Array.isArray(calls) && calls.length > 0 ? -1 : messages.length - 1;
}

/**
 * OpenAI's fields that Mistral's schema lacks (422 "Extra inputs are not permitted", even for null)
 * and that change only how OpenAI runs the call (storage, tier, abuse tracking, cache lifetime,
 * moderation) or the answer's length: dropped, with a warning when set. `store: false` is sent by
 * many OpenAI-SDK agents. Mistral takes `metadata`, `prompt_cache_key` and `prediction` itself.
 * @see https://github.com/Gitlawb/openclaude/issues/739 (422 on `store`)
 */
const MISTRAL_DROPPED_FIELDS: readonly string[] = ['store', 'service_tier', 'safety_identifier', 'prompt_cache_retention', 'prompt_cache_options', 'moderation', 'verbosity'];

/** OpenAI's token-level fields, which Mistral and Groq refuse (422, 400) whatever their value. */
const TOKEN_FIELDS: readonly string[] = ['logprobs', 'top_logprobs', 'logit_bias'];

/**
 * The token-level fields, for a host that has none of them: log probabilities asked for are a 400
 * naming the field, before any call (an answer without them is not the one asked for); `logprobs:
 * false` and null are OpenAI's default, taken out without a word; a `logit_bias` is taken out with
 * a warning when it biases any token, as the translated providers do.
 * @see https://console.groq.com/docs/openai (fields that "will result in a 400 error if they are supplied")
 */
function dropTokenFields(request: ChatCompletionRequest, copy: Record<string, unknown>, target: ChatTarget): void {
  if (request.logprobs === true) throw unsupportedParameter('logprobs', target.provider, 'it does not return log probabilities');
  if (request.top_logprobs !== undefined && request.top_logprobs !== null) throw unsupportedParameter('top_logprobs', target.provider, 'it does not return log probabilities');
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) warnIgnored(target, target.provider, 'logit_bias');
  for (const field of TOKEN_FIELDS) delete copy[field];
}

/** OpenAI's fields Mistral's chat has none of, beyond MISTRAL_DROPPED_FIELDS: refused when set to mean anything (mistralLacks). */
const MISTRAL_LACKED_FIELDS: readonly string[] = [...TOKEN_FIELDS, 'modalities', 'audio', 'web_search_options'];

/**
 * Takes MISTRAL_LACKED_FIELDS out of `copy`. Audio output and a web search (Mistral's is in its Agents
 * API, not chat) are a 400 naming the field, before any call; `modalities: ["text"]` is the default
 * and goes without a word, and so does `audio` (the voice, which means nothing without audio output).
 */
function mistralLacks(request: ChatCompletionRequest, copy: Record<string, unknown>, target: ChatTarget): void {
  dropTokenFields(request, copy, target);
  refuseAudioOutput(request, target.provider);
  if (request.web_search_options !== undefined && request.web_search_options !== null) {
    throw unsupportedParameter('web_search_options', target.provider, "its chat API does not search the web; choose a model that does, or search with Mistral's Agents API");
  }
  for (const field of MISTRAL_LACKED_FIELDS) delete copy[field];
}

/**
 * A legacy call's id as Mistral takes it (400 "Tool call id was … but must be a-z, A-Z, 0-9, with a
 * length of 9"): `fc` and the assistant message's index, so the same conversation gets the same ids.
 * @see https://github.com/anomalyco/opencode/issues/1680
 */
const mistralCallId = (index: number): string => `fc${String(index).padStart(7, '0')}`;

/**
 * `request` as Mistral takes it, or undefined when it needs no change. Legacy `functions`,
 * `function_call` and `function` turns go as tools (Mistral has none of them: 422), their calls
 * with ids Mistral takes; the answer goes back in the legacy style (openai-compatible.ts).
 * @see https://github.com/mistralai/client-ts (ChatCompletionRequest: messages of role system, user, assistant, tool; ToolChoiceEnum auto, none, any, required, or ToolChoice naming a function)
 */
export function fitMistralRequest(asked: ChatCompletionRequest, target: ChatTarget): ChatCompletionRequest | undefined {
  const tooled = convertLegacyFunctionsToTools(asked, mistralCallId);
  const request = tooled ?? asked;
  return fitMistralFields(request, target) ?? tooled;
}

function fitMistralFields(request: ChatCompletionRequest, target: ChatTarget): ChatCompletionRequest | undefined {
  const fitted = fitMessages(request, true, REASONING_FIELDS, true);
  const renames = request.max_completion_tokens !== undefined || request.seed !== undefined;
  const prefill = Array.isArray(request.messages) ? prefillIndex(request.messages) : -1;
  const dropped = hasAny(request as unknown as Record<string, unknown>, MISTRAL_DROPPED_FIELDS);
  const lacked = hasAny(request as unknown as Record<string, unknown>, MISTRAL_LACKED_FIELDS);
  if (fitted === undefined && !renames && request.user === undefined && prefill < 0 && !dropped && !lacked) return undefined;
  const copy: Record<string, unknown> = { ...request };
  if (lacked) mistralLacks(request, copy, target);
  if (dropped) {
    for (const field of MISTRAL_DROPPED_FIELDS) {
      if (!(field in copy)) continue;
      if (copy[field] !== undefined && copy[field] !== null) warnIgnored(target, target.provider, field);
      delete copy[field];
    }
  }
  if (fitted !== undefined) copy.messages = fitted.messages;
  if (prefill >= 0) {
    const messages = [...(copy.messages as ChatMessage[])];
    // Mistral's own field: no other host's message has it.
    messages[prefill] = { ...(messages[prefill] as ChatMessage), prefix: true } as ChatMessage;
    copy.messages = messages;
  }
  if (fitted?.dropped === true) warnIgnored(target, target.provider, 'reasoning_content on assistant messages');
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

/**
 * OpenAI's reasoning models (o-series, GPT-5 and later) answer 400 "Unsupported parameter: 'max_tokens'
 * … Use 'max_completion_tokens' instead", which means the same limit (reasoning included) to them:
 * a client written for older models, or a group whose fallback is a reasoning model, keeps working.
 * The client's own `max_completion_tokens` wins. Undefined when there is nothing to move.
 */
export function fitReasoningOutputLimit(request: ChatCompletionRequest): ChatCompletionRequest | undefined {
  if (request.max_tokens === undefined || request.max_tokens === null) return undefined;
  const copy: Record<string, unknown> = { ...request };
  copy.max_completion_tokens ??= request.max_tokens;
  delete copy.max_tokens;
  return copy as unknown as ChatCompletionRequest;
}

/**
 * `request` without `reasoning_content` on assistant messages (with a warning) and without the
 * token-level fields Groq refuses (dropTokenFields), or undefined when it needs no change. More than
 * one choice is a 400 naming `n`, before any call: Groq answers 400 to any `n` but 1.
 * @see https://console.groq.com/docs/openai
 */
export function fitGroqRequest(request: ChatCompletionRequest, target: ChatTarget): ChatCompletionRequest | undefined {
  if (typeof request.n === 'number' && request.n !== 1) throw unsupportedParameter('n', target.provider, 'it returns one choice per request, so n must be 1');
  const fitted = fitMessages(request, false, GROQ_REFUSED_FIELDS, true);
  const lacked = hasAny(request as unknown as Record<string, unknown>, TOKEN_FIELDS);
  if (fitted === undefined && !lacked) return undefined;
  const copy: Record<string, unknown> = { ...request };
  if (lacked) dropTokenFields(request, copy, target);
  if (fitted !== undefined) {
    if (fitted.dropped) warnIgnored(target, target.provider, 'reasoning_content on assistant messages');
    copy.messages = fitted.messages;
  }
  return copy as unknown as ChatCompletionRequest;
}

/** The roles whose `name` xAI refuses; `function` messages are left alone (their name is the function's). */
const XAI_UNNAMED_ROLES: ReadonlySet<unknown> = new Set(['system', 'developer', 'assistant', 'tool']);

/** The message without its `name` when xAI refuses it there; `dropped` when it said something (not null). */
function withoutXaiName(message: ChatMessage): { message: ChatMessage; dropped: boolean } | undefined {
  if (!isRecord(message) || !('name' in message) || !XAI_UNNAMED_ROLES.has(message.role)) return undefined;
  const { name, ...rest } = message;
  return { message: rest as unknown as ChatMessage, dropped: name !== undefined && name !== null };
}

/**
 * `request` without `name` on messages whose role is not user, or undefined when none has one: xAI
 * answers 400 "Only messages of role 'user' can have a name." (OpenAI takes it on every role, and
 * agents name their system and assistant turns). Dropped with a warning: the model no longer tells
 * those participants apart by name.
 * @see https://github.com/BerriAI/litellm/issues/9720, https://github.com/microsoft/autogen/issues/4715
 */
export function fitXaiRequest(request: ChatCompletionRequest, target: ChatTarget): ChatCompletionRequest | undefined {
  const fitted = fitEach(request, withoutXaiName);
  if (fitted === undefined) return undefined;
  if (fitted.dropped) warnIgnored(target, target.provider, 'name on messages whose role is not user');
  return { ...request, messages: fitted.messages };
}
