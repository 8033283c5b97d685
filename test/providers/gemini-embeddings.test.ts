// Gemini embeddings translation: the batchEmbedContents body we build is the one the official
// @google/genai SDK sends for the same call (captured by the fake on 127.0.0.1), and its answer
// comes back as OpenAI's list. The fake's answer is checked through the SDK too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GoogleGenAI } from '@google/genai';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { EmbeddingsTarget } from '../../src/providers/embeddings-codec.js';
import { geminiCodec } from '../../src/providers/gemini/gemini-codec.js';
import { mergeBatches } from '../../src/routing/embeddings-executor.js';
import { convertGeminiEmbeddingsRequest, parseGeminiEmbeddingsResponse, unitLength } from '../../src/providers/gemini/gemini-embeddings.js';
import { fakeEmbedding } from '../support/fake-openai.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';

function target(model = 'gemini-embedding-001'): EmbeddingsTarget {
  return { provider: 'gemini', model, warnings: [] };
}

/** A recorded batchEmbedContents answer (two inputs, outputDimensionality 3). */
const ANSWER = { embeddings: [{ values: [0.011, -0.02, 0.5] }, { values: [-0.3, 0.25, 0.125] }] };

describe('Gemini embeddings translation', () => {
  let fake: FakeGemini;
  before(async () => {
    fake = await startFakeGemini();
  });
  after(() => fake.close());

  test('the body matches what @google/genai sends for embedContent', async () => {
    const ai = new GoogleGenAI({ apiKey: 'test-gemini-key', httpOptions: { baseUrl: fake.url } });
    const response = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['first text', 'second text'], config: { outputDimensionality: 4 } });
    const sent = fake.requests.at(-1);
    assert.equal(sent?.path, '/v1beta/models/gemini-embedding-001:batchEmbedContents');
    const ours = convertGeminiEmbeddingsRequest({ model: 'gemini/gemini-embedding-001', input: ['first text', 'second text'], dimensions: 4 }, target());
    assert.deepEqual(ours, sent?.body);
    // The fake's answer is one the SDK reads: one vector per input, of the asked size.
    assert.deepEqual(
      response.embeddings?.map((embedding) => embedding.values),
      ['first text', 'second text'].map((text) => fakeEmbedding(text, 4)),
    );
  });

  test('a single string is one request; model names with or without models/ agree', () => {
    const body = convertGeminiEmbeddingsRequest({ model: 'x', input: 'hello' }, target('models/text-embedding-004'));
    assert.deepEqual(body, { requests: [{ model: 'models/text-embedding-004', content: { role: 'user', parts: [{ text: 'hello' }] } }] });
    const spec = geminiCodec.embeddings?.buildEmbeddingsRequest({ model: 'x', input: 'hello' }, target('models/text-embedding-004'));
    assert.equal(spec?.path, '/v1beta/models/text-embedding-004:batchEmbedContents');
    assert.equal(geminiCodec.embeddings?.passthrough, false);
  });

  test('token input is a 400 naming input; other fields are dropped with a warning', () => {
    for (const input of [[1, 2, 3], [[1], [2]]]) {
      assert.throws(
        () => convertGeminiEmbeddingsRequest({ model: 'x', input }, target()),
        (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === 'input' && error.code === 'unsupported_parameter',
      );
    }
    const warned = target();
    convertGeminiEmbeddingsRequest({ model: 'x', input: 'a', user: 'u-1', encoding_format: 'base64', task_type: 'RETRIEVAL_QUERY' }, warned);
    assert.deepEqual(warned.warnings, ['user: not supported by gemini, ignored', 'task_type: not supported by gemini, ignored']);
  });

  test('the answer becomes OpenAI’s list, floats in order, of unit length, without usage', () => {
    const parsed = parseGeminiEmbeddingsResponse(structuredClone(ANSWER), target('models/gemini-embedding-001'), 2);
    assert.deepEqual(parsed, {
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: unitLength([0.011, -0.02, 0.5]) },
        { object: 'embedding', index: 1, embedding: unitLength([-0.3, 0.25, 0.125]) },
      ],
      model: 'gemini-embedding-001',
    });
    // A shortened vector (outputDimensionality below 3,072) is not normalised by Gemini; OpenAI's always are.
    for (const item of parsed.data) assert.ok(Math.abs(Math.hypot(...(item.embedding as number[])) - 1) < 1e-12);
    const [first] = parsed.data;
    assert.ok(Math.abs((first?.embedding as number[])[2] as number - 0.5 / Math.hypot(0.011, -0.02, 0.5)) < 1e-15);
  });

  test('a vector already of unit length is left exactly as sent; a zero vector stays zero', () => {
    const unit = [0.6, 0.8];
    assert.equal(unitLength(unit), unit);
    const zero = [0, 0, 0];
    assert.equal(unitLength(zero), zero);
  });

  test('answers that are not batches of vectors are 502s', () => {
    for (const body of [{}, { embeddings: ANSWER.embeddings.slice(1) }, { embeddings: [{ values: ['x'] }, { values: [1] }] }, { embeddings: [{}, {}] }]) {
      assert.throws(
        () => parseGeminiEmbeddingsResponse(body, target(), 2),
        (error: unknown) => error instanceof GatewayError && error.status === 502,
        JSON.stringify(body),
      );
    }
  });
});

describe('batches over the per-call limit', () => {
  test('merge renumbers indexes in order and sums usage only when every batch reported it', () => {
    const part = (values: number[][], usage?: number) => ({
      object: 'list' as const,
      model: 'm',
      data: values.map((embedding, index) => ({ object: 'embedding' as const, index, embedding })),
      ...(usage === undefined ? {} : { usage: { prompt_tokens: usage, total_tokens: usage } }),
    });
    const merged = mergeBatches([part([[1], [2]], 3), part([[3]], 4)]);
    assert.deepEqual(merged, {
      object: 'list',
      model: 'm',
      data: [
        { object: 'embedding', index: 0, embedding: [1] },
        { object: 'embedding', index: 1, embedding: [2] },
        { object: 'embedding', index: 2, embedding: [3] },
      ],
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    assert.equal(mergeBatches([part([[1]], 3), part([[2]])]).usage, undefined);
    assert.equal(geminiCodec.embeddings?.maxInputs, 100);
  });
});
