// OpenAI's `reasoning_effort` → Claude's thinking settings. Which ones a model takes is by its
// generation: Claude 3.7 to 4.5 think on a token budget (`thinking: {type: "enabled", budget_tokens}`),
// 4.6 and later adaptively with an effort level (`thinking: {type: "adaptive"}` and
// `output_config.effort`; Opus 4.7 and later refuse budgets), and the Claude 3 and 3.5 models do not
// think. `none` turns thinking off where the model can (lowestThinking). The client's own `thinking`
// goes as the model takes it too (fitOwnThinking). A name the proxy cannot place (a new family) is
// taken as the newest kind. Pure.
// @see https://platform.claude.com/docs/en/build-with-claude/adaptive-thinking
// @see https://platform.claude.com/docs/en/build-with-claude/effort
// @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (which thinking types each model refuses)
import type { AnthropicEffort, AnthropicThinkingConfig } from './anthropic-wire.js';

/** OpenAI's efforts (`ReasoningEffort` in the openai SDK, `max` since 6.x). */
type Effort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

const EFFORTS: ReadonlySet<string> = new Set<Effort>(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']);

/**
 * Budgets for the models that take one. Chosen so that /v1/messages reads them back as the same
 * effort (its thresholds are Anthropic's: under 4,096 low, under 16,384 medium); 1,024 is Claude's
 * smallest budget. `max` gets the largest, as `xhigh` does.
 */
const BUDGETS: Readonly<Record<Exclude<Effort, 'none'>, number>> = { minimal: 1_024, low: 1_024, medium: 8_192, high: 16_384, xhigh: 32_000, max: 32_000 };
export const MIN_THINKING_BUDGET = 1_024;

// Claude's names: `claude-3-7-sonnet-…` and `claude-3-opus-…` before 4, `claude-sonnet-4-5-…`,
// `claude-opus-4-2025…` (a date, not a minor version) and `claude-fable-5-1` since.
const OLD_NAME = /^claude-(\d+)(?:-(\d))?-[a-z]+(?:-|$)/;
const NEW_NAME = /^claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?:-|$)/;

/** Claude Mythos Preview: adaptive, with max but not xhigh (a name with no version to place). */
const MYTHOS_PREVIEW = 'claude-mythos-preview';

const FAMILY = /^claude-([a-z]+)-/;

/**
 * What a model that cannot turn thinking off gets for `none` (Anthropic answers 400 "thinking.type.disabled
 * is not supported for this model" at any effort), or undefined when it takes `disabled`. Fable and
 * Mythos think on every answer, and so does Opus from 5.5: their lowest effort. Sonnet from 5.5 takes
 * `between_tools` instead, its lowest (no thinking before the answer). Haiku 5.5 and Opus 5 still
 * take `disabled`.
 * @see https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5 (Thinking can't be disabled; also Fable 5.1)
 * @see https://platform.claude.com/docs/en/models/fable-5/migration-guide, https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5
 */
function lowestThinking(model: string, version: number | undefined): ThinkingChoice | undefined {
  const family = FAMILY.exec(model)?.[1];
  if (family === 'fable' || family === 'mythos' || (family === 'opus' && version !== undefined && version >= 55)) {
    return { thinking: { type: 'adaptive' }, effort: 'low', note: `${model} cannot turn thinking off; sent low` };
  }
  if (takesBetweenTools(model)) {
    return { thinking: { type: 'between_tools' }, note: `${model} cannot turn thinking off; sent between_tools (no thinking before the answer)` };
  }
  return undefined;
}

/**
 * Whether the model takes `thinking: {type: "between_tools"}` (no thinking before the answer, short
 * notes between tool calls; at effort low, medium or high only): Claude Sonnet from 5.5, in place of
 * `disabled`. Anthropic: "Only Claude Sonnet 5.5 accepts between_tools".
 * @see https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5 (Turn off up-front thinking with between_tools)
 */
export function takesBetweenTools(model: string): boolean {
  const version = claudeGeneration(model);
  return FAMILY.exec(model)?.[1] === 'sonnet' && version !== undefined && version >= 55;
}

/** `budget_tokens` → an effort level, by the thresholds Anthropic's docs use for small, medium and large budgets. */
export function effortForBudget(budget: number): 'low' | 'medium' | 'high' {
  if (budget < 4_096) return 'low';
  if (budget < 16_384) return 'medium';
  return 'high';
}

/** Whether the model thinks on every answer (it refuses `thinking: {type: "disabled"}`): Fable, Mythos, Opus and Sonnet from 5.5. */
export function alwaysThinks(model: string): boolean {
  return lowestThinking(model, claudeGeneration(model)) !== undefined;
}

/**
 * Whether the model refuses a thinking budget (400 '"thinking.type.enabled" is not supported for this
 * model. Use "thinking.type.adaptive" and "output_config.effort"'): Claude Opus 4.7 and every model
 * since, and a name too new to place; Mythos Preview takes both kinds.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting
 */
function refusesBudget(model: string): boolean {
  const version = claudeGeneration(model);
  return model !== MYTHOS_PREVIEW && (version === undefined || version >= 47);
}

/**
 * The client's own `thinking` (Anthropic's field, through extra_body) where the model would refuse it
 * as given, or undefined when it takes it: `disabled` on a model that thinks on every answer goes as
 * that model's lowest (as reasoning_effort `none` does); `between_tools` on another model than Sonnet
 * 5.5 as `disabled` would; a budget on a model that thinks adaptively only goes as adaptive, at the
 * effort the budget means; adaptive on Claude 3.7 to 4.5 (budgets only: 400 "Input tag 'adaptive' …
 * does not match any of the expected tags: 'disabled', 'enabled'") as the budget reasoning_effort
 * gives `level` (the client's effort level; adaptive's default, high, when it set none). `display` is kept.
 * On Claude 3 and 3.5 (no extended thinking) it is dropped.
 * @see https://platform.claude.com/docs/en/build-with-claude/adaptive-thinking (older models require enabled with budget_tokens)
 */
export function fitOwnThinking(model: string, own: AnthropicThinkingConfig, level?: unknown): EffortThinking | undefined {
  const version = claudeGeneration(model);
  // Claude 3 and 3.5 have no extended thinking: any `thinking` is a 400, and without it the answer is the same.
  if (version !== undefined && version < 37) return { dropped: `${model} does not think (Claude 3.7 and later do)` };
  if (own.type === 'disabled') return lowestThinking(model, version);
  if (own.type === 'between_tools') {
    if (takesBetweenTools(model)) return undefined;
    const said = `${model} takes no between_tools (Claude Sonnet 5.5's lowest setting)`;
    const lowest = lowestThinking(model, version);
    if (lowest === undefined) return { thinking: { type: 'disabled' }, note: `${said}; sent disabled (no thinking)` };
    return { ...lowest, note: `${said}; ${lowest.note ?? ''}` };
  }
  if (own.type === 'adaptive') {
    if (version === undefined || version < 37 || version >= 46) return undefined;
    const effort = typeof level === 'string' && level in BUDGETS ? (level as keyof typeof BUDGETS) : 'high';
    const budget = BUDGETS[effort];
    return {
      thinking: own.display === undefined ? { type: 'enabled', budget_tokens: budget } : { type: 'enabled', budget_tokens: budget, display: own.display },
      note: `${model} takes no adaptive thinking (a budget only, Claude 4.5 and earlier); sent budget_tokens ${budget}, the budget of effort ${effort}`,
    };
  }
  if (own.type !== 'enabled' || !refusesBudget(model)) return undefined;
  const effort = effortForBudget(own.budget_tokens);
  return {
    thinking: own.display === undefined ? { type: 'adaptive' } : { type: 'adaptive', display: own.display },
    effort,
    note: `${model} takes no budget_tokens (adaptive thinking only, Claude Opus 4.7 and later); sent adaptive at effort ${effort}`,
  };
}

/**
 * The client's own `output_config.effort` as the model takes it: the level, lowered to the nearest the
 * model has (with a note naming its levels), or dropped on a model that takes no effort. Anthropic's
 * effort page lists Claude Opus 4.5 and every model from 4.6 (a name too new to place too); Sonnet and
 * Haiku 4.5 and earlier are not there. Opus 4.5 has low, medium and high; the 4.6 models and Mythos
 * Preview max but not xhigh.
 * @see https://platform.claude.com/docs/en/build-with-claude/effort (supportedModels; Effort levels)
 */
export function fitOwnEffort(model: string, effort: AnthropicEffort): { effort: AnthropicEffort; note?: string } | { dropped: string } {
  const version = claudeGeneration(model);
  const opus45 = FAMILY.exec(model)?.[1] === 'opus' && version === 45;
  if (version !== undefined && version < 46 && !opus45) return { dropped: `${model} takes no effort (Claude Opus 4.5, and the 4.6 models and later, do)` };
  const levels: readonly AnthropicEffort[] = opus45
    ? ['low', 'medium', 'high']
    : version === 46 || model === MYTHOS_PREVIEW
      ? ['low', 'medium', 'high', 'max']
      : ['low', 'medium', 'high', 'xhigh', 'max'];
  if (levels.includes(effort)) return { effort };
  const sent: AnthropicEffort = effort === 'max' && levels.includes('xhigh') ? 'xhigh' : 'high';
  return { effort: sent, note: `${model} takes ${levels.slice(0, -1).join(', ')} or ${levels[levels.length - 1] ?? ''}; sent ${sent}` };
}

/**
 * Whether the model thinks when the request has no `thinking`: Claude 5 and later (Opus 5, Sonnet 5,
 * Haiku 5.5: "On", and those that think on every answer), Mythos Preview, a name too new to place.
 * Claude 4.8 and earlier answer without thinking unless asked. On these, leaving `thinking` out does not
 * turn it off; `{type: "disabled"}` does, where the model takes it.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (Default column of the per-model table)
 * @see https://platform.claude.com/docs/en/about-claude/models/whats-new-opus-5 (thinking on by default)
 */
export function thinksByDefault(model: string): boolean {
  const version = claudeGeneration(model);
  return version === undefined || version >= 50;
}

/**
 * Whether `thinking: {type: "disabled"}` needs effort high or below (400 with xhigh or max): "Claude Opus
 * 5 and later models" that accept it. Sonnet 5 came before Opus 5 and has no such rule.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (footnote 2 of the per-model table)
 */
export function disabledNeedsHighOrBelow(model: string): boolean {
  const version = claudeGeneration(model);
  return version === undefined || (version >= 50 && !(FAMILY.exec(model)?.[1] === 'sonnet' && version === 50));
}

/** Thinking to send, the effort level for models that take one, and what changed from what was asked. */
export interface ThinkingChoice {
  thinking: AnthropicThinkingConfig;
  effort?: AnthropicEffort;
  note?: string;
}

export type EffortThinking =
  | ThinkingChoice
  /** Not an effort OpenAI defines, or a model that does not think: dropped, with this reason. */
  | { dropped: string };

/** The model's generation as major × 10 + minor (37, 45, 46, 50), or undefined for a name it cannot place. */
export function claudeGeneration(model: string): number | undefined {
  const match = OLD_NAME.exec(model) ?? NEW_NAME.exec(model);
  if (match === null) return undefined;
  return Number(match[1]) * 10 + (match[2] === undefined ? 0 : Number(match[2]));
}

export function thinkingForEffort(model: string, effort: unknown): EffortThinking {
  if (typeof effort !== 'string' || !EFFORTS.has(effort)) return { dropped: 'expected none, minimal, low, medium, high, xhigh or max' };
  const asked = effort as Effort;
  const version = claudeGeneration(model);
  if (version !== undefined && version < 37) return { dropped: `${model} does not think (Claude 3.7 and later do)` };
  if (asked === 'none') return lowestThinking(model, version) ?? { thinking: { type: 'disabled' } };
  if (version !== undefined && version < 46) return { thinking: { type: 'enabled', budget_tokens: BUDGETS[asked] } };
  // xhigh came with Opus 4.7: the 4.6 models and Mythos Preview take max but not xhigh. A level the
  // model lacks goes as the nearest one below it (above, for minimal), with a note naming its levels.
  // Claude's max is OpenAI's max, sent as is.
  const xhigh = version !== 46 && model !== MYTHOS_PREVIEW;
  const levels = xhigh ? 'low, medium, high, xhigh or max' : 'low, medium, high or max';
  if (asked === 'minimal') return { thinking: { type: 'adaptive' }, effort: 'low', note: `${model} takes ${levels}; sent low` };
  if (asked === 'xhigh' && !xhigh) return { thinking: { type: 'adaptive' }, effort: 'high', note: `${model} takes ${levels}; sent high` };
  return { thinking: { type: 'adaptive' }, effort: asked };
}
