/**
 * A fake Anthropic Messages API for tests: a `node:http` server on 127.0.0.1, port 0, answering with the
 * recorded fixtures in `src/providers/anthropic/__fixtures__/` byte for byte, with Anthropic's headers.
 *
 * ```ts
 * const fake = await startFakeAnthropic();          // answers every request with scenario 'text'
 * provider.baseUrl = new URL(fake.url);             // http://127.0.0.1:<port>
 * fake.respondWith('tools');                        // the scenario for every later request
 * fake.enqueue({ kind: 'error', status: 529 });     // the next request only (a FIFO queue before the default)
 * fake.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 3 }); // 3 SSE events, then the socket dies
 * fake.requests[0]                                  // { method, path, query, headers, body (parsed JSON), rawBody }
 * await fake.close();
 * ```
 *
 * Routes: `POST /v1/messages` answers `anthropic-<scenario>.response.json`, or, when the body says
 * `"stream": true`, `anthropic-<scenario>.chunks.txt` as `text/event-stream` (one write per event).
 * `GET /v1/models` answers `anthropic-models.json`; `POST /v1/messages/count_tokens` answers
 * `{"input_tokens": FAKE_COUNT_TOKENS}`. Other paths get Anthropic's 404 body.
 * An error reply without a body sends `anthropic-error-<status>.json` when it exists. Like Anthropic, the
 * fake refuses some requests with a 400 (see the `*Refusal` checks), among them a replayed assistant turn
 * whose thinking blocks are out of the order of the recorded answer they came from.
 * The fake checks no credentials: tests assert on the recorded headers instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { claudeGeneration } from '../../src/providers/anthropic/thinking-effort.js';
import { startScriptedFake, type ScriptedFake } from './scripted-fake.js';

export type AnthropicScenario =
  | 'text'
  | 'multi-turn'
  | 'image'
  | 'image-url'
  | 'tools'
  | 'parallel-tools'
  | 'tool-result'
  | 'legacy-functions'
  | 'json-mode'
  | 'stop'
  | 'max-tokens'
  /** A prompt-cache hit and writes: 2,000 tokens read, 3,000 written (1,000 of them to the 1-hour cache). */
  | 'cache-write'
  /** Claude Opus 4.8 in fast mode, US-only inference, after a compaction (usage.iterations: 160,000 in and 3,000 out beside the top-level 2,000 and 100). */
  | 'compaction-fast'
  /** Claude Sonnet 4.6 consulted a Claude Opus 4.8 advisor (usage.iterations: an advisor_message of 1,100 in and 1,500 out beside the top-level 3,000 and 300). */
  | 'advisor'
  /** Plain only: Claude Fable 5 declined and Claude Opus 4.8 answered (usage.iterations: Fable's 1,000 and 1, Opus's fallback_message 1,100 and 399; top-level 2,100 and 400). */
  | 'fallback'
  /** Plain only: Claude Sonnet 4.6 thought (one signed thinking block), then called get_weather for Paris, as Anthropic's thinking-with-tools walkthrough shows. */
  | 'thinking-tools'
  /** Claude Opus 4.6 thought between its calls: thinking, text, tool_use (calculator), thinking, tool_use (database_query). Plain and streamed. */
  | 'interleaved-thinking'
  /** Claude searched the web twice (server_tool_use, web_search_tool_result, a cited text block; usage server_tool_use.web_search_requests 2). */
  | 'web-search'
  /** Stream only: a few events, then an `error` event (overloaded_error). */
  | 'stream-overloaded'
  /** Stream only: everything but `message_stop`. */
  | 'stream-truncated';

export type FakeAnthropicReply =
  | { kind: 'scenario'; scenario: AnthropicScenario }
  /** A non-2xx answer; `body` (object → JSON, string → as is) defaults to the status's fixture. */
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Streams the scenario's first `afterEvents` events, then destroys the socket mid-body. */
  | { kind: 'destroy'; scenario: AnthropicScenario; afterEvents: number };

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  body: unknown;
  rawBody: string;
}

export type FakeAnthropic = ScriptedFake<AnthropicScenario, FakeAnthropicReply, RecordedRequest>;

function findFixtureDir(): string {
  // The sources' copy: tsc also copies the .json fixtures to dist, but not the .chunks.txt ones.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'src', 'providers', 'anthropic', '__fixtures__');
    dir = dirname(dir);
  }
  throw new Error('anthropic fixtures not found: no package.json above ' + fileURLToPath(import.meta.url));
}

export const ANTHROPIC_FIXTURE_DIR = findFixtureDir();

/** A fixture's exact bytes, as text (`anthropic-text.response.json`, `anthropic-tools.chunks.txt`, ...). */
export function readAnthropicFixture(name: string): string {
  return readFileSync(join(ANTHROPIC_FIXTURE_DIR, name), 'utf8');
}

export function readAnthropicJson(name: string): unknown {
  return JSON.parse(readAnthropicFixture(name)) as unknown;
}

/** The chat scenarios whose weather tool is strict (openai-cases.ts). */
export const STRICT_WEATHER: ReadonlySet<string> = new Set(['tools', 'parallel-tools', 'tool-result']);
/** The chat scenarios whose `json_schema` is strict (openai-cases.ts): JSON mode's forced tool. */
const STRICT_JSON: ReadonlySet<string> = new Set(['json-mode']);

/**
 * The recorded request of a chat scenario as the proxy sends it to `model`. The chat cases' weather
 * tool and JSON schema are strict, and Claude 4.5 and later take strict tool use: there the tool (the
 * weather tool, JSON mode's `json_response`) goes with `strict: true` and its schema in Claude's
 * subset (`default` and `examples` are no part of it; an enum goes without its type). The fixture
 * itself stays as a /v1/messages client sends it (no `strict`).
 */
export function anthropicRequestFor(scenario: string, model: string): Record<string, unknown> {
  const request = readAnthropicJson(`anthropic-${scenario}.request.json`) as Record<string, unknown>;
  const generation = claudeGeneration(model);
  const strict = generation === undefined || generation >= 45;
  if (!strict || !Array.isArray(request.tools)) return request;
  if (STRICT_JSON.has(scenario)) {
    // The schema is in Claude's subset as the client wrote it (closed, nothing to move).
    return { ...request, tools: (request.tools as Array<Record<string, unknown>>).map((tool) => (tool.name === 'json_response' ? { ...tool, strict: true } : tool)) };
  }
  if (!STRICT_WEATHER.has(scenario)) return request;
  const tools = (request.tools as Array<Record<string, unknown>>).map((tool) => {
    if (tool.name !== 'get_weather') return tool;
    const schema = tool.input_schema as { properties: Record<string, Record<string, unknown>> };
    // An enum says the type: output-format.ts sends the literals alone.
    const { default: _default, type: _type, ...unit } = schema.properties.unit ?? {};
    const { examples: _examples, ...days } = schema.properties.days ?? {};
    return { ...tool, strict: true, input_schema: { ...schema, properties: { ...schema.properties, unit, days } } };
  });
  return { ...request, tools };
}

/** Splits an SSE fixture into its events, each with its blank line, as the server writes them. */
export function splitSseEvents(text: string): string[] {
  return text.split(/(?<=\r\n\r\n|\n\n)/).filter((event) => event.length > 0);
}

/** What `POST /v1/messages/count_tokens` answers as `input_tokens`. */
export const FAKE_COUNT_TOKENS = 2_213;

const STREAM_ONLY: ReadonlySet<AnthropicScenario> = new Set(['stream-overloaded', 'stream-truncated']);

let requestCounter = 0;
function baseHeaders(): Record<string, string> {
  requestCounter++;
  return {
    'request-id': `req_011CFakeAnthropic${String(requestCounter).padStart(6, '0')}`,
    'anthropic-organization-id': '00000000-0000-4000-8000-000000000000',
    via: '1.1 google',
  };
}

function errorHeaders(status: number): Record<string, string> {
  if (status === 429) {
    return {
      'retry-after': '7',
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '2025-11-01T00:00:07Z',
      'x-should-retry': 'true',
    };
  }
  if (status === 529 || status >= 500) return { 'x-should-retry': 'true' };
  return { 'x-should-retry': 'false' };
}

function sendError(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> | undefined): void {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body !== undefined) text = JSON.stringify(body);
  else if (existsSync(join(ANTHROPIC_FIXTURE_DIR, `anthropic-error-${status}.json`))) text = readAnthropicFixture(`anthropic-error-${status}.json`);
  else text = JSON.stringify({ type: 'error', error: { type: 'api_error', message: `HTTP ${status}` }, request_id: null });
  response.writeHead(status, { ...baseHeaders(), ...errorHeaders(status), 'content-type': 'application/json', ...headers });
  response.end(text);
}

function sendStream(response: ServerResponse, scenario: AnthropicScenario, afterEvents: number | undefined): void {
  const events = splitSseEvents(readAnthropicFixture(`anthropic-${scenario}.chunks.txt`));
  response.writeHead(200, { ...baseHeaders(), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const limit = afterEvents ?? events.length;
  let index = 0;
  const next = () => {
    if (index >= limit) {
      if (afterEvents !== undefined) response.socket?.destroy();
      else response.end();
      return;
    }
    response.write(events[index] as string);
    index++;
    setImmediate(next);
  };
  next();
}

/**
 * The effort levels of the models Anthropic's effort page lists with fewer than all five: Opus 4.5
 * has no max or xhigh, the 4.6 models and Mythos Preview no xhigh. A level a model lacks is a 400.
 * @see https://platform.claude.com/docs/en/build-with-claude/effort (Effort levels)
 */
const EFFORT_LEVELS: Readonly<Record<string, readonly string[]>> = {
  'claude-opus-4-5-20251101': ['low', 'medium', 'high'],
  'claude-opus-4-6': ['low', 'medium', 'high', 'max'],
  'claude-sonnet-4-6': ['low', 'medium', 'high', 'max'],
  'claude-mythos-preview': ['low', 'medium', 'high', 'max'],
};

/**
 * The models that take no effort at all: Anthropic's effort page lists Opus 4.5 and the 4.6 models and
 * later only (Sonnet and Haiku 4.5, Opus 4.1, Claude 4, 3.7 and 3.x are not there). The 400's text is
 * not documented: these words are the fake's.
 * @see https://platform.claude.com/docs/en/build-with-claude/effort (supportedModels)
 */
const NO_EFFORT: ReadonlySet<string> = new Set([
  'claude-sonnet-4-5', 'claude-sonnet-4-5-20250929', 'claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'claude-opus-4-1', 'claude-opus-4-1-20250805',
  'claude-opus-4-0', 'claude-opus-4-20250514', 'claude-sonnet-4-0', 'claude-sonnet-4-20250514', 'claude-3-7-sonnet-latest', 'claude-3-7-sonnet-20250219',
  'claude-3-5-haiku-latest', 'claude-3-5-haiku-20241022', 'claude-3-haiku-20240307',
]);

/**
 * The models with no extended thinking (Claude 3 and 3.5): any `thinking` is a 400. The text is not
 * documented: these words are the fake's.
 */
const NO_THINKING: ReadonlySet<string> = new Set(['claude-3-5-haiku-latest', 'claude-3-5-haiku-20241022', 'claude-3-haiku-20240307', 'claude-3-5-sonnet-20241022', 'claude-3-opus-20240229']);

/**
 * Claude Opus 5 and later models that accept `disabled` take it at effort high or below only: with
 * xhigh or max it is a 400 (Claude Opus 5, Claude Haiku 5.5 here). The text is not documented: these
 * words are the fake's.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (footnote 2 of the per-model table)
 */
const DISABLED_AT_HIGH_OR_BELOW: ReadonlySet<string> = new Set(['claude-opus-5', 'claude-haiku-5-5']);

function effortRefusal(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { model, output_config: config } = body as { model?: unknown; output_config?: { effort?: unknown } };
  if (typeof model === 'string' && NO_EFFORT.has(model) && config?.effort !== undefined) return `output_config.effort: effort is not supported by ${model}`;
  const levels = typeof model === 'string' ? EFFORT_LEVELS[model] : undefined;
  const effort = config?.effort;
  if (levels === undefined || typeof effort !== 'string' || levels.includes(effort)) return undefined;
  return `output_config.effort: '${effort}' is not supported by ${model}`;
}

/**
 * The models that think on every answer refuse `thinking: {type: "disabled"}` (400, at any effort):
 * Fable and Mythos (Mythos Preview too) and Opus 5.5; Sonnet 5.5 takes `between_tools` in its place,
 * and no other model takes `between_tools`. By id, as Anthropic's pages name them.
 * @see https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5 (Thinking can't be disabled; also Fable 5.1)
 * @see https://platform.claude.com/docs/en/models/fable-5/migration-guide, https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5
 */
const ALWAYS_THINKING: ReadonlySet<string> = new Set(['claude-fable-5', 'claude-fable-5-1', 'claude-fable-5-2', 'claude-mythos-5', 'claude-mythos-5-1', 'claude-mythos-5-2', 'claude-mythos-preview', 'claude-opus-5-5', 'claude-sonnet-5-5']);

function thinkingRefusal(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { model, thinking } = body as { model?: unknown; thinking?: { type?: unknown } };
  const type = thinking?.type;
  if (type !== undefined && typeof model === 'string' && NO_THINKING.has(model)) return `thinking: extended thinking is not supported by ${model}`;
  const level = (body as { output_config?: { effort?: unknown } }).output_config?.effort;
  if (type === 'disabled' && typeof model === 'string' && DISABLED_AT_HIGH_OR_BELOW.has(model) && (level === 'xhigh' || level === 'max')) {
    return `"thinking.type.disabled" is not supported with output_config.effort '${level}' on this model. Lower the effort to high or below, or leave thinking on.`;
  }
  if (type === 'disabled' && typeof model === 'string' && ALWAYS_THINKING.has(model)) {
    return '"thinking.type.disabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.';
  }
  if (type === 'between_tools' && model !== 'claude-sonnet-5-5') return '"thinking.type.between_tools" is not supported for this model.';
  // Sonnet 5.5 takes between_tools at low, medium and high effort only (its default is high). Not Anthropic's words.
  const effort = (body as { output_config?: { effort?: unknown } }).output_config?.effort;
  if (type === 'between_tools' && (effort === 'xhigh' || effort === 'max')) return `"thinking.type.between_tools" is not supported with output_config.effort '${effort}'. Use "thinking.type.adaptive".`;
  if (type === 'adaptive' && typeof model === 'string' && BUDGET_ONLY.has(model)) {
    return "thinking: Input tag 'adaptive' found using 'type' does not match any of the expected tags: 'disabled', 'enabled'";
  }
  if (type === 'enabled') {
    const opening = toolLoopOpening((body as { messages?: unknown }).messages);
    if (opening !== undefined && opening.type !== 'thinking' && opening.type !== 'redacted_thinking') {
      return `messages.${opening.index}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(opening.type)}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`;
    }
  }
  if (type === 'enabled' && typeof model === 'string' && NO_BUDGET.has(model)) {
    return '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.';
  }
  // A forced call excludes manual thinking (a budget) only: adaptive thinking takes one.
  // @see https://platform.claude.com/docs/en/build-with-claude/thinking-tool-workflows (Limit tool choice to auto or none in manual mode)
  const choice = (body as { tool_choice?: { type?: unknown } }).tool_choice;
  const forced = choice?.type === 'any' || choice?.type === 'tool';
  if (forced && type === 'enabled') return 'Thinking may not be enabled when tool_choice forces tool use.';
  return undefined;
}

/**
 * The models that think on a budget only and refuse `thinking: {type: "adaptive"}` (Claude 4.5 and
 * earlier; adaptive thinking came with 4.6). The 400's text is Anthropic's schema check, as Bedrock relays it.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (Claude Haiku 4.5: Extended only, rejects "adaptive")
 * @see https://github.com/strands-agents/sdk-python/issues/1856 (the 400's text, claude-sonnet-4-5)
 */
const BUDGET_ONLY: ReadonlySet<string> = new Set([
  'claude-sonnet-4-5', 'claude-sonnet-4-5-20250929', 'claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'claude-opus-4-5', 'claude-opus-4-5-20251101',
  'claude-opus-4-1', 'claude-opus-4-1-20250805', 'claude-opus-4-0', 'claude-opus-4-20250514', 'claude-sonnet-4-0', 'claude-sonnet-4-20250514',
  'claude-3-7-sonnet-latest', 'claude-3-7-sonnet-20250219',
]);

/**
 * In a tool loop (the last turn carries tool results for the assistant turn before it), that assistant
 * turn's first block and its index, for the check manual thinking (`enabled`) makes: the turn must open
 * with its thinking. Undefined when the conversation does not end in a tool loop.
 * @see https://github.com/anthropics/claude-code/issues/14264 (the 400's text, claude-opus-4-5)
 */
function toolLoopOpening(messages: unknown): { index: number; type: unknown } | undefined {
  if (!Array.isArray(messages) || messages.length < 2) return undefined;
  const index = messages.length - 2;
  const [before, last] = [messages[index] as { role?: unknown; content?: unknown }, messages[index + 1] as { role?: unknown; content?: unknown }];
  if (before?.role !== 'assistant' || last?.role !== 'user' || !Array.isArray(before.content) || !Array.isArray(last.content)) return undefined;
  const types = (blocks: unknown[]) => blocks.map((block) => (block as { type?: unknown }).type);
  if (!types(last.content).includes('tool_result') || !types(before.content).includes('tool_use')) return undefined;
  return { index, type: types(before.content)[0] };
}

/**
 * The models that take no thinking budget (`thinking: {type: "enabled", budget_tokens}`), adaptive
 * thinking only: Claude Opus 4.7 and every model since. Mythos Preview takes both.
 * @see https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting
 * @see https://github.com/NousResearch/hermes-agent/issues/11137 (the 400's text, claude-opus-4-7)
 */
const NO_BUDGET: ReadonlySet<string> = new Set([
  'claude-opus-4-7', 'claude-opus-4-8', 'claude-opus-5', 'claude-opus-5-5', 'claude-sonnet-5', 'claude-sonnet-5-5', 'claude-haiku-5-5',
  'claude-fable-5', 'claude-fable-5-1', 'claude-fable-5-2', 'claude-mythos-5', 'claude-mythos-5-1', 'claude-mythos-5-2',
]);

/**
 * The models that refuse a forced tool call (`tool_choice` `any` or `tool`) at all, thinking or not: Fable
 * and Mythos from 5.1, Opus 5.5, Sonnet 5.5. Fable 5 and Mythos 5 take it. The message is Anthropic's.
 * @see https://platform.claude.com/docs/en/models/fable-5-1/whats-new-fable-5-1 (Forced tool use is not supported)
 * @see https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5, https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5
 * @see https://github.com/anomalyco/opencode/issues/46735 (the 400's text, claude-fable-5 answering 200)
 */
const NO_FORCED_TOOL: ReadonlySet<string> = new Set(['claude-fable-5-1', 'claude-fable-5-2', 'claude-mythos-5-1', 'claude-mythos-5-2', 'claude-opus-5-5', 'claude-sonnet-5-5']);

/**
 * The models that take no sampling settings: Claude Opus 4.7 and every model since (Opus 4.8, 5, 5.5,
 * Sonnet 5, 5.5, Haiku 5.5, Fable, Mythos). A `temperature` other than 1, or any `top_p` or `top_k`, is a 400.
 * @see https://platform.claude.com/docs/en/about-claude/models/migration-guide (Migrating to Claude Opus 4.7: sampling parameters)
 */
const NO_SAMPLING: ReadonlySet<string> = new Set([
  'claude-opus-4-7', 'claude-opus-4-8', 'claude-opus-5', 'claude-opus-5-5', 'claude-sonnet-5', 'claude-sonnet-5-5', 'claude-haiku-5-5',
  'claude-fable-5', 'claude-fable-5-1', 'claude-fable-5-2', 'claude-mythos-5', 'claude-mythos-5-1', 'claude-mythos-5-2', 'claude-mythos-preview',
]);

/**
 * The models that take no prefill (a conversation ending on an assistant turn): Claude 4.6 and later.
 * @see https://platform.claude.com/docs/en/about-claude/models/whats-new-claude-4-6 (Prefill removal)
 */
const NO_PREFILL: ReadonlySet<string> = new Set(['claude-opus-4-6', 'claude-sonnet-4-6', ...NO_SAMPLING]);

function modelRefusal(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { model, tool_choice: choice, messages, temperature, top_p: topP, top_k: topK } = body as Record<string, unknown>;
  if (typeof model !== 'string') return undefined;
  const forced = typeof choice === 'object' && choice !== null && ((choice as { type?: unknown }).type === 'any' || (choice as { type?: unknown }).type === 'tool');
  if (forced && NO_FORCED_TOOL.has(model)) return 'tool_choice: type "tool" and "any" are not supported for this model.';
  if (NO_SAMPLING.has(model)) {
    if (temperature !== undefined && temperature !== 1) return '`temperature` is deprecated for this model.';
    if (topP !== undefined) return '`top_p` is deprecated for this model.';
    if (topK !== undefined) return '`top_k` is deprecated for this model.';
  }
  const last = Array.isArray(messages) ? (messages.at(-1) as { role?: unknown } | undefined) : undefined;
  if (last?.role === 'assistant' && NO_PREFILL.has(model)) return 'This model does not support assistant message prefill. The conversation must end with a user message.';
  return undefined;
}

/** A thinking or tool_use block as the order check knows it: by signature, data or id; undefined for other blocks. */
function orderKey(block: unknown): string | undefined {
  if (typeof block !== 'object' || block === null) return undefined;
  const { type, signature, data, id } = block as Record<string, unknown>;
  if (type === 'thinking' && typeof signature === 'string') return `thinking ${signature}`;
  if (type === 'redacted_thinking' && typeof data === 'string') return `redacted_thinking ${data}`;
  if (type === 'tool_use' && typeof id === 'string') return `tool_use ${id}`;
  return undefined;
}

let answeredOrders: Map<string, string[]> | undefined;
/** Each thinking block of the recorded answers → the thinking and tool_use blocks of its answer, in Claude's order. */
function answeredOrder(key: string): string[] | undefined {
  if (answeredOrders === undefined) {
    answeredOrders = new Map();
    for (const name of readdirSync(ANTHROPIC_FIXTURE_DIR).filter((file) => file.endsWith('.response.json'))) {
      const content = (readAnthropicJson(name) as { content?: unknown }).content;
      const keys = Array.isArray(content) ? content.map(orderKey).filter((found) => found !== undefined) : [];
      for (const found of keys) if (!found.startsWith('tool_use ')) answeredOrders.set(found, keys);
    }
  }
  return answeredOrders.get(key);
}

/**
 * Anthropic takes the thinking blocks of the latest assistant turn back only as they were in its answer: a
 * block moved (thinking put before calls it came after) is a 400, naming the first block out of place. The
 * fake compares the order of the thinking and tool_use blocks of the answers it recorded. The message is Anthropic's.
 * @see https://github.com/NousResearch/hermes-agent/pull/35976 (the 400's text, a reordered interleaved turn)
 */
function replayRefusal(body: unknown): string | undefined {
  const messages = typeof body === 'object' && body !== null ? (body as { messages?: unknown }).messages : undefined;
  if (!Array.isArray(messages)) return undefined;
  const index = messages.findLastIndex((message) => (message as { role?: unknown } | null)?.role === 'assistant');
  const content = (messages[index] as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return undefined;
  const sent = content.map((block, at) => ({ key: orderKey(block), at })).filter((block): block is { key: string; at: number } => block.key !== undefined);
  const expected = sent.map(({ key }) => answeredOrder(key)).find((order) => order !== undefined);
  if (expected === undefined) return undefined;
  const moved = sent.find(({ key }, at) => expected[at] !== key) ?? (sent.length === expected.length ? undefined : sent[sent.length - 1]);
  if (moved === undefined) return undefined;
  return `messages.${index}.content.${moved.at}: \`thinking\` or \`redacted_thinking\` blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response.`;
}

function handle(request: RecordedRequest, response: ServerResponse, reply: FakeAnthropicReply): void {
  if (reply.kind === 'error') {
    sendError(response, reply.status, reply.body, reply.headers);
    return;
  }
  if (request.method === 'GET' && request.path === '/v1/models') {
    response.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json' });
    response.end(readAnthropicFixture('anthropic-models.json'));
    return;
  }
  if (request.method === 'POST' && request.path === '/v1/messages/count_tokens') {
    // Anthropic's own count; any fixed figure does, the proxy must pass it on unchanged.
    response.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json' });
    response.end(JSON.stringify({ input_tokens: FAKE_COUNT_TOKENS }));
    return;
  }
  if (request.method !== 'POST' || request.path !== '/v1/messages') {
    sendError(response, 404, { type: 'error', error: { type: 'not_found_error', message: 'Not Found' }, request_id: null }, undefined);
    return;
  }
  const refused = effortRefusal(request.body) ?? thinkingRefusal(request.body) ?? modelRefusal(request.body) ?? replayRefusal(request.body);
  if (refused !== undefined) {
    sendError(response, 400, { type: 'error', error: { type: 'invalid_request_error', message: refused }, request_id: null }, undefined);
    return;
  }
  const streaming = typeof request.body === 'object' && request.body !== null && (request.body as Record<string, unknown>).stream === true;
  if (reply.kind === 'destroy' || streaming || STREAM_ONLY.has(reply.scenario)) {
    sendStream(response, reply.scenario, reply.kind === 'destroy' ? reply.afterEvents : undefined);
    return;
  }
  response.writeHead(200, { ...baseHeaders(), 'content-type': 'application/json' });
  response.end(readAnthropicFixture(`anthropic-${reply.scenario}.response.json`));
}

function record(request: IncomingMessage, raw: string): RecordedRequest {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  let body: unknown;
  try {
    body = raw.length > 0 ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    body = undefined;
  }
  return { method: request.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: request.headers, body, rawBody: raw };
}

export function startFakeAnthropic(options: { scenario?: AnthropicScenario } = {}): Promise<FakeAnthropic> {
  return startScriptedFake<AnthropicScenario, FakeAnthropicReply, RecordedRequest>({
    name: 'fake-anthropic',
    initial: options.scenario ?? 'text',
    scenarioReply: (scenario) => ({ kind: 'scenario', scenario }),
    record,
    handle,
  });
}
