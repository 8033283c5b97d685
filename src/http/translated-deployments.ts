// The chat-form side of a call that fails over between two kinds of deployment (a Claude group's
// GPT fallback under /v1/messages): a deployment the endpoint's native protocol does not reach is
// called through the chat executor, and its answer or stream is turned into the endpoint's own,
// so the native call's failover loop can use it like any other attempt (src/http/native-call.ts).
import { isGatewayError, upstreamBadResponse } from '../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { ProviderInstance } from '../providers/provider.js';
import type { ChatExecutor } from '../routing/chat-executor.js';
import type { Route } from '../routing/model-router.js';
import type { AnswerFormat } from './chat-pipeline.js';
import type { ForeignDeployments } from './native-call.js';

/**
 * Hosts that take an assistant turn's `reasoning_content` back: DeepSeek requires it on a turn with
 * tool calls (400 "The reasoning_content in the thinking mode must be passed back"), and
 * OpenAI-compatible servers (vLLM, llama.cpp, Kimi) read it; others refuse an unknown message field
 * (OpenAI, Groq) or have no use for it.
 */
function takesReasoning(kind: string): boolean {
  return kind === 'deepseek' || kind === 'openai-compatible';
}

/** `messages` without their `reasoning_content`, or undefined when none has one. */
function withoutReasoning(messages: ChatCompletionRequest['messages']): ChatCompletionRequest['messages'] | undefined {
  if (!messages.some((message) => message.reasoning_content !== undefined)) return undefined;
  return messages.map((message) => {
    if (message.reasoning_content === undefined) return message;
    const { reasoning_content: _reasoning, ...rest } = message;
    return rest;
  });
}

/**
 * The chat form as this deployment takes it: the translation was made for the group's first
 * deployment, so `reasoning_effort` goes to a model the catalog does not mark as reasoning (OpenAI
 * refuses it there), and OpenAI and Azure get the output limit as `max_completion_tokens`, other
 * hosts as `max_tokens`. A replayed reasoning model's thinking (`reasoning_content`) goes only to
 * hosts that take it. The shared request is copied only when something differs.
 */
export function chatFormFor(chat: ChatCompletionRequest, route: Route): ChatCompletionRequest {
  const kind = route.provider.kind;
  const claude = kind === 'anthropic';
  const reasons = route.entry?.capabilities.includes('reasoning') === true;
  const completionTokens = kind === 'openai' || kind === 'azure';
  // Claude takes the client's own `thinking`; every other model its `reasoning_effort` form.
  const dropEffort = chat.reasoning_effort !== undefined && (claude || !reasons);
  // `output_config` (its effort level) is Claude's too.
  const dropThinking = (chat.thinking !== undefined || chat.output_config !== undefined) && !claude;
  const limit = chat.max_completion_tokens ?? chat.max_tokens ?? undefined;
  const renameLimit = limit !== undefined && (completionTokens ? chat.max_tokens !== undefined : chat.max_completion_tokens !== undefined);
  const messages = takesReasoning(kind) ? undefined : withoutReasoning(chat.messages);
  if (!dropEffort && !dropThinking && !renameLimit && messages === undefined) return chat;
  const { reasoning_effort: _effort, max_tokens: _max, max_completion_tokens: _completion, thinking: _thinking, output_config: _output, ...rest } = chat;
  const copy: ChatCompletionRequest = { ...rest };
  if (messages !== undefined) copy.messages = messages;
  if (!dropEffort && chat.reasoning_effort !== undefined) copy.reasoning_effort = chat.reasoning_effort;
  if (!dropThinking && chat.thinking !== undefined) copy.thinking = chat.thinking;
  if (!dropThinking && chat.output_config !== undefined) copy.output_config = chat.output_config;
  if (limit !== undefined) {
    if (completionTokens) copy.max_completion_tokens = limit;
    else copy.max_tokens = limit;
  }
  return copy;
}

export function translatedDeployments(executor: ChatExecutor, chat: ChatCompletionRequest, format: AnswerFormat, native: (provider: ProviderInstance) => boolean): ForeignDeployments {
  return {
    native,
    async complete(route, group, context, signal) {
      // Fitted to the deployment by the executor (context.fitChat: chatFormFor).
      const answer = await executor.completeOnce(route, group, chat, context, signal);
      const chatBody = typeof answer.body === 'string' ? answer.body : answer.body.toString('utf8');
      let bytes: string;
      try {
        bytes = format.json(chatBody);
      } catch (error) {
        if (isGatewayError(error)) throw error;
        // The outline of a chat completion with fields of the wrong type: the provider's fault, and
        // another deployment may answer, as a bad answer of the chat route would be.
        throw upstreamBadResponse(route.provider.name, 'an answer that could not be converted');
      }
      return { bytes, usage: answer.usage, chatBody };
    },
    async open(route, group, context) {
      const held = await executor.streamOnce(route, group, chat, context);
      const { first, frames } = format.stream(held.first, held.frames, route.provider.name);
      return { first, frames, stats: held.stats, whenDone: held.whenDone };
    },
  };
}
