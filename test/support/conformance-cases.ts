// The conformance suite's case table (issue #3), shared by its two inbound formats:
// test/integration/conformance.test.ts (/v1/chat/completions, the openai SDK) and
// test/integration/conformance-messages.test.ts (/v1/messages, the Anthropic SDK).
import assert from 'node:assert/strict';
import type { ChatCase } from '../providers/openai-cases.js';
import { anthropicProvider, geminiProvider, KEYS, openAiProvider, type Answer, type FailureReply, type ProviderId, type ProviderUnderTest, type Slot } from './conformance-providers.js';
import { claudeGeneration } from '../../src/providers/anthropic/thinking-effort.js';
import { STRICT_WEATHER, startFakeAnthropic } from './fake-anthropic.js';
import { startFakeGemini } from './fake-gemini.js';
import { startFakeOpenAi } from './fake-openai.js';
import { startGateway, type Gateway } from './gateway-harness.js';

/** What the client must see when the provider cannot do a case at all. */
export interface Refusal {
  status: number;
  code: string;
}

// ---------------------------------------------------------------------------------------------
// The case table
// ---------------------------------------------------------------------------------------------

export interface AnswerCase {
  kind: 'answer';
  name: string;
  scenario: ChatCase;
  expect(provider: ProviderId): Answer | Refusal;
}

export interface FailureCase {
  kind: 'failure';
  name: string;
  slot: Slot;
  reply(provider: ProviderUnderTest): { reply: FailureReply; times: number };
  /** `attempts` is exact, or a [min, max] range where the retry policy may vary. */
  expect(provider: ProviderUnderTest): { status: number; code: string; attempts: number | [number, number]; retryAfter?: string };
}

export interface DisconnectCase {
  kind: 'disconnect';
  name: string;
  slot: Slot;
}

/** One upstream failure, then the scenario's answer: the client sees only the answer. */
export interface RecoveryCase {
  kind: 'recovery';
  name: string;
  slot: Slot;
  scenario: ChatCase;
}

export type ConformanceCase = AnswerCase | FailureCase | DisconnectCase | RecoveryCase;

// Claude 4.5 and later (the main model here) take strict tool use; Gemini has no counterpart.
const strict = (provider: string) => `tools[0].function.strict: not supported by ${provider}, ignored`;
const paris = { location: 'Paris', unit: 'celsius', days: null };
const tokyo = { location: 'Tokyo', unit: 'celsius', days: null };

function answer(scenario: ChatCase, name: string, byProvider: Record<ProviderId, Answer | Refusal>): AnswerCase {
  return { kind: 'answer', name, scenario, expect: (provider) => byProvider[provider] };
}

export const CASES: ConformanceCase[] = [
  answer('text', 'text', {
    openai: { content: 'Hello! How can I help you today?', finish: 'stop' },
    anthropic: { content: 'Hello! How can I help you today?', finish: 'stop' },
    gemini: { content: 'Hello there! How can I help you today?', finish: 'stop' },
  }),
  answer('multi-turn', 'multi-turn with system and developer messages', {
    openai: { content: 'Berlin.', finish: 'stop' },
    anthropic: { content: 'Berlin.', finish: 'stop', warnings: ['top_p: not supported by anthropic together with temperature, ignored'] },
    gemini: { content: 'Berlin.', finish: 'stop', warnings: ['user: not supported by gemini, ignored'] },
  }),
  answer('image', 'image as a data URL', {
    openai: { content: 'The image is a single transparent pixel.', finish: 'stop' },
    anthropic: { content: 'The image is a single transparent pixel.', finish: 'stop' },
    gemini: { content: 'The image is a single pixel.', finish: 'stop' },
  }),
  answer('image-url', 'image as an http URL', {
    openai: { content: 'Two dice on a checkered background, one of them semi-transparent.', finish: 'stop' },
    anthropic: { content: 'Two dice on a checkered background, one of them semi-transparent.', finish: 'stop' },
    // Gemini fetches no web URLs: the proxy downloads the image, and in tests no image host answers
    // (nothing beyond 127.0.0.1), so the download fails before any upstream call.
    gemini: { status: 400, code: 'invalid_image_url' },
  }),
  answer('tools', 'tools', {
    openai: { content: null, toolCalls: [{ id: 'call_paris', name: 'get_weather', arguments: paris }], finish: 'tool_calls' },
    anthropic: {
      content: "I'll check the current weather in Paris for you.",
      toolCalls: [{ id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: paris }],
      finish: 'tool_calls',
    },
    gemini: { content: "I'll look up the weather in Paris.", toolCalls: [{ name: 'get_weather', arguments: paris }], finish: 'tool_calls', warnings: [strict('gemini')] },
  }),
  answer('parallel-tools', 'parallel tool calls', {
    openai: {
      content: null,
      toolCalls: [
        { id: 'call_paris', name: 'get_weather', arguments: paris },
        { id: 'call_tokyo', name: 'get_weather', arguments: tokyo },
      ],
      finish: 'tool_calls',
    },
    anthropic: {
      content: null,
      toolCalls: [
        { id: 'toolu_01Lcq2WmSZrDuA2jrSfDAqAF', name: 'get_weather', arguments: paris },
        { id: 'toolu_01VNzT4mLvKXbtzqUD8zfKk4', name: 'get_weather', arguments: tokyo },
      ],
      finish: 'tool_calls',
    },
    gemini: {
      content: null,
      toolCalls: [
        { name: 'get_weather', arguments: paris },
        { name: 'get_weather', arguments: tokyo },
      ],
      finish: 'tool_calls',
      warnings: [strict('gemini')],
    },
  }),
  answer('tool-result', 'tool results round trip', {
    openai: { content: 'Paris is cloudy at 18°C, while Tokyo is sunny at 24°C.', finish: 'stop' },
    anthropic: { content: 'Paris is cloudy at 18°C, while Tokyo is sunny at 24°C.', finish: 'stop' },
    gemini: {
      content: 'Paris is cloudy at 18°C, while Tokyo is sunny at 24°C.',
      finish: 'stop',
      warnings: [strict('gemini'), 'parallel_tool_calls: not supported by gemini, ignored'],
    },
  }),
  answer('legacy-functions', 'legacy functions / function_call', {
    openai: { content: null, functionCall: { name: 'get_weather', arguments: { location: 'Rome' } }, finish: 'function_call' },
    anthropic: { content: null, functionCall: { name: 'get_weather', arguments: { location: 'Rome' } }, finish: 'function_call' },
    gemini: { content: null, functionCall: { name: 'get_weather', arguments: { location: 'Rome' } }, finish: 'function_call' },
  }),
  answer('json-mode', 'JSON mode (json_schema)', {
    openai: { content: '{"name":"Tokyo","population":13960000}', json: { name: 'Tokyo', population: 13960000 }, finish: 'stop' },
    anthropic: { content: '{"name":"Tokyo","population":13960000}', json: { name: 'Tokyo', population: 13960000 }, finish: 'stop' },
    gemini: { content: '{\n  "name": "Tokyo",\n  "population": 13960000\n}', json: { name: 'Tokyo', population: 13960000 }, finish: 'stop' },
  }),
  answer('stop', 'stop sequence', {
    openai: { content: '1\n2\n3\n4\n', finish: 'stop' },
    anthropic: { content: '1\n2\n3\n4\n', finish: 'stop' },
    gemini: { content: '1\n2\n3\n4\n', finish: 'stop' },
  }),
  answer('max-tokens', 'max_completion_tokens reached', {
    openai: { content: 'In the mist-wrapped peaks of Eldermoor, there lived a dragon named', finish: 'length' },
    anthropic: { content: 'In the mist-wrapped peaks of Eldermoor, there lived a dragon named', finish: 'length' },
    gemini: { content: 'In the mist-wrapped peaks of Eldermoor, there lived a', finish: 'length' },
  }),
  {
    kind: 'failure',
    name: 'upstream 400 → 400 upstream_invalid_request, not retried',
    slot: 'e400',
    reply: () => ({ reply: { status: 400 }, times: 1 }),
    expect: () => ({ status: 400, code: 'upstream_invalid_request', attempts: 1 }),
  },
  {
    kind: 'failure',
    name: 'upstream 401 → 502 upstream_auth_error',
    slot: 'e401',
    reply: () => ({ reply: { status: 401 }, times: 3 }),
    // A rejected key is the deployment's fault (another deployment could serve), never the client's 401.
    // The executor currently retries it on the same deployment too: allowed, not required.
    expect: () => ({ status: 502, code: 'upstream_auth_error', attempts: [1, 1] }),
  },
  {
    kind: 'failure',
    name: "the provider's own bad-key reply (echoing the key) → 502 upstream_auth_error",
    slot: 'badKey',
    reply: (provider) => ({ reply: provider.badKey, times: 3 }),
    expect: () => ({ status: 502, code: 'upstream_auth_error', attempts: [1, 1] }),
  },
  {
    kind: 'failure',
    name: 'upstream 429 → 429 with the Retry-After the provider gave',
    slot: 'e429',
    reply: (provider) => ({ reply: provider.id === 'openai' ? { status: 429, headers: { 'retry-after': '20' } } : { status: 429 }, times: 1 }),
    expect: (provider) => ({ status: 429, code: 'upstream_rate_limited', attempts: 1, retryAfter: provider.retryAfter }),
  },
  {
    kind: 'failure',
    name: 'upstream 500 → 502 upstream_error after 2 attempts (the default retries: 1)',
    slot: 'e500',
    reply: () => ({ reply: { status: 500 }, times: 2 }),
    expect: () => ({ status: 502, code: 'upstream_error', attempts: 2 }),
  },
  {
    kind: 'failure',
    name: 'upstream overloaded (529 / 503) → 502 upstream_error after 2 attempts',
    slot: 'overloaded',
    reply: (provider) => ({ reply: { status: provider.overloaded }, times: 2 }),
    expect: () => ({ status: 502, code: 'upstream_error', attempts: 2 }),
  },
  { kind: 'recovery', name: 'upstream 500, then an answer: the retry is invisible and warnings are listed once', slot: 'recover', scenario: 'tools' },
  { kind: 'disconnect', name: 'mid-stream disconnect after the first content → one error event, no [DONE]', slot: 'cut' },
];

// ---------------------------------------------------------------------------------------------
// The stack both formats run against
// ---------------------------------------------------------------------------------------------

export interface ConformanceStack {
  gateway: Gateway;
  provider(id: ProviderId): ProviderUnderTest;
  /** Fails unless no provider key appears in `text`. */
  noKeyIn(text: string): void;
  close(): Promise<void>;
}

/**
 * The three fakes and the proxy in front of them. `versionedUrls` picks how the base URLs are
 * written (both spellings are accepted): Anthropic bare and Gemini with `/v1beta`, or the reverse.
 */
export async function startConformanceStack(versionedUrls: 'gemini' | 'anthropic'): Promise<ConformanceStack> {
  const [openai, anthropic, gemini] = await Promise.all([startFakeOpenAi({ apiKey: KEYS.openai }), startFakeAnthropic(), startFakeGemini()]);
  const gateway = await startGateway({
    OPENAI_API_KEY: KEYS.openai,
    OPENAI_BASE_URL: `${openai.url}/v1`,
    ANTHROPIC_API_KEY: KEYS.anthropic,
    ANTHROPIC_BASE_URL: versionedUrls === 'anthropic' ? `${anthropic.url}/v1` : anthropic.url,
    GEMINI_API_KEY: KEYS.gemini,
    GEMINI_BASE_URL: versionedUrls === 'gemini' ? `${gemini.url}/v1beta` : gemini.url,
    LLM_PROXY_RPM: '0',
    LLM_PROXY_CACHE: 'off',
  });
  const providers = new Map<ProviderId, ProviderUnderTest>([
    ['openai', openAiProvider(openai)],
    ['anthropic', anthropicProvider(anthropic)],
    ['gemini', geminiProvider(gemini)],
  ]);
  return {
    gateway,
    provider(id) {
      const found = providers.get(id);
      assert.ok(found !== undefined);
      return found;
    },
    noKeyIn(text) {
      for (const key of Object.values(KEYS)) assert.ok(!text.includes(key) && !text.includes(key.slice(8, 30)), `a provider key leaked: ${text}`);
    },
    async close() {
      await gateway.close();
      await Promise.all([openai.close(), anthropic.close(), gemini.close()]);
    },
  };
}

/** What a recovery case must end with: the model it asks for, the answer, and the deployment `X-LLM-Proxy-Route` names. */
export function recoveryPlan(p: ProviderUnderTest, testCase: RecoveryCase): { model: string; expected: Answer; deployment: string } {
  const model = p.models[testCase.slot];
  const table = CASES.find((entry): entry is AnswerCase => entry.kind === 'answer' && entry.scenario === testCase.scenario);
  const expected = table?.expect(p.id);
  assert.ok(expected !== undefined && !('status' in expected));
  // The recover slot is a Claude before 4.5, which has no strict tool use: the strict tool's warning comes back (once).
  const generation = p.id === 'anthropic' ? claudeGeneration(model) : undefined;
  const warned = generation !== undefined && generation < 45 && STRICT_WEATHER.has(testCase.scenario)
    ? { ...expected, warnings: [`tools[0].function.strict: ${model} has no strict tool use (Claude 4.5 and later do), ignored`, ...(expected.warnings ?? [])] }
    : expected;
  return { model, expected: warned, deployment: `${p.id}/${model.replace(/^[a-z]+\//, '')}` };
}
