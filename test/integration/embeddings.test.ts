// POST /v1/embeddings end to end: the official `openai` SDK (float, and its default base64 that it
// decodes itself) through the real app on 127.0.0.1 to fake OpenAI, Azure, Ollama, Mistral and
// Gemini upstreams; usage records with cost, /api/usage, key model restrictions, token limits,
// bad input, unknown and non-embedding models, upstream failures with retries and fallbacks.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { fakeEmbedding, startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { authHeaders, CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat, createKey, errorCode, errorMessage } from '../support/key-support.js';
import { unitLength } from '../../src/providers/gemini/gemini-embeddings.js';

/** A vector as the SDK reads it back from base64 (float32). */
const asFloat32 = (values: number[]): number[] => Array.from(new Float32Array(values));

const AZURE_KEY = 'azure-key-embed-123456';
const MISTRAL_KEY = 'mistral-key-embed-123456';

interface EmbeddingsBody {
  object: string;
  data: Array<{ object: string; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

async function embed(gateway: Gateway, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}/v1/embeddings`, { method: 'POST', headers: { ...authHeaders(), ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

function decode(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, index) => bytes.readFloatLE(index * 4));
}

function client(gateway: Gateway, key = CLIENT_KEY): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}

describe('POST /v1/embeddings', () => {
  let openai: FakeOpenAi;
  let azure: FakeOpenAi;
  let ollama: FakeOpenAi;
  let mistral: FakeOpenAi;
  let gemini: FakeGemini;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;

  before(async () => {
    anthropic = await startFakeAnthropic();
    [openai, azure, ollama, mistral, gemini] = await Promise.all([
      startFakeOpenAi({ apiKey: UPSTREAM_KEY }),
      startFakeOpenAi({ apiKey: AZURE_KEY }),
      // Ollama's OpenAI-compatible API, here without usage in its answers (the proxy counts then).
      startFakeOpenAi({ apiKey: undefined, embeddingUsage: false }),
      startFakeOpenAi({ apiKey: MISTRAL_KEY }),
      startFakeGemini(),
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-embeddings-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      `models:
  - name: embed-primary
    deployments: [{ provider: openai, model: fail-embed }]
    retries: 1
    # A chat-only fallback is passed over: embeddings go on to the next one.
    fallbacks: [claude-sonnet-4-5, azure/embed-deploy]
  - name: embed-first
    deployments: [{ provider: openai, model: fail-before-mixed }]
    retries: 0
    fallbacks: [chat-only, mixed-fallback]
  - name: chat-only
    deployments: [{ provider: anthropic, model: claude-haiku-4-5 }]
  - name: chat-pair
    deployments: [{ provider: anthropic, model: claude-haiku-4-5 }, { provider: anthropic, model: claude-sonnet-4-5 }]
  # lowest-cost puts the priced Claude model before the unpriced embedding model.
  - name: mixed-fallback
    strategy: lowest-cost
    deployments: [{ provider: anthropic, model: claude-sonnet-4-5 }, { provider: openai, model: mixed-embed }]
aliases:
  docs-embed: openai/text-embedding-3-large
`,
    );
    gateway = await startGateway({
      LLM_PROXY_CONFIG: file,
      LLM_PROXY_RPM: '0',
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      AZURE_OPENAI_API_KEY: AZURE_KEY,
      AZURE_OPENAI_ENDPOINT: azure.url,
      AZURE_OPENAI_API_VERSION: '2024-06-01',
      OLLAMA_BASE_URL: ollama.url,
      MISTRAL_API_KEY: MISTRAL_KEY,
      MISTRAL_BASE_URL: `${mistral.url}/v1`,
      GEMINI_API_KEY: 'gemini-key-embed-123456',
      GEMINI_BASE_URL: gemini.url,
      ANTHROPIC_API_KEY: 'sk-ant-embed-123456',
      ANTHROPIC_BASE_URL: anthropic.url,
      GROQ_API_KEY: 'gsk_embed_1234567890',
      GROQ_BASE_URL: 'http://127.0.0.1:9/v1',
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([openai, azure, ollama, mistral].map((fake) => fake.close()));
    await gemini.close();
    await anthropic.close();
  });

  describe('through the openai SDK', () => {
    test('float: the vectors, usage and model come back as OpenAI sends them', async () => {
      const result = await client(gateway).embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second'], encoding_format: 'float' });
      assert.equal(result.object, 'list');
      assert.deepEqual(
        result.data.map((item) => [item.object, item.index, item.embedding]),
        [
          ['embedding', 0, fakeEmbedding('first text')],
          ['embedding', 1, fakeEmbedding('second')],
        ],
      );
      assert.equal(result.model, 'text-embedding-3-small');
      assert.deepEqual(result.usage, { prompt_tokens: 3, total_tokens: 3 });
      const sent = openai.requests.at(-1);
      assert.equal(sent?.path, '/v1/embeddings');
      assert.equal(sent?.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.deepEqual(sent?.body, { model: 'text-embedding-3-small', input: ['first text', 'second'], encoding_format: 'float' });
    });

    test('the SDK default (base64, decoded by the SDK) round-trips to the same floats exactly', async () => {
      const result = await client(gateway).embeddings.create({ model: 'openai/text-embedding-3-small', input: 'hello world', dimensions: 16 });
      assert.deepEqual(result.data[0]?.embedding, fakeEmbedding('hello world', 16));
      assert.equal(openai.requests.at(-1)?.body?.encoding_format, 'base64');
      assert.equal(openai.requests.at(-1)?.body?.dimensions, 16);
    });

    test('token arrays, one or many', async () => {
      const one = await client(gateway).embeddings.create({ model: 'text-embedding-3-small', input: [1, 2, 3], encoding_format: 'float' });
      assert.deepEqual(one.data[0]?.embedding, fakeEmbedding('tokens:1,2,3'));
      const many = await client(gateway).embeddings.create({ model: 'text-embedding-3-small', input: [[5, 6], [7]] });
      assert.deepEqual(
        many.data.map((item) => item.embedding),
        [fakeEmbedding('tokens:5,6'), fakeEmbedding('tokens:7')],
      );
      assert.deepEqual(openai.requests.at(-1)?.body?.input, [[5, 6], [7]]);
    });

    test('azure: deployment URL, api-key, base64 passed through', async () => {
      const result = await client(gateway).embeddings.create({ model: 'azure/embed-deploy', input: ['a b'] });
      assert.deepEqual(result.data[0]?.embedding, fakeEmbedding('a b'));
      const sent = azure.requests.at(-1);
      assert.equal(sent?.path, '/openai/deployments/embed-deploy/embeddings?api-version=2024-06-01');
      assert.equal(sent?.headers['api-key'], AZURE_KEY);
      assert.equal(sent?.headers.authorization, undefined);
      assert.equal(sent?.body?.encoding_format, 'base64');
    });

    test('ollama: asked for floats, base64 made by the proxy; usage counted locally', async () => {
      const result = await client(gateway).embeddings.create({ model: 'nomic-embed-text', input: ['search query: llamas'] });
      assert.deepEqual(result.data[0]?.embedding, fakeEmbedding('search query: llamas'));
      const sent = ollama.requests.at(-1);
      assert.equal(sent?.path, '/v1/embeddings');
      assert.equal(sent?.body?.encoding_format, undefined);
      assert.ok(result.usage.prompt_tokens > 0);
      assert.equal(result.usage.total_tokens, result.usage.prompt_tokens);
      const recorded = gateway.usage.recent().at(-1);
      assert.equal(recorded?.provider, 'ollama');
      assert.equal(recorded?.estimated, true);
      assert.equal(recorded?.cost, 0);
    });

    test('gemini: translated to batchEmbedContents, floats or base64, usage estimated', async () => {
      const sdk = client(gateway);
      const floats = await sdk.embeddings.create({ model: 'gemini-embedding-001', input: ['alpha', 'beta'], dimensions: 4, encoding_format: 'float' });
      // Shortened Gemini vectors come back at unit length, as OpenAI's always are.
      assert.deepEqual(
        floats.data.map((item) => item.embedding),
        [unitLength(fakeEmbedding('alpha', 4)), unitLength(fakeEmbedding('beta', 4))],
      );
      assert.ok(floats.data.every((item) => Math.abs(Math.hypot(...item.embedding) - 1) < 1e-12));
      assert.equal(floats.model, 'gemini-embedding-001');
      assert.ok(floats.usage.prompt_tokens >= 2);
      const sent = gemini.requests.at(-1);
      assert.equal(sent?.path, '/v1beta/models/gemini-embedding-001:batchEmbedContents');
      assert.equal(sent?.headers['x-goog-api-key'], 'gemini-key-embed-123456');
      assert.deepEqual(sent?.body, {
        requests: ['alpha', 'beta'].map((text) => ({ model: 'models/gemini-embedding-001', content: { role: 'user', parts: [{ text }] }, outputDimensionality: 4 })),
      });
      const decoded = await sdk.embeddings.create({ model: 'gemini/gemini-embedding-001', input: 'alpha', dimensions: 4 });
      assert.deepEqual(decoded.data[0]?.embedding, asFloat32(unitLength(fakeEmbedding('alpha', 4))));
      const recorded = gateway.usage.recent().at(-1);
      assert.equal(recorded?.estimated, true);
      assert.equal(recorded?.endpoint, 'embeddings');
      // gemini-embedding-001: $0.15 per million input tokens.
      assert.ok(Math.abs((recorded?.cost ?? -1) - (decoded.usage.prompt_tokens * 0.00015) / 1000) < 1e-12);
    });

    test('gemini: more than 100 inputs go as batches of 100, in order; a failed batch retries the whole', async () => {
      const inputs = Array.from({ length: 250 }, (_, index) => `text number ${index}`);
      const before = gemini.requests.length;
      const result = await client(gateway).embeddings.create({ model: 'gemini-embedding-001', input: inputs, dimensions: 2 });
      assert.equal(result.data.length, 250);
      assert.deepEqual(
        result.data.map((item) => item.index),
        inputs.map((_, index) => index),
      );
      assert.deepEqual(
        result.data.map((item) => item.embedding),
        inputs.map((text) => asFloat32(unitLength(fakeEmbedding(text, 2)))),
      );
      const sizes = gemini.requests.slice(before).map((request) => (request.body as { requests: unknown[] }).requests.length);
      assert.deepEqual([...sizes].sort((a, b) => b - a), [100, 100, 50]);

      gemini.enqueue({ kind: 'error', status: 500 });
      const retried = await embed(gateway, { model: 'gemini-embedding-001', input: inputs.slice(0, 150), dimensions: 2 });
      assert.equal(retried.status, 200);
      assert.deepEqual(
        (retried.body as unknown as EmbeddingsBody).data.map((item) => item.embedding),
        inputs.slice(0, 150).map((text) => unitLength(fakeEmbedding(text, 2))),
      );
      assert.equal(retried.headers.get('x-llm-proxy-route'), 'gemini/gemini-embedding-001=upstream_error, gemini/gemini-embedding-001=200');
    });

    test('unknown model: NotFoundError with model_not_found', async () => {
      await assert.rejects(client(gateway).embeddings.create({ model: 'no-such-embedder', input: 'x' }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError);
        assert.equal(error.code, 'model_not_found');
        return true;
      });
    });
  });

  describe('plain HTTP', () => {
    test('base64 as asked: little-endian float32 text', async () => {
      const response = await embed(gateway, { model: 'text-embedding-3-small', input: 'plain', encoding_format: 'base64' });
      assert.equal(response.status, 200);
      const body = response.body as unknown as EmbeddingsBody;
      assert.equal(typeof body.data[0]?.embedding, 'string');
      assert.deepEqual(decode(body.data[0]?.embedding as string), fakeEmbedding('plain'));
      assert.match(response.headers.get('x-llm-proxy-route') ?? '', /^openai\/text-embedding-3-small=200$/);
      assert.equal(response.headers.get('x-cache'), null);
    });

    test('float by default', async () => {
      const response = await embed(gateway, { model: 'text-embedding-3-small', input: 'plain' });
      assert.deepEqual((response.body as unknown as EmbeddingsBody).data[0]?.embedding, fakeEmbedding('plain'));
    });

    test('mistral: output_dimension, and `user` dropped with a warning', async () => {
      const response = await embed(gateway, { model: 'mistral-embed', input: ['bonjour'], dimensions: 8, user: 'u-42' });
      assert.equal(response.status, 200);
      assert.deepEqual(mistral.requests.at(-1)?.body, { model: 'mistral-embed', input: ['bonjour'], output_dimension: 8 });
      assert.equal(response.headers.get('x-llm-proxy-warnings'), 'user: not supported by mistral, ignored');
    });

    test('bad input: 400 in OpenAI’s error shape, nothing sent upstream', async () => {
      const before = openai.requests.length;
      const cases: Array<[unknown, string, string]> = [
        [{ model: 'text-embedding-3-small', input: '' }, 'input', 'invalid_value'],
        [{ model: 'text-embedding-3-small', input: [] }, 'input', 'invalid_value'],
        [{ model: 'text-embedding-3-small' }, 'input', 'invalid_type'],
        [{ model: 'text-embedding-3-small', input: Array.from({ length: 2049 }, () => 'x') }, 'input', 'invalid_value'],
        [{ model: 'text-embedding-3-small', input: 'x', encoding_format: 'int8' }, 'encoding_format', 'invalid_value'],
        [{ model: 'text-embedding-3-small', input: [1, 2.5] }, 'input[1]', 'invalid_value'],
        [{ model: 'text-embedding-3-small', input: [[1], ['a']] }, 'input[1][0]', 'invalid_type'],
        [{ model: 'text-embedding-3-small', input: 'x', dimensions: 0 }, 'dimensions', 'invalid_value'],
        [{ model: 'text-embedding-3-small', input: 'x', dimensions: -3 }, 'dimensions', 'invalid_value'],
        [{ model: 'text-embedding-3-small', input: 'x', api_base: 'http://evil' }, 'api_base', 'forbidden_param'],
      ];
      for (const [body, param, code] of cases) {
        const response = await embed(gateway, body);
        assert.equal(response.status, 400, JSON.stringify(body).slice(0, 80));
        const error = response.body.error as { type: string; param: string; code: string; message: string };
        assert.deepEqual([error.type, error.param, error.code], ['invalid_request_error', param, code], JSON.stringify(body).slice(0, 80));
        assert.equal(typeof error.message, 'string');
      }
      assert.equal(openai.requests.length, before);
      await assert.rejects(client(gateway).embeddings.create({ model: 'text-embedding-3-small', input: '' }), OpenAI.BadRequestError);
    });

    test('/openapi.json documents the request body', async () => {
      const response = await fetch(`${gateway.url}/openapi.json`, { headers: authHeaders() });
      const doc = (await response.json()) as { paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } } }> };
      const properties = doc.paths['/v1/embeddings']?.post?.requestBody?.content['application/json']?.schema.properties;
      assert.deepEqual(Object.keys(properties ?? {}).sort(), ['dimensions', 'encoding_format', 'input', 'model', 'user']);
    });

    test('no key: 401', async () => {
      const response = await fetch(`${gateway.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }) });
      assert.equal(response.status, 401);
    });

    test('gemini refuses token input with a 400 naming input', async () => {
      const before = gemini.requests.length;
      const response = await embed(gateway, { model: 'gemini-embedding-001', input: [1, 2, 3] });
      assert.equal(response.status, 400);
      assert.deepEqual(response.body.error, {
        message: 'Token-array input is not supported by gemini (Gemini embeds text only); send the input as strings.',
        type: 'invalid_request_error',
        param: 'input',
        code: 'unsupported_parameter',
      });
      assert.equal(gemini.requests.length, before);
    });

    test('providers without embeddings (Anthropic, Groq): a clear 400', async () => {
      for (const [model, provider] of [
        ['claude-sonnet-4-5', 'anthropic'],
        ['groq/llama-3.1-8b-instant', 'groq'],
      ] as const) {
        const response = await embed(gateway, { model, input: 'x' });
        assert.equal(response.status, 400, model);
        const error = response.body.error as { code: string; param: string; message: string };
        assert.equal(error.code, 'model_not_supported');
        assert.equal(error.param, 'model');
        assert.match(error.message, new RegExp(`provider '${provider}' does not serve them`));
      }
      // A group of several deployments: none is named (RELIABILITY 4d#8).
      const response = await embed(gateway, { model: 'chat-pair', input: 'x' });
      assert.equal(response.status, 400);
      const error = response.body.error as { code: string; message: string };
      assert.equal(error.code, 'model_not_supported');
      assert.match(error.message, /^The model 'chat-pair' cannot create embeddings: none of its deployments serves them\./);
    });

    test('usage: a record per call with endpoint embeddings and the catalog cost, in /api/usage', async () => {
      const response = await embed(gateway, { model: 'docs-embed', input: ['one two three four'] }, { 'x-request-id': 'embed-usage-1' });
      assert.equal(response.status, 200);
      const recorded = gateway.usage.recent().find((entry) => entry.requestId === 'embed-usage-1');
      assert.equal(recorded?.endpoint, 'embeddings');
      assert.equal(recorded?.model, 'docs-embed');
      assert.equal(recorded?.provider, 'openai');
      assert.equal(recorded?.upstreamModel, 'text-embedding-3-large');
      assert.equal(recorded?.promptTokens, 4);
      assert.equal(recorded?.completionTokens, 0);
      assert.equal(recorded?.estimated, false);
      // text-embedding-3-large: $0.13 per million input tokens.
      assert.ok(Math.abs((recorded?.cost ?? -1) - (4 * 0.00013) / 1000) < 1e-12);
      const summary = await callJson(gateway.url, 'GET', '/api/usage', CLIENT_KEY);
      assert.equal(summary.status, 200);
      const byModel = summary.body.by_model as Array<{ model: string; prompt_tokens: number; requests: number; cost: number }>;
      const row = byModel.find((entry) => entry.model === 'docs-embed');
      assert.equal(row?.requests, 1);
      assert.equal(row?.prompt_tokens, 4);
      assert.ok((row?.cost ?? 0) > 0);
    });
  });

  describe('keys and limits', () => {
    test('a reported input count that is no count or more than the inputs could hold is billed from the local count (RELIABILITY 4b#13)', async () => {
      const answer = (usage: unknown) => JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: 'text-embedding-3-large', usage });
      for (const [name, usage] of [
        ['negative', { prompt_tokens: -5, total_tokens: -5 }],
        ['huge', { prompt_tokens: 1e300, total_tokens: 1e300 }],
        ['a string', { prompt_tokens: '4', total_tokens: '4' }],
        // Found by the upstream chaos suite: a fractional count stood and went into the record.
        ['fractional', { prompt_tokens: 3.5, total_tokens: 3.5 }],
      ] as const) {
        openai.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: answer(usage) });
        const id = `embed-bad-usage-${name.replace(' ', '-')}`;
        const response = await embed(gateway, { model: 'docs-embed', input: ['one two three four'] }, { 'x-request-id': id });
        assert.equal(response.status, 200, name);
        const recorded = gateway.usage.recent().find((entry) => entry.requestId === id);
        assert.equal(recorded?.estimated, true, name);
        assert.equal(recorded?.promptTokens, 4, name);
        assert.ok(Math.abs((recorded?.cost ?? -1) - (4 * 0.00013) / 1000) < 1e-12, `${name}: cost ${String(recorded?.cost)}`);
      }
    });

    test('a key limited to some models gets 403 for others', async () => {
      const { key } = await createKey(gateway.url, { models: ['text-embedding-3-small'] });
      const allowed = await callJson(gateway.url, 'POST', '/v1/embeddings', key, { model: 'text-embedding-3-small', input: 'x' });
      assert.equal(allowed.status, 200);
      const refused = await callJson(gateway.url, 'POST', '/v1/embeddings', key, { model: 'text-embedding-3-large', input: 'x' });
      assert.equal(refused.status, 403);
      assert.equal(errorCode(refused), 'model_not_allowed');
      await assert.rejects(client(gateway, key).embeddings.create({ model: 'gemini-embedding-001', input: 'x' }), OpenAI.PermissionDeniedError);
    });

    test('a token-per-minute limit counts embedding input', async () => {
      const { key } = await createKey(gateway.url, { tpm_limit: 6 });
      const first = await callJson(gateway.url, 'POST', '/v1/embeddings', key, { model: 'text-embedding-3-small', input: ['one two three four five six'] });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '6');
      const second = await callJson(gateway.url, 'POST', '/v1/embeddings', key, { model: 'text-embedding-3-small', input: 'more' });
      assert.equal(second.status, 429);
      assert.equal(errorCode(second), 'rate_limit_exceeded');
      assert.ok(Number(second.headers.get('retry-after')) > 0);
      // Embeddings have no max_tokens: the refusal says what the client can change.
      assert.match(errorMessage(second), /or shorten or split the input\.$/);
      assert.doesNotMatch(errorMessage(second), /max_tokens/);
      const chatRefused = await chat(gateway.url, key);
      assert.equal(chatRefused.status, 429);
      assert.match(errorMessage(chatRefused), /or lower max_tokens\.$/);
    });

    test('a budget too small for the input: the refusal says to shorten or split it; chat keeps its wording', async () => {
      // text-embedding-3-large costs $0.13 per million input tokens: four tokens are more than this.
      const { key } = await createKey(gateway.url, { max_budget: 0.0000001 });
      const refused = await callJson(gateway.url, 'POST', '/v1/embeddings', key, { model: 'text-embedding-3-large', input: ['one two three four'] });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(errorCode(refused), 'budget_exceeded');
      assert.match(errorMessage(refused), /of this key's budget of \$1\.0e-7\. Shorten the input\.$/);
      assert.doesNotMatch(errorMessage(refused), /max_tokens/);
      const chatRefused = await chat(gateway.url, key);
      assert.equal(chatRefused.status, 403, chatRefused.text);
      assert.match(errorMessage(chatRefused), /Lower max_tokens or shorten the prompt\.$/);
    });
  });

  describe('upstream failures', () => {
    test('a 500 is retried on the same deployment', async () => {
      openai.enqueue({ kind: 'status', status: 500 });
      const response = await embed(gateway, { model: 'text-embedding-ada-002', input: 'retry me' });
      assert.equal(response.status, 200);
      assert.deepEqual((response.body as unknown as EmbeddingsBody).data[0]?.embedding, fakeEmbedding('retry me'));
      assert.equal(response.headers.get('x-llm-proxy-route'), 'openai/text-embedding-ada-002=upstream_error, openai/text-embedding-ada-002=200');
    });

    test('a group whose deployment keeps failing falls back to another model that embeds', async () => {
      openai.enqueue({ kind: 'status', status: 503 });
      openai.enqueue({ kind: 'status', status: 502 });
      const response = await embed(gateway, { model: 'embed-primary', input: 'fall back' });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-llm-proxy-route'), 'openai/fail-embed=upstream_error, openai/fail-embed=upstream_error, azure/embed-deploy=200');
      assert.equal(azure.requests.at(-1)?.path.split('?')[0], '/openai/deployments/embed-deploy/embeddings');
      const recorded = gateway.usage.recent().at(-1);
      assert.equal(recorded?.provider, 'azure');
      assert.equal(recorded?.model, 'embed-primary');
    });

    test('a fallback group mixing chat-only and embedding deployments: only the embedding one is tried', async () => {
      openai.enqueue({ kind: 'status', status: 500 });
      const before = anthropic.requests.length;
      const response = await embed(gateway, { model: 'embed-first', input: 'mixed fallback' });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      // Neither the chat-only group nor the Claude deployment of the mixed group is an attempt.
      assert.equal(response.headers.get('x-llm-proxy-route'), 'openai/fail-before-mixed=upstream_error, openai/mixed-embed=200');
      assert.equal(openai.requests.at(-1)?.body?.model, 'mixed-embed');
      assert.equal(anthropic.requests.length, before);
    });

    test('rate limited on every try: 429 with Retry-After', async () => {
      for (let index = 0; index < 3; index++) openai.enqueue({ kind: 'status', status: 429, headers: { 'retry-after-ms': '20' } });
      const response = await embed(gateway, { model: 'openai/text-embedding-limited', input: 'x' });
      assert.equal(response.status, 429);
      assert.equal((response.body.error as { code: string }).code, 'upstream_rate_limited');
      assert.ok(response.headers.get('retry-after') !== null);
      openai.reset();
    });

    test('an upstream 400 is not retried; a bad provider key is a 502', async () => {
      openai.enqueue({ kind: 'status', status: 400, body: JSON.stringify({ error: { message: 'This model does not support specifying dimensions.', type: 'invalid_request_error', param: null, code: null } }) });
      const before = openai.requests.length;
      const refused = await embed(gateway, { model: 'openai/text-embedding-bad', input: 'x', dimensions: 3 });
      assert.equal(refused.status, 400);
      assert.match((refused.body.error as { message: string }).message, /does not support specifying dimensions/);
      assert.equal(openai.requests.length, before + 1);
      openai.enqueue({ kind: 'status', status: 401 });
      const auth = await embed(gateway, { model: 'openai/text-embedding-auth', input: 'x' });
      assert.equal(auth.status, 502);
      assert.equal((auth.body.error as { code: string }).code, 'upstream_auth_error');
      assert.ok(!JSON.stringify(auth.body).includes(UPSTREAM_KEY));
    });

    test('a client that leaves mid-call: the upstream call is aborted at once, usage says client_disconnected', async () => {
      openai.enqueue({ kind: 'delay-headers', ms: 1500 });
      const client = new AbortController();
      const sent = fetch(`${gateway.url}/v1/embeddings`, {
        method: 'POST',
        headers: { ...authHeaders(), 'x-request-id': 'embed-gone-1' },
        body: JSON.stringify({ model: 'text-embedding-ada-002', input: 'leaving early' }),
        signal: client.signal,
      });
      sent.catch(() => undefined);
      await eventually(() => openai.requests.some((request) => request.body?.input === 'leaving early'), 2000);
      const upstream = openai.requests.find((request) => request.body?.input === 'leaving early');
      const cut = Date.now();
      client.abort();
      await eventually(() => upstream?.aborted === true, 1000);
      assert.ok(Date.now() - cut < 1000, `upstream aborted after ${Date.now() - cut} ms`);
      await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === 'embed-gone-1'), 2000);
      assert.equal(gateway.usage.recent().find((entry) => entry.requestId === 'embed-gone-1')?.status, 'client_disconnected');
      assert.equal(gateway.usage.recent().find((entry) => entry.requestId === 'embed-gone-1')?.httpStatus, 499);
      assert.equal(openai.requests.filter((request) => request.body?.input === 'leaving early').length, 1, 'a client that left is not retried for');
    });

    test('an answer that is not an embeddings list is a 502, and is not passed on', async () => {
      openai.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: JSON.stringify({ object: 'list', data: [] }) });
      openai.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: JSON.stringify({ object: 'list', data: [] }) });
      openai.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: JSON.stringify({ object: 'list', data: [] }) });
      const response = await embed(gateway, { model: 'openai/text-embedding-broken', input: 'x' });
      assert.equal(response.status, 502);
      assert.equal((response.body.error as { code: string }).code, 'upstream_error');
      openai.reset();
    });
  });
});

describe('POST /v1/embeddings with the response cache', () => {
  let openai: FakeOpenAi;
  let gateway: Gateway;
  before(async () => {
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${openai.url}/v1`, LLM_PROXY_CACHE: 'memory', LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await openai.close();
  });

  test('an identical request is a HIT without an upstream call, recorded at cost 0', async () => {
    const body = { model: 'text-embedding-3-small', input: ['cache me', 'and me'], encoding_format: 'base64' };
    const first = await embed(gateway, body);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-cache'), 'MISS');
    const calls = openai.requests.length;
    const second = await embed(gateway, { ...body, user: 'someone-else' }, { 'x-request-id': 'embed-hit-1' });
    assert.equal(second.status, 200);
    assert.equal(second.headers.get('x-cache'), 'HIT');
    assert.equal(second.headers.get('x-llm-proxy-route'), 'cache=hit');
    assert.deepEqual(second.body, first.body);
    assert.equal(openai.requests.length, calls);
    const recorded = gateway.usage.recent().find((entry) => entry.requestId === 'embed-hit-1');
    assert.equal(recorded?.cacheHit, true);
    assert.equal(recorded?.cost, 0);
    assert.equal(recorded?.endpoint, 'embeddings');
    // The SDK (base64 by default) is served from the same entry and decodes it.
    const viaSdk = await client(gateway).embeddings.create({ model: 'text-embedding-3-small', input: ['cache me', 'and me'] });
    assert.deepEqual(viaSdk.data[0]?.embedding, fakeEmbedding('cache me'));
    assert.equal(openai.requests.length, calls);
  });

  test('a different encoding or dimension is a different entry', async () => {
    const base = { model: 'text-embedding-3-small', input: 'vary' };
    assert.equal((await embed(gateway, base)).headers.get('x-cache'), 'MISS');
    assert.equal((await embed(gateway, { ...base, encoding_format: 'base64' })).headers.get('x-cache'), 'MISS');
    assert.equal((await embed(gateway, { ...base, dimensions: 4 })).headers.get('x-cache'), 'MISS');
    assert.equal((await embed(gateway, base)).headers.get('x-cache'), 'HIT');
  });

  test('an embedding entry never answers a chat request with the same fields', async () => {
    // The chat body carries the embedding fields too: only the endpoint tells the two apart.
    const fields = { model: 'text-embedding-3-small', input: 'collide', messages: [{ role: 'user', content: 'collide' }] };
    assert.equal((await embed(gateway, fields)).headers.get('x-cache'), 'MISS');
    assert.equal((await embed(gateway, fields)).headers.get('x-cache'), 'HIT');
    const chat = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(), body: JSON.stringify(fields) });
    assert.equal(chat.headers.get('x-cache'), 'MISS');
    const answer = (await chat.json()) as { object?: string };
    assert.equal(answer.object, 'chat.completion');
  });
});

describe('POST /v1/embeddings in batches with the response cache', () => {
  let gemini: FakeGemini;
  let gateway: Gateway;
  before(async () => {
    gemini = await startFakeGemini();
    gateway = await startGateway({ GEMINI_API_KEY: 'gemini-key-embed-123456', GEMINI_BASE_URL: gemini.url, LLM_PROXY_CACHE: 'memory', LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await gemini.close();
  });

  test('a request whose client leaves while it waits for an identical one makes no call of its own, in batches or not', async () => {
    // 150 inputs: two batchEmbedContents calls (Gemini takes 100 at most); 50: one.
    for (const [count, batches] of [[150, 2], [50, 1]] as const) {
      const body = { model: 'gemini-embedding-001', input: Array.from({ length: count }, (_, index) => `batched ${index}`), dimensions: 2 };
      const calls = gemini.requests.length;
      for (let batch = 0; batch < batches; batch++) gemini.enqueue({ kind: 'delay', ms: 800 });
      const first = embed(gateway, body);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const leaving = new AbortController();
      const waiter = fetch(`${gateway.url}/v1/embeddings`, { method: 'POST', headers: authHeaders(), body: JSON.stringify(body), signal: leaving.signal });
      await new Promise((resolve) => setTimeout(resolve, 150));
      leaving.abort();
      await waiter.catch(() => undefined);
      assert.equal((await first).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(gemini.requests.length, calls + batches, `${count} inputs: only the first request's calls`);
    }
  });
});
