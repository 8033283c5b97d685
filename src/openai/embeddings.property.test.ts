// Property tests of the embeddings request check and the two encodings: any body is a request or a
// 400 (404 for an over-long model), never a TypeError; floats survive base64 and back as float32; an
// upstream embedding that is not a vector of numbers or canonical base64 is reported, never encoded
// into zeros and NaNs the client cannot tell from a real vector.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GatewayError } from '../errors/gateway-error.js';
import { conformEncoding, decodeBase64Embedding, encodeBase64Embedding } from './embeddings-encoding.js';
import { countInputTokens, inputCount, inputTexts, validateEmbeddingRequest, type EmbeddingObject } from './embeddings-request.js';

const RUNS = { numRuns: 500, seed: 20261128 };

const float32 = fc.float({ noNaN: true });
const item = (embedding: unknown): EmbeddingObject => ({ object: 'embedding', index: 0, embedding: embedding as number[] });

const input = fc.oneof(
  fc.string({ maxLength: 5 }),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
  fc.array(fc.oneof(fc.nat(100), fc.integer({ min: -2, max: -1 }), fc.constantFrom(0.5, 2 ** 31, 1e300)), { maxLength: 3 }),
  fc.array(fc.array(fc.nat(100), { maxLength: 3 }), { maxLength: 3 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const body = fc.oneof(
  fc.record(
    {
      model: fc.oneof(fc.constantFrom('text-embedding-3-small', ''), fc.jsonValue({ maxDepth: 0 }), fc.constant('m'.repeat(300))),
      input,
      encoding_format: fc.constantFrom('float', 'base64', 'binary', 1, null),
      dimensions: fc.constantFrom(1, 256, 0, -1, 1.5, 65_537, '256', null),
      user: fc.constantFrom('u', 'x'.repeat(600), 5, null),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

describe('embeddings, property-based', () => {
  it('any body → a request whose input counts work, or a 400 (404 for a model name past 256)', () => {
    fc.assert(
      fc.property(body, (raw) => {
        let request;
        try {
          request = validateEmbeddingRequest(raw);
        } catch (error) {
          assert.ok(error instanceof GatewayError, String(error));
          assert.ok(error.status === 400 || (error.status === 404 && error.param === 'model'), `${error.status} ${error.code}`);
          return;
        }
        const count = inputCount(request.input);
        assert.ok(Number.isSafeInteger(count) && count >= 1);
        const texts = inputTexts(request.input);
        if (texts !== undefined) assert.equal(texts.length, count);
        const tokens = countInputTokens(request.input, (text) => text.length);
        assert.ok(Number.isSafeInteger(tokens) && tokens >= 0);
      }),
      RUNS,
    );
  });

  it('floats → base64 → floats gives every value as float32', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(float32, fc.double({ noNaN: true })), { maxLength: 20 }), (values) => {
        const decoded = decodeBase64Embedding(encodeBase64Embedding(values) ?? '');
        assert.deepEqual(decoded, values.map((value) => Math.fround(value)));
      }),
      RUNS,
    );
  });

  it('an upstream embedding of floats or canonical base64 conforms to either format; anything else is reported', () => {
    const embedding = fc.oneof(
      fc.array(float32, { maxLength: 6 }),
      fc.array(float32, { maxLength: 6 }).map((values) => encodeBase64Embedding(values)),
      fc.array(fc.oneof(float32, fc.constantFrom<unknown>(null, '1.5', true, {})), { minLength: 1, maxLength: 4 }),
      fc.constantFrom<unknown>('AQID', 'not base64!', 'AAAAAA==', 'AAAA AAAA', 'AAAAAA', 'AAAA', 'AAAA=', null, 5, { values: [1] }),
    );
    fc.assert(
      fc.property(fc.array(embedding, { minLength: 1, maxLength: 4 }), fc.constantFrom('float' as const, 'base64' as const), (embeddings, format) => {
        const valid = embeddings.map((value) => {
          if (Array.isArray(value)) return value.every((entry) => typeof entry === 'number');
          if (typeof value !== 'string') return false;
          // Canonical but for its padding, which some hosts leave off.
          const bytes = Buffer.from(value, 'base64');
          return bytes.length % 4 === 0 && bytes.toString('base64').replace(/=+$/, '') === value.replace(/=+$/, '');
        });
        const data = embeddings.map(item);
        const changed = conformEncoding(data, format);
        // Conversion happens only where the form differs, so an invalid item in the asked form passes as it came.
        const converted = embeddings.map((value) => (format === 'base64' ? typeof value !== 'string' : !Array.isArray(value)));
        if (embeddings.some((_, index) => converted[index] && !valid[index])) {
          assert.equal(changed, undefined, 'an embedding that is not a vector was converted');
          return;
        }
        assert.notEqual(changed, undefined);
        data.forEach((entry, index) => {
          if (!converted[index]) return;
          const original = embeddings[index];
          if (format === 'base64') assert.deepEqual(decodeBase64Embedding(entry.embedding as string), (original as number[]).map((value) => Math.fround(value)));
          else assert.equal(encodeBase64Embedding(entry.embedding as number[])?.replace(/=+$/, ''), (original as string).replace(/=+$/, ''));
        });
      }),
      RUNS,
    );
  });
});
