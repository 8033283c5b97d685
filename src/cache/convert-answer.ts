// Pure conversions between the two forms of one answer: a list of chat.completion.chunk objects
// (a stream) and a chat.completion. The cache stores whichever form it saw first and serves the
// other from it; nothing here does I/O or reads the clock.
import type {
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChatCompletionChunkChoice,
  ChatCompletionResponse,
  ChunkDelta,
  CompletionUsage,
  FinishReason,
  FunctionCall,
  ResponseMessage,
  ToolCall,
} from '../openai/types.js';
import { isRecord } from '../json/guards.js';

interface ToolCallParts {
  id: string;
  type: 'function';
  name: string;
  arguments: string;
  /** Gemini's thought signature of the call (Google's OpenAI-compatible field), kept for its replay. */
  extra: ToolCall['extra_content'] | undefined;
}

/**
 * What providers add beside OpenAI's own message fields, kept in both forms: the reasoning text
 * that DeepSeek and vLLM (`reasoning_content`) and OpenRouter (`reasoning`) stream in pieces, and
 * which /v1/messages turns into a thinking block; OpenRouter's `reasoning_details`; OpenAI's `annotations` (search citations), Gemini's search `web_search_queries`, generated `images` and `audio`.
 */
const REASONING_FIELDS = ['reasoning_content', 'reasoning'] as const;

interface ChoiceParts {
  content: string | null;
  refusal: string | null;
  toolCalls: Map<number, ToolCallParts>;
  functionCall: FunctionCall | undefined;
  finishReason: FinishReason | null;
  logprobContent: unknown[] | undefined;
  logprobRefusal: unknown[] | undefined;
  reasoning: Map<string, string> | undefined;
  /** Claude's signed thinking blocks (`thinking_blocks`), each whole in one delta: replayed by the client. */
  thinkingBlocks: unknown[] | undefined;
  /** OpenRouter's `reasoning_details`, joined from their streamed fragments (addReasoningDetail): replayed by the client. */
  reasoningDetails: Record<string, unknown>[] | undefined;
  annotations: unknown[] | undefined;
  /** The queries a Gemini answer's Google Search ran, each sent once over the stream (src/providers/gemini/convert-stream.ts). */
  searchQueries: string[] | undefined;
  /** Generated images (`images`: Gemini's image models, OpenRouter's), each whole in one delta. */
  images: unknown[] | undefined;
  audio: Record<string, unknown> | undefined;
}

function newChoice(): ChoiceParts {
  return {
    content: null,
    refusal: null,
    toolCalls: new Map(),
    functionCall: undefined,
    finishReason: null,
    logprobContent: undefined,
    logprobRefusal: undefined,
    reasoning: undefined,
    thinkingBlocks: undefined,
    reasoningDetails: undefined,
    annotations: undefined,
    searchQueries: undefined,
    images: undefined,
    audio: undefined,
  };
}

/** The text fields of a reasoning detail (`reasoning.text`, `.summary`, `.encrypted`) that stream in pieces. */
const DETAIL_TEXT_FIELDS = new Set(['text', 'summary', 'data']);

/**
 * Adds one streamed reasoning detail. OpenRouter streams an entry as fragments of its `type` and
 * `index`, the signature on the last: a fragment of the entry before joins it (text joined, other
 * fields as last sent), since an entry sent back in pieces is refused. One without an index stays whole.
 * @see https://openrouter.ai/docs/use-cases/reasoning-tokens
 */
function addReasoningDetail(parts: ChoiceParts, detail: Record<string, unknown>): void {
  const details = (parts.reasoningDetails ??= []);
  const last = details[details.length - 1];
  if (last === undefined || detail.index === undefined || last.index !== detail.index || last.type !== detail.type) {
    details.push({ ...detail });
    return;
  }
  for (const [field, value] of Object.entries(detail)) {
    if (DETAIL_TEXT_FIELDS.has(field) && typeof value === 'string') last[field] = (typeof last[field] === 'string' ? last[field] : '') + value;
    else if (value !== null && value !== undefined) last[field] = value;
  }
}

function addExtras(parts: ChoiceParts, delta: Record<string, unknown>): void {
  for (const field of REASONING_FIELDS) {
    const piece = delta[field];
    if (typeof piece === 'string') (parts.reasoning ??= new Map()).set(field, (parts.reasoning.get(field) ?? '') + piece);
  }
  if (Array.isArray(delta.thinking_blocks)) for (const block of delta.thinking_blocks as unknown[]) (parts.thinkingBlocks ??= []).push(block);
  if (Array.isArray(delta.reasoning_details)) for (const detail of delta.reasoning_details as unknown[]) if (isRecord(detail)) addReasoningDetail(parts, detail);
  if (Array.isArray(delta.annotations)) for (const annotation of delta.annotations as unknown[]) (parts.annotations ??= []).push(annotation);
  if (Array.isArray(delta.images)) for (const image of delta.images as unknown[]) (parts.images ??= []).push(image);
  if (Array.isArray(delta.web_search_queries)) for (const query of delta.web_search_queries as unknown[]) if (typeof query === 'string') (parts.searchQueries ??= []).push(query);
  const piece = delta.audio;
  if (isRecord(piece)) {
    // As the openai SDK assembles it: id and expiry are replaced, data and transcript joined.
    const audio = (parts.audio ??= {});
    if (piece.id !== undefined && piece.id !== null) audio.id = piece.id;
    if (typeof piece.data === 'string') audio.data = (typeof audio.data === 'string' ? audio.data : '') + piece.data;
    if (typeof piece.transcript === 'string') audio.transcript = (typeof audio.transcript === 'string' ? audio.transcript : '') + piece.transcript;
    if (piece.expires_at !== undefined && piece.expires_at !== null) audio.expires_at = piece.expires_at;
  }
}

function addDelta(parts: ChoiceParts, delta: ChunkDelta): void {
  if (typeof delta.content === 'string') parts.content = (parts.content ?? '') + delta.content;
  if (typeof delta.refusal === 'string') parts.refusal = (parts.refusal ?? '') + delta.refusal;
  if (Array.isArray(delta.tool_calls)) {
    for (const call of delta.tool_calls) {
      let known = parts.toolCalls.get(call.index);
      if (known === undefined) {
        known = { id: '', type: 'function', name: '', arguments: '', extra: undefined };
        parts.toolCalls.set(call.index, known);
      }
      if (typeof call.id === 'string') known.id = call.id;
      // Names arrive whole (some hosts repeat them on every delta); arguments arrive in pieces.
      if (typeof call.function?.name === 'string' && call.function.name.length > 0) known.name = call.function.name;
      if (typeof call.function?.arguments === 'string') known.arguments += call.function.arguments;
      if (isRecord(call.extra_content)) known.extra = call.extra_content;
    }
  }
  if (isRecord(delta.function_call)) {
    const call = (parts.functionCall ??= { name: '', arguments: '' });
    if (typeof delta.function_call.name === 'string' && delta.function_call.name.length > 0) call.name = delta.function_call.name;
    if (typeof delta.function_call.arguments === 'string') call.arguments += delta.function_call.arguments;
  }
}

function addLogprobs(parts: ChoiceParts, logprobs: unknown): void {
  if (!isRecord(logprobs)) return;
  // Loops, not push(...): a spread of a very long array overflows the stack.
  if (Array.isArray(logprobs.content)) for (const entry of logprobs.content as unknown[]) (parts.logprobContent ??= []).push(entry);
  if (Array.isArray(logprobs.refusal)) for (const entry of logprobs.refusal as unknown[]) (parts.logprobRefusal ??= []).push(entry);
}

/**
 * Assembles a chat.completion from the chunks of a stream, as the OpenAI SDKs do: content and
 * refusal concatenated per choice, tool calls merged by index with their arguments joined, the
 * legacy function_call joined, the last finish_reason, logprobs appended, usage from the chunk
 * that carried it.
 */
export function convertChunksToCompletion(chunks: readonly ChatCompletionChunk[]): ChatCompletionResponse {
  const choices = new Map<number, ChoiceParts>();
  let usage: CompletionUsage | undefined;
  let fingerprint: string | null | undefined;
  for (const chunk of chunks) {
    if (isRecord(chunk.usage)) usage = chunk.usage;
    if (chunk.system_fingerprint !== undefined && chunk.system_fingerprint !== null) fingerprint = chunk.system_fingerprint;
    for (const choice of chunk.choices) {
      let parts = choices.get(choice.index);
      if (parts === undefined) {
        parts = newChoice();
        choices.set(choice.index, parts);
      }
      if (isRecord(choice.delta)) {
        addDelta(parts, choice.delta);
        addExtras(parts, choice.delta as Record<string, unknown>);
      }
      addLogprobs(parts, choice.logprobs);
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) parts.finishReason = choice.finish_reason;
    }
  }
  // Azure's first chunk is its prompt filter's verdict, with an empty id and model and created 0: the
  // answer is named by the first chunk that has an id, as the openai SDK skips id-less ones when it assembles.
  const first = chunks.find((chunk) => typeof chunk.id === 'string' && chunk.id.length > 0) ?? chunks[0];
  const assembled: ChatCompletionChoice[] = [...choices.entries()]
    .sort(([left], [right]) => left - right)
    .map(([index, parts]) => {
      // A role chunk's `content: ""` is no content: a call or a refusal answers with content null, as OpenAI's whole answers do.
      const calls = parts.toolCalls.size > 0 || parts.functionCall !== undefined || parts.refusal !== null;
      const message: ResponseMessage = { role: 'assistant', content: parts.content === '' && calls ? null : parts.content, refusal: parts.refusal };
      if (parts.toolCalls.size > 0) {
        message.tool_calls = [...parts.toolCalls.entries()]
          .sort(([left], [right]) => left - right)
          .map(([, call]): ToolCall => ({ id: call.id, type: call.type, function: { name: call.name, arguments: call.arguments }, ...(call.extra === undefined ? {} : { extra_content: call.extra }) }));
      }
      if (parts.functionCall !== undefined) message.function_call = parts.functionCall;
      const extra = message as unknown as Record<string, unknown>;
      if (parts.reasoning !== undefined) for (const [field, text] of parts.reasoning) extra[field] = text;
      if (parts.thinkingBlocks !== undefined) extra.thinking_blocks = parts.thinkingBlocks;
      if (parts.reasoningDetails !== undefined) extra.reasoning_details = parts.reasoningDetails;
      if (parts.annotations !== undefined) extra.annotations = parts.annotations;
      if (parts.searchQueries !== undefined) extra.web_search_queries = parts.searchQueries;
      if (parts.images !== undefined) extra.images = parts.images;
      if (parts.audio !== undefined) extra.audio = parts.audio;
      const logprobs =
        parts.logprobContent === undefined && parts.logprobRefusal === undefined
          ? null
          : { content: parts.logprobContent ?? null, refusal: parts.logprobRefusal ?? null };
      return { index, message, logprobs, finish_reason: parts.finishReason };
    });
  const completion: ChatCompletionResponse = {
    id: first?.id ?? '',
    object: 'chat.completion',
    created: first?.created ?? 0,
    model: first?.model ?? '',
    choices: assembled,
  };
  if (usage !== undefined) completion.usage = usage;
  if (fingerprint !== undefined) completion.system_fingerprint = fingerprint;
  return completion;
}

function chunkChoice(index: number, delta: ChunkDelta, finishReason: FinishReason | null, logprobs: unknown = null): ChatCompletionChunkChoice {
  return { index, delta, logprobs, finish_reason: finishReason };
}

/**
 * Synthesises the chunks of a stream from a chat.completion: per choice a role chunk, the content
 * (with its logprobs), the refusal, one chunk per tool call, the legacy function_call and the
 * finish; then, when asked, a usage chunk with no choices, as OpenAI sends it. With usage asked,
 * every other chunk has `"usage": null`, as OpenAI's (and the translated providers') live streams do.
 * @see https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
 */
export function convertCompletionToChunks(completion: ChatCompletionResponse, includeUsage: boolean): ChatCompletionChunk[] {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
    ...(completion.system_fingerprint === undefined ? {} : { system_fingerprint: completion.system_fingerprint }),
  };
  const chunk = (choices: ChatCompletionChunkChoice[]): ChatCompletionChunk => (includeUsage ? { ...base, choices, usage: null } : { ...base, choices });
  const chunks: ChatCompletionChunk[] = [];
  for (const choice of completion.choices) {
    const message = choice.message;
    const content = typeof message.content === 'string' ? message.content : null;
    chunks.push(chunk([chunkChoice(choice.index, { role: 'assistant', content: content === null ? null : '' }, null)]));
    const extra = message as unknown as Record<string, unknown>;
    // The reasoning before the answer, as it streams.
    for (const field of REASONING_FIELDS) {
      const text = extra[field];
      if (typeof text === 'string' && text.length > 0) chunks.push(chunk([chunkChoice(choice.index, { [field]: text } as ChunkDelta, null)]));
    }
    for (const field of ['thinking_blocks', 'reasoning_details'] as const) {
      const blocks = extra[field];
      if (Array.isArray(blocks) && blocks.length > 0) chunks.push(chunk([chunkChoice(choice.index, { [field]: blocks } as ChunkDelta, null)]));
    }
    if (content !== null && content.length > 0) {
      chunks.push(chunk([chunkChoice(choice.index, { content }, null, choice.logprobs ?? null)]));
    }
    if (Array.isArray(message.images) && message.images.length > 0) chunks.push(chunk([chunkChoice(choice.index, { images: message.images }, null)]));
    if (typeof message.refusal === 'string' && message.refusal.length > 0) {
      chunks.push(chunk([chunkChoice(choice.index, { refusal: message.refusal }, null)]));
    }
    (message.tool_calls ?? []).forEach((call, index) => {
      chunks.push(
        chunk([
          chunkChoice(choice.index, {
            tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments }, ...(call.extra_content === undefined ? {} : { extra_content: call.extra_content }) }],
          }, null),
        ]),
      );
    });
    if (message.function_call !== undefined) {
      chunks.push(chunk([chunkChoice(choice.index, { function_call: { name: message.function_call.name, arguments: message.function_call.arguments } }, null)]));
    }
    // The search's citations and queries in one delta, as the Gemini stream sends them.
    const cited = Array.isArray(extra.annotations) && extra.annotations.length > 0 ? { annotations: extra.annotations } : {};
    const searched = Array.isArray(message.web_search_queries) && message.web_search_queries.length > 0 ? { web_search_queries: message.web_search_queries } : {};
    if ('annotations' in cited || 'web_search_queries' in searched) chunks.push(chunk([chunkChoice(choice.index, { ...cited, ...searched } as ChunkDelta, null)]));
    if (isRecord(extra.audio)) chunks.push(chunk([chunkChoice(choice.index, { audio: extra.audio } as ChunkDelta, null)]));
    chunks.push(chunk([chunkChoice(choice.index, {}, choice.finish_reason ?? 'stop')]));
  }
  if (includeUsage && completion.usage !== undefined) chunks.push({ ...base, choices: [], usage: completion.usage });
  return chunks;
}

/** The JSON text of one SSE frame (`data: ...\n\n`, possibly several `data:` lines). */
export function parseFrameData(frame: string): string {
  const body = frame.endsWith('\n\n') ? frame.slice(0, -2) : frame;
  const field = (line: string) => (line.startsWith('data: ') ? line.slice(6) : line.startsWith('data:') ? line.slice(5) : line);
  if (body.indexOf('\n') < 0) return field(body);
  return body.split('\n').map(field).join('\n');
}

/**
 * A frame's chunk, or undefined when the frame is not a chunk (an error event, junk). A choice with
 * no `delta` gets an empty one: Azure's content-filter annotations (`content_filter_results` and
 * offsets, even after the finish) have none, and every reader of a chunk reads its delta.
 * @see https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-streaming
 */
export function parseChunkFrame(frame: string): ChatCompletionChunk | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(parseFrameData(frame));
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.choices) || parsed.error !== undefined) return undefined;
  for (const choice of parsed.choices) {
    if (!isRecord(choice) || typeof choice.index !== 'number') return undefined;
    if (!('delta' in choice)) choice.delta = {};
  }
  return parsed as unknown as ChatCompletionChunk;
}
