/**
 * OpenAI chat request → Anthropic Messages request. Pure: no I/O; dropped fields go to `target.warnings`.
 *
 * | OpenAI field | Anthropic | Decision |
 * | --- | --- | --- |
 * | `model` | `model` | the routed upstream name (`target.model`) |
 * | `messages` system / developer | `system` | hoisted in order (one text → string, several → text blocks); non-text parts → 400 `unsupported_content` |
 * | `messages` user / assistant | `messages` | consecutive same-role turns merged (Anthropic requires alternation); empty or whitespace-only text dropped; none left → 400 `invalid_value`; a final assistant turn (a prefill) has the trailing whitespace of its last text trimmed, warning; on Claude 4.6 and later (which refuse a prefill) → 400 `unsupported_content` naming it |
 * | `messages` tool | user `tool_result` block | `tool_call_id` → `tool_use_id`; merged into one user turn, results first |
 * | tool call ids | `tool_use.id` / `tool_use_id` | characters outside `[a-zA-Z0-9_-]` become `_`, and such an id gets a digest of itself after them (ids from other providers) |
 * | `messages` function (legacy) | user `tool_result` block | matched by `name` to the latest legacy `function_call` |
 * | `name` on user/assistant/system | — | dropped, warning |
 * | content `text` | `text` block | |
 * | content `image_url` data URL | `image` source `base64` | jpeg, png, gif, webp; other types → 400 `unsupported_content` |
 * | content `image_url` http(s) | `image` source `url` | other schemes → 400 `invalid_value` |
 * | content `file` (PDF data) | `document` source `base64` | `file_id` and non-PDF files → 400 `unsupported_content` |
 * | content `input_audio`, other parts | — | 400 `unsupported_content` |
 * | assistant `tool_calls` | `tool_use` blocks | arguments JSON-parsed; invalid JSON or a non-object → 400 `invalid_value` |
 * | assistant `thinking_blocks` (LiteLLM's) | `thinking` / `redacted_thinking` blocks | first in the turn; one naming a call of the turn (`after_tool_call_id`) right after it, as Claude interleaved them (thinking-order.ts); the name is not sent |
 * | assistant `function_call` (legacy) | `tool_use` block | id `toolu_legacy_<message index>` |
 * | `web_search_options` | `tools` + `web_search_20250305` | `search_context_size` low/medium/high → `max_uses` 1/5/10; `user_location.approximate` → `user_location`; citations come back as `annotations` |
 * | `tools`, `functions` (legacy) | `tools` | `parameters` → `input_schema` (`{type:"object"}` when absent, `$schema` removed); `strict: true` → `strict: true` on Claude 4.5+ with the schema in Claude's subset (output-format.ts), else dropped with a warning saying why; a name outside Anthropic's rule (`^[a-zA-Z0-9_-]{1,128}$`), or used twice → 400 `invalid_value` naming it |
 * | `tool_choice` / `function_call` | `tool_choice` | auto → auto, none → none, required → any, named → tool; `allowed_tools` naming every tool → auto / any, one tool `required` → tool, else 400 `unsupported_parameter` (Claude cannot show every tool and allow some); a forced choice on the models that refuse one (model-limits.ts) → auto, warning |
 * | `parallel_tool_calls: false` | `tool_choice.disable_parallel_tool_use` | |
 * | `response_format` json_object | forced tool `json_response` | input schema `{type:"object"}`; the call comes back as message content; on the models that refuse a forced call, with `auto`, warning |
 * | `response_format` json_schema | forced tool `json_response` | input schema = the schema (root must be an object, else 400); with client tools the choice becomes `any`; while Claude 4.5+ thinks, or on the models that refuse a forced call, `output_config.format` instead when the schema fits (output-format.ts); else there the tool with `auto`, warning |
 * | `response_format` text | — | the default |
 * | `max_completion_tokens` / `max_tokens` | `max_tokens` | required by Anthropic: `target.defaultMaxTokens`, else 4096 |
 * | `temperature` | `temperature` | 0..1 only: outside → 400 `invalid_value`, never clamped; other than 1 on Claude Opus 4.7 and later, dropped, warning |
 * | `top_p` | `top_p` | with `temperature` too, or on Claude Opus 4.7 and later, dropped with a warning |
 * | `stop` | `stop_sequences` | a string becomes a one-item list; an empty or whitespace-only one → 400 `invalid_value` (Anthropic refuses it) |
 * | `output_config.effort` (Anthropic's own, as /v1/messages carries it) | `output_config.effort` | low, medium, high, xhigh, max; else 400 `invalid_value`; wins over `reasoning_effort`'s level; a level the model lacks → the nearest below, warning; dropped, warning, on the models that take none (Sonnet and Haiku 4.5 and earlier; thinking-effort.ts `fitOwnEffort`) |
 * | `thinking` (Anthropic's own) | `thinking` | enabled, adaptive, between_tools, disabled; else 400 `invalid_value`; what the model refuses goes as the nearest it takes, warning (thinking-effort.ts `fitOwnThinking`); dropped, warning, on Claude 3 and 3.5; between_tools above high effort → high, warning; disabled on Opus 5 and later above high effort → high, warning; a budget with a forced tool call, or in a tool loop without thinking_blocks → off, warning (adaptive and between_tools stay: thinking is optional at each step there), or adaptive at the budget's effort on Mythos Preview (takes budgets, cannot stop thinking), warning |
 * | `reasoning_effort` | `thinking` (+ `output_config.effort`) | by the model's generation (thinking-effort.ts); the client's own `thinking` wins |
 * | `n` | — | 1 only; more → 400 `unsupported_parameter` |
 * | `seed` | — | dropped, warning |
 * | `safety_identifier`, else `user` | `metadata.user_id` | OpenAI split `user` into `safety_identifier` and `prompt_cache_key` |
 * | `presence_penalty`, `frequency_penalty` | — | dropped, warning when non-zero |
 * | `logit_bias` | — | dropped, warning when non-empty |
 * | `logprobs: true`, `top_logprobs` | — | 400 `unsupported_parameter` |
 * | `stream` | `stream` | `true` when the client streams |
 * | `stream_options` | — | read by the router (`target.includeUsage`) |
 * | `cache_control` on a content part | the block's `cache_control` | LiteLLM's convention; text, image and file parts, system parts too |
 * | `cache_control` on a message | its last block's `cache_control` | a system one makes `system` a block list |
 * | `cache_control` in a tool message | the `tool_result`'s `cache_control` | on the message or a part: Anthropic takes none inside `tool_result.content` |
 * | `cache_control` on a tool | the tool's `cache_control` | beside `function` or inside it (LiteLLM reads both); legacy `functions[]` too |
 * | top-level `cache_control` | top-level `cache_control` | automatic caching (the last cacheable block) |
 * | malformed, empty-text or misordered markers, more than 4 | — | 400 `invalid_value` naming the marker (convert-cache-control.ts) |
 * | any other field | — | dropped, warning naming it |
 *
 * @see https://docs.anthropic.com/en/api/messages
 * @see https://docs.anthropic.com/en/api/openai-sdk (Anthropic's own OpenAI-compatibility notes)
 */
import { createHash } from 'node:crypto';
import { invalidValue, type GatewayError } from '../../errors/gateway-error.js';
import { toolChoiceOfFunctionCall } from '../legacy-functions.js';
import { forEachTextPart, handledFields, parseDataUrl, parseToolArguments, readAllowedTools, readWebSearchOptions, refuseAudioOutput, ToolNames, unsupportedContent, unsupportedParameter as unsupportedByProvider, warnIgnored, warnUnknownFields } from '../chat-request-fields.js';
import type {
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  FunctionDefinition,
  OtherContentPart,
  ToolChoice,
} from '../../openai/types.js';
import type { ChatTarget } from '../provider.js';
import type {
  AnthropicContentBlockParam,
  AnthropicEffort,
  AnthropicImageBlockParam,
  AnthropicImageMediaType,
  AnthropicMessageParam,
  AnthropicMessagesRequest,
  AnthropicOutputFormat,
  AnthropicTextBlockParam,
  AnthropicTool,
  AnthropicWebSearchTool,
  AnthropicToolChoice,
  AnthropicToolResultBlockParam,
  AnthropicToolUseBlockParam,
  AnthropicThinkingConfig,
  AnthropicThinkingDisplay,
} from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';
import { CacheBreakpoints } from './convert-cache-control.js';
import { refusesForcedTool, refusesPrefill, refusesSampling } from './model-limits.js';
import { claudeOutputFormat, claudeStrictToolSchema, StrictBudget } from './output-format.js';
import { orderAssistantTurn, readThinkingBlocks } from './thinking-order.js';
import { alwaysThinks, claudeGeneration, disabledNeedsHighOrBelow, effortForBudget, fitOwnEffort, fitOwnThinking, MIN_THINKING_BUDGET, thinkingForEffort, thinksByDefault } from './thinking-effort.js';

/** The tool that carries JSON-mode answers. A client tool of this name is refused, so a call to it is always ours. */
export const JSON_RESPONSE_TOOL = 'json_response';

export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/** Fields this file reads. Anything else the client sends is dropped with a warning. */
const ANTHROPIC_FIELDS = handledFields('cache_control', 'thinking', 'output_config', 'reasoning_effort', 'safety_identifier', 'web_search_options');

const EFFORTS: ReadonlySet<string> = new Set<AnthropicEffort>(['low', 'medium', 'high', 'xhigh', 'max']);

const IMAGE_TYPES: Readonly<Record<string, AnthropicImageMediaType>> = {
  'image/jpeg': 'image/jpeg',
  'image/jpg': 'image/jpeg',
  'image/png': 'image/png',
  'image/gif': 'image/gif',
  'image/webp': 'image/webp',
};

function ignored(target: ChatTarget, field: string): void {
  warnIgnored(target, 'anthropic', field);
}

function unsupportedParameter(param: string, detail: string): GatewayError {
  return unsupportedByProvider(param, 'anthropic', detail);
}

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
function hasText(text: string): boolean {
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

/** OpenAI's search context size as the number of searches Claude may run (LiteLLM's mapping); budget holds read it too. */
export const SEARCH_USES = { low: 1, medium: 5, high: 10 } as const;

/**
 * OpenAI's `web_search_options` → Claude's web search server tool (Anthropic runs the searches, billed
 * per search; the answer's citations come back as `annotations`). Undefined when absent.
 */
function webSearchTool(value: unknown): AnthropicWebSearchTool | undefined {
  const asked = readWebSearchOptions(value);
  if (asked === undefined) return undefined;
  const tool: AnthropicWebSearchTool = { type: 'web_search_20250305', name: 'web_search' };
  if (asked.size !== undefined) tool.max_uses = SEARCH_USES[asked.size];
  if (asked.place !== undefined) {
    const place: NonNullable<AnthropicWebSearchTool['user_location']> = { type: 'approximate' };
    for (const key of ['city', 'region', 'country', 'timezone'] as const) {
      const part = asked.place[key];
      if (typeof part === 'string' && part.length > 0) place[key] = part;
    }
    tool.user_location = place;
  }
  return tool;
}

/** The client's `thinking` (Anthropic's own field, through extra_body), checked; undefined when absent. */
function thinkingConfig(value: unknown): AnthropicThinkingConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (isRecord(value)) {
    const { display } = value;
    if (display !== undefined && display !== null && display !== 'summarized' && display !== 'omitted') throw invalidValue('thinking.display', "expected 'summarized' or 'omitted'");
    const shown: { display?: AnthropicThinkingDisplay } = display === 'summarized' || display === 'omitted' ? { display } : {};
    if (value.type === 'disabled') return { type: 'disabled' };
    if (value.type === 'adaptive') return { type: 'adaptive', ...shown };
    if (value.type === 'between_tools') return { type: 'between_tools', ...shown };
    if (value.type === 'enabled' && typeof value.budget_tokens === 'number' && Number.isInteger(value.budget_tokens) && value.budget_tokens > 0) {
      return { type: 'enabled', budget_tokens: value.budget_tokens, ...shown };
    }
  }
  throw invalidValue('thinking', "expected {type: 'enabled', budget_tokens}, {type: 'adaptive'}, {type: 'between_tools'} or {type: 'disabled'}");
}

/** The client's `output_config.effort` (Anthropic's own field, as `thinking`), checked; undefined when absent. */
function effortConfig(value: unknown): AnthropicEffort | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalidValue('output_config', 'expected an object');
  const { effort } = value;
  if (effort === undefined || effort === null) return undefined;
  if (typeof effort !== 'string' || !EFFORTS.has(effort)) throw invalidValue('output_config.effort', "expected 'low', 'medium', 'high', 'xhigh' or 'max'");
  return effort as AnthropicEffort;
}

/** The client's own `thinking`, as it came and as the model takes it; absent when the client sent none. */
interface OwnThinking {
  asked: AnthropicThinkingConfig;
  /** What goes: `asked`, or the nearest the model takes; undefined when a budget it needs does not fit. */
  sent: AnthropicThinkingConfig | undefined;
}

/**
 * The client's own `thinking`, checked, as the model takes it (fitOwnThinking): what it would refuse
 * goes as the nearest it takes, said, with the effort that means unless the client set its own. A
 * budget made from adaptive thinking (Claude 4.5 and earlier) takes the client's effort level.
 */
function ownThinking(request: ChatCompletionRequest, target: ChatTarget, body: AnthropicMessagesRequest): OwnThinking | undefined {
  const asked = thinkingConfig(request.thinking);
  if (asked === undefined) return undefined;
  const level = effortConfig(request.output_config) ?? request.reasoning_effort;
  const fitted = fitOwnThinking(target.model, asked, level);
  if (fitted === undefined) return { asked, sent: asked };
  if ('dropped' in fitted) {
    target.warnings.push(`thinking: ${fitted.dropped}, ignored`);
    return { asked, sent: undefined };
  }
  if (fitted.note !== undefined) target.warnings.push(`thinking: ${fitted.note}`);
  if (fitted.effort !== undefined && effortConfig(request.output_config) === undefined) body.output_config = { ...body.output_config, effort: fitted.effort };
  return { asked, sent: fitted.thinking.type === 'enabled' ? fitBudget(fitted.thinking, body, target, 'thinking') : fitted.thinking };
}

/**
 * A budget the proxy chose must fit under max_tokens (Claude's rule), with room for the answer: else
 * half of it (at least Claude's smallest), or no thinking when not even that fits; each said.
 */
function fitBudget(thinking: AnthropicThinkingConfig & { type: 'enabled' }, body: AnthropicMessagesRequest, target: ChatTarget, field: string): AnthropicThinkingConfig | undefined {
  if (thinking.budget_tokens < body.max_tokens) return thinking;
  if (body.max_tokens <= MIN_THINKING_BUDGET) {
    target.warnings.push(`${field}: max_tokens ${body.max_tokens} leaves no room for Claude's smallest thinking budget (${MIN_THINKING_BUDGET} tokens), so thinking is off for this call`);
    return undefined;
  }
  const budget_tokens = Math.max(MIN_THINKING_BUDGET, Math.floor(body.max_tokens / 2));
  target.warnings.push(`${field}: thinking budget lowered to ${budget_tokens} tokens to fit max_tokens ${body.max_tokens}`);
  return { ...thinking, budget_tokens };
}

/**
 * The thinking to send: the client's own `thinking`, else what its `reasoning_effort` means for the
 * model (thinking-effort.ts); an effort level goes in `output_config` for the models that take one.
 */
function chooseThinking(request: ChatCompletionRequest, target: ChatTarget, body: AnthropicMessagesRequest): AnthropicThinkingConfig | undefined {
  const own = ownThinking(request, target, body);
  const effort = request.reasoning_effort;
  if (effort === undefined || effort === null) return own?.sent;
  const mapped = thinkingForEffort(target.model, effort);
  if ('dropped' in mapped) {
    target.warnings.push(`reasoning_effort: ${mapped.dropped}, ignored`);
    return own?.sent;
  }
  if (mapped.note !== undefined) target.warnings.push(`reasoning_effort: ${mapped.note}`);
  if (mapped.effort !== undefined) body.output_config = { effort: mapped.effort };
  // Adaptive thinking made a budget on Claude 4.5 and earlier takes its size from reasoning_effort: not ignored.
  else if (own !== undefined && !(own.asked.type === 'adaptive' && own.sent?.type !== 'adaptive')) target.warnings.push('reasoning_effort: the request\'s own thinking is sent instead, ignored');
  if (own !== undefined) return own.sent;
  const thinking = mapped.thinking;
  return thinking.type === 'enabled' ? fitBudget(thinking, body, target, 'reasoning_effort') : thinking;
}

/**
 * The client's own `output_config.effort` as the model takes it (fitOwnEffort), over reasoning_effort's
 * level; on a model that takes no effort it is dropped, said, unless it already went as the budget of
 * the client's adaptive thinking (Claude 4.5 and earlier).
 */
function ownEffort(request: ChatCompletionRequest, target: ChatTarget, body: AnthropicMessagesRequest): AnthropicEffort | undefined {
  const asked = effortConfig(request.output_config);
  if (asked === undefined) return undefined;
  const fitted = fitOwnEffort(target.model, asked);
  if ('dropped' in fitted) {
    const budgeted = isRecord(request.thinking) && request.thinking.type === 'adaptive' && body.output_config === undefined;
    if (!budgeted) target.warnings.push(`output_config.effort: ${fitted.dropped}, ignored`);
    return undefined;
  }
  if (fitted.note !== undefined) target.warnings.push(`output_config.effort: ${fitted.note}`);
  if (body.output_config !== undefined && body.output_config.effort !== fitted.effort) target.warnings.push(`reasoning_effort: the request's own output_config.effort is sent instead, ignored`);
  body.output_config = { ...body.output_config, effort: fitted.effort };
  return fitted.effort;
}

/**
 * Claude Sonnet 5.5 takes between_tools at effort low, medium or high only (400 at xhigh and max;
 * those need adaptive thinking): the effort goes as high, said, naming the field that asked for it.
 * @see https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5 (Turn off up-front thinking with between_tools)
 */
function fitEffortToBetweenTools(thinking: AnthropicThinkingConfig | undefined, body: AnthropicMessagesRequest, target: ChatTarget, field: string): void {
  const effort = body.output_config?.effort;
  if (thinking?.type !== 'between_tools' || (effort !== 'xhigh' && effort !== 'max')) return;
  body.output_config = { ...body.output_config, effort: 'high' };
  target.warnings.push(`${field}: between_tools runs at effort low, medium or high (${target.model} refuses it at ${effort}); sent high`);
}

/**
 * Claude Opus 5 and later take `thinking: {type: "disabled"}` at effort high or below only (400 at xhigh
 * and max): the effort goes as high, said, naming the field that asked for it.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (footnote 2 of the per-model table)
 */
function fitEffortToDisabled(body: AnthropicMessagesRequest, target: ChatTarget, field: string): void {
  const effort = body.output_config?.effort;
  if (body.thinking?.type !== 'disabled' || (effort !== 'xhigh' && effort !== 'max') || !disabledNeedsHighOrBelow(target.model)) return;
  body.output_config = { ...body.output_config, effort: 'high' };
  target.warnings.push(`${field}: ${target.model} takes thinking disabled at effort high or below; sent high`);
}

/** Whether Claude will think on this call: asked to, and not refused by the conversation's shape (a model that cannot stop thinking thinks regardless). */
function thinks(thinking: AnthropicThinkingConfig | undefined, messages: AnthropicMessageParam[], model: string): boolean {
  return thinking !== undefined && thinking.type !== 'disabled' && (alwaysThinks(model) || !budgetInBareToolLoop(thinking, messages));
}

/**
 * Whether Claude refuses this thinking for the conversation's shape: manual thinking (a budget) needs the
 * turn a tool loop answers to open with its thinking. Adaptive thinking (and between_tools) is optional
 * at every step, and a forced call skips it, so a turn that opens with its call is one Claude itself
 * gives and takes back; turning it off mid-loop would also break "one thinking configuration per turn".
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-tool-workflows (The rules this walkthrough applies)
 */
function budgetInBareToolLoop(thinking: AnthropicThinkingConfig, messages: readonly AnthropicMessageParam[]): boolean {
  return thinking.type === 'enabled' && toolLoopWithoutThinking(messages);
}

/** Claude's structured output for the client's json_schema, when the model has them (4.5 and later, or a name too new to place) and the schema fits. */
function structuredOutput(request: ChatCompletionRequest, model: string, budget: StrictBudget): AnthropicOutputFormat | undefined {
  const format = request.response_format;
  if (!isRecord(format) || format.type !== 'json_schema' || !isRecord(format.json_schema)) return undefined;
  const generation = claudeGeneration(model);
  if (generation !== undefined && generation < 45) return undefined;
  return claudeOutputFormat(format.json_schema.schema, budget);
}

/** Claude Opus 4.7 and later take no sampling settings, thinking or not: temperature 1 (the default) alone. */
function dropSampling(body: AnthropicMessagesRequest, target: ChatTarget): void {
  const said = `${target.model} takes no sampling settings (Claude Opus 4.7 and later), ignored`;
  if (body.temperature !== undefined && body.temperature !== 1) {
    delete body.temperature;
    target.warnings.push(`temperature: ${said}`);
  }
  if (body.top_p !== undefined) {
    delete body.top_p;
    target.warnings.push(`top_p: ${said}`);
  }
}

/** Claude refuses sampling changes while it thinks: temperature other than 1, and top_p under 0.95. */
function fitSamplingToThinking(body: AnthropicMessagesRequest, target: ChatTarget): void {
  if (body.temperature !== undefined && body.temperature !== 1) {
    delete body.temperature;
    target.warnings.push('temperature: Claude takes none but 1 while thinking, ignored');
  }
  if (body.top_p !== undefined && body.top_p < 0.95) {
    delete body.top_p;
    target.warnings.push('top_p: Claude takes 0.95 to 1 while thinking, ignored');
  }
}

/**
 * Whether the conversation ends in a tool loop (the last turn answers the calls of the assistant turn
 * before it) whose assistant turn does not open with thinking: a client that did not replay the
 * answer's `thinking_blocks`, or a step Claude answered without thinking.
 */
function toolLoopWithoutThinking(messages: readonly AnthropicMessageParam[]): boolean {
  const last = messages[messages.length - 1];
  const before = messages[messages.length - 2];
  if (last?.role !== 'user' || before?.role !== 'assistant' || typeof before.content === 'string' || typeof last.content === 'string') return false;
  if (!last.content.some((block) => block.type === 'tool_result') || !before.content.some((block) => block.type === 'tool_use')) return false;
  const opening = before.content[0]?.type;
  return opening !== 'thinking' && opening !== 'redacted_thinking';
}

/** What a tool made up for a conversation's earlier calls says of itself. */
const EARLIER_TOOL_DESCRIPTION = 'A tool called earlier in this conversation; not offered for this turn.';

/**
 * Anthropic answers 400 "Requests which include `tool_use` or `tool_result` blocks must define tools"
 * to a conversation with tool calls in its history and no `tools` (a closing turn after a tool loop;
 * OpenAI takes it). One definition per tool the history called, so Claude reads the history as it was,
 * sent with `tool_choice: none`. Undefined when the history has no tool block.
 */
function toolsOfHistory(messages: readonly AnthropicMessageParam[]): AnthropicTool[] | undefined {
  const names = new Set<string>();
  let blocks = false;
  for (const message of messages) {
    if (typeof message.content === 'string') continue;
    for (const block of message.content) {
      if (block.type === 'tool_use') {
        blocks = true;
        if (ANTHROPIC_TOOL_NAME.test(block.name)) names.add(block.name);
      } else if (block.type === 'tool_result') blocks = true;
    }
  }
  if (!blocks) return undefined;
  // A result whose call is not in the history (or a call by a name Claude would refuse) still needs one tool.
  if (names.size === 0) names.add('earlier_tool');
  return [...names].map((name) => ({ name, description: EARLIER_TOOL_DESCRIPTION, input_schema: { type: 'object' } }));
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

function convertMessages(messages: ChatMessage[], target: ChatTarget, marks: CacheBreakpoints): ConvertedMessages {
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

  if (namesDropped) ignored(target, 'messages[].name');
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

/**
 * A client schema as `input_schema`. `$schema` goes: Anthropic validates against draft 2020-12 and has
 * failed requests naming draft-07 (what zod-to-json-schema emits).
 * @see https://github.com/anthropics/anthropic-sdk-python/issues/1001
 */
function objectSchema(schema: Record<string, unknown>): AnthropicTool['input_schema'] {
  const { $schema: _dialect, ...rest } = schema;
  return { ...rest, type: 'object' };
}

/**
 * Anthropic's rule for tool names. The characters are the tool-use guide's ("Must match the regex
 * ^[a-zA-Z0-9_-]{1,64}$"); the length is the API reference's (`name`: minLength 1, maxLength 128),
 * which is what the API enforces now: its 400 reads "tools.16.custom.name: String should match
 * pattern '^[a-zA-Z0-9_-]{1,128}$'" (it said {1,64} until 2025, as the guide still does). The SDK's
 * `Tool.name` is a plain string. Refused, never rewritten, for the reasons given for Gemini's rule.
 * @see https://platform.claude.com/docs/en/api/messages (tools[].name)
 * @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use (Specifying client tools)
 * @see https://github.com/modelcontextprotocol/modelcontextprotocol/issues/1345 (the API's 400)
 */
const ANTHROPIC_TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;

/**
 * `strict: true` → Claude's strict tool use, on the models that have it (as structured outputs: 4.5
 * and later, or a name too new to place) and for a schema within Claude's subset and the request's
 * limits; else the tool goes without it, and a warning says why. No parameters is the closed empty object.
 */
function strictSchema(definition: FunctionDefinition, param: string, target: ChatTarget, budget: StrictBudget): AnthropicTool['input_schema'] | undefined {
  if (definition.strict !== true) return undefined;
  const generation = claudeGeneration(target.model);
  if (generation !== undefined && generation < 45) {
    target.warnings.push(`${param}.strict: ${target.model} has no strict tool use (Claude 4.5 and later do), ignored`);
    return undefined;
  }
  const parameters = definition.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
  const schema = claudeStrictToolSchema(parameters, budget);
  if (schema === undefined) {
    target.warnings.push(`${param}.strict: the schema is outside Claude's strict subset, or past its limits for one request (20 strict tools, 24 optional and 16 union-typed properties in all), ignored`);
  }
  return schema;
}

function convertFunction(definition: FunctionDefinition, param: string, target: ChatTarget, budget: StrictBudget): AnthropicTool {
  if (!isRecord(definition) || typeof definition.name !== 'string') throw invalidValue(param, 'expected a function with a name');
  if (!ANTHROPIC_TOOL_NAME.test(definition.name)) {
    throw invalidValue(`${param}.name`, 'anthropic needs a tool name of 1 to 128 characters, only letters, digits, underscores and dashes');
  }
  if (definition.name === JSON_RESPONSE_TOOL) throw invalidValue(`${param}.name`, `'${JSON_RESPONSE_TOOL}' is reserved by the proxy for JSON mode on anthropic`);
  const parameters = definition.parameters;
  let schema: AnthropicTool['input_schema'];
  if (parameters === undefined || parameters === null) schema = { type: 'object', properties: {} };
  else if (!isRecord(parameters) || (parameters.type !== undefined && parameters.type !== 'object')) throw invalidValue(`${param}.parameters`, 'anthropic needs an object schema');
  else schema = objectSchema(parameters);
  const strict = strictSchema(definition, param, target, budget);
  const tool: AnthropicTool = { name: definition.name, input_schema: strict ?? schema };
  if (typeof definition.description === 'string' && definition.description.length > 0) tool.description = definition.description;
  if (strict !== undefined) tool.strict = true;
  return tool;
}

/**
 * `allowed_tools`, where Claude can say it exactly: every tool named is `auto` or `any`, and one
 * tool `required` is that tool. Otherwise a 400: Claude has no way to show every tool and let some
 * be called, and sending only the allowed ones would change what the model sees (and the prompt
 * cache OpenAI keeps the full list for).
 */
function allowedToolsChoice(choice: Record<string, unknown>, offered: readonly string[]): AnthropicToolChoice {
  const allowed = readAllowedTools(choice, offered);
  if (allowed.all) return { type: allowed.mode === 'auto' ? 'auto' : 'any' };
  const [only] = allowed.names;
  if (allowed.mode === 'required' && allowed.names.length === 1 && only !== undefined) return { type: 'tool', name: only };
  throw unsupportedParameter(
    'tool_choice',
    "with allowed_tools the model sees every tool and may call only some, and Claude cannot limit its calls to a subset (sending only those tools would change what it sees); name every tool, or one with mode 'required', or send only the tools it may call",
  );
}

function convertToolChoice(choice: ToolChoice | undefined, param: string, offered: readonly string[]): AnthropicToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') return { type: 'tool', name: choice.function.name };
  // openai 6.x forms Claude has no counterpart for: named, not misread as another choice.
  if (isRecord(choice) && choice.type === 'allowed_tools') return allowedToolsChoice(choice, offered);
  if (isRecord(choice) && choice.type === 'custom') throw unsupportedParameter(param, 'Claude takes no custom tools');
  throw invalidValue(param, "expected 'auto', 'none', 'required' or {type: 'function', function: {name}}");
}

/** JSON mode's tool, or undefined when the client asked for text. */
function jsonTool(request: ChatCompletionRequest): AnthropicTool | undefined {
  const format = request.response_format;
  if (format === undefined || format === null || !isRecord(format) || format.type === 'text') return undefined;
  if (format.type === 'json_object') {
    return { name: JSON_RESPONSE_TOOL, description: 'Respond with a JSON object.', input_schema: { type: 'object' } };
  }
  if (format.type === 'json_schema' && isRecord(format.json_schema)) {
    const spec = format.json_schema;
    const schema = spec.schema;
    if (schema !== undefined && (!isRecord(schema) || (schema.type !== undefined && schema.type !== 'object'))) {
      throw invalidValue('response_format.json_schema.schema', 'anthropic JSON mode needs a schema whose root is an object');
    }
    const description = typeof spec.description === 'string' && spec.description.length > 0 ? spec.description : `Respond with a JSON object (${String(spec.name)}).`;
    return { name: JSON_RESPONSE_TOOL, description, input_schema: schema === undefined ? { type: 'object' } : objectSchema(schema) };
  }
  throw invalidValue('response_format', "expected type 'text', 'json_object' or 'json_schema'");
}

/**
 * A `json_schema` with `strict: true` → strict tool use on JSON mode's forced tool (OpenAI's strict
 * means the answer follows the schema; Claude's, that the tool input does), where the model and the
 * schema allow it (strictSchema: else a warning says why). A schema-less `json_schema` means any
 * object: nothing to be strict about.
 */
function strictJsonSchema(request: ChatCompletionRequest, target: ChatTarget, budget: StrictBudget): AnthropicTool['input_schema'] | undefined {
  const format = request.response_format;
  if (!isRecord(format) || format.type !== 'json_schema' || !isRecord(format.json_schema)) return undefined;
  const { strict, schema } = format.json_schema;
  if (strict !== true || !isRecord(schema)) return undefined;
  return strictSchema({ name: JSON_RESPONSE_TOOL, parameters: schema, strict }, 'response_format.json_schema', target, budget);
}

function checkSampling(request: ChatCompletionRequest): void {
  const { temperature, n } = request;
  if (temperature !== undefined && temperature !== null && (typeof temperature !== 'number' || temperature < 0 || temperature > 1)) {
    throw invalidValue('temperature', `anthropic accepts a temperature from 0 to 1, got ${String(temperature).slice(0, 32)}`);
  }
  if (n !== undefined && n !== null && n !== 1) throw unsupportedParameter('n', 'anthropic returns one choice per request, so n must be 1');
  if (request.logprobs === true) throw unsupportedParameter('logprobs', 'anthropic does not return log probabilities');
  if (request.top_logprobs !== undefined && request.top_logprobs !== null) throw unsupportedParameter('top_logprobs', 'anthropic does not return log probabilities');
}

function warnDropped(request: ChatCompletionRequest, target: ChatTarget): void {
  if (request.seed !== undefined && request.seed !== null) ignored(target, 'seed');
  if (typeof request.presence_penalty === 'number' && request.presence_penalty !== 0) ignored(target, 'presence_penalty');
  if (typeof request.frequency_penalty === 'number' && request.frequency_penalty !== 0) ignored(target, 'frequency_penalty');
  if (isRecord(request.logit_bias) && Object.keys(request.logit_bias).length > 0) ignored(target, 'logit_bias');
  refuseAudioOutput(request, 'anthropic');
  warnUnknownFields(request, target, 'anthropic', ANTHROPIC_FIELDS);
}

export function convertAnthropicRequest(request: ChatCompletionRequest, target: ChatTarget): AnthropicMessagesRequest {
  if (!Array.isArray(request.messages)) throw invalidValue('messages', 'expected an array');
  checkSampling(request);
  const marks = new CacheBreakpoints();
  const { system, messages } = convertMessages(request.messages, target, marks);
  // Anthropic answers 400 to an empty list; said here, it names what the client can change.
  if (messages.length === 0) throw invalidValue('messages', 'anthropic needs at least one user, assistant or tool message with content (system messages and empty content do not count)');

  const body: AnthropicMessagesRequest = {
    model: target.model,
    messages,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? target.defaultMaxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS,
  };
  const firstSystem = system[0];
  // One unmarked text goes as a string; a breakpoint needs the block form.
  if (system.length === 1 && firstSystem !== undefined && firstSystem.cache_control === undefined) body.system = firstSystem.text;
  else if (system.length > 0) body.system = system;

  const tools: AnthropicTool[] = [];
  const names = new ToolNames('anthropic');
  // Claude's limits on strict schemas hold across the request: strict tools first, then the output format.
  const budget = new StrictBudget();
  (request.tools ?? []).forEach((tool, index) => {
    if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function)) throw invalidValue(`tools[${index}]`, "anthropic accepts tools of type 'function'");
    const converted = convertFunction(tool.function, `tools[${index}].function`, target, budget);
    names.add(converted.name, `tools[${index}].function.name`);
    // LiteLLM takes the marker beside `function`, or else inside it.
    const marker = marks.of(tool, `tools[${index}]`) ?? marks.of(tool.function, `tools[${index}].function`);
    if (marker !== undefined) converted.cache_control = marker;
    tools.push(converted);
  });
  (request.functions ?? []).forEach((definition, index) => {
    const converted = convertFunction(definition, `functions[${index}]`, target, budget);
    names.add(converted.name, `functions[${index}].name`);
    const marker = marks.of(definition, `functions[${index}]`);
    if (marker !== undefined) converted.cache_control = marker;
    tools.push(converted);
  });
  const search = webSearchTool(request.web_search_options);
  if (search !== undefined) names.add(search.name, 'web_search_options');
  const offered = tools.map((tool) => tool.name);
  let choice = convertToolChoice(request.tool_choice, 'tool_choice', offered) ?? convertToolChoice(toolChoiceOfFunctionCall(request.function_call), 'function_call', offered);
  // Claude's newest models refuse a forced call outright (thinking cannot be turned off for one): the
  // nearest they take is auto, with the tools as they were (only some would change what the model sees).
  const unforced = refusesForcedTool(target.model);
  if (unforced && (choice?.type === 'any' || choice?.type === 'tool')) {
    const field = request.tool_choice !== undefined && request.tool_choice !== null ? 'tool_choice' : 'function_call';
    target.warnings.push(
      `${field}: ${target.model} refuses a forced tool call (Fable and Mythos 5.1, Opus and Sonnet 5.5 and later do), so it went as auto: the model may answer without calling ${choice.type === 'tool' ? choice.name : 'a tool'}`,
    );
    choice = { type: 'auto' };
  }

  const thinking = chooseThinking(request, target, body);
  const effort = ownEffort(request, target, body);
  fitEffortToBetweenTools(thinking, body, target, effort !== undefined ? 'output_config.effort' : 'reasoning_effort');
  let json = jsonTool(request);
  // A forced JSON tool would turn thinking off; structured outputs keep it, where the model and the schema
  // allow. A model that refuses a forced call gets them whenever the schema fits.
  const wantsFormat = unforced || (thinks(thinking, messages, target.model) && choice?.type !== 'any' && choice?.type !== 'tool');
  const format = json !== undefined && wantsFormat ? structuredOutput(request, target.model, budget) : undefined;
  if (format !== undefined) {
    body.output_config = { ...body.output_config, format };
    json = undefined;
  }
  if (json !== undefined) {
    const strict = strictJsonSchema(request, target, budget);
    if (strict !== undefined) json = { ...json, input_schema: strict, strict: true };
    // No JSON mode on Anthropic: the answer is forced through a tool whose input is the JSON.
    // With client tools the model may still call them first ("any"; no tool_choice means "auto", as
    // in OpenAI's API); a named or required choice stays. A model that refuses a forced call is
    // offered the tool (Claude's closed objects cannot say "any object", so no format fits json_object).
    if (unforced) {
      const asked = isRecord(request.response_format) && request.response_format.type === 'json_object' ? 'json_object' : "this json_schema (outside Claude's subset or limits)";
      target.warnings.push(`response_format: ${target.model} refuses a forced tool call, and ${asked} has no form in Claude's structured outputs, so the ${JSON_RESPONSE_TOOL} tool went with tool_choice auto: the answer may come as text`);
      choice = { type: 'auto' };
    } else if (tools.length === 0 || choice?.type === 'none') choice = { type: 'tool', name: JSON_RESPONSE_TOOL };
    else if (choice === undefined || choice.type === 'auto') choice = { type: 'any' };
    tools.push(json);
  }
  if (tools.length === 0 && search === undefined) {
    const earlier = toolsOfHistory(messages);
    if (earlier !== undefined) {
      // No tools offered means no call may be made, as OpenAI's API reads it.
      tools.push(...earlier);
      choice = { type: 'none' };
    }
  }
  if (tools.length > 0 || search !== undefined) {
    body.tools = search === undefined ? tools : [...tools, search];
    if (request.parallel_tool_calls === false && (choice === undefined || choice.type !== 'none')) {
      choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
    }
    if (choice !== undefined) body.tool_choice = choice;
  }

  if (typeof request.temperature === 'number') body.temperature = request.temperature;
  if (typeof request.top_p === 'number') {
    // Current Claude models answer 400 when both are set ("cannot both be specified"); temperature wins.
    if (body.temperature === undefined) body.top_p = request.top_p;
    else target.warnings.push('top_p: not supported by anthropic together with temperature, ignored');
  }
  if (refusesSampling(target.model)) dropSampling(body, target);
  const stops = typeof request.stop === 'string' ? [request.stop] : Array.isArray(request.stop) ? request.stop : [];
  stops.forEach((stop, index) => {
    // Anthropic answers 400 "each stop sequence must contain non-whitespace" (`"\n"` is a common one);
    // dropping it would let the answer run on past where the client asked it to stop.
    if (!hasText(stop)) throw invalidValue(typeof request.stop === 'string' ? 'stop' : `stop[${index}]`, 'anthropic refuses a stop sequence that is empty or only whitespace');
  });
  if (stops.length > 0) body.stop_sequences = stops;
  // OpenAI split `user` into `safety_identifier` (abuse monitoring: Claude's user_id is for that) and `prompt_cache_key`.
  const user = typeof request.safety_identifier === 'string' && request.safety_identifier.length > 0 ? request.safety_identifier : request.user;
  if (typeof user === 'string' && user.length > 0) body.metadata = { user_id: user };
  if (target.stream) body.stream = true;
  const automatic = marks.of(request, '');
  if (automatic !== undefined) body.cache_control = automatic;
  if (thinking !== undefined) {
    const forced = body.tool_choice?.type === 'any' || body.tool_choice?.type === 'tool';
    const bare = budgetInBareToolLoop(thinking, messages);
    if (thinking.type === 'enabled' && (bare || forced)) {
      // Manual thinking (a budget) refuses a forced call and a tool loop whose turn does not open with
      // its thinking; adaptive thinking takes both.
      // @see https://platform.claude.com/docs/en/build-with-claude/thinking-tool-workflows (Limit tool choice to auto or none in manual mode)
      const why = bare
        ? 'thinking: the assistant turn whose tool calls this answers came without its thinking_blocks (replay the message as the answer gave it), and Claude refuses a budget then'
        : json === undefined
          ? 'thinking: Claude does not think on a budget when a tool call is forced (tool_choice required or named)'
          : "thinking: Claude does not think on a budget when a tool call is forced, as JSON mode is here (structured outputs, which keep thinking, need Claude 4.5 or later and a json_schema within Claude's subset)";
      if (alwaysThinks(target.model)) {
        // A model that takes a budget but cannot stop thinking (Mythos Preview) thinks adaptively instead,
        // at the client's effort, else the one the budget means.
        const level = body.output_config?.effort ?? effortForBudget(thinking.budget_tokens);
        body.thinking = thinking.display === undefined ? { type: 'adaptive' } : { type: 'adaptive', display: thinking.display };
        body.output_config = { ...body.output_config, effort: level };
        target.warnings.push(`${why}${bare ? ';' : ', and'} ${target.model} cannot turn thinking off, so it went as adaptive at effort ${level}`);
        fitSamplingToThinking(body, target);
      } else {
        target.warnings.push(`${why}, so it is off for this call`);
        // Off: the models that take a budget and can stop thinking (Claude 4.6 and earlier) think only
        // when asked, so leaving it out is off; one that thinks by default would need it said.
        if (thinksByDefault(target.model)) body.thinking = { type: 'disabled' };
      }
    } else {
      body.thinking = thinking;
      if (thinking.type !== 'disabled') fitSamplingToThinking(body, target);
    }
  }
  fitEffortToDisabled(body, target, effort !== undefined ? 'output_config.effort' : 'reasoning_effort');
  marks.check(body);
  warnDropped(request, target);
  return body;
}
