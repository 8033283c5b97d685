// Prompt tokens counted locally (gpt-tokenizer, o200k_base) for what must be known before the
// provider answers: token-limit and budget reservations. An estimate, not a bill: other providers'
// tokenizers differ, which is why every reservation is settled from the provider's own report.
import type { ChatCompletionRequest } from '../openai/types.js';

type CountTokens = (text: string) => number;

/** OpenAI's per-message framing (role and separators), as in its cookbook's counting recipe. */
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY = 3;
/** An image's tokens depend on its size, which we do not fetch: a high-detail 1024×1024 image. */
const TOKENS_PER_IMAGE = 765;
/** Audio and files are not decoded here; a fixed allowance keeps them from counting as free. */
const TOKENS_PER_OTHER_PART = 1_000;

let loading: Promise<CountTokens> | undefined;

/** The tokenizer is loaded on first use only, so keys with no token limit or budget never pay for it. */
function tokenizer(): Promise<CountTokens> {
  loading ??= import('gpt-tokenizer').then((module) => {
    // Text that looks like a special token (`<|endoftext|>`) is counted as text, never refused.
    const options = { disallowedSpecial: new Set<string>() };
    return (text: string) => (text.length === 0 ? 0 : module.countTokens(text, options));
  });
  return loading;
}

function countContent(count: CountTokens, content: unknown): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (part === null || typeof part !== 'object') continue;
    const typed = part as { type?: unknown; text?: unknown };
    if (typed.type === 'text' && typeof typed.text === 'string') tokens += count(typed.text);
    else if (typed.type === 'image_url') tokens += TOKENS_PER_IMAGE;
    else tokens += TOKENS_PER_OTHER_PART;
  }
  return tokens;
}

/** Prompt tokens of a chat request: messages, tool and function definitions, response schema. */
export async function estimatePromptTokens(chat: ChatCompletionRequest): Promise<number> {
  const count = await tokenizer();
  let tokens = TOKENS_PER_REPLY;
  for (const message of chat.messages) {
    tokens += TOKENS_PER_MESSAGE + countContent(count, message.content);
    if (typeof message.name === 'string') tokens += count(message.name);
    if (message.tool_calls !== undefined) tokens += count(JSON.stringify(message.tool_calls));
    if (message.function_call !== undefined) tokens += count(JSON.stringify(message.function_call));
  }
  if (chat.tools !== undefined) tokens += count(JSON.stringify(chat.tools));
  if (chat.functions !== undefined) tokens += count(JSON.stringify(chat.functions));
  if (chat.response_format !== undefined) tokens += count(JSON.stringify(chat.response_format));
  return tokens;
}
