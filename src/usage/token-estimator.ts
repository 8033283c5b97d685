// Prompt tokens counted locally (gpt-tokenizer, o200k_base) for what must be known before the
// provider answers: token-limit and budget reservations. An estimate, not a bill: other providers'
// tokenizers differ, which is why every reservation is settled from the provider's own report.
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';

type CountTokens = (text: string) => number;

/** OpenAI's per-message framing (role and separators), as in its cookbook's counting recipe. */
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY = 3;
/** An image's tokens depend on its size, which we do not fetch: a high-detail 1024×1024 image. */
const TOKENS_PER_IMAGE = 765;
/** Audio and files are not decoded here; a fixed allowance keeps them from counting as free. */
const TOKENS_PER_OTHER_PART = 1_000;

/** Low-detail images are a flat 85 tokens; high detail adds 170 per 512-px tile (OpenAI vision guide). */
const TOKENS_PER_LOW_IMAGE = 85;
const TOKENS_PER_TILE = 170;

let loading: Promise<CountTokens> | undefined;

/**
 * BPE is quadratic in the length of one pre-token, and a run with no break in it is one pre-token:
 * 20,000 CJK characters, spaces or repeats of one letter took 0.5 to 3.5 s, and a body-sized run
 * would hold the event loop for minutes. Runs are counted in pieces of at most MAX_RUN characters
 * instead, which keeps counting linear and moves the estimate by a token or two per piece.
 */
const MAX_RUN = 64;
const LONG_RUN = /\S{65}|\s{65}/;
const RUN_PIECE = /\S{64}|\s{64}/g;

export function countInPieces(count: CountTokens, text: string): number {
  if (!LONG_RUN.test(text)) return count(text);
  let total = 0;
  let start = 0;
  const cuts = new RegExp(RUN_PIECE.source, 'g');
  for (let match = cuts.exec(text); match !== null; match = cuts.exec(text)) {
    let end = match.index + MAX_RUN;
    // Never between the two halves of a surrogate pair (emoji, rare CJK).
    const code = text.charCodeAt(end);
    if (code >= 0xdc00 && code <= 0xdfff) end++;
    total += count(text.slice(start, end));
    start = end;
    cuts.lastIndex = end;
  }
  return start < text.length ? total + count(text.slice(start)) : total;
}

/** The tokenizer is loaded on first use only, so keys with no token limit or budget never pay for it. */
function tokenizer(): Promise<CountTokens> {
  loading ??= import('gpt-tokenizer').then((module) => {
    // Text that looks like a special token (`<|endoftext|>`) is counted as text, never refused.
    const options = { disallowedSpecial: new Set<string>() };
    const count = (text: string) => module.countTokens(text, options);
    return (text: string) => (text.length === 0 ? 0 : countInPieces(count, text));
  });
  return loading;
}

/**
 * An image's prompt tokens by OpenAI's tile formula: fit within 2048×2048, scale the short side to
 * 768, then 85 + 170 per 512-px tile. Without a known size a high/auto image counts as 1024×1024 (765).
 * @see https://platform.openai.com/docs/guides/vision#calculating-costs
 */
export function imageTokens(detail: unknown, width?: number, height?: number): number {
  if (detail === 'low') return TOKENS_PER_LOW_IMAGE;
  if (width === undefined || height === undefined || width <= 0 || height <= 0) return TOKENS_PER_IMAGE;
  let w = width;
  let h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shortSide = Math.min(w, h);
  if (shortSide > 768) {
    w *= 768 / shortSide;
    h *= 768 / shortSide;
  }
  return TOKENS_PER_LOW_IMAGE + TOKENS_PER_TILE * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** Width and height of an inline PNG or GIF (`data:` URL), read from its header; undefined otherwise. */
function inlineImageSize(url: string): { width: number; height: number } | undefined {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:image/') || comma < 0) return undefined;
  const head = Buffer.from(url.slice(comma + 1, comma + 45), 'base64');
  if (head.length >= 24 && head.readUInt32BE(0) === 0x89504e47) return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  if (head.length >= 10 && head.toString('latin1', 0, 3) === 'GIF') return { width: head.readUInt16LE(6), height: head.readUInt16LE(8) };
  return undefined;
}

function countContent(count: CountTokens, content: unknown): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (part === null || typeof part !== 'object') continue;
    const typed = part as { type?: unknown; text?: unknown; image_url?: { url?: unknown; detail?: unknown } };
    if (typed.type === 'text' && typeof typed.text === 'string') tokens += count(typed.text);
    else if (typed.type === 'image_url') {
      const url = typed.image_url?.url;
      const size = typeof url === 'string' ? inlineImageSize(url) : undefined;
      tokens += imageTokens(typed.image_url?.detail, size?.width, size?.height);
    } else tokens += TOKENS_PER_OTHER_PART;
  }
  return tokens;
}

/** A loaded counter: synchronous, so callers that count many times (condensation) pay the load once. */
export interface TokenCounter {
  text(text: string): number;
  /** One message with OpenAI's per-message framing: content, name, tool calls. */
  message(message: ChatMessage): number;
  /** A whole prompt: every message plus the reply priming. */
  messages(messages: readonly ChatMessage[]): number;
  /** A chat request's prompt: messages, tool and function definitions, response schema. */
  request(chat: ChatCompletionRequest): number;
}

function makeCounter(count: CountTokens): TokenCounter {
  const message = (entry: ChatMessage): number => {
    let tokens = TOKENS_PER_MESSAGE + countContent(count, entry.content);
    if (typeof entry.name === 'string') tokens += count(entry.name);
    if (entry.tool_calls !== undefined) tokens += count(JSON.stringify(entry.tool_calls));
    if (entry.function_call !== undefined) tokens += count(JSON.stringify(entry.function_call));
    if (typeof entry.tool_call_id === 'string') tokens += count(entry.tool_call_id);
    return tokens;
  };
  const messages = (list: readonly ChatMessage[]): number => list.reduce((sum, entry) => sum + message(entry), TOKENS_PER_REPLY);
  return {
    text: count,
    message,
    messages,
    request(chat) {
      let tokens = messages(chat.messages);
      if (chat.tools !== undefined) tokens += count(JSON.stringify(chat.tools));
      if (chat.functions !== undefined) tokens += count(JSON.stringify(chat.functions));
      if (chat.response_format !== undefined) tokens += count(JSON.stringify(chat.response_format));
      return tokens;
    },
  };
}

let counter: Promise<TokenCounter> | undefined;

/** The shared counter (o200k_base), loaded on first use. */
export function loadTokenCounter(): Promise<TokenCounter> {
  counter ??= tokenizer().then(makeCounter);
  return counter;
}

/**
 * How exact our count is for a provider kind: OpenAI-family models use the tokenizers gpt-tokenizer
 * ships; for every other provider the o200k_base count is an estimate (their tokenizers are not public).
 */
export function tokenCountMethod(kind: string | undefined): 'tokenizer' | 'estimate' {
  return kind === 'openai' || kind === 'azure' ? 'tokenizer' : 'estimate';
}

/** Prompt tokens of a chat request: messages, tool and function definitions, response schema. */
export async function estimatePromptTokens(chat: ChatCompletionRequest): Promise<number> {
  return (await loadTokenCounter()).request(chat);
}
