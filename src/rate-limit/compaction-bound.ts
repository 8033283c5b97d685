// Whether a native Messages call may run a Claude compaction, for its budget hold: an automatic one
// (a `compact_20260112` edit in `context_management`, run once the prompt reaches its trigger) or an
// on-demand one (the top-level `compaction` field: the call is a compaction). Pure; a body without
// either costs two property reads.
// @see https://platform.claude.com/docs/en/build-with-claude/compaction-threshold
import { isRecord } from '../json/guards.js';

/** Anthropic's default trigger: 150,000 input tokens. */
export const DEFAULT_COMPACTION_TRIGGER = 150_000;

/**
 * The input-token count at which the call compacts (0 for an on-demand compaction), or undefined
 * when it cannot compact. Several edits: the lowest trigger.
 */
export function compactionTrigger(body: unknown): number | undefined {
  if (!isRecord(body)) return undefined;
  if (isRecord(body.compaction)) return 0;
  const management = body.context_management;
  if (!isRecord(management) || !Array.isArray(management.edits)) return undefined;
  let trigger: number | undefined;
  for (const edit of management.edits) {
    if (!isRecord(edit) || typeof edit.type !== 'string' || !edit.type.startsWith('compact_')) continue;
    const value = isRecord(edit.trigger) && typeof edit.trigger.value === 'number' && edit.trigger.value >= 0 ? edit.trigger.value : DEFAULT_COMPACTION_TRIGGER;
    trigger = trigger === undefined ? value : Math.min(trigger, value);
  }
  return trigger;
}
