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

interface Tokenizer {
  count: CountTokens;
  /** The count of `text` when it is at most `cap`; past that, stops and returns some number over `cap`. */
  countUpTo(text: string, cap: number): number;
  fit(text: string, maxTokens: number): number;
}

let loading: Promise<Tokenizer> | undefined;

/**
 * BPE is quadratic in the length of one pre-token, and a run with no break in it is one pre-token:
 * 20,000 CJK characters, spaces or repeats of one letter took 0.5 to 3.5 s, and a body-sized run
 * would hold the event loop for minutes. Runs are counted in pieces of at most MAX_RUN characters
 * instead, which keeps counting linear and moves the estimate by a token or two per piece.
 */
const MAX_RUN = 64;
// o200k's punctuation pre-token (` ?[^\s\p{L}\p{N}]+[\r\n/]*`) also runs on through any mix of
// slashes and line breaks ("!/\n/\n..."), which neither \S nor \s runs catch: 40 KB of it took 2 s.
const LONG_RUN = /\S{65}|\s{65}|[\r\n/]{65}/;
const RUN_PIECE = /\S{64}|\s{64}|[\r\n/]{64}/g;

/** The longest text handed to the tokenizer in one call (see CLEAR_EVERY). */
const MAX_SLICE = 16_384;
const WHITESPACE = /\s/;

/** Hands `visit` `piece` in slices of at most MAX_SLICE characters, each cut before a space that ends a word. */
function visitSliced(piece: string, offset: number, visit: (piece: string, offset: number) => boolean): boolean {
  let start = 0;
  while (piece.length - start > MAX_SLICE) {
    // Before the space of " word", which starts a pre-token either way, so the count barely moves.
    let end = piece.lastIndexOf(' ', start + MAX_SLICE);
    while (end > start && WHITESPACE.test(piece.charAt(end - 1))) end = piece.lastIndexOf(' ', end - 1);
    if (end <= start) {
      end = start + MAX_SLICE;
      const code = piece.charCodeAt(end);
      if (code >= 0xdc00 && code <= 0xdfff) end++;
    }
    if (!visit(piece.slice(start, end), offset + start)) return false;
    start = end;
  }
  return visit(start === 0 ? piece : piece.slice(start), offset + start);
}

/** Hands `visit` the pieces of `text` in order: runs over MAX_RUN cut, long text sliced; it returns false to stop. */
function eachPiece(text: string, visit: (piece: string, offset: number) => boolean): void {
  if (!LONG_RUN.test(text)) {
    visitSliced(text, 0, visit);
    return;
  }
  let start = 0;
  const cuts = new RegExp(RUN_PIECE.source, 'g');
  for (let match = cuts.exec(text); match !== null; match = cuts.exec(text)) {
    let end = match.index + MAX_RUN;
    // Never between the two halves of a surrogate pair (emoji, rare CJK).
    const code = text.charCodeAt(end);
    if (code >= 0xdc00 && code <= 0xdfff) end++;
    if (!visitSliced(text.slice(start, end), start, visit)) return;
    start = end;
    cuts.lastIndex = end;
  }
  if (start < text.length) visitSliced(text.slice(start), start, visit);
}

export function countInPieces(count: CountTokens, text: string, cap = Infinity): number {
  let total = 0;
  eachPiece(text, (piece) => {
    total += count(piece);
    return total <= cap;
  });
  return total;
}

/**
 * The length of the longest start of `text` that its first `maxTokens` tokens cover, in the same
 * pieces as countInPieces: one encoding, where a binary search on counts took twenty.
 */
export function fitInPieces(encode: (text: string) => number[], decode: (tokens: number[]) => string, text: string, maxTokens: number): number {
  let room = maxTokens;
  let length = 0;
  eachPiece(text, (piece, offset) => {
    const tokens = encode(piece);
    if (tokens.length <= room) {
      room -= tokens.length;
      length = offset + piece.length;
      return true;
    }
    // A token may end inside a UTF-8 sequence: drop tokens until the decoded text is a real start.
    let kept = room;
    let prefix = decode(tokens.slice(0, kept));
    while (kept > 0 && !piece.startsWith(prefix)) prefix = decode(tokens.slice(0, --kept));
    length = offset + (kept > 0 ? prefix.length : 0);
    return false;
  });
  return length;
}

/** The tokenizer is loaded on first use only, so keys with no token limit or budget never pay for it. */
/**
 * gpt-tokenizer caches up to 100,000 pre-tokens in a Map and evicts the oldest with `keys().next()`,
 * which steps over every entry deleted before it: once the cache is full, each new word cost up to
 * ~50 µs, and 4 MB of distinct words took 55 s to count (6 s with no cache). The cache is emptied
 * before it can fill instead: a call adds at most one entry per character, and no call is longer
 * than MAX_SLICE.
 */
const CLEAR_EVERY = 65_536;

function tokenizer(): Promise<Tokenizer> {
  loading ??= import('gpt-tokenizer').then((module) => {
    // Text that looks like a special token (`<|endoftext|>`) is counted as text, never refused.
    const options = { disallowedSpecial: new Set<string>() };
    let cached = 0;
    const room = (length: number) => {
      cached += length;
      if (cached > CLEAR_EVERY) {
        module.clearMergeCache();
        cached = length;
      }
    };
    const count = (text: string) => {
      room(text.length);
      return module.countTokens(text, options);
    };
    const encode = (text: string) => {
      room(text.length);
      return module.encode(text, options);
    };
    return {
      count: (text: string) => (text.length === 0 ? 0 : countInPieces(count, text)),
      countUpTo: (text: string, cap: number) => (text.length === 0 ? 0 : countInPieces(count, text, cap)),
      fit: (text: string, maxTokens: number) => (text.length === 0 || maxTokens <= 0 ? 0 : fitInPieces(encode, module.decode, text, maxTokens)),
    };
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
  /** The length of the longest start of `text` within `maxTokens` (what its first `maxTokens` tokens cover). */
  fit(text: string, maxTokens: number): number;
  /** One message with OpenAI's per-message framing: content, name, tool calls. */
  message(message: ChatMessage): number;
  /** A whole prompt: every message plus the reply priming. */
  messages(messages: readonly ChatMessage[]): number;
  /** A chat request's prompt: messages, tool and function definitions, response schema. */
  request(chat: ChatCompletionRequest): number;
  /** What request() counts beyond the messages: tool and function definitions, response schema. */
  fixed(chat: ChatCompletionRequest): number;
  /**
   * request(), exact when it is at most `cap`; past `cap` counting stops and some number over it
   * comes back. What a refusal needs, at a cost bounded by the window instead of by the body.
   */
  requestUpTo(chat: ChatCompletionRequest, cap: number): number;
}

/** Thrown inside requestUpTo's count once the running total passes its cap. */
const PAST_CAP = Symbol('past the cap');

function makeCounter(tokenizer: Tokenizer): TokenCounter {
  const { count, fit } = tokenizer;
  const message = (entry: ChatMessage): number => {
    let tokens = TOKENS_PER_MESSAGE + countContent(count, entry.content);
    if (typeof entry.name === 'string') tokens += count(entry.name);
    if (entry.tool_calls !== undefined) tokens += count(JSON.stringify(entry.tool_calls));
    if (entry.function_call !== undefined) tokens += count(JSON.stringify(entry.function_call));
    if (typeof entry.tool_call_id === 'string') tokens += count(entry.tool_call_id);
    return tokens;
  };
  const messages = (list: readonly ChatMessage[]): number => list.reduce((sum, entry) => sum + message(entry), TOKENS_PER_REPLY);
  const fixed = (chat: ChatCompletionRequest): number => {
    let tokens = 0;
    if (chat.tools !== undefined) tokens += count(JSON.stringify(chat.tools));
    if (chat.functions !== undefined) tokens += count(JSON.stringify(chat.functions));
    if (chat.response_format !== undefined) tokens += count(JSON.stringify(chat.response_format));
    return tokens;
  };
  return {
    text: count,
    fit,
    message,
    messages,
    fixed,
    request: (chat) => messages(chat.messages) + fixed(chat),
    requestUpTo(chat, cap) {
      // The same walk over a count that keeps a running total of the text it has seen (framing
      // tokens aside, so it never stops early) and leaves the walk once that total passes `cap`.
      let seen = 0;
      const capped = (text: string) => {
        const tokens = tokenizer.countUpTo(text, cap - seen);
        seen += tokens;
        if (seen > cap) throw PAST_CAP;
        return tokens;
      };
      try {
        return makeCounter({ ...tokenizer, count: capped }).request(chat);
      } catch (error) {
        if (error === PAST_CAP) return seen;
        throw error;
      }
    },
  };
}

/** About four characters of text per token: what a count without the tokenizer can say. */
const CHARS_PER_TOKEN = 4;
const roughCount = (text: string): number => Math.ceil(text.length / CHARS_PER_TOKEN);

/**
 * A counter without the tokenizer, synchronous and linear: text at four characters a token, images
 * by the tile formula, other parts at their allowance (never their base64 length). For a usage
 * record the provider did not report (or reported wrongly), where no await is possible.
 */
export const roughCounter: TokenCounter = makeCounter({
  count: roughCount,
  countUpTo: (text) => roughCount(text),
  fit: (text, maxTokens) => Math.min(text.length, maxTokens * CHARS_PER_TOKEN),
});

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

