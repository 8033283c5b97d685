// Proves the Anthropic fixtures are what the real API sends: the official SDK, pointed at the fake
// server on 127.0.0.1, parses every answer, accumulates every stream into the same message, and
// raises its own typed errors for the error bodies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { readAnthropicJson, startFakeAnthropic, type AnthropicScenario, type FakeAnthropic } from '../support/fake-anthropic.js';

const CASES: AnthropicScenario[] = ['text', 'multi-turn', 'image', 'image-url', 'tools', 'parallel-tools', 'tool-result', 'legacy-functions', 'json-mode', 'stop', 'max-tokens', 'cache-write', 'web-search'];

/** Drops `undefined` members the SDK's accumulator leaves behind, so shapes compare as JSON. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

const params = { model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hello' }] };

describe('Anthropic fixtures through @anthropic-ai/sdk', () => {
  let fake: FakeAnthropic;
  let client: Anthropic;
  before(async () => {
    fake = await startFakeAnthropic();
    // Pin the version the proxy speaks; the fake checks neither it nor the key.
    client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.url, maxRetries: 0, defaultHeaders: { 'anthropic-version': '2023-06-01' } });
  });
  after(() => fake.close());

  for (const scenario of CASES) {
    it(`messages.create parses ${scenario}`, async () => {
      fake.respondWith(scenario);
      const message = await client.messages.create(params);
      assert.deepEqual(asJson(message), readAnthropicJson(`anthropic-${scenario}.response.json`));
    });

    it(`messages.stream accumulates ${scenario} into the same message`, async () => {
      fake.respondWith(scenario);
      const stream = client.messages.stream(params);
      // The accumulator adds its structured-output slot; the rest must be the non-streamed message.
      const { parsed_output: parsed, ...message } = (await stream.finalMessage()) as unknown as Record<string, unknown>;
      assert.equal(parsed, null);
      assert.deepEqual(asJson(message), readAnthropicJson(`anthropic-${scenario}.response.json`));
      const last = fake.requests[fake.requests.length - 1];
      assert.equal((last?.body as { stream?: unknown }).stream, true);
    });
  }

  it('streams tool input as partial JSON the SDK parses', async () => {
    fake.respondWith('parallel-tools');
    const fragments: string[] = [];
    const stream = client.messages.stream(params).on('inputJson', (partial) => fragments.push(partial));
    await stream.finalMessage();
    assert.equal(fragments.join(''), '{"location":"Paris","unit":"celsius","days":null}{"location":"Tokyo","unit":"celsius","days":null}');
  });

  const errorClasses: Array<[number, new (...args: never[]) => Error, string]> = [
    [400, Anthropic.BadRequestError, 'invalid_request_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
    [429, Anthropic.RateLimitError, 'rate_limit_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [529, Anthropic.InternalServerError, 'overloaded_error'],
  ];
  for (const [status, errorClass, type] of errorClasses) {
    it(`raises ${errorClass.name} for the ${status} body`, async () => {
      fake.enqueue({ kind: 'error', status });
      await assert.rejects(client.messages.create(params), (error: unknown) => {
        assert.ok(error instanceof errorClass);
        assert.ok(error instanceof Anthropic.APIError);
        assert.equal(error.status, status);
        assert.deepEqual(error.error, readAnthropicJson(`anthropic-error-${status}.json`));
        assert.equal(error.type, type);
        return true;
      });
    });
  }

  it('raises the overloaded error event of a stream', async () => {
    fake.respondWith('stream-overloaded');
    await assert.rejects(client.messages.stream(params).finalMessage(), (error: unknown) => {
      assert.ok(error instanceof Anthropic.APIError);
      assert.equal(error.type, 'overloaded_error');
      return true;
    });
  });

  it('refuses a stream that never sends message_stop', async () => {
    fake.respondWith('stream-truncated');
    await assert.rejects(client.messages.stream(params).finalMessage());
  });

  it('lists the models fixture', async () => {
    const page = await client.models.list();
    assert.deepEqual(
      page.data.map((model) => model.id),
      ['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001', 'claude-opus-4-1-20250805'],
    );
    assert.equal(fake.requests[fake.requests.length - 1]?.path, '/v1/models');
  });
});
