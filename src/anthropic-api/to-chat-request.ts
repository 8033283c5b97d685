// Anthropic Messages request → the proxy's internal ChatCompletionRequest, for every provider that is
// not Anthropic (an Anthropic upstream gets the client's body as it came). Pure: no I/O. What cannot
// be expressed is refused with a 400 naming it; what only changes style is dropped with a warning.
import { createHash } from 'node:crypto';
import { invalidType, invalidValue } from '../errors/gateway-error.js';
import type { ChatCompletionRequest, ChatMessage, ContentPart, ThinkingBlock, ToolCall, ToolChoice, ToolDefinition } from '../openai/types.js';
import { ToolNames, unsupportedContent } from '../providers/chat-request-fields.js';
import type { AnthropicToolResultBlockParam, AnthropicToolUseBlockParam } from '../providers/anthropic/anthropic-wire.js';
import { ClientParams, type PartOrigin } from './client-params.js';
import type { InboundContentBlock, InboundMessageParam, InboundTool, MessagesRequest } from './messages-request.js';
import { isRecord } from '../json/guards.js';
import { checkWebSearchTool, isWebSearchTool, searchHistoryText } from './web-search.js';
import { effortForBudget } from '../providers/anthropic/thinking-effort.js';
import { placeThinking } from '../providers/anthropic/thinking-order.js';

/** Fields read below, or deliberately dropped with their own warning. */
const HANDLED = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'metadata',
  'stop_sequences',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
  'cache_control',
  // Anthropic's own routing and billing knobs: meaningless elsewhere, dropped without a word.
  'service_tier',
  'container',
  'context_management',
  // Refused when not empty (below): the model would answer without the tools those servers give it.
  'mcp_servers',
  // The structured-outputs beta's field, before `output_config.format`: read as that.
  'output_format',
]);

function dropped(warnings: string[], field: string, why = 'only Anthropic models take it'): void {
  warnings.push(`${field}: ${why}, ignored`);
}


/** The longest `user` passed on as it came: OpenAI's limit for its successor, `safety_identifier` (OpenRouter takes 128). */
export const MAX_USER_LENGTH = 64;

/**
 * `metadata.user_id` as the chat form's `user`. Claude Code sends about 150 characters (a JSON
 * object of ids lately), which OpenRouter refuses (400, at most 128); a longer one goes as its
 * SHA-256 digest (43 characters, base64url): the same id every time, and still opaque.
 */
export function userId(user: string): string {
  return user.length <= MAX_USER_LENGTH ? user : createHash('sha256').update(user).digest('base64url');
}

function mediaTypeOf(source: Record<string, unknown>, param: string): string {
  if (typeof source.media_type !== 'string' || typeof source.data !== 'string') throw invalidValue(`${param}.source`, 'a base64 source needs media_type and data');
  return source.media_type;
}

/**
 * What a document block asks that no chat part carries, said in `warnings`: its `context` (text the
 * model was to read but not cite), citations (the answer comes back without them) and a text
 * document's `title` (a PDF's is its file name).
 */
function documentWarnings(block: InboundContentBlock, param: string, source: Record<string, unknown>, warnings: string[]): void {
  const document = block as { context?: unknown; citations?: unknown; title?: unknown };
  if (typeof document.context === 'string' && document.context.length > 0) warnings.push(`${param}.context: the chat form has no document context, ignored`);
  if (isRecord(document.citations) && document.citations.enabled === true) warnings.push(`${param}.citations: the chat form has no citations, ignored`);
  if (source.type === 'text' && typeof document.title === 'string' && document.title.length > 0) warnings.push(`${param}.title: the chat form has no title for a text document, ignored`);
}

/** An image or document block of a user turn → an OpenAI content part. */
function mediaPart(block: InboundContentBlock, param: string, warnings: string[]): ContentPart {
  const source = (block as { source?: unknown }).source;
  if (source === null || typeof source !== 'object') throw invalidValue(`${param}.source`, 'expected an object');
  const typed = source as Record<string, unknown>;
  // Else `true` would be refused as a source type only Anthropic models take.
  if (typeof typed.type !== 'string') throw invalidType(`${param}.source.type`, 'string');
  if (block.type === 'image') {
    if (typed.type === 'base64') return { type: 'image_url', image_url: { url: `data:${mediaTypeOf(typed, param)};base64,${String(typed.data)}` } };
    if (typed.type === 'url' && typeof typed.url === 'string') return { type: 'image_url', image_url: { url: typed.url } };
    throw unsupportedContent(`${param}.source`, `image source '${String(typed.type)}' is only available with Anthropic models`);
  }
  // A document: base64 PDFs become file parts, plain text becomes text; URLs and Files API ids cannot travel.
  if (typed.type === 'base64' || (typed.type === 'text' && typeof typed.data === 'string')) documentWarnings(block, param, typed, warnings);
  if (typed.type === 'base64') {
    const title = (block as { title?: unknown }).title;
    // OpenAI refuses file_data without a filename, and a document's title is optional.
    return { type: 'file', file: { file_data: `data:${mediaTypeOf(typed, param)};base64,${String(typed.data)}`, filename: typeof title === 'string' && title.length > 0 ? title : 'document.pdf' } };
  }
  if (typed.type === 'text' && typeof typed.data === 'string') return { type: 'text', text: typed.data };
  throw unsupportedContent(`${param}.source`, `document source '${String(typed.type)}' is only available with Anthropic models`);
}

interface ToolResultParts {
  text: string;
  images: ContentPart[];
  /** The index of each image in the result's content. */
  positions: number[];
}

/** A tool_result's content → the tool message's text, and any images it held (they follow as a user turn). */
function toolResultParts(block: AnthropicToolResultBlockParam, param: string, warnings: string[]): ToolResultParts {
  const content = block.content;
  if (content === undefined) return { text: '', images: [], positions: [] };
  if (typeof content === 'string') return { text: content, images: [], positions: [] };
  if (!Array.isArray(content)) throw invalidValue(`${param}.content`, 'expected a string or an array of blocks');
  const texts: string[] = [];
  const images: ContentPart[] = [];
  const positions: number[] = [];
  content.forEach((part: unknown, index) => {
    const at = `${param}.content[${index}]`;
    // The request schema checks the blocks of a turn, not those nested in a tool_result.
    if (part === null || typeof part !== 'object' || Array.isArray(part)) throw invalidType(at, 'object');
    const block = part as InboundContentBlock;
    if (typeof block.type !== 'string') throw invalidType(`${at}.type`, 'string');
    if (block.type === 'text' && typeof (block as { text?: unknown }).text === 'string') texts.push((block as { text: string }).text);
    else if (block.type === 'image' || block.type === 'document') {
      images.push(mediaPart(block, at, warnings));
      positions.push(index);
    } else throw unsupportedContent(at, `'${block.type.slice(0, 64)}' blocks in a tool_result are only available with Anthropic models`);
  });
  return { text: texts.join('\n'), images, positions };
}

function argumentsOf(block: AnthropicToolUseBlockParam, param: string): string {
  const input = block.input as unknown;
  if (input === undefined || input === null) return '{}';
  if (typeof input !== 'object' || Array.isArray(input)) throw invalidValue(`${param}.input`, 'expected an object');
  return JSON.stringify(input);
}

/**
 * With `lenient`, what cannot be translated stands as its JSON text instead of a 400: the request is
 * served natively by Anthropic, and the chat form only feeds token counts, limits and the cache key.
 */
interface Mode {
  lenient: boolean;
  /** Set when a placeholder was used: the chat form is then not fit to send anywhere. */
  lossy: boolean;
}

function placeholder(block: unknown, mode: Mode, error: unknown): ContentPart {
  if (!mode.lenient) throw error;
  mode.lossy = true;
  return { type: 'text', text: JSON.stringify(block) };
}

/** The chat messages, and where each came from (for the client's paths in later 400s). */
interface Out {
  messages: ChatMessage[];
  /** The translation's warnings (X-LLM-Proxy-Warnings). */
  warnings: string[];
  params: ClientParams;
  /** A prompt-cache marker was carried over (see markerOf). */
  marked: boolean;
}

/**
 * A block's `cache_control`, carried into the chat form where the chat→Anthropic translation reads
 * it back (LiteLLM's places: a part, a message, a tool, the request), so a Claude deployment reached
 * through translation (a mixed group, Claude on OpenRouter) keeps the client's cache breakpoints.
 * Deployments that do not cache on markers are sent none (ChatTarget.stripCacheMarkers).
 */
function markerOf(block: unknown, out: Out): unknown {
  const marker = (block as { cache_control?: unknown } | null)?.cache_control;
  if (marker === undefined || marker === null) return undefined;
  out.marked = true;
  return marker;
}

/** `part` with the block's marker, when it has one. */
function marked<T extends object>(part: T, block: unknown, out: Out): T {
  const marker = markerOf(block, out);
  return marker === undefined ? part : { ...part, cache_control: marker };
}

/** Text blocks (system) as one string, or as parts when one of them carries a marker (each keeps its own). */
function textContent(blocks: ReadonlyArray<{ text: string }>, out: Out): string | ContentPart[] {
  if (!blocks.some((block) => markerOf(block, out) !== undefined)) return blocks.map((block) => block.text).join('\n\n');
  return blocks.map((block) => marked<ContentPart>({ type: 'text', text: block.text }, block, out));
}

function userTurn(message: InboundMessageParam, turn: number, out: Out, mode: Mode): void {
  const param = `messages[${turn}]`;
  if (typeof message.content === 'string') {
    out.messages.push({ role: 'user', content: message.content });
    out.params.origins.push({ kind: 'turn', message: turn });
    return;
  }
  const parts: ContentPart[] = [];
  const afterTools: ContentPart[] = [];
  // The block of each part, in step with `parts` and `afterTools`.
  const partBlocks: PartOrigin[] = [];
  const imageBlocks: PartOrigin[] = [];
  message.content.forEach((block, index) => {
    const at = `${param}.content[${index}]`;
    switch (block.type) {
      case 'text':
        if (typeof (block as { text?: unknown }).text !== 'string') throw invalidValue(`${at}.text`, 'expected a string');
        parts.push(marked<ContentPart>({ type: 'text', text: (block as { text: string }).text }, block, out));
        partBlocks.push(index);
        return;
      case 'image':
      case 'document':
        try {
          parts.push(marked(mediaPart(block, at, out.warnings), block, out));
        } catch (error) {
          parts.push(placeholder(block, mode, error));
        }
        partBlocks.push(index);
        return;
      case 'tool_result': {
        const result = block as AnthropicToolResultBlockParam;
        if (typeof result.tool_use_id !== 'string') throw invalidValue(`${at}.tool_use_id`, 'expected a string');
        let converted: ToolResultParts;
        try {
          converted = toolResultParts(result, at, out.warnings);
        } catch (error) {
          placeholder(block, mode, error);
          converted = { text: JSON.stringify(result.content), images: [], positions: [] };
        }
        const { text, images, positions } = converted;
        // OpenAI has no error flag on tool results: the model reads it from the text.
        const shown = result.is_error === true && !/^error/i.test(text) ? `Error: ${text}` : text;
        // A marker goes on the text part, not the tool message itself: OpenRouter hangs on the latter.
        const marker = markerOf(result, out);
        out.messages.push({ role: 'tool', tool_call_id: result.tool_use_id, content: marker === undefined ? shown : [{ type: 'text', text: shown, cache_control: marker }] });
        out.params.origins.push({ kind: 'tool_result', message: turn, block: index });
        images.forEach((image, position) => {
          afterTools.push(image);
          imageBlocks.push([index, positions[position] ?? 0]);
        });
        return;
      }
      default:
        parts.push(placeholder(block, mode, unsupportedContent(at, `'${block.type.slice(0, 64)}' blocks in a user turn are only available with Anthropic models`)));
        partBlocks.push(index);
    }
  });
  // Tool results come first in a user turn (Anthropic requires it, OpenAI needs them right after the call).
  const content = [...afterTools, ...parts];
  if (content.length === 0) return;
  const only = content[0];
  const single = content.length === 1 && only?.type === 'text' && (only as { cache_control?: unknown }).cache_control === undefined;
  out.messages.push({ role: 'user', content: single ? only.text : content });
  out.params.origins.push(single ? { kind: 'turn', message: turn } : { kind: 'turn', message: turn, parts: [...imageBlocks, ...partBlocks] });
}

function assistantTurn(message: InboundMessageParam, turn: number, out: Out, mode: Mode): void {
  const param = `messages[${turn}]`;
  if (typeof message.content === 'string') {
    out.messages.push({ role: 'assistant', content: message.content });
    out.params.origins.push({ kind: 'turn', message: turn });
    return;
  }
  const texts: string[] = [];
  const calls: ToolCall[] = [];
  const callBlocks: number[] = [];
  // Claude's signed thinking, carried as the chat form's `thinking_blocks` (LiteLLM's field): the Claude
  // translation gives it back in the turn where it stood; other models are sent none.
  const thinking: ThinkingBlock[] = [];
  // Thinking with no signature is no Claude's: the proxy wrote it from another provider's reasoning.
  const unsigned: string[] = [];
  // The chat form has one assistant message: a marker on any of its blocks marks the message (its last block).
  let marker: unknown;
  message.content.forEach((block, index) => {
    const at = `${param}.content[${index}]`;
    if (block.type !== 'thinking' && block.type !== 'redacted_thinking') marker = markerOf(block, out) ?? marker;
    if (block.type === 'text') {
      const text = (block as { text?: unknown }).text;
      if (typeof text !== 'string') throw invalidValue(`${at}.text`, 'expected a string');
      texts.push(text);
    } else if (block.type === 'tool_use') {
      const use = block as AnthropicToolUseBlockParam;
      if (typeof use.id !== 'string' || typeof use.name !== 'string') throw invalidValue(at, 'a tool_use block needs an id and a name');
      calls.push({ id: use.id, type: 'function', function: { name: use.name, arguments: argumentsOf(use, at) } });
      callBlocks.push(index);
    } else if (block.type === 'thinking' || block.type === 'redacted_thinking') {
      const signed = block as { thinking?: unknown; signature?: unknown; data?: unknown };
      // Unsigned thinking is a reasoning model's own (DeepSeek's reasoning_content, in an answer the
      // proxy translated): it goes back as such, as DeepSeek requires on a turn with tool calls
      // (chatFormFor keeps it for the hosts that take it). Signed thinking is Claude's: `thinking_blocks`.
      if (block.type === 'thinking' && (signed.signature === undefined || signed.signature === '') && typeof signed.thinking === 'string') unsigned.push(signed.thinking);
      // A block after a call names it, so that the Claude translation puts it back there (Claude interleaves them).
      else if (block.type === 'thinking' && typeof signed.thinking === 'string' && typeof signed.signature === 'string') thinking.push(placeThinking({ type: 'thinking', thinking: signed.thinking, signature: signed.signature }, calls.at(-1)?.id));
      else if (block.type === 'redacted_thinking' && typeof signed.data === 'string') thinking.push(placeThinking({ type: 'redacted_thinking', data: signed.data }, calls.at(-1)?.id));
    } else {
      // A web search Claude ran in that turn: what it searched and found, as text any model reads.
      const search = searchHistoryText(block);
      if (search !== undefined) {
        texts.push(search);
        return;
      }
      const part = placeholder(block, mode, unsupportedContent(at, `'${block.type.slice(0, 64)}' blocks in an assistant turn are only available with Anthropic models`));
      texts.push((part as { text: string }).text);
    }
  });
  const text = texts.join('');
  if (text.length === 0 && calls.length === 0) return;
  const reasoning = unsigned.join('');
  out.messages.push({
    role: 'assistant',
    content: text.length === 0 ? null : text,
    ...(calls.length === 0 ? {} : { tool_calls: calls }),
    ...(marker === undefined ? {} : { cache_control: marker }),
    ...(thinking.length === 0 ? {} : { thinking_blocks: thinking }),
    ...(reasoning.length === 0 ? {} : { reasoning_content: reasoning }),
  });
  out.params.origins.push({ kind: 'turn', message: turn, ...(calls.length === 0 ? {} : { calls: callBlocks }) });
}

/** A system-role message (text only, as the SDK's SystemMessageParam) → a chat system message in its place. */
function systemTurn(message: InboundMessageParam, turn: number, out: Out): void {
  const blocks: Array<{ text: string }> = [];
  if (typeof message.content === 'string') blocks.push({ text: message.content });
  else {
    message.content.forEach((block, index) => {
      const text = (block as { text?: unknown }).text;
      if (block.type !== 'text' || typeof text !== 'string') throw invalidValue(`messages[${turn}].content[${index}]`, 'a system message takes only text blocks');
      blocks.push(block as { text: string });
    });
  }
  const content = textContent(blocks, out);
  if (content.length === 0) return;
  out.messages.push({ role: 'system', content });
  out.params.origins.push({ kind: 'turn', message: turn });
}

function convertTool(tool: InboundTool, index: number, mode: Mode, out: Out): ToolDefinition {
  const custom = tool as { type?: unknown; name?: unknown; description?: unknown; input_schema?: unknown };
  if (custom.type !== undefined && custom.type !== null && custom.type !== 'custom') {
    const type = String(custom.type).slice(0, 64);
    placeholder(tool, mode, unsupportedContent(`tools[${index}]`, `the server tool '${type}' is only available with Anthropic models`));
    // Toolsets (`computer_toolset_20260801`) have no name: the chat form needs one.
    return { type: 'function', function: { name: typeof custom.name === 'string' ? custom.name : type, description: JSON.stringify(tool), parameters: { type: 'object' } } };
  }
  if (typeof custom.name !== 'string') throw invalidValue(`tools[${index}].name`, 'a client tool needs a name');
  const schema = custom.input_schema;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw invalidValue(`tools[${index}].input_schema`, 'expected a JSON schema object');
  const definition: ToolDefinition = {
    type: 'function',
    function: {
      name: custom.name,
      ...(typeof custom.description === 'string' ? { description: custom.description } : {}),
      parameters: schema as Record<string, unknown>,
      // Strict tool use: the input is guaranteed to fit the schema. OpenAI enforces it the same way;
      // a provider that cannot drops it with a warning naming `tools[i].strict`.
      ...((tool as { strict?: unknown }).strict === true ? { strict: true } : {}),
    },
  };
  return marked(definition, tool, out);
}

function convertToolChoice(choice: NonNullable<MessagesRequest['tool_choice']>): ToolChoice {
  switch (choice.type) {
    case 'any':
      return 'required';
    case 'tool':
      return { type: 'function', function: { name: choice.name } };
    case 'none':
      return 'none';
    default:
      return 'auto';
  }
}

/** Extended thinking or an effort level → OpenAI's `reasoning_effort`; undefined when none is asked. */
function reasoningEffort(request: MessagesRequest): 'low' | 'medium' | 'high' | undefined {
  const effort = request.output_config?.effort;
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort;
  if (typeof effort === 'string') return 'high';
  const thinking = request.thinking;
  // between_tools (Claude Sonnet 5.5's lowest) asks for no thinking before the answer, as disabled does.
  if (thinking === undefined || thinking.type === 'disabled' || thinking.type === 'between_tools') return undefined;
  if (thinking.type === 'enabled' && 'budget_tokens' in thinking && typeof thinking.budget_tokens === 'number') return effortForBudget(thinking.budget_tokens);
  return 'medium';
}

function systemContent(system: MessagesRequest['system'], out: Out): string | ContentPart[] | undefined {
  if (system === undefined) return undefined;
  if (typeof system === 'string') return system.length === 0 ? undefined : system;
  const content = textContent(system, out);
  return content.length === 0 ? undefined : content;
}

export interface ChatTranslation {
  chat: ChatCompletionRequest;
  /** Something could not be translated and stands as a placeholder (lenient mode only). */
  lossy: boolean;
  /** The client's own paths for the chat form's, for a 400 raised after translation. */
  params: ClientParams;
  /** The chat form carries the client's prompt-cache markers (`cache_control`). */
  marked: boolean;
}

/**
 * The chat request for a Messages request. `warnings` receives one entry per dropped field (they go
 * out in `X-LLM-Proxy-Warnings`). Streams always ask for usage: message_delta reports it.
 */
export interface TranslationOptions {
  /** Untranslatable content stands as a placeholder instead of a 400 (the Anthropic fast path). */
  lenient?: boolean;
  /** The catalog says the model reasons: thinking becomes `reasoning_effort` (models that do not refuse the field). */
  reasoning?: boolean;
  /** OpenAI and Azure take the limit as `max_completion_tokens` (their reasoning models refuse `max_tokens`); other hosts know only `max_tokens`. */
  completionTokens?: boolean;
  /** Every deployment reached searches the web itself (Gemini): Claude's web search tool becomes `web_search_options`. */
  webSearch?: boolean;
}

export function toChatRequest(request: MessagesRequest, warnings: string[], options: TranslationOptions = {}): ChatTranslation {
  const mode: Mode = { lenient: options.lenient === true, lossy: false };
  const messages: ChatMessage[] = [];
  const params = new ClientParams();
  const out: Out = { messages, warnings, params, marked: false };
  const system = systemContent(request.system, out);
  if (system !== undefined) {
    messages.push({ role: 'system', content: system });
    params.origins.push({ kind: 'system' });
  }
  request.messages.forEach((message, index) => {
    if (message.role === 'user') userTurn(message, index, out, mode);
    else if (message.role === 'system') systemTurn(message, index, out);
    else assistantTurn(message, index, out, mode);
  });
  // Turns with no content are dropped; none left is a request no chat model takes (a 400 from the
  // provider, or a chat form the pipeline cannot check). Lenient mode sends the client's body instead.
  if (messages.length === 0 && !mode.lenient) throw invalidValue('messages', 'no message has content to send (turns with empty content are left out)');
  const chat: ChatCompletionRequest = { model: request.model, messages };
  if (request.max_tokens === 0) {
    // Anthropic's prompt-cache pre-warming: no other model has a cache to warm or takes a limit of 0.
    if (!mode.lenient) throw invalidValue('max_tokens', '0 (prompt-cache pre-warming) is only available with Anthropic models');
    mode.lossy = true;
  }
  if (request.max_tokens !== undefined) {
    if (options.completionTokens === true) chat.max_completion_tokens = request.max_tokens;
    else chat.max_tokens = request.max_tokens;
  }
  if (request.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  if (request.temperature !== undefined) chat.temperature = request.temperature;
  if (request.top_p !== undefined) chat.top_p = request.top_p;
  if (request.top_k !== undefined) dropped(warnings, 'top_k', 'no OpenAI-format equivalent');
  if (request.stop_sequences !== undefined && request.stop_sequences.length > 0) chat.stop = request.stop_sequences;
  const user = request.metadata?.user_id;
  if (typeof user === 'string' && user.length > 0) chat.user = userId(user);
  // The web search tool, when the model searches by `web_search_options` instead: its index.
  let searchTool: number | undefined;
  if (request.tools !== undefined && request.tools.length > 0) {
    const tools: ToolDefinition[] = [];
    const origins: number[] = [];
    request.tools.forEach((tool, index) => {
      if (options.webSearch === true && !mode.lenient && isWebSearchTool(tool)) {
        checkWebSearchTool(tool as unknown as Record<string, unknown>, index, warnings);
        searchTool = index;
        return;
      }
      tools.push(convertTool(tool, index, mode, out));
      origins.push(index);
    });
    if (tools.length > 0) chat.tools = tools;
    if (searchTool !== undefined) params.tools = origins;
    // Anthropic's API refuses tools that share a name, so this one does for every model, naming the
    // client's own field. The fast path leaves it to Anthropic: its body is sent as it came.
    const names = new ToolNames('the Messages API');
    // Every tool has a name here: convertTool refused nameless ones (and, not lenient, every server tool).
    if (!mode.lenient) request.tools.forEach((tool, index) => names.add(String(tool.name), `tools[${index}].name`));
  }
  const choice = request.tool_choice;
  // `none` forbids searching too; the model decides itself whether to search, so a choice that
  // forces the search (or any tool, with no other left) cannot be kept.
  if (searchTool !== undefined && choice?.type !== 'none') chat.web_search_options = {};
  const forcesSearch = searchTool !== undefined && ((choice?.type === 'tool' && choice.name === request.tools?.[searchTool]?.name) || (choice?.type === 'any' && chat.tools === undefined));
  if (forcesSearch) dropped(warnings, 'tool_choice', 'the model decides itself whether to search');
  else if (choice !== undefined) {
    chat.tool_choice = convertToolChoice(choice);
    if ('disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use === true && chat.tools !== undefined) chat.parallel_tool_calls = false;
  }
  // Claude reached through the chat form takes the client's own thinking (fitted per deployment: chatFormFor).
  const asked = request.thinking as unknown;
  if (isRecord(asked) && (asked.type === 'enabled' || asked.type === 'adaptive' || asked.type === 'between_tools' || asked.type === 'disabled')) chat.thinking = asked;
  // As `thinking`: a Claude deployment reached through the chat form takes the client's own effort level.
  const level = request.output_config?.effort;
  if (typeof level === 'string') chat.output_config = { effort: level };
  const effort = reasoningEffort(request);
  if (effort !== undefined) {
    if (options.reasoning === true) {
      chat.reasoning_effort = effort;
      if (typeof request.output_config?.effort === 'string') params.effort = 'output_config.effort';
    }
    else dropped(warnings, request.thinking !== undefined ? 'thinking' : 'output_config.effort', 'the model is not known to reason');
  }
  // Anthropic's automatic caching (a breakpoint on the last cacheable block): the chat form's top-level marker.
  const automatic = markerOf(request, out);
  if (automatic !== undefined) chat.cache_control = automatic;
  const format = request.output_config?.format;
  const betaFormat = request.output_format;
  if (format !== undefined && format !== null) chat.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } };
  else if (isRecord(betaFormat)) {
    if (betaFormat.type !== 'json_schema' || !isRecord(betaFormat.schema)) throw invalidValue('output_format', 'expected {"type": "json_schema", "schema": {…}}');
    chat.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: betaFormat.schema } };
    params.format = 'output_format';
  }
  // Remote MCP servers add their tools to the model's: answered without them would be a wrong answer, not a lesser one.
  if (Array.isArray(request.mcp_servers) && request.mcp_servers.length > 0) {
    placeholder(request.mcp_servers, mode, unsupportedContent('mcp_servers', 'remote MCP servers are only available with Anthropic models'));
  }
  for (const [field, value] of Object.entries(request)) {
    if (!HANDLED.has(field) && value !== undefined && value !== null) dropped(warnings, field.slice(0, 64));
  }
  return { chat, lossy: mode.lossy, params, marked: out.marked };
}
