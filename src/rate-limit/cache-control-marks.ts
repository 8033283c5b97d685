// The prompt-cache writes a request asks for with `cache_control` markers, for its budget hold: a
// provider that caches only what is marked (Anthropic, Claude on OpenRouter) writes nothing without
// one, and bills a marker with `ttl: "1h"` at its 1-hour rate. Pure; reads an OpenAI chat request
// (markers on messages, content parts, tools, legacy functions, or at the top) or an Anthropic
// Messages body (on system blocks, tools, content blocks and the blocks inside a tool_result, or at
// the top: automatic caching).
// @see https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
// @see https://openrouter.ai/docs/guides/best-practices/prompt-caching
import type { HeldWrites } from '../catalog/call-cost.js';
import { isRecord } from '../json/guards.js';

/** One marker's writes: any object is one (the provider decides what it accepts); `ttl: "1h"` the dearer. */
function markOf(value: unknown): HeldWrites {
  if (!isRecord(value)) return 'none';
  return value.ttl === '1h' ? '1h' : 'default';
}

const RANK: Readonly<Record<HeldWrites, number>> = { none: 0, default: 1, '1h': 2 };

function dearer(a: HeldWrites, b: HeldWrites): HeldWrites {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The marks on a list of blocks (or parts, tools), each with its own and those of blocks nested in its `content`. */
function listMarks(list: unknown, nested: boolean): HeldWrites {
  if (!Array.isArray(list)) return 'none';
  let found: HeldWrites = 'none';
  for (const item of list) {
    if (!isRecord(item)) continue;
    found = dearer(found, markOf(item.cache_control));
    // An OpenAI-format tool may carry its marker beside the function or inside it.
    if (isRecord(item.function)) found = dearer(found, markOf(item.function.cache_control));
    if (nested) found = dearer(found, listMarks(item.content, false));
    if (found === '1h') return found;
  }
  return found;
}

/** The writes `body`'s markers ask for: `none` when it has none. */
export function cacheControlWrites(body: unknown): HeldWrites {
  if (!isRecord(body)) return 'none';
  let found = dearer(markOf(body.cache_control), listMarks(body.tools, false));
  found = dearer(found, listMarks(body.system, false));
  // Legacy `functions[]`: the Anthropic translation carries their markers to its tools.
  found = dearer(found, listMarks(body.functions, false));
  const messages = body.messages;
  if (found === '1h' || !Array.isArray(messages)) return found;
  for (const message of messages) {
    if (!isRecord(message)) continue;
    found = dearer(found, dearer(markOf(message.cache_control), listMarks(message.content, true)));
    if (found === '1h') return found;
  }
  return found;
}
