// Where Claude's thinking blocks stood among its tool calls. Claude 4 and later think between the calls
// of one answer (thinking, tool_use, thinking, tool_use), and Anthropic takes the blocks back only "unmodified
// and in their original order"; the chat form splits them into `thinking_blocks` and `tool_calls`. Each
// returned block names the call it came after (`after_tool_call_id`), and a replayed turn is rebuilt from it.
// @see https://platform.claude.com/docs/en/build-with-claude/preserved-thinking/prefix-checks ("a thinking block between others was left out or moved")
import { invalidValue } from '../../errors/gateway-error.js';
import type { ThinkingBlock } from '../../openai/types.js';
import type { AnthropicContentBlockParam, AnthropicThinkingBlockParam } from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';

/** A returned thinking block with the id of the tool call it came after, when there was one. */
export function placeThinking(block: ThinkingBlock, afterToolCall: string | undefined): ThinkingBlock {
  return afterToolCall === undefined ? block : { ...block, after_tool_call_id: afterToolCall };
}

/** A replayed thinking block as Claude takes it, and the id of the call it came after (undefined: before any call). */
export interface PlacedThinking {
  block: AnthropicThinkingBlockParam;
  after: string | undefined;
}

/**
 * An assistant turn's `thinking_blocks`, as the proxy gave them with the answer (LiteLLM's field): Claude
 * checks their signatures. Each is rebuilt from its own fields, so the position goes no further than here.
 */
export function readThinkingBlocks(value: unknown, param: string): PlacedThinking[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(param, 'expected the list of thinking blocks the answer carried');
  return value.map((block: unknown, index) => {
    const blockParam = `${param}[${index}]`;
    let read: AnthropicThinkingBlockParam;
    if (isRecord(block) && block.type === 'thinking' && typeof block.thinking === 'string' && typeof block.signature === 'string') {
      read = { type: 'thinking', thinking: block.thinking, signature: block.signature };
    } else if (isRecord(block) && block.type === 'redacted_thinking' && typeof block.data === 'string') read = { type: 'redacted_thinking', data: block.data };
    else throw invalidValue(blockParam, "expected {type: 'thinking', thinking, signature} or {type: 'redacted_thinking', data}, as the answer carried it");
    const after = block.after_tool_call_id;
    if (after !== undefined && after !== null && typeof after !== 'string') throw invalidValue(`${blockParam}.after_tool_call_id`, 'expected the id of a tool call of this message, as the answer carried it');
    return { block: read, after: typeof after === 'string' ? after : undefined };
  });
}

/**
 * One assistant turn's blocks: each thinking block right after the call it names, the rest (those before any
 * call) first, then the text, then the calls, as the answer had them. When the positions do not fit the
 * turn's calls (a call dropped, calls reordered, a name no call has), every block goes first in its own
 * order, as for blocks without positions: thinking blocks are never reordered among themselves.
 */
export function orderAssistantTurn<Block = AnthropicContentBlockParam>(
  thinking: ReadonlyArray<{ block: Block; after: string | undefined }>,
  text: readonly Block[],
  calls: ReadonlyArray<{ id: string; block: Block }>,
): Block[] {
  const callSlot = new Map<string, number>();
  calls.forEach(({ id }, index) => {
    if (!callSlot.has(id)) callSlot.set(id, index + 1);
  });
  // Slot 0 is before the text; slot i + 1 is right after call i. Non-decreasing, or the positions do not fit.
  const slots: number[] = [];
  let fits = true;
  for (const { after } of thinking) {
    const slot = after === undefined ? 0 : callSlot.get(after);
    if (slot === undefined || slot < (slots[slots.length - 1] ?? 0)) {
      fits = false;
      break;
    }
    slots.push(slot);
  }
  const blocks: Block[] = [];
  let next = 0;
  // A loop, not push(...blocks): a client's 100k+ blocks would overflow the stack.
  const take = (slot: number) => {
    for (; next < thinking.length && (!fits || slots[next] === slot); next++) blocks.push((thinking[next] as { block: Block }).block);
  };
  take(0);
  for (const block of text) blocks.push(block);
  calls.forEach(({ block }, index) => {
    blocks.push(block);
    take(index + 1);
  });
  return blocks;
}
