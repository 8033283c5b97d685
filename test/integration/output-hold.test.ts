// RELIABILITY §4a#7, second half: with no max_tokens (nor max_completion_tokens) a call is held, in
// the key's tokens per minute and its budget, at the model's max output from the catalog (× n), and
// at 4,096 for a model the catalog does not know; a stated max_tokens is held as stated.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { callJson, chat, createKey } from '../support/key-support.js';
import { startStack, type Stack } from '../support/reliability-support.js';

const TPM = 1_000_000;

describe('§4a#7 the output a call is held for', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  /** Tokens taken from a fresh key's window at admission: its limit less the remaining header. */
  async function held(extra: Record<string, unknown>): Promise<number> {
    const { key } = await createKey(stack.url, { tpm_limit: TPM, rpm_limit: 0 });
    const res = await chat(stack.url, key, extra);
    assert.equal(res.status, 200, res.text);
    return TPM - Number(res.headers.get('x-ratelimit-remaining-tokens'));
  }

  test('no max_tokens: the catalog max output (gpt-4: 8,192) plus the prompt; × n; 4,096 for an unknown model', async () => {
    const maxOutput = stack.gateway.app.services.router.plan('gpt-4')?.deployments[0]?.route.entry?.max_output_tokens;
    assert.equal(maxOutput, 8192);
    const prompt = (await held({ max_tokens: 1 })) - 1;
    assert.ok(prompt > 0 && prompt < 30, `prompt ${prompt}`);
    assert.equal(await held({}), prompt + 8192);
    assert.equal(await held({ n: 2 }), prompt + 2 * 8192);
    assert.equal(await held({ max_tokens: 100 }), prompt + 100);
    assert.equal(await held({ max_completion_tokens: 100, n: 3 }), prompt + 300);
    assert.equal(await held({ model: 'openai/a-model-no-catalog-knows' }), prompt + 4096);
  });
});

describe('§4a#7 a passed-through /v1/completions call is held for every completion it makes', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ fake: { models: ['gpt-3.5-turbo-instruct'] } });
  });
  after(async () => {
    await stack.close();
  });

  /** Tokens taken from a fresh key's window at admission (the fake host answers one choice whatever is asked). */
  async function held(extra: Record<string, unknown>): Promise<number> {
    const { key } = await createKey(stack.url, { tpm_limit: TPM, rpm_limit: 0 });
    const res = await callJson(stack.url, 'POST', '/v1/completions', key, { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 100, ...extra });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-llm-proxy-emulated'), null, 'passed through, not emulated');
    return TPM - Number(res.headers.get('x-ratelimit-remaining-tokens'));
  }

  test('each prompt of a list gets n completions, and best_of of them are generated (and billed) when it is above n', async () => {
    const one = await held({});
    const prompt = one - 100;
    assert.ok(prompt > 0 && prompt < 10, `prompt ${prompt}`);
    assert.equal(await held({ n: 2 }), prompt + 200);
    assert.equal(await held({ best_of: 5 }), prompt + 500);
    assert.equal(await held({ best_of: 3, n: 3 }), prompt + 300);
    // Three prompts make three completions (their tokens counted together, each once: more than one prompt's, less than three calls').
    const three = (await held({ prompt: ['Say hi', 'Say hi', 'Say hi'] })) - 300;
    assert.ok(three > prompt && three < 3 * prompt, `three prompts' tokens ${three}, one's ${prompt}`);
    assert.equal(await held({ prompt: [[1, 2], [3, 4]], n: 2 }) - (await held({ prompt: [[1, 2], [3, 4]] })), 200);
  });
});
