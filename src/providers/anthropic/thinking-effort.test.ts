import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { disabledNeedsHighOrBelow, fitOwnEffort, thinkingForEffort, thinksByDefault } from './thinking-effort.js';

describe('thinkingForEffort', () => {
  it('Claude 3.7 to 4.5 think on a budget that /v1/messages reads back as the same effort', () => {
    for (const model of ['claude-3-7-sonnet-20250219', 'claude-sonnet-4-20250514', 'claude-opus-4-1-20250805', 'claude-sonnet-4-5', 'claude-haiku-4-5-20251001', 'claude-opus-4-5-20251101']) {
      assert.deepEqual(thinkingForEffort(model, 'low'), { thinking: { type: 'enabled', budget_tokens: 1024 } }, model);
      assert.deepEqual(thinkingForEffort(model, 'medium'), { thinking: { type: 'enabled', budget_tokens: 8192 } }, model);
      assert.deepEqual(thinkingForEffort(model, 'high'), { thinking: { type: 'enabled', budget_tokens: 16384 } }, model);
    }
    assert.deepEqual(thinkingForEffort('claude-sonnet-4-5', 'minimal'), { thinking: { type: 'enabled', budget_tokens: 1024 } });
    assert.deepEqual(thinkingForEffort('claude-sonnet-4-5', 'xhigh'), { thinking: { type: 'enabled', budget_tokens: 32000 } });
  });

  it('4.6 and later think adaptively at an effort level; xhigh from 4.7; minimal is low', () => {
    for (const model of ['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-opus-4-7', 'claude-opus-5-5', 'claude-fable-5-1', 'claude-haiku-5-5']) {
      assert.deepEqual(thinkingForEffort(model, 'medium'), { thinking: { type: 'adaptive' }, effort: 'medium' }, model);
    }
    assert.deepEqual(thinkingForEffort('claude-opus-4-7', 'xhigh'), { thinking: { type: 'adaptive' }, effort: 'xhigh' });
    assert.deepEqual(thinkingForEffort('claude-sonnet-4-6', 'xhigh'), { thinking: { type: 'adaptive' }, effort: 'high', note: 'claude-sonnet-4-6 takes low, medium, high or max; sent high' });
    assert.deepEqual(thinkingForEffort('claude-mythos-preview', 'xhigh'), { thinking: { type: 'adaptive' }, effort: 'high', note: 'claude-mythos-preview takes low, medium, high or max; sent high' });
    assert.deepEqual(thinkingForEffort('claude-opus-4-6', 'minimal'), { thinking: { type: 'adaptive' }, effort: 'low', note: 'claude-opus-4-6 takes low, medium, high or max; sent low' });
    assert.deepEqual(thinkingForEffort('claude-opus-5', 'minimal'), { thinking: { type: 'adaptive' }, effort: 'low', note: 'claude-opus-5 takes low, medium, high, xhigh or max; sent low' });
  });

  it('a name it cannot place is taken as the newest kind', () => {
    assert.deepEqual(thinkingForEffort('claude-mythos-preview', 'high'), { thinking: { type: 'adaptive' }, effort: 'high' });
  });

  it('none turns thinking off on every model that can; the others get their lowest setting, said in a note', () => {
    for (const model of ['claude-sonnet-4-5', 'claude-opus-4-7', 'claude-opus-5', 'claude-sonnet-5', 'claude-haiku-5-5']) {
      assert.deepEqual(thinkingForEffort(model, 'none'), { thinking: { type: 'disabled' } }, model);
    }
    for (const model of ['claude-opus-5-5', 'claude-fable-5', 'claude-fable-5-2', 'claude-mythos-5-1', 'claude-mythos-preview']) {
      assert.deepEqual(thinkingForEffort(model, 'none'), { thinking: { type: 'adaptive' }, effort: 'low', note: `${model} cannot turn thinking off; sent low` }, model);
    }
    assert.deepEqual(thinkingForEffort('claude-sonnet-5-5', 'none'), { thinking: { type: 'between_tools' }, note: 'claude-sonnet-5-5 cannot turn thinking off; sent between_tools (no thinking before the answer)' });
  });

  it('Claude 3 and 3.5 do not think, and an effort OpenAI does not define is dropped', () => {
    for (const model of ['claude-3-5-sonnet-20241022', 'claude-3-5-haiku-20241022', 'claude-3-opus-20240229', 'claude-3-haiku-20240307']) {
      assert.deepEqual(thinkingForEffort(model, 'high'), { dropped: `${model} does not think (Claude 3.7 and later do)` });
    }
    assert.deepEqual(thinkingForEffort('claude-opus-4-7', 'extreme'), { dropped: 'expected none, minimal, low, medium, high, xhigh or max' });
    assert.deepEqual(thinkingForEffort('claude-opus-4-7', 3), { dropped: 'expected none, minimal, low, medium, high, xhigh or max' });
  });

  it("max (the openai SDK's top effort) is Claude's own max from 4.6 on, and the largest budget before", () => {
    for (const model of ['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-opus-4-7', 'claude-sonnet-5', 'claude-mythos-preview']) {
      assert.deepEqual(thinkingForEffort(model, 'max'), { thinking: { type: 'adaptive' }, effort: 'max' }, model);
    }
    assert.deepEqual(thinkingForEffort('claude-sonnet-4-5', 'max'), { thinking: { type: 'enabled', budget_tokens: 32000 } });
    assert.deepEqual(thinkingForEffort('claude-3-7-sonnet-20250219', 'max'), { thinking: { type: 'enabled', budget_tokens: 32000 } });
  });
});

describe('per-model effort and default thinking', () => {
  it("the client's own effort: dropped where the model takes none (Sonnet and Haiku 4.5 and earlier), lowered to the levels it has elsewhere", () => {
    for (const model of ['claude-sonnet-4-5', 'claude-haiku-4-5-20251001', 'claude-opus-4-1', 'claude-sonnet-4-20250514', 'claude-3-7-sonnet-20250219', 'claude-3-5-haiku-20241022']) {
      assert.ok('dropped' in fitOwnEffort(model, 'low'), model);
    }
    assert.deepEqual(fitOwnEffort('claude-opus-4-5-20251101', 'medium'), { effort: 'medium' });
    assert.deepEqual(fitOwnEffort('claude-opus-4-5', 'xhigh'), { effort: 'high', note: 'claude-opus-4-5 takes low, medium or high; sent high' });
    assert.deepEqual(fitOwnEffort('claude-sonnet-4-6', 'xhigh'), { effort: 'high', note: 'claude-sonnet-4-6 takes low, medium, high or max; sent high' });
    assert.deepEqual(fitOwnEffort('claude-mythos-preview', 'max'), { effort: 'max' });
    for (const model of ['claude-opus-4-7', 'claude-haiku-5-5', 'claude-fable-5-1', 'claude-nova-preview']) assert.deepEqual(fitOwnEffort(model, 'xhigh'), { effort: 'xhigh' }, model);
  });

  it('Claude 5 and later think when thinking is left out; disabled needs effort high or below on Opus 5 and later, not on Sonnet 5', () => {
    for (const model of ['claude-opus-5', 'claude-sonnet-5', 'claude-haiku-5-5', 'claude-fable-5', 'claude-mythos-preview']) assert.equal(thinksByDefault(model), true, model);
    for (const model of ['claude-opus-4-8', 'claude-opus-4-7', 'claude-sonnet-4-6', 'claude-sonnet-4-5', 'claude-3-7-sonnet-20250219']) assert.equal(thinksByDefault(model), false, model);
    assert.deepEqual(['claude-opus-5', 'claude-haiku-5-5', 'claude-sonnet-5', 'claude-opus-4-8'].map(disabledNeedsHighOrBelow), [true, true, false, false]);
  });
});
