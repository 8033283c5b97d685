import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { countInputTokens, encodingOf, inputCount, inputTexts, isTokenInput, validateEmbeddingRequest } from './embeddings-request.js';

function refusal(body: unknown): { status: number; code: string | null; param: string | null } {
  try {
    validateEmbeddingRequest(body);
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    return { status: error.status, code: error.code, param: error.param };
  }
  assert.fail('expected a refusal');
}

describe('validateEmbeddingRequest', () => {
  test('accepts the four input forms and the optional fields', () => {
    for (const input of ['hello', ['a', 'b'], [1, 2, 3], [[1, 2], [3]]]) {
      const request = validateEmbeddingRequest({ model: 'text-embedding-3-small', input, encoding_format: 'base64', dimensions: 256, user: 'u-1' });
      assert.deepEqual(request.input, input);
    }
    assert.equal(encodingOf(validateEmbeddingRequest({ model: 'm', input: 'x' })), 'float');
    assert.equal(encodingOf(validateEmbeddingRequest({ model: 'm', input: 'x', encoding_format: 'base64' })), 'base64');
  });

  test('bad inputs are 400s that name the field', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ model: 'm' }, 'input', 'invalid_type'],
      [{ model: 'm', input: '' }, 'input', 'invalid_value'],
      [{ model: 'm', input: [] }, 'input', 'invalid_value'],
      [{ model: 'm', input: 42 }, 'input', 'invalid_type'],
      [{ model: 'm', input: ['a', ''] }, 'input[1]', 'invalid_value'],
      [{ model: 'm', input: ['a', 3] }, 'input[1]', 'invalid_type'],
      [{ model: 'm', input: [1, 2.5] }, 'input[1]', 'invalid_value'],
      [{ model: 'm', input: [1, -1] }, 'input[1]', 'invalid_value'],
      [{ model: 'm', input: [1, '2'] }, 'input[1]', 'invalid_type'],
      [{ model: 'm', input: [[1], []] }, 'input[1]', 'invalid_value'],
      [{ model: 'm', input: [[1], [0.5]] }, 'input[1][0]', 'invalid_value'],
      [{ model: 'm', input: [[1], 'a'] }, 'input[1]', 'invalid_type'],
      [{ model: 'm', input: Array.from({ length: 2049 }, () => 'x') }, 'input', 'invalid_value'],
      [{ model: 'm', input: 'x', encoding_format: 'int8' }, 'encoding_format', 'invalid_value'],
      [{ model: 'm', input: 'x', encoding_format: 1 }, 'encoding_format', 'invalid_type'],
      [{ model: 'm', input: 'x', dimensions: 0 }, 'dimensions', 'invalid_value'],
      [{ model: 'm', input: 'x', dimensions: 1.5 }, 'dimensions', 'invalid_value'],
      [{ model: 'm', input: 'x', dimensions: '256' }, 'dimensions', 'invalid_type'],
      [{ model: 'm', input: 'x', user: 7 }, 'user', 'invalid_type'],
      [{ input: 'x' }, 'model', 'invalid_type'],
      [{ model: '', input: 'x' }, 'model', 'invalid_value'],
    ];
    for (const [body, param, code] of cases) {
      const got = refusal(body);
      assert.deepEqual(got, { status: 400, code, param }, JSON.stringify(body).slice(0, 80));
    }
    assert.equal(refusal(['x']).param, 'body');
    assert.equal(refusal({ model: 'x'.repeat(300), input: 'x' }).code, 'model_not_found');
  });

  test('2048 inputs are allowed', () => {
    assert.equal(inputCount(validateEmbeddingRequest({ model: 'm', input: Array.from({ length: 2048 }, () => 'x') }).input), 2048);
  });
});

describe('input helpers', () => {
  test('count, texts and token detection per form', () => {
    assert.equal(inputCount('a'), 1);
    assert.equal(inputCount(['a', 'b']), 2);
    assert.equal(inputCount([1, 2, 3]), 1);
    assert.equal(inputCount([[1], [2], [3]]), 3);
    assert.deepEqual(inputTexts('a'), ['a']);
    assert.deepEqual(inputTexts(['a', 'b']), ['a', 'b']);
    assert.equal(inputTexts([1, 2]), undefined);
    assert.equal(isTokenInput([[1]]), true);
    assert.equal(isTokenInput(['a']), false);
  });

  test('tokens: texts through the counter, token arrays by length', () => {
    const words = (text: string) => text.split(' ').length;
    assert.equal(countInputTokens('one two three', words), 3);
    assert.equal(countInputTokens(['one', 'two three'], words), 3);
    assert.equal(countInputTokens([5, 6, 7, 8], words), 4);
    assert.equal(countInputTokens([[5, 6], [7]], words), 3);
  });
});
