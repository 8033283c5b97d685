// The one table of provider stop reasons → OpenAI `finish_reason`, for every translated provider.
// Codecs never map reasons themselves: a new reason is one row here, and every path (response,
// stream, legacy function style) picks it up.
import type { FinishReason } from '../openai/types.js';
import { legacyFinishReason } from './legacy-functions.js';

/** Providers whose answers are translated (OpenAI-format hosts send `finish_reason` themselves). */
export type TranslatedProvider = 'anthropic' | 'gemini';

/**
 * Reason → finish_reason. A reason missing from a row maps to `stop`: providers add reasons over
 * time, and an unknown one must not fail a finished answer.
 * @see https://docs.anthropic.com/en/api/handling-stop-reasons
 * @see https://ai.google.dev/api/generate-content#FinishReason
 */
const FINISH_REASONS: Record<TranslatedProvider, Readonly<Record<string, FinishReason>>> = {
  anthropic: {
    end_turn: 'stop',
    stop_sequence: 'stop',
    // Server tools paused a long turn; the text so far is a complete answer for the client.
    pause_turn: 'stop',
    max_tokens: 'length',
    model_context_window_exceeded: 'length',
    tool_use: 'tool_calls',
    refusal: 'content_filter',
  },
  gemini: {
    STOP: 'stop',
    MAX_TOKENS: 'length',
    // The model can continue with a continuation token: the answer was cut at a limit.
    CONTINUATION: 'length',
    SAFETY: 'content_filter',
    RECITATION: 'content_filter',
    BLOCKLIST: 'content_filter',
    PROHIBITED_CONTENT: 'content_filter',
    SPII: 'content_filter',
    IMAGE_SAFETY: 'content_filter',
    IMAGE_PROHIBITED_CONTENT: 'content_filter',
    IMAGE_RECITATION: 'content_filter',
    // Gemini has no tool-call reason: a call comes with STOP (see `hasToolCalls`).
    // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, LANGUAGE, OTHER → stop.
  },
};

/**
 * Gemini's reasons for an answer that failed at a tool call (one it wrote wrong, or one it was not
 * offered): with nothing else in the answer, the call is a failed one, retried like a bad answer,
 * not an empty `stop` an agent would take as the model having finished.
 */
const FAILED_CALL_REASONS: ReadonlySet<string> = new Set(['MALFORMED_FUNCTION_CALL', 'UNEXPECTED_TOOL_CALL']);

export function failedToolCall(reason: string | null | undefined, produced: boolean): string | undefined {
  return !produced && typeof reason === 'string' && FAILED_CALL_REASONS.has(reason) ? `an empty answer (finishReason ${reason}: the model's function call failed)` : undefined;
}

/** A prompt the provider refused to answer at all (Gemini `promptFeedback.blockReason`, any value). */
export const PROMPT_BLOCKED_FINISH_REASON: FinishReason = 'content_filter';

export interface FinishContext {
  /** The answer carries at least one tool call the client must run. */
  hasToolCalls: boolean;
  /** The client used legacy `functions`: report `function_call` instead of `tool_calls`. */
  legacyFunctions?: boolean;
}

/**
 * Maps a provider's stop reason. Tool calls decide between `stop` and `tool_calls`, because
 * Gemini reports calls as STOP and the Anthropic JSON-mode tool is not a call the client sees.
 */
export function mapFinishReason(provider: TranslatedProvider, reason: string | null | undefined, context: FinishContext): FinishReason {
  const row = FINISH_REASONS[provider];
  let mapped: FinishReason = reason !== null && reason !== undefined && Object.hasOwn(row, reason) ? (row[reason] as FinishReason) : 'stop';
  if (mapped === 'stop' && context.hasToolCalls) mapped = 'tool_calls';
  if (mapped === 'tool_calls' && !context.hasToolCalls) mapped = 'stop';
  if (context.legacyFunctions === true) mapped = legacyFinishReason(mapped);
  return mapped;
}
