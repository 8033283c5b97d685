// Conversation text without a model: the transcript a summariser reads, a token-exact cut at a
// sentence or word boundary, and the extractive summary used when no model can summarise.
import type { ChatMessage } from '../openai/types.js';

type Count = (text: string) => number;
/** The length of the longest start of a text within a token budget (TokenCounter.fit). */
type Fit = (text: string, maxTokens: number) => number;

const ROLE_LABEL: Record<string, string> = {
  system: 'System',
  developer: 'Developer',
  user: 'User',
  assistant: 'Assistant',
  tool: 'Tool result',
  function: 'Function result',
};

/** A message's readable text: its text parts, `[image]` for images, and the calls it makes. */
export function messageText(message: ChatMessage): string {
  const pieces: string[] = [];
  const content = message.content;
  if (typeof content === 'string') pieces.push(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (part.type === 'text' && typeof part.text === 'string') pieces.push(part.text);
      else pieces.push(`[${part.type === 'image_url' ? 'image' : part.type}]`);
    }
  }
  for (const call of message.tool_calls ?? []) {
    // A custom tool's call (openai 6.x) carries free text as `custom.input`, not `function.arguments`.
    pieces.push(call.type === 'custom' ? `[called ${call.custom.name}(${call.custom.input})]` : `[called ${call.function.name}(${call.function.arguments})]`);
  }
  if (message.function_call !== undefined) pieces.push(`[called ${message.function_call.name}(${message.function_call.arguments})]`);
  return pieces.join(' ').trim();
}

/** One line per message, `Role: text`: what the summariser is asked to condense. */
export function transcriptLine(message: ChatMessage): string {
  const label = ROLE_LABEL[message.role] ?? message.role;
  const name = typeof message.name === 'string' ? ` (${message.name})` : '';
  return `${label}${name}: ${messageText(message).replace(/\s*\n\s*/g, ' ')}`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * The shortest start of `text`, trying 4 characters per token and then twice as many each time, that
 * counts over `maxTokens` (with its count); all of `text` when none does. A cut within the budget
 * lies inside it, so cutting a long text costs what is kept, not the whole text each time.
 */
export function overBudgetPrefix(text: string, maxTokens: number, count: Count): { text: string; tokens: number } {
  for (let size = Math.max(256, maxTokens * 4); ; size *= 2) {
    if (size >= text.length) return { text, tokens: count(text) };
    const prefix = text.slice(0, size);
    const tokens = count(prefix);
    if (tokens > maxTokens) return { text: prefix, tokens };
  }
}

/**
 * The longest start of `text` that counts at most `maxTokens`, cut after a sentence when that keeps
 * at least half of it, else after a word. The result is always verified by counting: never over.
 * With `fit` the cut is found by one encoding of a start just over the budget; without, by a binary
 * search on counts (twenty counts of megabytes, for a long text and a large budget).
 */
export function truncateToTokens(text: string, maxTokens: number, count: Count, fit?: Fit): string {
  if (maxTokens <= 0) return '';
  // Only a start of a long text is counted: the cut lies inside it.
  const head = overBudgetPrefix(text, maxTokens, count);
  return head.tokens <= maxTokens ? text : cutOverBudget(head.text, maxTokens, count, fit);
}

/** truncateToTokens for a `text` known to count over `maxTokens` (a start from overBudgetPrefix). */
export function cutOverBudget(text: string, maxTokens: number, count: Count, fit?: Fit): string {
  let low = 0;
  if (fit !== undefined) low = fit(text, maxTokens);
  else {
    let high = text.length;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (count(text.slice(0, middle)) <= maxTokens) low = middle;
      else high = middle - 1;
    }
  }
  let cut = low;
  if (cut > 0 && isHighSurrogate(text.charCodeAt(cut - 1))) cut--;
  const prefix = text.slice(0, cut);
  const sentence = Math.max(prefix.lastIndexOf('. '), prefix.lastIndexOf('! '), prefix.lastIndexOf('? '), prefix.lastIndexOf('\n'));
  let result: string;
  if (sentence >= cut / 2) result = prefix.slice(0, sentence + 1);
  else {
    const space = prefix.search(/\s\S*$/);
    result = space > 0 ? prefix.slice(0, space) : prefix;
  }
  result = result.trimEnd();
  // A BPE count is not strictly monotone in the prefix: shorten word by word until it fits.
  while (result.length > 0 && count(result) > maxTokens) {
    const space = result.search(/\s\S*$/);
    result = space > 0 ? result.slice(0, space).trimEnd() : '';
  }
  return result;
}

interface Sentence {
  message: number;
  order: number;
  text: string;
  score: number;
  tokens: number;
}

const SENTENCE_SPLIT = /(?<=[.!?])\s+|\n+/;
const NAME = /\b[A-Z][a-z]+/g;

/**
 * An extractive summary within `maxTokens`: sentences picked by how much they likely carry (the first
 * and last turns, numbers, names, questions, the user's words), printed in conversation order as
 * `Role: sentence …` lines.
 */
export function extractiveSummary(messages: readonly ChatMessage[], maxTokens: number, count: Count, fit?: Fit): string {
  if (maxTokens <= 0) return '';
  const firstUser = messages.findIndex((message) => message.role === 'user');
  const last = messages.length - 1;
  const sentences: Sentence[] = [];
  const seen = new Set<string>();
  messages.forEach((message, index) => {
    const parts = messageText(message).split(SENTENCE_SPLIT);
    parts.forEach((raw, position) => {
      const text = raw.trim();
      if (text.length === 0 || seen.has(text)) return;
      seen.add(text);
      let score = 1;
      if (index === firstUser) score += 3;
      if (index === last) score += 3;
      if (message.role === 'user') score += 1;
      if (/\d/.test(text)) score += 2;
      if (text.endsWith('?')) score += 1.5;
      // Capitalised words after the first: likely names of people, products, places.
      score += Math.min(3, Math.max(0, (text.match(NAME)?.length ?? 0) - 1));
      if (position === 0) score += 0.5;
      const words = text.split(/\s+/).length;
      if (words < 3) score -= 1;
      sentences.push({ message: index, order: sentences.length, text, score, tokens: count(text) + 1 });
    });
  });
  const labels = new Map<number, number>();
  const chosen: Sentence[] = [];
  let used = 0;
  for (const sentence of [...sentences].sort((a, b) => b.score - a.score || a.order - b.order)) {
    const label = labels.has(sentence.message) ? 0 : count(`${ROLE_LABEL[messages[sentence.message]?.role ?? ''] ?? 'Message'}: `) + 1;
    if (used + sentence.tokens + label > maxTokens) continue;
    used += sentence.tokens + label;
    labels.set(sentence.message, 1);
    chosen.push(sentence);
  }
  chosen.sort((a, b) => a.order - b.order);
  const lines: string[] = [];
  let current = -1;
  for (const sentence of chosen) {
    if (sentence.message !== current) {
      current = sentence.message;
      lines.push(`${ROLE_LABEL[messages[current]?.role ?? ''] ?? 'Message'}: ${sentence.text}`);
    } else lines[lines.length - 1] += ` ${sentence.text}`;
  }
  let summary = lines.join('\n');
  // Nothing fitted whole (one long sentence): keep the start of the most informative one.
  if (summary.length === 0) {
    const best = [...sentences].sort((a, b) => b.score - a.score || a.order - b.order)[0];
    if (best !== undefined) summary = best.text;
  }
  return truncateToTokens(summary, maxTokens, count, fit);
}

/**
 * Splits lines into chunks of at most `budget` tokens, on line boundaries; an oversized line is cut
 * into pieces. Stops once there are more than `maxChunks`: that many are refused anyway.
 */
export function chunkLines(lines: readonly string[], budget: number, count: Count, fit: Fit | undefined, maxChunks: number): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let used = 0;
  const flush = () => {
    if (current.length > 0) chunks.push(current.join('\n'));
    current = [];
    used = 0;
  };
  for (const line of lines) {
    let rest = line;
    // Each piece is cut from, and the rest measured by, a start just over the budget (all of the rest
    // once it fits): counting the whole rest for every piece made one long line quadratic (1 MB took 14 s).
    let head = overBudgetPrefix(rest, budget - 1, count);
    while (head.tokens + 1 > budget) {
      flush();
      if (chunks.length > maxChunks) return chunks;
      const piece = cutOverBudget(head.text, budget - 1, count, fit);
      // A piece with no word boundary inside the budget is cut on characters.
      const taken = piece.length > 0 ? piece : rest.slice(0, Math.max(1, budget));
      chunks.push(taken);
      rest = rest.slice(taken.length).trimStart();
      head = overBudgetPrefix(rest, budget - 1, count);
    }
    const tokens = head.tokens + 1;
    if (rest.length === 0) continue;
    if (used + tokens > budget) flush();
    if (chunks.length > maxChunks) return chunks;
    current.push(rest);
    used += tokens;
  }
  flush();
  return chunks;
}
