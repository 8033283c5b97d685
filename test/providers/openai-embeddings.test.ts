// The OpenAI-format family's embeddings codec: what each host is sent, and which answers pass.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { EmbeddingRequest } from '../../src/openai/embeddings-request.js';
import type { EmbeddingsTarget } from '../../src/providers/embeddings-codec.js';
import { createOpenAiCodec } from '../../src/providers/openai-compatible.js';
import { createOpenAiEmbeddingsCodec, parseOpenAiEmbeddingsResponse } from '../../src/providers/openai-embeddings.js';

function target(provider: string, model = 'text-embedding-3-small'): EmbeddingsTarget {
  return { provider, model, warnings: [] };
}

const REQUEST: EmbeddingRequest = { model: 'openai/text-embedding-3-small', input: ['a', 'b'], encoding_format: 'base64', dimensions: 256, user: 'u-1' };

/** A recorded OpenAI answer (two inputs, base64, dimensions 2). */
const OPENAI_ANSWER = {
  object: 'list',
  data: [
    { object: 'embedding', index: 0, embedding: 'AAAAPwAAgL8=' },
    { object: 'embedding', index: 1, embedding: 'AACAPgAAAEA=' },
  ],
  model: 'text-embedding-3-small',
  usage: { prompt_tokens: 2, total_tokens: 2 },
};

describe('OpenAI-family embeddings codec', () => {
  test('openai: the body passes through with the upstream model name', () => {
    const codec = createOpenAiCodec({ kind: 'openai' }).embeddings;
    assert.ok(codec?.passthrough);
    const spec = codec.buildEmbeddingsRequest(REQUEST, target('openai'));
    assert.equal(spec.path, '/embeddings');
    assert.equal(spec.method, 'POST');
    assert.deepEqual(JSON.parse(spec.body ?? ''), { ...REQUEST, model: 'text-embedding-3-small' });
  });

  test('azure: deployment in the path, api-version in the query', () => {
    const codec = createOpenAiCodec({ kind: 'azure', apiVersion: '2024-06-01' }).embeddings;
    const spec = codec?.buildEmbeddingsRequest(REQUEST, target('azure', 'prod embed'));
    assert.equal(spec?.path, '/openai/deployments/prod%20embed/embeddings?api-version=2024-06-01');
    assert.equal(JSON.parse(spec?.body ?? '').encoding_format, 'base64');
  });

  test('ollama and other hosts are asked for floats (the proxy encodes base64 itself)', () => {
    for (const kind of ['ollama', 'together', 'fireworks', 'openai-compatible'] as const) {
      const spec = createOpenAiEmbeddingsCodec({ kind })?.buildEmbeddingsRequest(REQUEST, target(kind, 'nomic-embed-text'));
      const body = JSON.parse(spec?.body ?? '') as Record<string, unknown>;
      assert.equal(body.encoding_format, undefined, kind);
      assert.equal(body.dimensions, 256, kind);
      assert.equal(body.user, 'u-1', kind);
    }
  });

  test('mistral: output_dimension, and user dropped with a warning (it rejects unknown fields)', () => {
    const mistral = target('mistral', 'mistral-embed');
    const spec = createOpenAiEmbeddingsCodec({ kind: 'mistral' })?.buildEmbeddingsRequest(REQUEST, mistral);
    assert.deepEqual(JSON.parse(spec?.body ?? ''), { model: 'mistral-embed', input: ['a', 'b'], output_dimension: 256 });
    assert.deepEqual(mistral.warnings, ['user: not supported by mistral, ignored']);
  });

  test('hosts without an embeddings endpoint have no codec', () => {
    assert.equal(createOpenAiCodec({ kind: 'groq' }).embeddings, undefined);
    assert.equal(createOpenAiCodec({ kind: 'deepseek' }).embeddings, undefined);
  });

  test('a recorded answer parses as it is', () => {
    const parsed = parseOpenAiEmbeddingsResponse(structuredClone(OPENAI_ANSWER), target('openai'), 2);
    assert.deepEqual(parsed, OPENAI_ANSWER);
  });

  test('an answer without usable usage loses it (the proxy counts instead)', () => {
    const { usage: _usage, ...bare } = structuredClone(OPENAI_ANSWER);
    assert.equal(parseOpenAiEmbeddingsResponse(bare, target('ollama'), 2).usage, undefined);
    assert.equal(parseOpenAiEmbeddingsResponse({ ...bare, usage: { prompt_tokens: 'x' } }, target('ollama'), 2).usage, undefined);
  });

  test('answers that are not embeddings lists are 502s', () => {
    const bad: unknown[] = [
      { object: 'list' },
      { data: 'nope' },
      { ...OPENAI_ANSWER, data: OPENAI_ANSWER.data.slice(0, 1) },
      { ...OPENAI_ANSWER, data: [{ index: 0, embedding: { values: [] } }, OPENAI_ANSWER.data[1]] },
      { ...OPENAI_ANSWER, data: [{ embedding: [1] }, OPENAI_ANSWER.data[1]] },
    ];
    for (const body of bad) {
      assert.throws(
        () => parseOpenAiEmbeddingsResponse(body, target('openai'), 2),
        (error: unknown) => error instanceof GatewayError && error.status === 502 && error.code === 'upstream_error',
        JSON.stringify(body).slice(0, 80),
      );
    }
  });
});
