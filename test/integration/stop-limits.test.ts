// More stop sequences than a provider takes, from /v1/messages (whose stop_sequences Anthropic takes
// many of): a 400 naming the client's field before any upstream call, for the hosts that document a limit.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { KEYS } from '../support/conformance-providers.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

const STOPS = ['A:', 'B:', 'C:', 'D:', 'E:', 'F:'];
/** OpenAI's answer to a fifth stop sequence. */
const OPENAI_TOO_MANY = JSON.stringify({ error: { message: "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead.", type: 'invalid_request_error', param: 'stop', code: 'array_above_max_length' } });

describe('/v1/messages: more stop_sequences than the provider takes', () => {
  let openai: FakeOpenAi;
  let gemini: FakeGemini;
  let gateway: Gateway;

  before(async () => {
    [openai, gemini] = await Promise.all([startFakeOpenAi({ apiKey: KEYS.openai }), startFakeGemini()]);
    gateway = await startGateway({ OPENAI_API_KEY: KEYS.openai, OPENAI_BASE_URL: `${openai.url}/v1`, GEMINI_API_KEY: KEYS.gemini, GEMINI_BASE_URL: gemini.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openai, gemini].map((fake) => fake?.close()));
  });
  beforeEach(() => [openai, gemini].forEach((fake) => fake.reset()));

  async function post(model: string, stops: string[]): Promise<{ status: number; body: { error?: { type?: string; message?: string } } }> {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model, max_tokens: 64, stop_sequences: stops, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    return { status: response.status, body: (await response.json()) as { error?: { type?: string; message?: string } } };
  }

  test('GPT takes 4: a fifth is a 400 naming stop_sequences, and OpenAI is not called', async () => {
    openai.enqueue({ kind: 'status', status: 400, body: OPENAI_TOO_MANY });
    const refused = await post('gpt-4o', STOPS.slice(0, 5));
    assert.equal(refused.status, 400);
    assert.match(refused.body.error?.message ?? '', /'stop_sequences'.*at most 4/);
    assert.equal(openai.requests.length, 0);
    openai.reset();
    assert.equal((await post('gpt-4o', STOPS.slice(0, 4))).status, 200);
  });

  test('Gemini takes 5: a sixth is a 400 naming stop_sequences, and Gemini is not called', async () => {
    const refused = await post('gemini-2.5-flash', STOPS);
    assert.equal(refused.status, 400);
    assert.match(refused.body.error?.message ?? '', /'stop_sequences'.*at most 5/);
    assert.equal(gemini.requests.length, 0);
    assert.equal((await post('gemini-2.5-flash', STOPS.slice(0, 5))).status, 200);
  });
});
