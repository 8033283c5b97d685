import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conformEncoding, decodeBase64Embedding, encodeBase64Embedding } from './embeddings-encoding.js';
import type { EmbeddingObject } from './embeddings-request.js';

/** What the openai SDK does with a base64 embedding (openai/internal/utils/base64.ts, Node branch). */
function toFloat32Array(base64: string): number[] {
  const buffer = Buffer.from(base64, 'base64');
  return Array.from(new Float32Array(buffer.buffer, buffer.byteOffset, buffer.length / Float32Array.BYTES_PER_ELEMENT));
}

describe('base64 embeddings', () => {
  test('encodes little-endian float32, as OpenAI does and the openai SDK decodes', () => {
    const values = [0.1, -0.25, 3.5, 1e-7, -123456.789, 0];
    const encoded = encodeBase64Embedding(values) ?? '';
    // 0.25 as float32 little-endian is 00 00 80 3e; the second value is its negative.
    assert.equal(Buffer.from(encoded, 'base64').subarray(4, 8).toString('hex'), '000080be');
    const viaSdk = toFloat32Array(encoded);
    assert.deepEqual(viaSdk, values.map((value) => Math.fround(value)));
    assert.deepEqual(decodeBase64Embedding(encoded), viaSdk);
  });

  test('text that is not whole float32 values is refused', () => {
    assert.equal(decodeBase64Embedding(Buffer.from([1, 2, 3]).toString('base64')), undefined);
    assert.deepEqual(decodeBase64Embedding(''), []);
  });
});

describe('conformEncoding', () => {
  const item = (embedding: unknown): EmbeddingObject => ({ object: 'embedding', index: 0, embedding: embedding as number[] });

  test('leaves what is already in the asked form untouched', () => {
    const floats = [item([0.5, 1])];
    assert.equal(conformEncoding(floats, 'float'), false);
    assert.deepEqual(floats[0]?.embedding, [0.5, 1]);
    const encoded = [item(encodeBase64Embedding([0.5, 1]))];
    assert.equal(conformEncoding(encoded, 'base64'), false);
  });

  test('converts either way, in place', () => {
    const data = [item([0.5, -2]), item([1.25])];
    assert.equal(conformEncoding(data, 'base64'), true);
    assert.equal(typeof data[0]?.embedding, 'string');
    assert.equal(conformEncoding(data, 'float'), true);
    assert.deepEqual(data.map((entry) => entry.embedding), [[0.5, -2], [1.25]]);
  });

  test('an embedding that is neither form is reported', () => {
    assert.equal(conformEncoding([item({ values: [1] })], 'float'), undefined);
    assert.equal(conformEncoding([item(null)], 'base64'), undefined);
    assert.equal(conformEncoding([item('AQID')], 'float'), undefined);
  });

  // Found by embeddings.property.test.ts: a pass-through host's vector is unchecked.
  test('a vector with an entry that is no number, or text that is not base64, is reported rather than encoded as 0 or NaN', () => {
    assert.equal(conformEncoding([item([null, 0])], 'base64'), undefined);
    assert.equal(conformEncoding([item([0.5, '1.5'])], 'base64'), undefined);
    assert.equal(conformEncoding([item('not base64!')], 'float'), undefined);
    assert.equal(conformEncoding([item('AAAA AAAA')], 'float'), undefined);
    // Canonical base64, padded or not, still converts.
    const padded = [item('AAAAPwAAgD8='), item('AAAAPwAAgD8')];
    assert.equal(conformEncoding(padded, 'float'), true);
    assert.deepEqual(padded.map((entry) => entry.embedding), [[0.5, 1], [0.5, 1]]);
  });
});
