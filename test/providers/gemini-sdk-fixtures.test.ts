// Proves the Gemini fixtures are what the real API sends: the official @google/genai SDK, pointed at
// the fake server on 127.0.0.1, parses every answer and every `alt=sse` event, and raises ApiError
// for the error bodies and for an error payload mid-stream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, GoogleGenAI } from '@google/genai';
import { readGeminiFixture, readGeminiJson, splitGeminiEvents, startFakeGemini, type FakeGemini, type GeminiScenario } from '../support/fake-gemini.js';

const CASES: GeminiScenario[] = ['text', 'multi-turn', 'image', 'tools', 'parallel-tools', 'tool-result', 'legacy-functions', 'json-mode', 'stop', 'max-tokens', 'prompt-blocked', 'thoughts', 'grounding', 'image-output'];

/** The wire fields of an SDK response (it adds `sdkHttpResponse` and getters), as plain JSON. */
function wireFields(response: object): unknown {
  const { sdkHttpResponse: _http, ...rest } = response as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest)) as unknown;
}

function events(scenario: GeminiScenario): unknown[] {
  return splitGeminiEvents(readGeminiFixture(`gemini-${scenario}.chunks.txt`)).map((event) => JSON.parse(event.replace(/^data: /, '')) as unknown);
}

describe('Gemini fixtures through @google/genai', () => {
  let fake: FakeGemini;
  let ai: GoogleGenAI;
  before(async () => {
    fake = await startFakeGemini();
    ai = new GoogleGenAI({ apiKey: 'test-gemini-key', httpOptions: { baseUrl: fake.url } });
  });
  after(() => fake.close());

  for (const scenario of CASES) {
    it(`generateContent parses ${scenario}`, async () => {
      fake.respondWith(scenario);
      const response = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello' });
      assert.deepEqual(wireFields(response), readGeminiJson(`gemini-${scenario}.response.json`));
      const last = fake.requests[fake.requests.length - 1];
      assert.equal(last?.path, '/v1beta/models/gemini-2.5-flash:generateContent');
      assert.equal(last?.headers['x-goog-api-key'], 'test-gemini-key');
    });

    it(`generateContentStream parses every event of ${scenario}`, async () => {
      fake.respondWith(scenario);
      const received: unknown[] = [];
      for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hello' })) received.push(wireFields(chunk));
      assert.deepEqual(received, events(scenario));
      const last = fake.requests[fake.requests.length - 1];
      assert.equal(last?.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
      assert.deepEqual(last?.query, { alt: 'sse' });
    });
  }

  it('streams the safety stop as its last event', async () => {
    fake.respondWith('safety');
    const received: unknown[] = [];
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hello' })) received.push(wireFields(chunk));
    assert.deepEqual(received, events('safety'));
    assert.equal((received[1] as { candidates: Array<{ finishReason: string }> }).candidates[0]?.finishReason, 'SAFETY');
  });

  const statuses: Array<[number, string | undefined]> = [
    [400, undefined],
    [400, 'invalid-key'],
    [401, undefined],
    [429, undefined],
    [500, undefined],
    [503, undefined],
  ];
  for (const [status, fixture] of statuses) {
    it(`raises ApiError ${status} for gemini-error-${fixture ?? status}.json`, async () => {
      fake.enqueue({ kind: 'error', status, ...(fixture === undefined ? {} : { fixture }) });
      await assert.rejects(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello' }), (error: unknown) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, status);
        const body = readGeminiJson(`gemini-error-${fixture ?? status}.json`) as { error: { message: string } };
        assert.ok(error.message.includes(JSON.stringify(body.error.message).slice(1, -1)), error.message);
        return true;
      });
    });
  }

  it('raises ApiError for the error payload mid-stream', async () => {
    fake.respondWith('stream-error');
    const received: unknown[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'Hello' })) received.push(chunk);
      })(),
      (error: unknown) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, 503);
        return true;
      },
    );
    assert.equal(received.length, 1);
  });

  it('lists the models fixture', async () => {
    const pager = await ai.models.list();
    const names: string[] = [];
    for (const model of pager.page) names.push(model.name ?? '');
    assert.deepEqual(names, ['models/gemini-2.5-flash', 'models/gemini-2.5-pro', 'models/embedding-001']);
    assert.equal(fake.requests[fake.requests.length - 1]?.path, '/v1beta/models');
  });
});
