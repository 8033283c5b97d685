// The user guide's chat examples (docs/USAGE.md), run as written in Python with `requests`, with a
// Claude or a Gemini model name in place of `gpt-4` / `gpt-3.5-turbo`: through the proxy to the fake
// Anthropic and Gemini servers, each example works and prints the provider's (fixture) answer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeAnthropic, type AnthropicScenario, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini, type GeminiScenario } from '../support/fake-gemini.js';
import { startGateway, type Gateway } from '../support/gateway-harness.js';
import { pythonExamples, pythonHas, runExample } from '../support/usage-guide.js';

const examples = pythonExamples();
const skip = pythonHas() ? false : 'python3 with the requests package is not installed here';

const ANTHROPIC_KEY = 'sk-ant-api03-usage-guide-0123456789';
const GEMINI_KEY = 'AIzaSyUsageGuide-0123456789abcdef';

type Scenario = AnthropicScenario & GeminiScenario;
type Json = Record<string, unknown>;

/** What one provider answers and receives, in the terms the examples need. */
interface GuideProvider {
  name: string;
  model: string;
  /** The `text` and `multi-turn` fixtures' answers. */
  text: string;
  multiTurnText: string;
  respondWith(scenario: Scenario): void;
  /** The last request body the fake received. */
  lastBody(): Json;
  /** The upstream body's output limit, temperature, system text and number of turns. */
  read(body: Json): { maxTokens: unknown; temperature: unknown; system: unknown; turns: number };
}

function example(heading: string): string {
  const source = examples.get(heading);
  assert.ok(source !== undefined, `USAGE.md has no python example under "${heading}"`);
  return source;
}

function record(value: unknown): Json {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value));
  return value as Json;
}

/** Python's repr of a str, as `print(dict)` shows it (enough for the fixture texts used here). */
function pythonRepr(text: string): string {
  return text.includes("'") && !text.includes('"') ? `"${text}"` : `'${text.replaceAll("'", "\\'")}'`;
}

// Each example spends most of its second starting Python: the two providers run side by side.
describe('USAGE.md chat examples with Claude and Gemini models', { skip, concurrency: true }, () => {
  let anthropic: FakeAnthropic;
  let gemini: FakeGemini;
  let gateway: Gateway;
  let port: number;

  before(async () => {
    [anthropic, gemini] = await Promise.all([startFakeAnthropic(), startFakeGemini()]);
    gateway = await startGateway({
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_BASE_URL: `${anthropic.url}/v1`,
      GEMINI_API_KEY: GEMINI_KEY,
      GEMINI_BASE_URL: gemini.url,
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'off',
    });
    port = Number(new URL(gateway.url).port);
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([anthropic?.close(), gemini?.close()]);
  });

  // The fakes start in `before`; these closures read them when a test runs.
  const providers: GuideProvider[] = [
    {
      name: 'Claude',
      model: 'claude-sonnet-4-5',
      text: 'Hello! How can I help you today?',
      multiTurnText: 'Berlin.',
      respondWith: (scenario) => {
        anthropic.reset();
        anthropic.respondWith(scenario);
      },
      lastBody: () => record(anthropic.requests.at(-1)?.body),
      read: (body) => ({ maxTokens: body.max_tokens, temperature: body.temperature, system: body.system, turns: (body.messages as unknown[]).length }),
    },
    {
      name: 'Gemini',
      model: 'gemini-2.5-flash',
      text: 'Hello there! How can I help you today?',
      multiTurnText: 'Berlin.',
      respondWith: (scenario) => {
        gemini.reset();
        gemini.respondWith(scenario);
      },
      lastBody: () => record(gemini.requests.at(-1)?.body),
      read: (body) => {
        const config = record(body.generationConfig);
        const system = body.systemInstruction === undefined ? undefined : (record(body.systemInstruction).parts as Array<{ text: string }>).map((part) => part.text).join('');
        return { maxTokens: config.maxOutputTokens, temperature: config.temperature, system, turns: (body.contents as unknown[]).length };
      },
    },
  ];

  for (const provider of providers) {
    // One fake per provider, re-armed by each example: its examples run one at a time.
    describe(`${provider.name} (${provider.model})`, { concurrency: 1 }, () => {
      async function run(heading: string): Promise<{ out: string; provider: GuideProvider }> {
        const result = await runExample(example(heading), port, 20_000, { model: provider.model });
        assert.equal(result.code, 0, `${heading} failed:\n${result.stderr}`);
        return { out: result.stdout, provider };
      }

      test('Quick Start 1: basic chat completion', async () => {
        provider.respondWith('text');
        const { out } = await run('1. Basic Chat Completion');
        assert.match(out, /'object': 'chat\.completion'/);
        assert.ok(out.includes(`'content': ${pythonRepr(provider.text)}`), out);
        assert.ok(out.includes(`'model': '${provider.model}'`), out);
        assert.match(out, /'finish_reason': 'stop'/);
        assert.match(out, /'total_tokens': [1-9]/);
        const sent = provider.read(provider.lastBody());
        assert.equal(sent.maxTokens, 100);
        assert.equal(sent.temperature, 0.7);
      });

      test('Quick Start 3: streaming response', async () => {
        provider.respondWith('text');
        const { out } = await run('3. Streaming Response');
        assert.equal(out, provider.text);
        assert.equal(provider.read(provider.lastBody()).maxTokens, 500);
      });

      test('Simple chat', async () => {
        provider.respondWith('text');
        const { out } = await run('Simple Chat');
        assert.equal(out, `${provider.text}\n`);
        assert.equal(provider.read(provider.lastBody()).maxTokens, 150);
      });

      test('Multi-turn conversation', async () => {
        provider.respondWith('multi-turn');
        const { out } = await run('Multi-turn Conversation');
        assert.equal(out, `${provider.multiTurnText}\n`);
        const sent = provider.read(provider.lastBody());
        // The system message moves to the provider's system field; the three turns stay turns.
        assert.equal(sent.system, 'You are a helpful assistant.');
        assert.equal(sent.turns, 3);
        assert.equal(sent.temperature, 0.8);
      });

      test('Function calling (legacy functions, answered in the legacy shape)', async () => {
        provider.respondWith('legacy-functions');
        const { out } = await run('Function Calling');
        assert.match(out, /'content': None/);
        assert.match(out, /'function_call': \{'name': 'get_weather', 'arguments': '\{"location":"Rome"\}'\}/);
        assert.match(out, /'finish_reason': 'function_call'/);
        assert.doesNotMatch(out, /'tool_calls'/);
      });

      test('Batch processing', async () => {
        provider.respondWith('text');
        const { out } = await run('Batch Processing');
        // The guide prints the first 50 characters of each answer.
        const line = `${provider.text.slice(0, 50)}...`;
        assert.equal(out, `Request 1: ${line}\nRequest 2: ${line}\n`);
      });

      test('Error handling and retry', async () => {
        provider.respondWith('text');
        const { out } = await run('Error Handling and Retry');
        assert.equal(out.trim(), provider.text);
      });
    });
  }
});
