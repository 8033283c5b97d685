/**
 * OpenAI chat messages → Anthropic's `system` and alternating `messages`: content parts as blocks (text,
 * images, PDFs, cache breakpoints), tool calls and results with ids Anthropic takes, and the prefill rules.
 * Split from convert-request.ts, which assembles the request and holds the field-by-field table.
 */
import { createHash } from 'node:crypto';
import { invalidValue, type GatewayError } from '../../errors/gateway-error.js';
import { forEachTextPart, parseDataUrl, parseToolArguments, unsupportedContent, warnIgnored } from '../chat-request-fields.js';
import type { ChatMessage, ContentPart, OtherContentPart } from '../../openai/types.js';
import type { ChatTarget } from '../provider.js';
import type {
  AnthropicContentBlockParam,
  AnthropicImageBlockParam,
  AnthropicImageMediaType,
  AnthropicMessageParam,
  AnthropicTextBlockParam,
  AnthropicToolResultBlockParam,
  AnthropicToolUseBlockParam,
} from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';
import type { CacheBreakpoints } from './convert-cache-control.js';
import { refusesPrefill } from './model-limits.js';
import { orderAssistantTurn, readThinkingBlocks } from './thinking-order.js';

const IMAGE_TYPES: Readonly<Record<string, AnthropicImageMediaType>> = {
  'image/jpeg': 'image/jpeg',
  'image/jpg': 'image/jpeg',
  'image/png': 'image/png',
  'image/gif': 'image/gif',
  'image/webp': 'image/webp',
};

function convertImage(url: unknown, param: string): AnthropicImageBlockParam {
  if (typeof url !== 'string') throw invalidValue(`${param}.image_url.url`, 'expected a string');
  if (url.startsWith('data:')) {
    const parsed = parseDataUrl(url);
    if (parsed === undefined) throw invalidValue(`${param}.image_url.url`, 'a data URL must be base64-encoded');
    const mediaType = IMAGE_TYPES[parsed.mediaType];
    if (mediaType === undefined) {
      throw unsupportedContent(param, `anthropic accepts JPEG, PNG, GIF and WebP images, not '${parsed.mediaType.slice(0, 64)}'`);
    }
    return { type: 'image', source: { type: 'base64', media_type: mediaType, data: parsed.data } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw invalidValue(`${param}.image_url.url`, 'expected an http(s) URL or a base64 data URL');
}

function convertFile(part: Record<string, unknown>, param: string): AnthropicContentBlockParam {
  const file = isRecord(part.file) ? part.file : {};
  if (typeof file.file_data !== 'string') throw unsupportedContent(param, 'anthropic needs the file inline as file_data (file_id is not supported)');
  const parsed = parseDataUrl(file.file_data);
  const isPdf = parsed !== undefined ? parsed.mediaType === 'application/pdf' : typeof file.filename === 'string' && /\.pdf$/i.test(file.filename);
  if (!isPdf) throw unsupportedContent(param, 'anthropic accepts PDF files only');
  return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: parsed?.data ?? file.file_data } };
}

type Part = ContentPart | OtherContentPart;

/**
 * Whether a text has anything but whitespace. Anthropic answers 400 "text content blocks must contain
 * non-whitespace text" to a message whose text is only whitespace (a model's `"\n"` before its tool
 * calls, replayed in history, is common), so such text is dropped like empty text.
 */
export function hasText(text: string): boolean {
  return /\S/.test(text);
}

/** One content part → a block, or undefined for empty or whitespace-only text (Anthropic rejects those blocks). */
function convertPart(part: Part, param: string, allowDocuments: boolean): AnthropicContentBlockParam | undefined {
  const record = part as Record<string, unknown>;
  if (part.type === 'text') {
    if (typeof record.text !== 'string') throw invalidValue(`${param}.text`, 'expected a string');
    return hasText(record.text) ? { type: 'text', text: record.text } : undefined;
  }
  if (part.type === 'image_url') return convertImage(isRecord(record.image_url) ? record.image_url.url : undefined, param);
  if (part.type === 'file' && allowDocuments) return convertFile(record, param);
  throw unsupportedContent(param, `anthropic does not accept '${String(part.type).slice(0, 64)}' parts here`);
}

/** Anthropic refuses a breakpoint on an empty text block, and the proxy drops those blocks (whitespace-only ones too). */
function emptyMarked(partParam: string): GatewayError {
  return invalidValue(`${partParam}.cache_control`, 'an empty text part (or one of only whitespace) cannot carry a cache breakpoint');
}

/** `holder`, when given, takes the marker of an empty text part (a tool message's result); else it is refused. */
function convertContent(
  content: ChatMessage['content'],
  param: string,
  allowDocuments: boolean,
  marks: CacheBreakpoints,
  holder?: AnthropicToolResultBlockParam,
): AnthropicContentBlockParam[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return hasText(content) ? [{ type: 'text', text: content }] : [];
  const blocks: AnthropicContentBlockParam[] = [];
  content.forEach((part, index) => {
    const partParam = `${param}[${index}]`;
    const block = convertPart(part, partParam, allowDocuments);
    const marker = marks.of(part as Record<string, unknown>, partParam);
    if (block === undefined) {
      if (marker === undefined) return;
      if (holder === undefined) throw emptyMarked(partParam);
      holder.cache_control = marker;
      return;
    }
    if (marker !== undefined) block.cache_control = marker;
    blocks.push(block);
  });
  return blocks;
}

/** The text of a system or assistant message, as blocks that keep their parts' breakpoints. */
function textBlocks(content: ChatMessage['content'], param: string, marks: CacheBreakpoints): AnthropicTextBlockParam[] {
  const blocks: AnthropicTextBlockParam[] = [];
  forEachTextPart(content, param, 'only text is accepted in system and assistant messages', (text, part, partParam) => {
    const marker = part === undefined ? undefined : marks.of(part, partParam);
    if (marker === undefined) {
      if (hasText(text)) blocks.push({ type: 'text', text });
    }
    else if (!hasText(text)) throw emptyMarked(partParam);
    else blocks.push({ type: 'text', text, cache_control: marker });
  });
  return blocks;
}

/** A message-level marker goes on the message's last block (LiteLLM's reading), unless that block has its own. */
function markLastBlock(blocks: readonly AnthropicContentBlockParam[], message: ChatMessage, param: string, marks: CacheBreakpoints): void {
  const marker = marks.of(message, param);
  if (marker === undefined) return;
  const last = blocks[blocks.length - 1];
  if (last === undefined) throw invalidValue(`${param}.cache_control`, 'the message has no content to cache');
  last.cache_control ??= marker;
}

const ANTHROPIC_ID = /^[a-zA-Z0-9_-]+$/;

/**
 * Anthropic ids must match `^[a-zA-Z0-9_-]+$`; ids other providers made (a conversation may move
 * between them) can hold other characters. The same mapping on calls and results keeps them paired.
 * A valid id stays as it is; another gets a digest of itself after the replaced characters, or
 * `call.1` and `call 1` (or `call_1` itself) became one id, which Anthropic refuses as a repeat.
 */
export function toolUseId(id: string): string {
  if (ANTHROPIC_ID.test(id)) return id;
  return `${id.replace(/[^a-zA-Z0-9_-]/g, '_')}_${createHash('sha256').update(id).digest('base64url').slice(0, 12)}`;
}

/**
 * A tool or function message as a `tool_result` block. A breakpoint on one of its parts goes on the
 * result itself (the last marked part's), as does the message's own: Anthropic refuses cache_control
 * inside `tool_result.content` ("place it directly on `tool_result`").
 */
function toolResult(toolUseId: string, message: ChatMessage, param: string, marks: CacheBreakpoints): AnthropicToolResultBlockParam {
  const result: AnthropicToolResultBlockParam = { type: 'tool_result', tool_use_id: toolUseId };
  const content = message.content;
  if (typeof content === 'string') {
    // Only whitespace (a shell's "\r\n") would be a text block Anthropic refuses, as in parts.
    if (hasText(content)) result.content = content;
  } else if (content !== undefined && content !== null) {
    const blocks: Array<AnthropicTextBlockParam | AnthropicImageBlockParam> = [];
    // An empty marked part (an empty tool output) has no block, but its marker goes on the result too.
    for (const block of convertContent(content, `${param}.content`, false, marks, result)) {
      if (block.type !== 'text' && block.type !== 'image') continue;
      if (block.cache_control !== undefined) {
        result.cache_control = block.cache_control;
        delete block.cache_control;
      }
      blocks.push(block);
    }
    if (blocks.length > 0) result.content = blocks;
  }
  markLastBlock([result], message, param, marks);
  return result;
}

/**
 * A conversation that ends on an assistant turn asks Claude to continue that text (a prefill), and
 * Anthropic answers 400 "final assistant content cannot end with trailing whitespace". The whitespace
 * is trimmed from that last text block, with a warning, so the request works as it does elsewhere.
 */
function trimPrefill(turns: ReadonlyArray<{ role: 'user' | 'assistant'; blocks: AnthropicContentBlockParam[] }>, param: string, target: ChatTarget): void {
  const turn = turns[turns.length - 1];
  const block = turn?.role === 'assistant' ? turn.blocks[turn.blocks.length - 1] : undefined;
  if (block?.type !== 'text') return;
  const trimmed = block.text.trimEnd();
  if (trimmed.length === block.text.length) return;
  // Never empty: whitespace-only text was left out already.
  block.text = trimmed;
  target.warnings.push(`${param}.content: trailing whitespace removed (anthropic refuses it at the end of a final assistant message)`);
}

interface ConvertedMessages {
  system: AnthropicTextBlockParam[];
  messages: AnthropicMessageParam[];
}

export function convertMessages(messages: ChatMessage[], target: ChatTarget, marks: CacheBreakpoints): ConvertedMessages {
  const system: AnthropicTextBlockParam[] = [];
  const turns: Array<{ role: 'user' | 'assistant'; blocks: AnthropicContentBlockParam[] }> = [];
  // Legacy `function` results name their call; the latest call of that name is the one answered.
  const legacyCalls = new Map<string, string>();
  let namesDropped = false;

  // The message whose blocks came last, for the warning when its text is trimmed.
  let lastParam = '';
  const push = (role: 'user' | 'assistant', blocks: AnthropicContentBlockParam[], param: string) => {
    if (blocks.length === 0) return;
    lastParam = param;
    const last = turns[turns.length - 1];
    // A loop, not push(...blocks): a spread of 100k+ blocks from a client would overflow the stack.
    if (last !== undefined && last.role === role) for (const block of blocks) last.blocks.push(block);
    else turns.push({ role, blocks: [...blocks] });
  };

  messages.forEach((message, index) => {
    const param = `messages[${index}]`;
    if (!isRecord(message)) throw invalidValue(param, 'expected a message object');
    const role = message.role;
    if (typeof message.name === 'string' && (role === 'user' || role === 'assistant' || role === 'system' || role === 'developer')) namesDropped = true;
    if (role === 'system' || role === 'developer') {
      const blocks = textBlocks(message.content, `${param}.content`, marks);
      markLastBlock(blocks, message, param, marks);
      for (const block of blocks) system.push(block);
      return;
    }
    if (role === 'user') {
      const blocks = convertContent(message.content, `${param}.content`, true, marks);
      markLastBlock(blocks, message, param, marks);
      push('user', blocks, param);
      return;
    }
    if (role === 'assistant') {
      // Claude's thinking opens its turn, before the text and calls it led to, or between the calls it came between.
      const thinking = readThinkingBlocks(message.thinking_blocks, `${param}.thinking_blocks`);
      const text = textBlocks(message.content, `${param}.content`, marks);
      const calls: Array<{ id: string; block: AnthropicContentBlockParam }> = [];
      (message.tool_calls ?? []).forEach((call, callIndex) => {
        const callParam = `${param}.tool_calls[${callIndex}]`;
        if (!isRecord(call) || !isRecord(call.function) || typeof call.function.name !== 'string' || typeof call.id !== 'string') {
          throw invalidValue(callParam, 'expected {id, type: "function", function: {name, arguments}}');
        }
        const block: AnthropicToolUseBlockParam = {
          type: 'tool_use',
          id: toolUseId(call.id),
          name: call.function.name,
          input: parseToolArguments(call.function.arguments, `${callParam}.function.arguments`),
        };
        // The id as the answer gave it: thinking blocks name their call by it.
        calls.push({ id: call.id, block });
      });
      const blocks = orderAssistantTurn(thinking, text, calls);
      if (isRecord(message.function_call) && typeof message.function_call.name === 'string') {
        const id = `toolu_legacy_${index}`;
        legacyCalls.set(message.function_call.name, id);
        blocks.push({
          type: 'tool_use',
          id,
          name: message.function_call.name,
          input: parseToolArguments(message.function_call.arguments, `${param}.function_call.arguments`),
        });
      }
      markLastBlock(blocks, message, param, marks);
      push('assistant', blocks, param);
      return;
    }
    if (role === 'tool') {
      if (typeof message.tool_call_id !== 'string' || message.tool_call_id.length === 0) throw invalidValue(`${param}.tool_call_id`, 'a tool message needs the id of the call it answers');
      push('user', [toolResult(toolUseId(message.tool_call_id), message, param, marks)], param);
      return;
    }
    if (role === 'function') {
      const id = typeof message.name === 'string' ? legacyCalls.get(message.name) : undefined;
      if (id === undefined) throw invalidValue(`${param}.name`, 'a function message must name an earlier assistant function_call');
      push('user', [toolResult(id, message, param, marks)], param);
      return;
    }
    throw invalidValue(`${param}.role`, `unknown role '${String(role).slice(0, 32)}'`);
  });

  if (namesDropped) warnIgnored(target, 'anthropic', 'messages[].name');
  if (turns[turns.length - 1]?.role === 'assistant' && refusesPrefill(target.model)) {
    // Said before the call, naming the message: Claude's 400 names none, and dropping the turn would answer another question.
    throw unsupportedContent(lastParam, `${target.model} takes no prefill (Claude 4.6 and later refuse a conversation that ends on an assistant message); end it on a user message, or ask for the answer's shape with response_format`);
  }
  trimPrefill(turns, lastParam, target);
  return {
    system,
    messages: turns.map(({ role, blocks }) => {
      // Anthropic reads tool results at the start of a user turn, so they go before any text merged in.
      const ordered = role === 'user' ? [...blocks.filter((b) => b.type === 'tool_result'), ...blocks.filter((b) => b.type !== 'tool_result')] : blocks;
      const only = ordered[0];
      // A lone text turn is sent as a string, unless it carries a breakpoint (only blocks can).
      return ordered.length === 1 && only !== undefined && only.type === 'text' && only.cache_control === undefined ? { role, content: only.text } : { role, content: ordered };
    }),
  };
}
