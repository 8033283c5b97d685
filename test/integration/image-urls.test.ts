// Gemini fetches no web image URLs, so the proxy downloads them (behind the SSRF guard; here an
// undici MockAgent plays the image host) and sends them as inlineData; Claude and OpenAI-format
// hosts get the URL as the client sent it. A download that fails is the client's 400, before any
// upstream call.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MockAgent } from 'undici';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { authHeaders, startGateway, type Gateway } from '../support/gateway-harness.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001', 'hex');
const URL_OF_CAT = 'https://images.example.com/cat.png';

describe('web image URLs', () => {
  let gemini: FakeGemini;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;
  const images = new MockAgent();
  images.disableNetConnect();
  const host = images.get('https://images.example.com');

  before(async () => {
    [gemini, anthropic] = await Promise.all([startFakeGemini(), startFakeAnthropic()]);
    gateway = await startGateway(
      { GEMINI_API_KEY: 'gemini-test-key-0123456789', GEMINI_BASE_URL: gemini.url, ANTHROPIC_API_KEY: 'sk-ant-test-0123456789', ANTHROPIC_BASE_URL: anthropic.url },
      { imageDispatcher: images },
    );
  });
  after(async () => {
    await gateway.close();
    await Promise.all([gemini.close(), anthropic.close(), images.close()]);
  });

  const ask = (model: string, url: string, stream = false) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders(),
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url, detail: 'low' } }] }] }),
    });

  test('Gemini gets the downloaded image inline, in answers and streams', async () => {
    for (const stream of [false, true]) {
      host.intercept({ path: '/cat.png', method: 'GET' }).reply(200, PNG, { headers: { 'content-type': 'image/png' } });
      const from = gemini.requests.length;
      const response = await ask('gemini-2.5-flash', URL_OF_CAT, stream);
      assert.equal(response.status, 200, await response.clone().text());
      await response.text();
      const sent = gemini.requests.slice(from).find((request) => request.model === 'gemini-2.5-flash');
      const parts = (sent?.body as { contents: Array<{ parts: unknown[] }> }).contents[0]?.parts;
      assert.deepEqual(parts, [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: PNG.toString('base64') } }]);
    }
  });

  test('a download that fails is a 400 invalid_image_url naming the field, and Gemini is never called', async () => {
    host.intercept({ path: '/gone.png', method: 'GET' }).reply(404, 'not here');
    const from = gemini.requests.length;
    const response = await ask('gemini-2.5-flash', 'https://images.example.com/gone.png');
    assert.equal(response.status, 400);
    const { error } = (await response.json()) as { error: { code: string; param: string; message: string } };
    assert.deepEqual([error.code, error.param], ['invalid_image_url', 'messages[0].content[1].image_url.url']);
    assert.doesNotMatch(error.message, /images\.example\.com/);
    assert.equal(gemini.requests.length, from);
    // An address, not a name: refused before any connection.
    const literal = await ask('gemini-2.5-flash', 'https://169.254.169.254/latest/meta-data');
    assert.equal(literal.status, 400);
    assert.equal(((await literal.json()) as { error: { code: string } }).error.code, 'invalid_image_url');
  });

  test("a Gemini Files API URI is Gemini's own: sent as fileData, not downloaded", async () => {
    const files = 'https://generativelanguage.googleapis.com/v1beta/files/abc123';
    const from = gemini.requests.length;
    assert.equal((await ask('gemini-2.5-flash', files)).status, 200);
    const sent = gemini.requests.slice(from).find((request) => request.model === 'gemini-2.5-flash');
    assert.deepEqual((sent?.body as { contents: Array<{ parts: unknown[] }> }).contents[0]?.parts[1], { fileData: { fileUri: files } });
  });

  test('Claude gets the URL itself (it fetches images), so nothing is downloaded', async () => {
    const from = anthropic.requests.length;
    const response = await ask('claude-sonnet-4-5', URL_OF_CAT);
    assert.equal(response.status, 200);
    const sent = anthropic.requests[from]?.body as { messages: Array<{ content: Array<{ type: string; source?: unknown }> }> };
    assert.deepEqual(sent.messages[0]?.content[1]?.source, { type: 'url', url: URL_OF_CAT });
    images.assertNoPendingInterceptors();
  });
});
