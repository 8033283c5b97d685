/**
 * OpenAI chat request → Anthropic Messages request. Pure: no I/O; dropped fields go to `target.warnings`.
 * This file assembles the request and holds the field table; messages and content go through
 * convert-messages.ts, tools, tool_choice and JSON mode through convert-tools.ts, thinking and effort through convert-thinking.ts.
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
import { invalidValue, type GatewayError } from '../../errors/gateway-error.js';
import { toolChoiceOfFunctionCall } from '../legacy-functions.js';
import { handledFields, refuseAudioOutput, ToolNames, unsupportedParameter as unsupportedByProvider, warnIgnored, warnUnknownFields } from '../chat-request-fields.js';
import type { ChatCompletionRequest } from '../../openai/types.js';
import type { ChatTarget } from '../provider.js';
import type { AnthropicMessagesRequest, AnthropicTool } from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';
import { CacheBreakpoints } from './convert-cache-control.js';
import { convertMessages, hasText } from './convert-messages.js';
import { budgetInBareToolLoop, chooseThinking, fitEffortToBetweenTools, fitEffortToDisabled, ownEffort, thinks } from './convert-thinking.js';
import { convertFunction, convertToolChoice, JSON_RESPONSE_TOOL, jsonTool, strictJsonSchema, structuredOutput, toolsOfHistory, webSearchTool } from './convert-tools.js';
import { refusesForcedTool, refusesSampling } from './model-limits.js';
import { StrictBudget } from './output-format.js';
import { alwaysThinks, effortForBudget, thinksByDefault } from './thinking-effort.js';

export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/** Fields the translation reads (here and in convert-*.ts beside it). Anything else the client sends is dropped with a warning. */
const ANTHROPIC_FIELDS = handledFields('cache_control', 'thinking', 'output_config', 'reasoning_effort', 'safety_identifier', 'web_search_options');

function ignored(target: ChatTarget, field: string): void {
  warnIgnored(target, 'anthropic', field);
}

function unsupportedParameter(param: string, detail: string): GatewayError {
  return unsupportedByProvider(param, 'anthropic', detail);
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
