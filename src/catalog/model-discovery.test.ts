// checkDiscoveredModels: what a provider's list reports is listed and routed only with safe ids,
// figures that are positive integers, bounded display text, and no more than the limit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redactor } from '../logging/redactor.js';
import { checkDiscoveredModels, MAX_DISCOVERED_MODELS, MAX_DISPLAY_LENGTH } from './model-discovery.js';

describe('checkDiscoveredModels', () => {
  test('drops ids that are not safe model names, and repeats', () => {
    const checked = checkDiscoveredModels([
      { id: 'gpt-4o' },
      { id: 'bad model id' },
      { id: '../../admin' },
      { id: 'a/../b' },
      { id: 'x%2Fy' },
      { id: 'line\nbreak' },
      { id: 'x'.repeat(257) },
      { id: 'meta-llama/Llama-3.1-8B-Instruct:free' },
      { id: 'gpt-4o', contextLength: 1 },
    ]);
    assert.deepEqual(checked.models, [{ id: 'gpt-4o' }, { id: 'meta-llama/Llama-3.1-8B-Instruct:free' }]);
    assert.equal(checked.dropped, 7);
    assert.equal(checked.cut, 0);
  });

  test('drops ids that hold a secret and redacts display text (a list that echoes the key it was asked with)', () => {
    const redactor = new Redactor(['sk-upstream-secret-1234567890']);
    const checked = checkDiscoveredModels(
      [
        { id: 'gpt-4o', name: 'by sk-upstream-secret-1234567890', ownedBy: 'sk-upstream-secret-1234567890' },
        { id: 'sk-upstream-secret-1234567890' },
        { id: 'echo-sk-upstream-secret-1234567890-model' },
      ],
      MAX_DISCOVERED_MODELS,
      (text) => redactor.redact(text),
    );
    assert.deepEqual(checked.models, [{ id: 'gpt-4o', name: 'by [redacted]', ownedBy: '[redacted]' }]);
    assert.equal(checked.dropped, 2);
    assert.ok(!JSON.stringify(checked).includes('sk-upstream-secret'));
  });

  test('keeps figures only when they are positive integers', () => {
    const bad = [-5, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60];
    const checked = checkDiscoveredModels([
      { id: 'good', name: 'Good', ownedBy: 'acme', created: 1700000000, contextLength: 131072, maxOutputTokens: 8192 },
      ...bad.map((value, i) => ({ id: `bad-${i}`, created: value, contextLength: value, maxOutputTokens: value })),
    ]);
    assert.deepEqual(checked.models, [
      { id: 'good', name: 'Good', ownedBy: 'acme', created: 1700000000, contextLength: 131072, maxOutputTokens: 8192 },
      ...bad.map((_, i) => ({ id: `bad-${i}` })),
    ]);
    assert.equal(checked.dropped, 0);
  });

  test('cuts the list at the limit (10,000 by default), counting what was left out', () => {
    assert.equal(MAX_DISCOVERED_MODELS, 10_000);
    const reported = Array.from({ length: 5 }, (_, i) => ({ id: `m-${i}` }));
    assert.deepEqual(checkDiscoveredModels(reported, 3), { models: [{ id: 'm-0' }, { id: 'm-1' }, { id: 'm-2' }], dropped: 0, cut: 2 });
    const long = Array.from({ length: MAX_DISCOVERED_MODELS + 1 }, (_, i) => ({ id: `m-${i}` }));
    const checked = checkDiscoveredModels(long);
    assert.equal(checked.models.length, MAX_DISCOVERED_MODELS);
    assert.equal(checked.cut, 1);
  });

  test('display text: control characters dropped, ends trimmed, at most 256 units, never half a surrogate pair', () => {
    assert.equal(MAX_DISPLAY_LENGTH, 256);
    const checked = checkDiscoveredModels([
      { id: 'huge', name: 'N'.repeat(1_000_000), ownedBy: 'o'.repeat(300) },
      { id: 'controls', name: ' Team\u0000 \u001b[31mModel\r\n\u0085 ', ownedBy: 'acme\u0007' },
      { id: 'empty', name: '\u0000\t ', ownedBy: '' },
      { id: 'pair', name: `${'x'.repeat(255)}😀` },
    ]);
    assert.deepEqual(checked.models, [
      { id: 'huge', name: 'N'.repeat(256), ownedBy: 'o'.repeat(256) },
      { id: 'controls', name: 'Team [31mModel', ownedBy: 'acme' },
      { id: 'empty' },
      { id: 'pair', name: 'x'.repeat(255) },
    ]);
  });
});
