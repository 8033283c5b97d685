// Pure planning for over-long conversations: which messages may go, and which must stay. A
// conversation is cut into units that are kept or dropped whole, so a tool call never loses its result,
// and what is kept after trimming opens with a user turn.
import type { ChatMessage } from '../openai/types.js';

/** A run of messages kept or dropped together: `messages.slice(start, end)`. */
export interface ConversationUnit {
  start: number;
  end: number;
  /** System/developer prompts and the newest turn: never dropped. */
  pinned: boolean;
}

/** A system or developer prompt: kept wherever a conversation is cut, never summarised. */
export function isInstruction(message: ChatMessage): boolean {
  return message.role === 'system' || message.role === 'developer';
}

/**
 * Cuts messages into units: an assistant message with `tool_calls` takes the `tool` answers after it
 * (a legacy `function_call` its `function` answer). Instructions are pinned, and so is everything
 * from the last user message on (the turn being answered, tool loop included).
 */
export function conversationUnits(messages: readonly ChatMessage[]): ConversationUnit[] {
  const units: ConversationUnit[] = [];
  let index = 0;
  while (index < messages.length) {
    const message = messages[index] as ChatMessage;
    let end = index + 1;
    if (message.role === 'assistant' && Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      while (end < messages.length && messages[end]?.role === 'tool') end++;
    } else if (message.role === 'assistant' && message.function_call !== undefined) {
      while (end < messages.length && messages[end]?.role === 'function') end++;
    }
    units.push({ start: index, end, pinned: isInstruction(message) });
    index = end;
  }
  let lastUser = -1;
  for (let position = messages.length - 1; position >= 0; position--) {
    if (messages[position]?.role === 'user') {
      lastUser = position;
      break;
    }
  }
  const newest = lastUser >= 0 ? lastUser : (units.at(-1)?.start ?? 0);
  for (const unit of units) if (unit.end > newest) unit.pinned = true;
  return units;
}

/**
 * Where the kept tail of `preserve_recent` starts: at the last user message at or before the newest
 * `count` messages, so the tail holds at least them and opens with a user turn (Anthropic and Gemini
 * refuse a conversation whose first turn after the system prompt is not the user's), as the chat
 * policy's kept part does (planTrim). A user message is never inside a tool exchange, so no call
 * loses its results. With no user message there, the tail starts at the first one after them; with
 * none at all, nothing is kept (messages.length).
 */
export function recentStart(messages: readonly ChatMessage[], count: number): number {
  const cut = Math.max(0, messages.length - count);
  if (cut === messages.length) return cut;
  for (let index = cut; index >= 0; index--) if (messages[index]?.role === 'user') return index;
  const next = messages.findIndex((message, index) => index > cut && message.role === 'user');
  return next < 0 ? messages.length : next;
}

export interface TrimPlan {
  /** Indexes of the messages kept, in order. */
  kept: number[];
  /** Indexes of the messages dropped (oldest first). */
  dropped: number[];
  /** Sum of the kept messages' tokens. */
  tokens: number;
}

/**
 * Drops the oldest unpinned units until the kept messages' tokens fit `budget`, then any assistant
 * or tool units left leading the kept conversation. `messageTokens[i]` is message i's count, framing
 * included. Undefined when even the pinned messages do not fit.
 */
export function planTrim(messages: readonly ChatMessage[], messageTokens: readonly number[], budget: number): TrimPlan | undefined {
  const units = conversationUnits(messages);
  const unitTokens = units.map((unit) => {
    let sum = 0;
    for (let index = unit.start; index < unit.end; index++) sum += messageTokens[index] ?? 0;
    return sum;
  });
  let total = unitTokens.reduce((sum, tokens) => sum + tokens, 0);
  const drop = new Set<number>();
  let next = 0;
  for (; next < units.length && total > budget; next++) {
    if (units[next]?.pinned === true) continue;
    drop.add(next);
    total -= unitTokens[next] ?? 0;
  }
  if (total > budget) return undefined;
  // A reply whose question was dropped goes too: the kept conversation must open with a user turn
  // (Anthropic refuses any other first message). Drops are oldest-first, so only the units right
  // after them can have lost their user message; the pinned newest turn opens with one and stops this.
  if (drop.size > 0 && messages.some((message) => message.role === 'user')) {
    for (; next < units.length; next++) {
      const unit = units[next] as ConversationUnit;
      const first = messages[unit.start] as ChatMessage;
      if (isInstruction(first)) continue;
      if (first.role === 'user' || unit.pinned) break;
      drop.add(next);
      total -= unitTokens[next] ?? 0;
    }
  }
  const kept: number[] = [];
  const dropped: number[] = [];
  units.forEach((unit, index) => {
    for (let position = unit.start; position < unit.end; position++) (drop.has(index) ? dropped : kept).push(position);
  });
  return { kept, dropped, tokens: total };
}
