// OpenAI's `reasoning_effort` → Gemini's `generationConfig.thinkingConfig`, as Google's own
// OpenAI-compatible endpoint maps it: Gemini 2.5 takes a token budget (low 1,024, medium 8,192,
// high 24,576; none turns thinking off where the model allows it), Gemini 3 and later a level.
// Each family takes only some levels (3 Pro: low and high; Flash also minimal and medium), so an
// effort is sent as the nearest level the family takes, with a warning saying so. Pure.
// @see https://ai.google.dev/gemini-api/docs/openai#thinking
// @see https://ai.google.dev/gemini-api/docs/thinking#set-budget
import type { GeminiThinkingConfig, GeminiThinkingLevel } from './gemini-wire.js';

/** OpenAI's efforts (`ReasoningEffort` in the openai SDK, `max` since 6.x). */
type Effort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

const EFFORTS: ReadonlySet<string> = new Set<Effort>(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']);

/** Gemini 2.5's budgets (Google's mapping; 24,576 is Flash's largest, so every 2.5 model takes them). */
const BUDGETS: Readonly<Record<Exclude<Effort, 'none'>, number>> = { minimal: 1_024, low: 1_024, medium: 8_192, high: 24_576, xhigh: 24_576, max: 24_576 };
/** 2.5 Pro cannot turn thinking off: its smallest budget. */
const PRO_MIN_BUDGET = 128;

/** The level each effort becomes on a Gemini 3 Flash-class model, and on a Pro (low and high only). */
const FLASH_LEVELS: Readonly<Record<Effort, GeminiThinkingLevel>> = { none: 'minimal', minimal: 'minimal', low: 'low', medium: 'medium', high: 'high', xhigh: 'high', max: 'high' };
const PRO_LEVELS: Readonly<Record<Effort, GeminiThinkingLevel>> = { none: 'low', minimal: 'low', low: 'low', medium: 'high', high: 'high', xhigh: 'high', max: 'high' };

const VERSION = /^(?:models\/)?gemini-(\d+)(?:\.(\d+))?-(.*)$/;

export type ThinkingMapping =
  | { config: GeminiThinkingConfig; note?: string }
  /** The effort is not one OpenAI defines, or the model does not think (before 2.5): dropped, with this reason. */
  | { dropped: string };

export function thinkingConfigFor(model: string, effort: unknown): ThinkingMapping {
  if (typeof effort !== 'string' || !EFFORTS.has(effort)) return { dropped: 'expected none, minimal, low, medium, high, xhigh or max' };
  const asked = effort as Effort;
  const match = VERSION.exec(model);
  const major = match === null ? NaN : Number(match[1]);
  const minor = match?.[2] === undefined ? 0 : Number(match[2]);
  const variant = match?.[3] ?? '';
  const pro = /(?:^|-)pro(?:-|$)/.test(variant);
  // Image, speech and live variants take no thinking settings (Gemini refuses them there).
  if (/(?:^|-)(?:image|tts|audio|live|embedding)(?:-|$)/.test(variant)) return { dropped: `${model} takes no thinking settings` };
  if (major >= 3) {
    const level = (pro ? PRO_LEVELS : FLASH_LEVELS)[asked];
    const note = level === asked || ((asked === 'xhigh' || asked === 'max') && level === 'high') ? undefined : `${model} takes ${pro ? 'low or high' : 'minimal, low, medium or high'}; sent ${level}`;
    return note === undefined ? { config: { thinkingLevel: level } } : { config: { thinkingLevel: level }, note };
  }
  if (major === 2 && minor === 5) {
    if (asked !== 'none') return { config: { thinkingBudget: BUDGETS[asked] } };
    return pro ? { config: { thinkingBudget: PRO_MIN_BUDGET }, note: `${model} cannot turn thinking off; sent its smallest budget (${PRO_MIN_BUDGET} tokens)` } : { config: { thinkingBudget: 0 } };
  }
  return { dropped: `${model} is not known to think (Gemini 2.5 and later take it)` };
}
