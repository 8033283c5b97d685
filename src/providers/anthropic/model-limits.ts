// What newer Claude models refuse outright (400), by name, so the chat translation can send what they
// take instead. Pure. For sampling and prefill a name the proxy cannot place (a new family, Mythos
// Preview) is taken as the newest kind, as thinking-effort.ts does; forced tool use is refused by
// named families only.
// @see https://platform.claude.com/docs/en/models/fable-5-1/whats-new-fable-5-1 (Forced tool use is not supported)
// @see https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5, https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5
// @see https://platform.claude.com/docs/en/about-claude/models/migration-guide (Claude Opus 4.7: sampling parameters; Claude 4.6: prefill removal)
import { claudeGeneration } from './thinking-effort.js';

const FAMILY = /^claude-([a-z]+)-/;

/**
 * Whether the model refuses `tool_choice` `any` and `tool` (400 'tool_choice: type "tool" and "any" are
 * not supported for this model.'), thinking or not: Fable and Mythos from 5.1, Opus and Sonnet from
 * 5.5. Fable 5, Mythos 5 and Mythos Preview take a forced call.
 */
export function refusesForcedTool(model: string): boolean {
  const family = FAMILY.exec(model)?.[1];
  const generation = claudeGeneration(model);
  if (generation === undefined) return false;
  if (family === 'fable' || family === 'mythos') return generation >= 51;
  return (family === 'opus' || family === 'sonnet') && generation >= 55;
}

/**
 * Whether the model takes no sampling settings: a `temperature` other than 1, or a `top_p` or `top_k`,
 * is a 400 ("`temperature` is deprecated for this model.") on Claude Opus 4.7 and every model since.
 */
export function refusesSampling(model: string): boolean {
  const generation = claudeGeneration(model);
  return generation === undefined || generation >= 47;
}

/**
 * Whether the model refuses a prefill, a conversation ending on an assistant turn (400 "This model does
 * not support assistant message prefill. The conversation must end with a user message."): Claude 4.6 and later.
 */
export function refusesPrefill(model: string): boolean {
  const generation = claudeGeneration(model);
  return generation === undefined || generation >= 46;
}
