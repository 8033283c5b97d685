import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusesForcedTool, refusesPrefill, refusesSampling } from './model-limits.js';

describe('model limits by name', () => {
  it('a forced tool call: refused by Fable and Mythos from 5.1, Opus and Sonnet from 5.5; taken by the rest', () => {
    for (const model of ['claude-fable-5-1', 'claude-fable-5-2', 'claude-mythos-5-1', 'claude-opus-5-5', 'claude-sonnet-5-5', 'claude-opus-6']) assert.equal(refusesForcedTool(model), true, model);
    for (const model of ['claude-fable-5', 'claude-mythos-5', 'claude-mythos-preview', 'claude-opus-5', 'claude-sonnet-5', 'claude-haiku-5-5', 'claude-sonnet-4-5', 'claude-3-5-haiku-20241022']) {
      assert.equal(refusesForcedTool(model), false, model);
    }
  });

  it('sampling settings: refused from Opus 4.7 on (and by names too new to place); prefill from 4.6 on', () => {
    for (const model of ['claude-opus-4-7', 'claude-haiku-5-5', 'claude-fable-5', 'claude-mythos-preview']) assert.equal(refusesSampling(model), true, model);
    for (const model of ['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-sonnet-4-5', 'claude-opus-4-20250514']) assert.equal(refusesSampling(model), false, model);
    for (const model of ['claude-opus-4-6', 'claude-sonnet-4-6', 'claude-opus-5-5', 'claude-mythos-preview']) assert.equal(refusesPrefill(model), true, model);
    for (const model of ['claude-sonnet-4-5', 'claude-opus-4-1', 'claude-3-7-sonnet-20250219']) assert.equal(refusesPrefill(model), false, model);
  });
});
