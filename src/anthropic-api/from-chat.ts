// Chat answers → Anthropic Messages answers: a chat.completion → a `message`, and a stream of chat
// chunks → the exact Messages event sequence (message_start, ping, content_block_start / delta /
// stop per block, message_delta with stop_reason and usage, message_stop). Pure: no I/O.
// Tool arguments are forwarded fragment by fragment as `input_json_delta`, whether they arrive in
// pieces (OpenAI) or whole in the call's first chunk (Gemini, Ollama): the concatenation is always
// the complete JSON, `{}` when the model sent none.
// @see https://docs.anthropic.com/en/docs/build-with-claude/streaming
import { StreamConversionError, type GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionResponse, CompletionUsage, FinishReason, UrlCitation } from '../openai/types.js';
import type {
  AnthropicContentBlock,
  AnthropicErrorResponse,
  AnthropicErrorType,
  AnthropicMessage,
  AnthropicStopReason,
  AnthropicStreamEvent,
  AnthropicUsage,
} from '../providers/anthropic/anthropic-wire.js';
import { isRecord } from '../providers/anthropic/anthropic-wire.js';
import { orderAssistantTurn } from '../providers/anthropic/thinking-order.js';
import { upstreamTokenCount as count } from '../providers/token-count.js';
import { reportedSearches } from '../usage/reported-usage.js';
import { blockEvents, searchQueriesOf, urlCitationsOf, webSearchBlocks } from './web-search.js';

export function stopReasonOf(finish: FinishReason | null | undefined, hasToolUse = false): AnthropicStopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      // Hosts end some answers with tool calls as `stop` (OpenAI's gpt-4o with a forced tool, Google's
      // OpenAI-compatible streams): an Anthropic client runs its tools only on `tool_use`.
      return hasToolUse ? 'tool_use' : 'end_turn';
  }
}

/**
 * The stop sequence an answer ended on, where the host says which: vLLM's `stop_reason` (the stop
 * string; a number is a stop token's id) and SGLang's `matched_stop` on the choice. OpenAI and most
 * hosts end on a stop sequence with `stop`, as on a natural end, and drop the sequence from the text:
 * there it cannot be known, and the answer says `end_turn`.
 * @see https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
 */
export function matchedStopOf(choice: unknown): string | undefined {
  if (!isRecord(choice) || choice.finish_reason !== 'stop') return undefined;
  const matched = typeof choice.stop_reason === 'string' ? choice.stop_reason : choice.matched_stop;
  return typeof matched === 'string' && matched.length > 0 ? matched : undefined;
}

/**
 * OpenAI's prompt_tokens include cached tokens; Anthropic reports cache reads and writes apart from
 * input_tokens (writes as OpenRouter reports them: `cache_write_tokens`). The usage is a pass-through
 * host's, unchecked: a count that is missing, null or no count is 0 (it made `input_tokens` NaN,
 * null in JSON, and left `output_tokens` out).
 */
export function usageOf(usage: CompletionUsage | undefined | null): AnthropicUsage {
  if (!isRecord(usage)) return { input_tokens: 0, output_tokens: 0 };
  const details: unknown = usage.prompt_tokens_details;
  const cached = isRecord(details) ? count(details.cached_tokens) : 0;
  const written = isRecord(details) ? count(details.cache_write_tokens) : 0;
  const converted: AnthropicUsage = {
    input_tokens: Math.max(0, count(usage.prompt_tokens) - cached - written),
    output_tokens: count(usage.completion_tokens),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  };
  // A reasoning model's thinking, inside completion_tokens as Claude's is inside output_tokens.
  const outputDetails: unknown = usage.completion_tokens_details;
  const thinking = isRecord(outputDetails) ? Math.min(converted.output_tokens, count(outputDetails.reasoning_tokens)) : 0;
  if (thinking > 0) converted.output_tokens_details = { thinking_tokens: thinking };
  // Web searches the model ran (Gemini's grounding queries, OpenRouter's), billed per search as Claude's are.
  const searches = count(reportedSearches(usage as unknown as Record<string, unknown>));
  if (searches > 0) converted.server_tool_use = { web_search_requests: searches, web_fetch_requests: 0 };
  return converted;
}

/** A tool call's arguments as an object: `{}` for none; text that is not a JSON object is kept under `_raw`, never lost. */
export function parseToolInput(text: string): Record<string, unknown> {
  if (text.trim().length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed)) return parsed;
  } catch {
    // Falls through: the model wrote something that is not JSON.
  }
  return { _raw: text };
}

/** A signed thinking block and the id of the tool call it came after (`after_tool_call_id`), if any. */
type PlacedBlock = { block: AnthropicContentBlock; after: string | undefined };

/** Claude's signed thinking blocks an answer carries (`thinking_blocks`), as Messages blocks; empty when none. */
function thinkingBlocksOf(value: unknown): PlacedBlock[] {
  const blocks = isRecord(value) ? value.thinking_blocks : undefined;
  if (!Array.isArray(blocks)) return [];
  const out: PlacedBlock[] = [];
  for (const block of blocks as unknown[]) {
    if (!isRecord(block)) continue;
    const after = typeof block.after_tool_call_id === 'string' ? block.after_tool_call_id : undefined;
    if (block.type === 'thinking' && typeof block.thinking === 'string' && typeof block.signature === 'string') out.push({ block: { type: 'thinking', thinking: block.thinking, signature: block.signature }, after });
    else if (block.type === 'redacted_thinking' && typeof block.data === 'string') out.push({ block: { type: 'redacted_thinking', data: block.data }, after });
  }
  return out;
}

/** Providers that think aloud in OpenAI's format put it in `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter). */
function reasoningOf(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const text = value.reasoning_content ?? value.reasoning;
  return typeof text === 'string' && text.length > 0 ? text : undefined;
}

export function messageId(chatId: string | undefined, fallback: string): string {
  const id = chatId !== undefined && chatId.length > 0 ? chatId : fallback;
  return id.startsWith('msg_') ? id : `msg_${id.replace(/^chatcmpl-/, '')}`;
}

/**
 * One tool call → a `tool_use` block. The answer passed through unchecked: a call with no function
 * name throws (the pipeline answers 502); one without arguments has the input `{}`, as in a stream.
 */
function toolUse(id: unknown, call: unknown, fallbackId: string): AnthropicContentBlock {
  if (!isRecord(call) || typeof call.name !== 'string') throw new TypeError('a tool call without a function name');
  const args = call.arguments;
  return { type: 'tool_use', id: typeof id === 'string' && id.length > 0 ? id : fallbackId, name: call.name, input: typeof args === 'string' ? parseToolInput(args) : {} };
}

/** `stop_reason` and `stop_sequence`: `stop_sequence` with the sequence when the host named one it ended on. */
function stopOf(refused: boolean, finish: FinishReason | null | undefined, hasToolUse: boolean, matched: string | undefined): { stop_reason: AnthropicStopReason; stop_sequence: string | null } {
  if (refused) return { stop_reason: 'refusal', stop_sequence: null };
  if (matched !== undefined && !hasToolUse) return { stop_reason: 'stop_sequence', stop_sequence: matched };
  return { stop_reason: stopReasonOf(finish, hasToolUse), stop_sequence: null };
}

/** A whole chat.completion → an Anthropic `message`; `model` stands in for an answer that names none. */
export function toAnthropicMessage(chat: ChatCompletionResponse, requestId: string, model = ''): AnthropicMessage {
  const choice = chat.choices[0];
  const message = choice?.message;
  // Claude's own blocks, signed, when the answer came from Claude; else the reasoning text, unsigned.
  const signed = thinkingBlocksOf(message);
  const reasoning = signed.length === 0 ? reasoningOf(message) : undefined;
  const before: AnthropicContentBlock[] = [];
  if (reasoning !== undefined) before.push({ type: 'thinking', thinking: reasoning, signature: '' });
  // An OpenAI refusal is the model's answer (content null): Anthropic carries it as text with stop_reason `refusal`.
  const refusal = typeof message?.refusal === 'string' && message.refusal.length > 0 ? message.refusal : undefined;
  const text = typeof message?.content === 'string' && message.content.length > 0 ? message.content : refusal;
  // A searched answer: the search, its pages, then the text cut at the spans it cites.
  const searched = refusal === undefined ? webSearchBlocks(text ?? '', urlCitationsOf(message), searchQueriesOf(message), requestId) : undefined;
  if (searched !== undefined) before.push(...searched);
  else if (text !== undefined) before.push({ type: 'text', text });
  const calls: Array<{ id: string; block: AnthropicContentBlock }> = [];
  for (const call of message?.tool_calls ?? []) {
    const block = toolUse(call.id, call.function, `toolu_${requestId}_${signed.length + before.length + calls.length}`);
    calls.push({ id: typeof call.id === 'string' ? call.id : '', block });
  }
  if (message?.function_call !== undefined) calls.push({ id: '', block: toolUse(undefined, message.function_call, `toolu_${requestId}`) });
  // Claude thinks between the calls of one answer; the client replays this message as it got it, and
  // Claude refuses a turn whose thinking moved, so each block goes back after the call it came after.
  const content = orderAssistantTurn(signed, before, calls);
  return {
    id: messageId(chat.id, requestId),
    type: 'message',
    role: 'assistant',
    model: typeof chat.model === 'string' && chat.model.length > 0 ? chat.model : model,
    content,
    ...stopOf(refusal !== undefined, choice?.finish_reason, content.some((block) => block.type === 'tool_use'), matchedStopOf(choice)),
    usage: usageOf(chat.usage),
  };
}

/** One event, framed as Anthropic frames it: the `event:` name (the SDK dispatches on it) and the JSON. */
export function encodeEvent(event: AnthropicStreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * One tool call of the chat stream. `args` is every fragment so far; `depth`, `quoted` and `escaped`
 * follow the JSON as it grows, so that whether it is complete costs one parse, not one per fragment.
 */
interface ToolCall {
  id: string;
  name: string;
  args: string;
  depth: number;
  quoted: boolean;
  escaped: boolean;
  /** Its block's index once started; `closed` once stopped. */
  block?: number;
  closed: boolean;
  complete?: boolean;
}

type OpenBlock = { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; tool: ToolCall };
/** A held thinking block keeps the signature that came while it was held; a redacted one is held whole. */
type Pending =
  | { kind: 'text'; text: string }
  | { kind: 'thinking'; text: string; signature?: string }
  | { kind: 'tool'; tool: ToolCall }
  | { kind: 'redacted'; block: AnthropicContentBlock };

function append(tool: ToolCall, fragment: string): void {
  tool.args += fragment;
  tool.complete = undefined;
  for (const char of fragment) {
    if (tool.escaped) tool.escaped = false;
    else if (tool.quoted) {
      if (char === '\\') tool.escaped = true;
      else if (char === '"') tool.quoted = false;
    } else if (char === '"') tool.quoted = true;
    else if (char === '{' || char === '[') tool.depth++;
    else if (char === '}' || char === ']') tool.depth--;
  }
}

/** Whether the arguments so far are a whole JSON value: nothing more can belong to them. */
function isComplete(tool: ToolCall): boolean {
  if (tool.complete !== undefined) return tool.complete;
  if (tool.quoted || tool.depth !== 0 || tool.args.trim().length === 0) return (tool.complete = false);
  try {
    JSON.parse(tool.args);
    tool.complete = true;
  } catch {
    tool.complete = false;
  }
  return tool.complete;
}

/**
 * Turns chat chunks into Anthropic events, one chunk at a time: `push` returns the frames a chunk
 * makes (maybe none), `finish` the closing ones. Only choice 0 is read (Messages has one answer).
 *
 * Anthropic's blocks are strictly one after another; chat deltas need not be. OpenAI sends each call
 * whole before the next, but Responses-to-chat bridges and some hosts interleave parallel calls'
 * fragments (index 0 again after index 1 began). So a block is left only once it is done: text at
 * any time, a tool call once its arguments are a complete JSON value. Until then whatever else arrives
 * (another call, text) is held, in order, and goes out as soon as the open call completes, or at the
 * end, each block with its buffered content in one delta. Sequential calls still stream live.
 */
export class AnthropicStreamWriter {
  private started = false;
  private open: OpenBlock | undefined;
  private next = 0;
  /** OpenAI tool-call index → its call (so later argument fragments find it). */
  private readonly tools = new Map<number, ToolCall>();
  /** Blocks that arrived while an unfinished call was open, in arrival order. */
  private readonly pending: Pending[] = [];
  private finish: FinishReason | null = null;
  /** The stop sequence the host said the answer ended on (matchedStopOf). */
  private matched: string | undefined;
  /** The model refused (OpenAI's `refusal` deltas): the stop reason says so. */
  private refused = false;
  private usage: CompletionUsage | undefined;
  private ended = false;
  /** With web search: the text, held to the end (the citations and queries come last), and what cites it. */
  private held = '';
  private readonly citations = new Map<string, UrlCitation>();
  private readonly queries = new Set<string>();
  /** With web search: the tool calls, held to go after the held text, as the whole answer puts them. */
  private readonly heldCalls: ToolCall[] = [];

  /**
   * `webSearch`: the request turned a web search on, so the answer's text is held and sent at the end
   * after the search's blocks, cut at the spans it cites, then the tool calls, held too: the order of
   * the whole answer (toAnthropicMessage) and of Claude's own. Thinking still streams live (it comes first in both).
   */
  constructor(
    private readonly requestId: string,
    private readonly model: string,
    private readonly webSearch = false,
  ) {}

  private start(chunk: ChatCompletionChunk): string {
    this.started = true;
    const message: AnthropicMessage = {
      id: messageId(chunk.id, this.requestId),
      type: 'message',
      role: 'assistant',
      model: typeof chunk.model === 'string' && chunk.model.length > 0 ? chunk.model : this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // The prompt's count arrives with the last chunk; message_delta carries it.
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    return encodeEvent({ type: 'message_start', message }) + encodeEvent({ type: 'ping' });
  }

  /** Whether the open block may be closed for another: anything but a call whose arguments are unfinished. */
  private leavable(): boolean {
    return this.open?.kind !== 'tool' || isComplete(this.open.tool);
  }

  private close(): string {
    const open = this.open;
    if (open === undefined) return '';
    this.open = undefined;
    let out = '';
    if (open.kind === 'tool') {
      open.tool.closed = true;
      // A call with no arguments at all still has a complete input: `{}`.
      if (open.tool.args.length === 0) out += this.delta(open.index, { type: 'input_json_delta', partial_json: '{}' });
    }
    return out + encodeEvent({ type: 'content_block_stop', index: open.index });
  }

  private delta(index: number, delta: Extract<AnthropicStreamEvent, { type: 'content_block_delta' }>['delta']): string {
    return encodeEvent({ type: 'content_block_delta', index, delta });
  }

  private textDelta(kind: 'text' | 'thinking', index: number, text: string): string {
    return this.delta(index, kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text });
  }

  /** Closes the open block and starts `block`, its content so far in one delta. */
  private begin(block: Pending): string {
    let out = this.close();
    const index = this.next++;
    if (block.kind === 'redacted') {
      out += encodeEvent({ type: 'content_block_start', index, content_block: block.block });
      return out + encodeEvent({ type: 'content_block_stop', index });
    }
    if (block.kind === 'tool') {
      const { tool } = block;
      tool.block = index;
      this.open = { kind: 'tool', index, tool };
      out += encodeEvent({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: tool.id, name: tool.name, input: {} } });
      if (tool.args.length > 0) out += this.delta(index, { type: 'input_json_delta', partial_json: tool.args });
      return out;
    }
    this.open = { kind: block.kind, index };
    const start: AnthropicContentBlock = block.kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
    out += encodeEvent({ type: 'content_block_start', index, content_block: start });
    out += this.textDelta(block.kind, index, block.text);
    return block.kind === 'thinking' && block.signature !== undefined ? out + this.delta(index, { type: 'signature_delta', signature: block.signature }) : out;
  }

  /** Starts the held blocks while the open one may be left (all of them when `all`, at the end). */
  private drain(all = false): string {
    let out = '';
    for (let block = this.pending[0]; block !== undefined && (all || this.leavable()); block = this.pending[0]) {
      this.pending.shift();
      out += this.begin(block);
    }
    return out;
  }

  private text(kind: 'text' | 'thinking', text: string): string {
    const open = this.open;
    if (open?.kind === kind && this.pending.length === 0) return this.textDelta(kind, open.index, text);
    if (this.pending.length === 0 && this.leavable()) return this.begin({ kind, text });
    const last = this.pending.at(-1);
    // A signed thinking block is whole: more thinking after it is a block of its own.
    if (last?.kind === kind && (last.kind === 'text' || last.signature === undefined)) last.text += text;
    else this.pending.push({ kind, text });
    return '';
  }

  /**
   * A whole thinking block, as Claude's stream sends it when the block ends: a signed one signs the
   * thinking block streamed so far (or the one held, when blocks are held behind an unfinished call);
   * a redacted one is a block of its own, held like any other. Anything else is not ours to place.
   */
  private thinkingBlock(block: AnthropicContentBlock): string {
    if (block.type === 'thinking') {
      const signature = (block as { signature: string }).signature;
      const last = this.pending.at(-1);
      if (last?.kind === 'thinking') last.signature = signature;
      else if (this.pending.length === 0 && this.open?.kind === 'thinking') return this.delta(this.open.index, { type: 'signature_delta', signature });
      return '';
    }
    if (block.type !== 'redacted_thinking') return '';
    if (this.pending.length === 0 && this.leavable()) return this.begin({ kind: 'redacted', block });
    this.pending.push({ kind: 'redacted', block });
    return '';
  }

  private toolCall(call: { index: number; id?: unknown; function?: { name?: unknown; arguments?: unknown } }): string {
    const fragment = typeof call.function?.arguments === 'string' ? call.function.arguments : '';
    // A pass-through host's chunk is unchecked: an id or name that is no string is none.
    const id = typeof call.id === 'string' && call.id.length > 0 ? call.id : undefined;
    const name = typeof call.function?.name === 'string' ? call.function.name : '';
    let tool = this.tools.get(call.index);
    // Some hosts (Ollama behind LiteLLM) give parallel calls one index: a new id after a finished call is a new call.
    if (tool === undefined || (id !== undefined && id !== tool.id && isComplete(tool))) {
      tool = { id: id ?? `toolu_${this.requestId}_${call.index}`, name, args: '', depth: 0, quoted: false, escaped: false, closed: false };
      this.tools.set(call.index, tool);
      append(tool, fragment);
      if (this.webSearch) {
        this.heldCalls.push(tool);
        return '';
      }
      if (this.pending.length === 0 && this.leavable()) return this.begin({ kind: 'tool', tool });
      this.pending.push({ kind: 'tool', tool });
      return '';
    }
    if (tool.block === undefined && tool.name.length === 0) tool.name = name;
    if (fragment.length === 0) return '';
    if (tool.closed) {
      // Only possible after its arguments were complete: whitespace changes nothing; more would make
      // them invalid, and the block cannot be reopened: the throw ends the stream with an error event
      // (answer-format.ts) rather than lose them.
      if (fragment.trim().length === 0) return '';
      throw new StreamConversionError(`it sent more arguments for tool call ${call.index} after they were complete`);
    }
    append(tool, fragment);
    if (tool.block === undefined) return '';
    return this.delta(tool.block, { type: 'input_json_delta', partial_json: fragment }) + (this.pending.length > 0 ? this.drain() : '');
  }

  push(chunk: ChatCompletionChunk): string {
    let out = this.started ? '' : this.start(chunk);
    if (chunk.usage !== undefined && chunk.usage !== null) this.usage = chunk.usage;
    const choice = chunk.choices.find((entry) => entry.index === 0);
    if (choice === undefined) return out;
    const delta = choice.delta;
    const reasoning = reasoningOf(delta);
    if (reasoning !== undefined) out += this.text('thinking', reasoning);
    for (const { block } of thinkingBlocksOf(delta)) out += this.thinkingBlock(block);
    if (typeof delta.content === 'string' && delta.content.length > 0) {
      if (this.webSearch) this.held += delta.content;
      else out += this.text('text', delta.content);
    }
    if (this.webSearch) {
      // A provider may repeat its whole metadata in later chunks: each citation and query counts once.
      for (const citation of urlCitationsOf(delta)) this.citations.set(JSON.stringify(citation.url_citation), citation);
      for (const query of searchQueriesOf(delta)) this.queries.add(query);
    }
    if (typeof delta.refusal === 'string' && delta.refusal.length > 0) {
      this.refused = true;
      out += this.text('text', delta.refusal);
    }
    const calls = delta.tool_calls ?? (delta.function_call === undefined ? undefined : [{ index: 0, id: undefined, function: delta.function_call }]);
    // The first delta may carry the whole arguments (Gemini, Ollama): they are forwarded like any fragment.
    for (const call of calls ?? []) out += this.toolCall(call);
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
      this.finish = choice.finish_reason;
      this.matched = matchedStopOf(choice);
    }
    return out;
  }

  /** The held text of a searched answer, after the search's blocks (webSearchBlocks), then its held tool calls, each whole. */
  private searched(): string {
    if (!this.webSearch) return '';
    const blocks = webSearchBlocks(this.held, [...this.citations.values()], [...this.queries], this.requestId) ?? (this.held.length > 0 ? [{ type: 'text', text: this.held }] : []);
    const events = blockEvents(blocks, this.next);
    this.next += blocks.length;
    let out = events.map(encodeEvent).join('');
    for (const tool of this.heldCalls) out += this.begin({ kind: 'tool', tool });
    return out + this.close();
  }

  /** The closing events: the open block's stop, the held blocks, message_delta (stop reason, usage), message_stop. */
  end(): string {
    if (this.ended) return '';
    this.ended = true;
    let out = this.started ? '' : this.start({ id: '', object: 'chat.completion.chunk', created: 0, model: this.model, choices: [] });
    out += this.drain(true) + this.close() + this.searched();
    const usage = usageOf(this.usage);
    out += encodeEvent({
      type: 'message_delta',
      delta: stopOf(this.refused, this.finish, this.tools.size > 0, this.matched),
      usage: {
        output_tokens: usage.output_tokens,
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens ?? null,
        cache_read_input_tokens: usage.cache_read_input_tokens ?? null,
        ...(usage.output_tokens_details === undefined ? {} : { output_tokens_details: usage.output_tokens_details }),
        ...(usage.server_tool_use === undefined ? {} : { server_tool_use: usage.server_tool_use }),
      },
    });
    return out + encodeEvent({ type: 'message_stop' });
  }
}

/** GatewayError statuses → Anthropic's error types (the status stays ours). */
export function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    case 504:
      return 'timeout_error';
    default:
      return status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error';
  }
}

/** The body of an error answer on /v1/messages, and the data of an `error` event. */
export function toAnthropicError(error: Pick<GatewayError, 'status' | 'message'>, requestId?: string): AnthropicErrorResponse {
  return { type: 'error', error: { type: anthropicErrorType(error.status), message: error.message }, ...(requestId === undefined ? {} : { request_id: requestId }) };
}

export function encodeErrorEvent(error: GatewayError): string {
  return `event: error\ndata: ${JSON.stringify(toAnthropicError(error))}\n\n`;
}
