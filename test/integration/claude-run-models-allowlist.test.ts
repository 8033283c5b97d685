// A key's model allowlist covers the models a Claude request names for Anthropic to call beside the
// one asked for: an advisor tool's model and server-side fallbacks. One the key may not use is
// refused (403 model_not_allowed, naming the field and the model) before any upstream call, as a
// disallowed `model` is; `"fallbacks": "default"` (Anthropic picks the models) is refused to a key
// with an allowlist. Allowed ones (by name, provider/model or alias) go through; keys without a list
// are unchanged. Through /v1/chat/completions the Claude translation carries neither.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, errorCode, errorMessage, type JsonResponse } from '../support/key-support.js';

const CLIENT_TOOL = { name: 'lookup', description: 'Looks a word up.', input_schema: { type: 'object', properties: {} } };
const OPUS_ADVISOR = { type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-4-8', max_uses: 1, max_tokens: 1_000 };

function messages(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }], ...extra };
}

/** The 403 a key gets for a model its allowlist leaves out, in /v1/messages' (Anthropic's) error shape. */
function assertNotAllowed(response: JsonResponse, field: string, model: string): void {
  assert.equal(response.status, 403, response.text.slice(0, 300));
  assert.equal(response.body.type, 'error', response.text);
  const error = response.body.error as { type?: unknown; message?: unknown };
  assert.equal(error.type, 'permission_error', response.text);
  assert.match(String(error.message), new RegExp(`may not use the model '${model}'`), response.text);
  assert.ok(String(error.message).includes(field), `the message names ${field}: ${response.text}`);
}

describe("Claude's advisor and server-side fallbacks follow the key's model allowlist", () => {
  let anthropic: FakeAnthropic;
  let openai: FakeOpenAi;
  let gateway: Gateway;
  /** May use Haiku 4.5 only. */
  let haikuOnly: string;
  /** Haiku, and Sonnet 4.6 by its provider/model form. */
  let withSonnet: string;
  /** Haiku, and Opus 4.8 through the alias `deep`. */
  let withAlias: string;
  /** A Claude group with a GPT fallback: Claude still gets the body as it came. */
  let mixedOnly: string;

  before(async () => {
    [anthropic, openai] = await Promise.all([startFakeAnthropic(), startFakeOpenAi({ apiKey: UPSTREAM_KEY })]);
    gateway = await startGateway(
      { ANTHROPIC_API_KEY: UPSTREAM_KEY, ANTHROPIC_BASE_URL: anthropic.url, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${openai.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' },
      {
        configure: (config) => {
          config.aliases = { ...config.aliases, deep: 'anthropic/claude-opus-4-8' };
          config.models = [{ name: 'mixed', deployments: [{ provider: 'anthropic', model: 'claude-haiku-4-5' }], fallbacks: ['gpt-4o'] }];
        },
      },
    );
    haikuOnly = (await createKey(gateway.url, { name: 'haiku-only', models: ['claude-haiku-4-5'] })).key;
    withSonnet = (await createKey(gateway.url, { name: 'with-sonnet', models: ['claude-haiku-4-5', 'anthropic/claude-sonnet-4-6'] })).key;
    withAlias = (await createKey(gateway.url, { name: 'with-alias', models: ['claude-haiku-4-5', 'deep'] })).key;
    mixedOnly = (await createKey(gateway.url, { name: 'mixed-only', models: ['mixed', 'gpt-4o'] })).key;
  });
  beforeEach(() => {
    anthropic.reset();
    openai.reset();
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([anthropic?.close(), openai?.close()]);
  });

  const post = (key: string, body: unknown) => callJson(gateway.url, 'POST', '/v1/messages', key, body);

  test('an advisor model the key may not use is refused before any call, streamed or not', async () => {
    const advised = messages('claude-haiku-4-5', { tools: [CLIENT_TOOL, OPUS_ADVISOR] });
    assertNotAllowed(await post(haikuOnly, advised), 'tools[1].model', 'claude-opus-4-8');
    assertNotAllowed(await post(haikuOnly, { ...advised, stream: true }), 'tools[1].model', 'claude-opus-4-8');
    // Sonnet is allowed as anthropic/claude-sonnet-4-6, Opus is not.
    assertNotAllowed(await post(withSonnet, advised), 'tools[1].model', 'claude-opus-4-8');
    assert.equal(anthropic.requests.length, 0, 'no upstream call');
  });

  test('an explicit fallback model the key may not use is refused before any call', async () => {
    const falling = messages('claude-haiku-4-5', { fallbacks: [{ model: 'claude-sonnet-4-6' }, { model: 'claude-opus-4-8', max_tokens: 100 }] });
    assertNotAllowed(await post(withSonnet, falling), 'fallbacks[1].model', 'claude-opus-4-8');
    assertNotAllowed(await post(haikuOnly, falling), 'fallbacks[0].model', 'claude-sonnet-4-6');
    // A Claude group with a GPT fallback sends Claude the client's body too.
    assertNotAllowed(await post(mixedOnly, messages('mixed', { fallbacks: [{ model: 'claude-opus-4-8' }] })), 'fallbacks[0].model', 'claude-opus-4-8');
    assert.equal(anthropic.requests.length, 0, 'no upstream call');
    assert.equal(openai.requests.length, 0, 'no upstream call');
  });

  test('"fallbacks": "default" lets Anthropic choose the models, so a key with an allowlist is refused it', async () => {
    const response = await post(withSonnet, messages('claude-haiku-4-5', { fallbacks: 'default' }));
    assert.equal(response.status, 403, response.text.slice(0, 300));
    assert.equal((response.body.error as { type?: unknown }).type, 'permission_error');
    assert.match(errorMessage(response), /fallbacks/);
    assert.match(errorMessage(response), /name the fallback models/);
    assert.equal(anthropic.requests.length, 0, 'no upstream call');
  });

  test('models the key may use go through, named as listed, as provider/model or by an alias', async () => {
    const sonnetAdvisor = { ...OPUS_ADVISOR, model: 'claude-sonnet-4-6' };
    const byProviderForm = await post(withSonnet, messages('claude-haiku-4-5', { tools: [sonnetAdvisor], fallbacks: [{ model: 'claude-sonnet-4-6' }] }));
    assert.equal(byProviderForm.status, 200, byProviderForm.text.slice(0, 300));
    const byAlias = await post(withAlias, messages('claude-haiku-4-5', { tools: [CLIENT_TOOL, OPUS_ADVISOR], fallbacks: [{ model: 'claude-opus-4-8' }] }));
    assert.equal(byAlias.status, 200, byAlias.text.slice(0, 300));
    // Naming the allowed model itself in the fallbacks or an advisor costs nothing new.
    const own = await post(haikuOnly, messages('claude-haiku-4-5', { fallbacks: [{ model: 'claude-haiku-4-5' }] }));
    assert.equal(own.status, 200, own.text.slice(0, 300));
    assert.equal(anthropic.requests.length, 3);
    const sent = anthropic.requests[1]?.body as { tools?: unknown[]; fallbacks?: unknown };
    assert.deepEqual(sent.tools?.[1], OPUS_ADVISOR, 'the advisor reaches Claude as it came');
    assert.deepEqual(sent.fallbacks, [{ model: 'claude-opus-4-8' }]);
  });

  test('a key without an allowlist is unchanged', async () => {
    const { key } = await createKey(gateway.url, { name: 'open' });
    const response = await post(key, messages('claude-haiku-4-5', { tools: [OPUS_ADVISOR], fallbacks: 'default' }));
    assert.equal(response.status, 200, response.text.slice(0, 300));
    assert.equal(anthropic.requests.length, 1);
  });

  test('/v1/chat/completions: the Claude translation carries no advisor and no fallbacks', async () => {
    const chat = (body: Record<string, unknown>) => callJson(gateway.url, 'POST', '/v1/chat/completions', haikuOnly, { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'Hello' }], ...body });
    const advised = await chat({ tools: [OPUS_ADVISOR] });
    assert.equal(advised.status, 400, advised.text.slice(0, 300));
    assert.equal(errorCode(advised), 'invalid_value');
    const falling = await chat({ fallbacks: [{ model: 'claude-opus-4-8' }] });
    assert.equal(falling.status, 200, falling.text.slice(0, 300));
    assert.equal(anthropic.requests.length, 1);
    assert.equal((anthropic.requests[0]?.body as { fallbacks?: unknown }).fallbacks, undefined, 'dropped, with a warning');
    assert.match(falling.headers.get('x-llm-proxy-warnings') ?? '', /fallbacks/);
  });
});
