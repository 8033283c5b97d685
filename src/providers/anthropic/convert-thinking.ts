/**
 * The request's thinking and effort: the client's own `thinking` and `output_config.effort`, checked, and
 * `reasoning_effort`, fitted to the model (thinking-effort.ts holds the per-model facts) and to max_tokens
 * and the conversation's shape. Split from convert-request.ts, which applies them to the request.
 */
import { invalidValue } from '../../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../../openai/types.js';
import type { ChatTarget } from '../provider.js';
import type { AnthropicEffort, AnthropicMessageParam, AnthropicMessagesRequest, AnthropicThinkingConfig, AnthropicThinkingDisplay } from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';
import { alwaysThinks, disabledNeedsHighOrBelow, fitOwnEffort, fitOwnThinking, MIN_THINKING_BUDGET, thinkingForEffort } from './thinking-effort.js';

const EFFORTS: ReadonlySet<string> = new Set<AnthropicEffort>(['low', 'medium', 'high', 'xhigh', 'max']);

/** The client's `thinking` (Anthropic's own field, through extra_body), checked; undefined when absent. */
function thinkingConfig(value: unknown): AnthropicThinkingConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (isRecord(value)) {
    const { display } = value;
    if (display !== undefined && display !== null && display !== 'summarized' && display !== 'omitted') throw invalidValue('thinking.display', "expected 'summarized' or 'omitted'");
    const shown: { display?: AnthropicThinkingDisplay } = display === 'summarized' || display === 'omitted' ? { display } : {};
    if (value.type === 'disabled') return { type: 'disabled' };
    if (value.type === 'adaptive') return { type: 'adaptive', ...shown };
    if (value.type === 'between_tools') return { type: 'between_tools', ...shown };
    if (value.type === 'enabled' && typeof value.budget_tokens === 'number' && Number.isInteger(value.budget_tokens) && value.budget_tokens > 0) {
      return { type: 'enabled', budget_tokens: value.budget_tokens, ...shown };
    }
  }
  throw invalidValue('thinking', "expected {type: 'enabled', budget_tokens}, {type: 'adaptive'}, {type: 'between_tools'} or {type: 'disabled'}");
}

/** The client's `output_config.effort` (Anthropic's own field, as `thinking`), checked; undefined when absent. */
function effortConfig(value: unknown): AnthropicEffort | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalidValue('output_config', 'expected an object');
  const { effort } = value;
  if (effort === undefined || effort === null) return undefined;
  if (typeof effort !== 'string' || !EFFORTS.has(effort)) throw invalidValue('output_config.effort', "expected 'low', 'medium', 'high', 'xhigh' or 'max'");
  return effort as AnthropicEffort;
}

/** The client's own `thinking`, as it came and as the model takes it; absent when the client sent none. */
interface OwnThinking {
  asked: AnthropicThinkingConfig;
  /** What goes: `asked`, or the nearest the model takes; undefined when a budget it needs does not fit. */
  sent: AnthropicThinkingConfig | undefined;
}

/**
 * The client's own `thinking`, checked, as the model takes it (fitOwnThinking): what it would refuse
 * goes as the nearest it takes, said, with the effort that means unless the client set its own. A
 * budget made from adaptive thinking (Claude 4.5 and earlier) takes the client's effort level.
 */
function ownThinking(request: ChatCompletionRequest, target: ChatTarget, body: AnthropicMessagesRequest): OwnThinking | undefined {
  const asked = thinkingConfig(request.thinking);
  if (asked === undefined) return undefined;
  const level = effortConfig(request.output_config) ?? request.reasoning_effort;
  const fitted = fitOwnThinking(target.model, asked, level);
  if (fitted === undefined) return { asked, sent: asked };
  if ('dropped' in fitted) {
    target.warnings.push(`thinking: ${fitted.dropped}, ignored`);
    return { asked, sent: undefined };
  }
  if (fitted.note !== undefined) target.warnings.push(`thinking: ${fitted.note}`);
  if (fitted.effort !== undefined && effortConfig(request.output_config) === undefined) body.output_config = { ...body.output_config, effort: fitted.effort };
  return { asked, sent: fitted.thinking.type === 'enabled' ? fitBudget(fitted.thinking, body, target, 'thinking') : fitted.thinking };
}

/**
 * A budget the proxy chose must fit under max_tokens (Claude's rule), with room for the answer: else
 * half of it (at least Claude's smallest), or no thinking when not even that fits; each said.
 */
function fitBudget(thinking: AnthropicThinkingConfig & { type: 'enabled' }, body: AnthropicMessagesRequest, target: ChatTarget, field: string): AnthropicThinkingConfig | undefined {
  if (thinking.budget_tokens < body.max_tokens) return thinking;
  if (body.max_tokens <= MIN_THINKING_BUDGET) {
    target.warnings.push(`${field}: max_tokens ${body.max_tokens} leaves no room for Claude's smallest thinking budget (${MIN_THINKING_BUDGET} tokens), so thinking is off for this call`);
    return undefined;
  }
  const budget_tokens = Math.max(MIN_THINKING_BUDGET, Math.floor(body.max_tokens / 2));
  target.warnings.push(`${field}: thinking budget lowered to ${budget_tokens} tokens to fit max_tokens ${body.max_tokens}`);
  return { ...thinking, budget_tokens };
}

/**
 * The thinking to send: the client's own `thinking`, else what its `reasoning_effort` means for the
 * model (thinking-effort.ts); an effort level goes in `output_config` for the models that take one.
 */
export function chooseThinking(request: ChatCompletionRequest, target: ChatTarget, body: AnthropicMessagesRequest): AnthropicThinkingConfig | undefined {
  const own = ownThinking(request, target, body);
  const effort = request.reasoning_effort;
  if (effort === undefined || effort === null) return own?.sent;
  const mapped = thinkingForEffort(target.model, effort);
  if ('dropped' in mapped) {
    target.warnings.push(`reasoning_effort: ${mapped.dropped}, ignored`);
    return own?.sent;
  }
  if (mapped.note !== undefined) target.warnings.push(`reasoning_effort: ${mapped.note}`);
  if (mapped.effort !== undefined) body.output_config = { effort: mapped.effort };
  // Adaptive thinking made a budget on Claude 4.5 and earlier takes its size from reasoning_effort: not ignored.
  else if (own !== undefined && !(own.asked.type === 'adaptive' && own.sent?.type !== 'adaptive')) target.warnings.push('reasoning_effort: the request\'s own thinking is sent instead, ignored');
  if (own !== undefined) return own.sent;
  const thinking = mapped.thinking;
  return thinking.type === 'enabled' ? fitBudget(thinking, body, target, 'reasoning_effort') : thinking;
}

/**
 * The client's own `output_config.effort` as the model takes it (fitOwnEffort), over reasoning_effort's
 * level; on a model that takes no effort it is dropped, said, unless it already went as the budget of
 * the client's adaptive thinking (Claude 4.5 and earlier).
 */
export function ownEffort(request: ChatCompletionRequest, target: ChatTarget, body: AnthropicMessagesRequest): AnthropicEffort | undefined {
  const asked = effortConfig(request.output_config);
  if (asked === undefined) return undefined;
  const fitted = fitOwnEffort(target.model, asked);
  if ('dropped' in fitted) {
    const budgeted = isRecord(request.thinking) && request.thinking.type === 'adaptive' && body.output_config === undefined;
    if (!budgeted) target.warnings.push(`output_config.effort: ${fitted.dropped}, ignored`);
    return undefined;
  }
  if (fitted.note !== undefined) target.warnings.push(`output_config.effort: ${fitted.note}`);
  if (body.output_config !== undefined && body.output_config.effort !== fitted.effort) target.warnings.push(`reasoning_effort: the request's own output_config.effort is sent instead, ignored`);
  body.output_config = { ...body.output_config, effort: fitted.effort };
  return fitted.effort;
}

/**
 * Claude Sonnet 5.5 takes between_tools at effort low, medium or high only (400 at xhigh and max;
 * those need adaptive thinking): the effort goes as high, said, naming the field that asked for it.
 * @see https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5 (Turn off up-front thinking with between_tools)
 */
export function fitEffortToBetweenTools(thinking: AnthropicThinkingConfig | undefined, body: AnthropicMessagesRequest, target: ChatTarget, field: string): void {
  const effort = body.output_config?.effort;
  if (thinking?.type !== 'between_tools' || (effort !== 'xhigh' && effort !== 'max')) return;
  body.output_config = { ...body.output_config, effort: 'high' };
  target.warnings.push(`${field}: between_tools runs at effort low, medium or high (${target.model} refuses it at ${effort}); sent high`);
}

/**
 * Claude Opus 5 and later take `thinking: {type: "disabled"}` at effort high or below only (400 at xhigh
 * and max): the effort goes as high, said, naming the field that asked for it.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (footnote 2 of the per-model table)
 */
export function fitEffortToDisabled(body: AnthropicMessagesRequest, target: ChatTarget, field: string): void {
  const effort = body.output_config?.effort;
  if (body.thinking?.type !== 'disabled' || (effort !== 'xhigh' && effort !== 'max') || !disabledNeedsHighOrBelow(target.model)) return;
  body.output_config = { ...body.output_config, effort: 'high' };
  target.warnings.push(`${field}: ${target.model} takes thinking disabled at effort high or below; sent high`);
}

/** Whether Claude will think on this call: asked to, and not refused by the conversation's shape (a model that cannot stop thinking thinks regardless). */
export function thinks(thinking: AnthropicThinkingConfig | undefined, messages: AnthropicMessageParam[], model: string): boolean {
  return thinking !== undefined && thinking.type !== 'disabled' && (alwaysThinks(model) || !budgetInBareToolLoop(thinking, messages));
}

/**
 * Whether Claude refuses this thinking for the conversation's shape: manual thinking (a budget) needs the
 * turn a tool loop answers to open with its thinking. Adaptive thinking (and between_tools) is optional
 * at every step, and a forced call skips it, so a turn that opens with its call is one Claude itself
 * gives and takes back; turning it off mid-loop would also break "one thinking configuration per turn".
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-tool-workflows (The rules this walkthrough applies)
 */
export function budgetInBareToolLoop(thinking: AnthropicThinkingConfig, messages: readonly AnthropicMessageParam[]): boolean {
  return thinking.type === 'enabled' && toolLoopWithoutThinking(messages);
}

/**
 * Whether the conversation ends in a tool loop (the last turn answers the calls of the assistant turn
 * before it) whose assistant turn does not open with thinking: a client that did not replay the
 * answer's `thinking_blocks`, or a step Claude answered without thinking.
 */
function toolLoopWithoutThinking(messages: readonly AnthropicMessageParam[]): boolean {
  const last = messages[messages.length - 1];
  const before = messages[messages.length - 2];
  if (last?.role !== 'user' || before?.role !== 'assistant' || typeof before.content === 'string' || typeof last.content === 'string') return false;
  if (!last.content.some((block) => block.type === 'tool_result') || !before.content.some((block) => block.type === 'tool_use')) return false;
  const opening = before.content[0]?.type;
  return opening !== 'thinking' && opening !== 'redacted_thinking';
}
