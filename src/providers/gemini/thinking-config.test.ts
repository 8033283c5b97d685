import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { thinkingConfigFor } from './thinking-config.js';

describe('reasoning_effort → thinkingConfig', () => {
  it('Gemini 2.5: Google\'s budgets; none turns thinking off, except on Pro (its smallest budget, said)', () => {
    assert.deepEqual(thinkingConfigFor('gemini-2.5-flash', 'low'), { config: { thinkingBudget: 1024 } });
    assert.deepEqual(thinkingConfigFor('gemini-2.5-flash', 'medium'), { config: { thinkingBudget: 8192 } });
    assert.deepEqual(thinkingConfigFor('gemini-2.5-flash-lite', 'high'), { config: { thinkingBudget: 24576 } });
    assert.deepEqual(thinkingConfigFor('gemini-2.5-flash', 'none'), { config: { thinkingBudget: 0 } });
    assert.deepEqual(thinkingConfigFor('models/gemini-2.5-pro', 'none'), {
      config: { thinkingBudget: 128 },
      note: 'models/gemini-2.5-pro cannot turn thinking off; sent its smallest budget (128 tokens)',
    });
  });

  it('Gemini 3: a level, the nearest the family takes (Pro: low and high), with a note when it differs', () => {
    assert.deepEqual(thinkingConfigFor('gemini-3-flash-preview', 'minimal'), { config: { thinkingLevel: 'minimal' } });
    assert.deepEqual(thinkingConfigFor('gemini-3-flash-preview', 'medium'), { config: { thinkingLevel: 'medium' } });
    assert.deepEqual(thinkingConfigFor('gemini-3-pro-preview', 'high'), { config: { thinkingLevel: 'high' } });
    assert.deepEqual(thinkingConfigFor('gemini-3-pro-preview', 'medium'), { config: { thinkingLevel: 'high' }, note: 'gemini-3-pro-preview takes low or high; sent high' });
    assert.deepEqual(thinkingConfigFor('gemini-3.1-pro-preview', 'minimal'), { config: { thinkingLevel: 'low' }, note: 'gemini-3.1-pro-preview takes low or high; sent low' });
    assert.deepEqual(thinkingConfigFor('gemini-3-flash-preview', 'none'), { config: { thinkingLevel: 'minimal' }, note: 'gemini-3-flash-preview takes minimal, low, medium or high; sent minimal' });
    // GPT-5.2's top effort is Gemini's top level, nothing to say.
    assert.deepEqual(thinkingConfigFor('gemini-3-flash-preview', 'xhigh'), { config: { thinkingLevel: 'high' } });
  });

  it("max (the openai SDK's top effort) is Gemini's top: level high, 2.5's largest budget", () => {
    assert.deepEqual(thinkingConfigFor('gemini-3-flash-preview', 'max'), { config: { thinkingLevel: 'high' } });
    assert.deepEqual(thinkingConfigFor('gemini-3-pro-preview', 'max'), { config: { thinkingLevel: 'high' } });
    assert.deepEqual(thinkingConfigFor('gemini-2.5-pro', 'max'), { config: { thinkingBudget: 24576 } });
  });

  it('dropped for models that do not think, unknown names and efforts OpenAI does not define', () => {
    assert.ok('dropped' in thinkingConfigFor('gemini-2.0-flash', 'low'));
    assert.ok('dropped' in thinkingConfigFor('gemini-flash-latest', 'low'));
    assert.ok('dropped' in thinkingConfigFor('gemini-2.5-flash', 'extreme'));
    assert.ok('dropped' in thinkingConfigFor('gemini-2.5-flash', 3));
    assert.ok('dropped' in thinkingConfigFor('gemini-2.5-flash-image-preview', 'low'));
    assert.ok('dropped' in thinkingConfigFor('gemini-2.5-flash-preview-tts', 'none'));
    assert.deepEqual(thinkingConfigFor('gemini-2.5-flash-lite-preview-06-17', 'low'), { config: { thinkingBudget: 1024 } });
  });
});
