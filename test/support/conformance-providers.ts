// The three upstreams of the conformance suite (test/integration/conformance.test.ts), each driven the
// same way: arm the next answer or failure, read back what the upstream received and check its path,
// credentials and translated body. Anthropic and Gemini answer recorded fixtures; the OpenAI fake is
// scripted with the bytes OpenAI would send for the same answer.
import assert from 'node:assert/strict';
import type { ChatCase } from '../providers/openai-cases.js';
import { anthropicRequestFor, readAnthropicJson, type FakeAnthropic } from './fake-anthropic.js';
import { readGeminiJson, type FakeGemini } from './fake-gemini.js';
import type { FakeOpenAi } from './fake-openai.js';

export type ProviderId = 'openai' | 'anthropic' | 'gemini';
export type Finish = 'stop' | 'length' | 'tool_calls' | 'function_call';
export type Json = Record<string, unknown>;

export const KEYS: Record<ProviderId, string> = {
  openai: 'sk-proj-conformance-openai-0123456789abcdef',
  anthropic: 'sk-ant-api03-conformance-anthropic-0123456789',
  gemini: 'AIzaSyConformance-gemini-0123456789abcdef',
};

/** What the client must see for one case from one provider. */
export interface Answer {
  /** The exact text. */
  content: string | null;
  /** JSON mode: what the content must parse to. */
  json?: unknown;
  /** Tool calls in order. `id` is the provider's, when it has ids (Gemini has none: the proxy mints them). */
  toolCalls?: Array<{ id?: string; name: string; arguments: Json }>;
  functionCall?: { name: string; arguments: Json };
  finish: Finish;
  /** What `X-LLM-Proxy-Warnings` lists: the fields the translation dropped. */
  warnings?: string[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens?: number;
}

export interface SentRequest {
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface FailureReply {
  status: number;
  /** An object is sent as JSON; without one the fake sends the provider's recorded body. */
  body?: Json;
  headers?: Record<string, string>;
  /** Gemini only: `gemini-error-<fixture>.json`. */
  fixture?: string;
}

/** Models used by one case each, so one case's cool-down or open circuit never reaches another. */
export type Slot = 'main' | 'e400' | 'e401' | 'badKey' | 'e429' | 'e500' | 'overloaded' | 'cut' | 'recover';

export interface ProviderUnderTest {
  id: ProviderId;
  models: Record<Slot, string>;
  /** The provider's own answer to a bad key (Gemini says 400 API_KEY_INVALID, not 401). */
  badKey: FailureReply;
  /** Its "overloaded" status. */
  overloaded: number;
  /** The Retry-After the client gets from the provider's 429. */
  retryAfter: string;
  reset(): void;
  /** Arranges the next chat answer: the fixture scenario, or (OpenAI) the scripted answer's bytes. */
  serve(scenario: ChatCase, answer: Answer | undefined, stream: boolean): void;
  fail(reply: FailureReply, times: number): void;
  /** The next stream dies after its first content. */
  cutAfterFirstContent(): void;
  sent(): SentRequest[];
  /** Path, credentials and the translated body, for the model the case asked for. */
  checkSent(sent: SentRequest, model: string, stream: boolean, request: Json, scenario: ChatCase | undefined): void;
  /** Usage the client must see, from the fixture (or the scripted answer). */
  usage(scenario: ChatCase): Usage;
}

export function record(value: unknown): Json {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `not an object: ${JSON.stringify(value)}`);
  return value as Json;
}

/** The scripted OpenAI answers' usage: any counts do, the proxy must pass them on as they are. */
function scriptedUsage(scenario: ChatCase): Usage {
  const prompt = 10 + scenario.length;
  return { prompt_tokens: prompt, completion_tokens: 7, total_tokens: prompt + 7, cached_tokens: 0 };
}

function openAiMessage(answer: Answer): Json {
  const message: Json = { role: 'assistant', content: answer.content, refusal: null };
  if (answer.toolCalls !== undefined) {
    message.tool_calls = answer.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } }));
  }
  if (answer.functionCall !== undefined) message.function_call = { name: answer.functionCall.name, arguments: JSON.stringify(answer.functionCall.arguments) };
  return message;
}

function openAiUsage(usage: Usage): Json {
  return { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens, prompt_tokens_details: { cached_tokens: 0 } };
}

/** An OpenAI answer as OpenAI streams it: role first, content and arguments in pieces, finish, usage, [DONE]. */
function openAiStream(answer: Answer, usage: Usage, model: string): string {
  const base = { id: 'chatcmpl-conformance', object: 'chat.completion.chunk', created: 1_700_000_000, model, system_fingerprint: 'fp_conformance' };
  const frames: Json[] = [];
  const delta = (value: Json, finish: Finish | null = null) => frames.push({ ...base, choices: [{ index: 0, delta: value, logprobs: null, finish_reason: finish }] });
  const halves = (text: string) => [text.slice(0, Math.ceil(text.length / 2)), text.slice(Math.ceil(text.length / 2))];
  delta({ role: 'assistant', content: '', refusal: null });
  if (answer.content !== null) for (const piece of halves(answer.content)) delta({ content: piece });
  answer.toolCalls?.forEach((call, index) => {
    delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    for (const piece of halves(JSON.stringify(call.arguments))) delta({ tool_calls: [{ index, function: { arguments: piece } }] });
  });
  if (answer.functionCall !== undefined) {
    delta({ function_call: { name: answer.functionCall.name, arguments: '' } });
    for (const piece of halves(JSON.stringify(answer.functionCall.arguments))) delta({ function_call: { arguments: piece } });
  }
  delta({}, answer.finish);
  frames.push({ ...base, choices: [], usage: openAiUsage(usage) });
  return frames.map((frame) => `data: ${JSON.stringify(frame)}\n\n`).join('') + 'data: [DONE]\n\n';
}

/** The model a scripted OpenAI answer names (OpenAI answers with the snapshot it ran). */
export const OPENAI_SNAPSHOT = 'gpt-4o-2024-08-06';

export function openAiProvider(fake: FakeOpenAi): ProviderUnderTest {
  return {
    id: 'openai',
    models: {
      main: 'gpt-4o',
      e400: 'gpt-4.1',
      e401: 'gpt-4.1-mini',
      badKey: 'gpt-4.1-nano',
      e429: 'gpt-4o-mini',
      e500: 'gpt-4-turbo',
      overloaded: 'gpt-4',
      cut: 'gpt-3.5-turbo',
      recover: 'openai/gpt-4-0613',
    },
    badKey: {
      status: 401,
      body: { error: { message: `Incorrect API key provided: ${KEYS.openai}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
    },
    overloaded: 503,
    retryAfter: '20',
    reset: () => fake.reset(),
    serve(scenario, expected, stream) {
      assert.ok(expected !== undefined, 'the OpenAI fake needs the answer to script');
      const usage = scriptedUsage(scenario);
      const model = OPENAI_SNAPSHOT;
      const body = stream
        ? openAiStream(expected, usage, model)
        : JSON.stringify({
            id: 'chatcmpl-conformance',
            object: 'chat.completion',
            created: 1_700_000_000,
            model,
            choices: [{ index: 0, message: openAiMessage(expected), logprobs: null, finish_reason: expected.finish }],
            usage: openAiUsage(usage),
            system_fingerprint: 'fp_conformance',
          });
      fake.enqueue({ kind: 'raw', status: 200, contentType: stream ? 'text/event-stream; charset=utf-8' : 'application/json', body });
    },
    fail(reply, times) {
      const body = reply.body === undefined ? undefined : JSON.stringify(reply.body);
      for (let index = 0; index < times; index++) fake.enqueue({ kind: 'status', status: reply.status, ...(body === undefined ? {} : { body }), ...(reply.headers === undefined ? {} : { headers: reply.headers }) });
    },
    // The fake's own answer: a role chunk, then a word per chunk.
    cutAfterFirstContent: () => fake.enqueue({ kind: 'reset-after', chunks: 2 }),
    sent: () => fake.requests.map((request) => ({ path: request.path, query: {}, headers: request.headers, body: request.body })),
    checkSent(sent, model, stream, request, scenario) {
      assert.equal(sent.path, '/v1/chat/completions');
      assert.equal(sent.headers.authorization, `Bearer ${KEYS.openai}`);
      if (scenario === undefined) return;
      // OpenAI-format hosts get the client's body as it came, with the routed model; streams always ask for usage.
      const expected: Json = { ...request, model, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) };
      assert.deepEqual(sent.body, expected);
    },
    usage: scriptedUsage,
  };
}

/** Anthropic counts cache reads apart from input_tokens; OpenAI's prompt_tokens includes them. */
function anthropicUsage(scenario: ChatCase): Usage {
  const usage = record(record(readAnthropicJson(`anthropic-${scenario}.response.json`)).usage);
  const cacheRead = Number(usage.cache_read_input_tokens ?? 0);
  const prompt = Number(usage.input_tokens) + cacheRead + Number(usage.cache_creation_input_tokens ?? 0);
  const completion = Number(usage.output_tokens);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, cached_tokens: cacheRead };
}

/** The catalog's output limit for claude-sonnet-4-5: Anthropic requires max_tokens, so the proxy sends it. */
const CLAUDE_MAX_OUTPUT = 64000;

export function anthropicProvider(fake: FakeAnthropic): ProviderUnderTest {
  return {
    id: 'anthropic',
    models: {
      main: 'claude-sonnet-4-5',
      e400: 'claude-opus-4-5',
      e401: 'claude-haiku-4-5',
      badKey: 'claude-opus-4-1',
      e429: 'claude-sonnet-4-0',
      e500: 'claude-3-7-sonnet-latest',
      overloaded: 'claude-3-5-haiku-latest',
      // The `provider/model` form routes too.
      cut: 'anthropic/claude-opus-4-0',
      recover: 'claude-3-5-sonnet-latest',
    },
    badKey: { status: 401, body: { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key: ${KEYS.anthropic}` }, request_id: 'req_conformance' } },
    overloaded: 529,
    retryAfter: '7',
    reset: () => fake.reset(),
    serve: (scenario) => fake.respondWith(scenario),
    fail(reply, times) {
      for (let index = 0; index < times; index++) {
        fake.enqueue({ kind: 'error', status: reply.status, ...(reply.body === undefined ? {} : { body: reply.body }), ...(reply.headers === undefined ? {} : { headers: reply.headers }) });
      }
    },
    // message_start, content_block_start, ping, the first text delta.
    cutAfterFirstContent: () => fake.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 4 }),
    sent: () => fake.requests.map((request) => ({ path: request.path, query: request.query, headers: request.headers, body: request.body })),
    checkSent(sent, model, stream, request, scenario) {
      assert.equal(sent.path, '/v1/messages');
      assert.equal(sent.headers['x-api-key'], KEYS.anthropic);
      assert.equal(sent.headers['anthropic-version'], '2023-06-01');
      assert.equal(sent.headers.authorization, undefined);
      const body = record(sent.body);
      assert.equal(body.model, model);
      assert.equal(body.stream, stream ? true : undefined);
      if (scenario === undefined) return;
      // The recorded request of the codec tests, but for the catalog's max_tokens when the client set none.
      const limit = request.max_completion_tokens ?? request.max_tokens ?? CLAUDE_MAX_OUTPUT;
      const expected: Json = { ...record(anthropicRequestFor(scenario, model)), model, max_tokens: limit, ...(stream ? { stream: true } : {}) };
      assert.deepEqual(body, expected);
    },
    usage: anthropicUsage,
  };
}

/** Gemini's thinking tokens are billed as output: completion = candidates + thoughts, and the total agrees with Gemini's. */
function geminiUsage(scenario: ChatCase): Usage {
  const usage = record(record(readGeminiJson(`gemini-${scenario}.response.json`)).usageMetadata);
  const prompt = Number(usage.promptTokenCount);
  const total = Number(usage.totalTokenCount);
  return { prompt_tokens: prompt, completion_tokens: total - prompt, total_tokens: total, cached_tokens: Number(usage.cachedContentTokenCount ?? 0) };
}

export function geminiProvider(fake: FakeGemini): ProviderUnderTest {
  return {
    id: 'gemini',
    models: {
      main: 'gemini-2.5-flash',
      e400: 'gemini-2.5-pro',
      e401: 'gemini-2.5-flash-lite',
      badKey: 'gemini-2.0-flash',
      e429: 'gemini-2.0-flash-lite',
      e500: 'gemini-1.5-pro',
      overloaded: 'gemini-1.5-flash',
      cut: 'gemini/gemini-1.5-flash-8b',
      recover: 'gemini-3-pro-preview',
    },
    // Gemini answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    badKey: { status: 400, fixture: 'invalid-key' },
    overloaded: 503,
    // From the 429 body's google.rpc.RetryInfo (retryDelay "37s"): Gemini sends no Retry-After header.
    retryAfter: '37',
    reset: () => fake.reset(),
    serve(scenario) {
      assert.ok(scenario !== 'image-url', 'Gemini has no image-url answer: the proxy refuses it');
      fake.respondWith(scenario);
    },
    fail(reply, times) {
      for (let index = 0; index < times; index++) {
        fake.enqueue({
          kind: 'error',
          status: reply.status,
          ...(reply.body === undefined ? {} : { body: reply.body }),
          ...(reply.fixture === undefined ? {} : { fixture: reply.fixture }),
          ...(reply.headers === undefined ? {} : { headers: reply.headers }),
        });
      }
    },
    cutAfterFirstContent: () => fake.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 1 }),
    sent: () => fake.requests.map((request) => ({ path: request.path, query: request.query, headers: request.headers, body: request.body })),
    checkSent(sent, model, stream, _request, scenario) {
      const bare = model.replace(/^gemini\//, '');
      assert.equal(sent.path, `/v1beta/models/${bare}:${stream ? 'streamGenerateContent' : 'generateContent'}`);
      assert.deepEqual(sent.query, stream ? { alt: 'sse' } : {}, 'the key never travels in the URL');
      assert.equal(sent.headers['x-goog-api-key'], KEYS.gemini);
      assert.equal(sent.headers.authorization, undefined);
      if (scenario === undefined) return;
      assert.deepEqual(sent.body, readGeminiJson(`gemini-${scenario}.request.json`));
    },
    usage: geminiUsage,
  };
}
