// OpenRouter's model fallbacks (`models: [...]`) and presets (`preset`) have OpenRouter call, and bill,
// models beside `model`. A key with a `models` allowlist may name in `models` only models it may use
// on OpenRouter (403 model_not_allowed naming `models[i]` and the model, before any call), and no
// preset (its models cannot be checked); keys without a list are unchanged. The budget hold covers
// the dearest model the list may reach.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { fakeProviderEnv, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, errorCode, errorMessage, heldIn, type JsonResponse } from '../support/key-support.js';
import { configFile } from '../support/reliability-support.js';

const MINI = 'openrouter/openai/gpt-4o-mini';
const OPUS = 'anthropic/claude-opus-4.7';
const HAIKU = 'anthropic/claude-haiku-4.5';
const QUESTION = [{ role: 'user', content: 'Hello' }];
const body = (extra: Record<string, unknown> = {}) => ({ model: MINI, max_tokens: 16, messages: QUESTION, ...extra });

function assertNotAllowed(response: JsonResponse, param: string, model: string): void {
  assert.equal(response.status, 403, response.text.slice(0, 300));
  const error = response.body.error as { type?: unknown; code?: unknown; param?: unknown; message?: unknown };
  assert.equal(error.type, 'permission_error', response.text);
  assert.equal(error.code, 'model_not_allowed', response.text);
  assert.equal(error.param, param, response.text);
  assert.ok(String(error.message).includes(`may not use the model '${model}'`), response.text);
  assert.ok(String(error.message).includes(param), `the message names ${param}: ${response.text}`);
}

describe("OpenRouter's model fallbacks and presets follow the key's model allowlist", () => {
  let openrouter: FakeOpenAi;
  let openai: FakeOpenAi;
  /** A generic `openai-compatible` host (OpenRouter, or a router like it, under a name the proxy does not know). */
  let generic: FakeOpenAi;
  let gateway: Gateway;
  /** May use GPT-4o mini on OpenRouter only. */
  let miniOnly: string;
  /** Also Claude Haiku 4.5 on OpenRouter, through the alias `quick-claude`. */
  let withAlias: string;

  before(async () => {
    [openrouter, openai, generic] = await Promise.all([
      startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['openai/gpt-4o-mini', OPUS, HAIKU] }),
      startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini'] }),
      startFakeOpenAi({ apiKey: undefined, models: ['router-mini'] }),
    ]);
    gateway = await startGateway(
      {
        ...fakeProviderEnv({ openrouter, openai }),
        LLM_PROXY_RPM: '0',
        LLM_PROXY_CACHE: 'off',
        LLM_PROXY_CONFIG: configFile(`providers:\n  router: { type: openai-compatible, base_url: "${generic.url}/v1", discover: false, models: [router-mini] }\n`),
      },
      { configure: (config) => void (config.aliases = { ...config.aliases, 'quick-claude': `openrouter/${HAIKU}` }) },
    );
    miniOnly = (await createKey(gateway.url, { name: 'mini-only', models: [MINI, 'router/router-mini'] })).key;
    withAlias = (await createKey(gateway.url, { name: 'with-alias', models: [MINI, 'quick-claude'] })).key;
  });
  beforeEach(() => {
    openrouter.reset();
    openai.reset();
    generic.reset();
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openrouter?.close(), openai?.close(), generic?.close()]);
  });

  const post = (key: string, sent: unknown) => callJson(gateway.url, 'POST', '/v1/chat/completions', key, sent);

  test('a fallback model the key may not use is refused before any call, streamed or not', async () => {
    const falling = body({ models: ['openai/gpt-4o-mini', OPUS] });
    assertNotAllowed(await post(miniOnly, falling), 'models[1]', OPUS);
    assertNotAllowed(await post(miniOnly, { ...falling, stream: true }), 'models[1]', OPUS);
    // Haiku is allowed through its alias, Opus is not.
    assertNotAllowed(await post(withAlias, body({ models: [HAIKU, OPUS] })), 'models[1]', OPUS);
    assert.equal(openrouter.requests.length, 0, 'no upstream call');
  });

  test('fallback models the key may use go through as sent: listed, by provider/model or through an alias', async () => {
    const own = await post(miniOnly, body({ models: ['openai/gpt-4o-mini'] }));
    assert.equal(own.status, 200, own.text.slice(0, 300));
    const aliased = await post(withAlias, body({ models: ['openai/gpt-4o-mini', HAIKU], route: 'fallback' }));
    assert.equal(aliased.status, 200, aliased.text.slice(0, 300));
    assert.equal(openrouter.requests.length, 2);
    assert.deepEqual(openrouter.requests[1]?.body?.models, ['openai/gpt-4o-mini', HAIKU]);
  });

  test('a generic openai-compatible host gets the same check: it may be OpenRouter, or a router reading the same fields', async () => {
    const routed = body({ model: 'router/router-mini' });
    assertNotAllowed(await post(miniOnly, { ...routed, models: ['router-mini', OPUS] }), 'models[1]', OPUS);
    const preset = await post(miniOnly, { ...routed, preset: 'email-copywriter' });
    assert.equal(preset.status, 403, preset.text.slice(0, 300));
    assert.equal((preset.body.error as { param?: unknown }).param, 'preset');
    assert.equal(generic.requests.length, 0, 'no upstream call');
    const own = await post(miniOnly, { ...routed, models: ['router-mini'] });
    assert.equal(own.status, 200, own.text.slice(0, 300));
    assert.deepEqual(generic.requests[0]?.body?.models, ['router-mini']);
  });

  test('/v1/completions passed through to a generic host gets the same check: the body goes as sent', async () => {
    const completion = (extra: Record<string, unknown>) => callJson(gateway.url, 'POST', '/v1/completions', miniOnly, { model: 'router/router-mini', prompt: 'Hello', max_tokens: 16, ...extra });
    assertNotAllowed(await completion({ models: ['router-mini', OPUS] }), 'models[1]', OPUS);
    assertNotAllowed(await completion({ models: [OPUS], stream: true }), 'models[0]', OPUS);
    const preset = await completion({ preset: 'email-copywriter' });
    assert.equal(preset.status, 403, preset.text.slice(0, 300));
    assert.equal((preset.body.error as { param?: unknown }).param, 'preset');
    assert.equal(generic.requests.length, 0, 'no upstream call');
    const own = await completion({ models: ['router-mini'] });
    assert.equal(own.status, 200, own.text.slice(0, 300));
    assert.deepEqual(generic.requests[0]?.body?.models, ['router-mini']);
  });

  test('a preset is refused to a key with an allowlist: the models it runs cannot be checked', async () => {
    const response = await post(withAlias, body({ preset: 'email-copywriter' }));
    assert.equal(response.status, 403, response.text.slice(0, 300));
    assert.equal(errorCode(response), 'model_not_allowed');
    assert.equal((response.body.error as { param?: unknown }).param, 'preset');
    assert.match(errorMessage(response), /preset/);
    assert.equal(openrouter.requests.length, 0, 'no upstream call');
  });

  test('a models field that names no model list is a 400 to a key with an allowlist, before any call', async () => {
    const notList = await post(miniOnly, body({ models: OPUS }));
    assert.equal(notList.status, 400, notList.text.slice(0, 300));
    assert.equal((notList.body.error as { param?: unknown }).param, 'models');
    const notName = await post(miniOnly, body({ models: ['openai/gpt-4o-mini', { model: OPUS }] }));
    assert.equal(notName.status, 400, notName.text.slice(0, 300));
    assert.equal((notName.body.error as { param?: unknown }).param, 'models[1]');
    assert.equal(openrouter.requests.length, 0, 'no upstream call');
  });

  test('a key without an allowlist is unchanged; the field means nothing to another provider', async () => {
    const { key } = await createKey(gateway.url, { name: 'open' });
    const open = await post(key, body({ models: [OPUS], preset: 'email-copywriter' }));
    assert.equal(open.status, 200, open.text.slice(0, 300));
    assert.deepEqual(openrouter.requests[0]?.body?.models, [OPUS]);
    const { key: openAiOnly } = await createKey(gateway.url, { name: 'openai-only', models: ['gpt-4o-mini'] });
    const elsewhere = await post(openAiOnly, body({ model: 'gpt-4o-mini', models: [OPUS] }));
    assert.equal(elsewhere.status, 200, elsewhere.text.slice(0, 300));
    assert.equal(openai.requests.length, 1);
  });

  test('the budget hold covers the dearest model the fallbacks may reach', async () => {
    const { key } = await createKey(gateway.url, { name: 'fallback-hold', max_budget: 0.01 });
    // 4,000 output tokens: $0.0024 on GPT-4o mini, $0.02 on Haiku 4.5, $0.10 on Opus 4.7. One model
    // answers (and is billed), so the hold is the dearest's, not the sum.
    const alone = await post(key, body({ max_tokens: 4_000 }));
    assert.equal(alone.status, 200, alone.text.slice(0, 300));
    const haiku = await post(key, body({ max_tokens: 4_000, models: [HAIKU] }));
    assert.equal(haiku.status, 403, haiku.text.slice(0, 300));
    assert.equal(heldIn(haiku), '$0.02');
    const dearer = await post(key, body({ max_tokens: 4_000, models: [HAIKU, OPUS] }));
    assert.equal(dearer.status, 403, dearer.text.slice(0, 300));
    assert.equal(heldIn(dearer), '$0.10');
    // A model the catalog does not price is held at the requested model's rates, as it is billed.
    const unpriced = await post(key, body({ max_tokens: 4_000, models: ['example/unpriced-model'] }));
    assert.equal(unpriced.status, 200, unpriced.text.slice(0, 300));
    assert.equal(openrouter.requests.length, 2, 'refused before any call');
  });

  test('a fallback list naming one model many times is held at that model once, not a crash', async () => {
    const { key } = await createKey(gateway.url, { name: 'fallback-repeats', max_budget: 0.01 });
    // More entries than a spread call takes as arguments (the hold's Math.max over its routes).
    const repeated = await post(key, body({ max_tokens: 4_000, models: new Array<string>(200_000).fill(HAIKU) }));
    assert.equal(repeated.status, 403, repeated.text.slice(0, 300));
    assert.equal(heldIn(repeated), '$0.02');
    assert.equal(openrouter.requests.length, 0, 'refused before any call');
  });
});
