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
import { configFile } from '../support/reliability-support.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001', 'hex');
const URL_OF_CAT = 'https://images.example.com/cat.png';

/** An image host the proxy reaches through an undici MockAgent, never the network. */
function mockImageHost() {
  const images = new MockAgent();
  images.disableNetConnect();
  return { images, host: images.get('https://images.example.com') };
}

/** A chat request with a text part and an image given by URL. */
function imageQuestion(gateway: Gateway, model: string, url: string, stream = false): Promise<Response> {
  return fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: authHeaders(),
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url, detail: 'low' } }] }] }),
  });
}

describe('web image URLs', () => {
  let gemini: FakeGemini;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;
  /** Gemini deployments with a fallback to Claude, and a Gemini-only group. */
  let grouped: Gateway;
  const { images, host } = mockImageHost();

  before(async () => {
    [gemini, anthropic] = await Promise.all([startFakeGemini(), startFakeAnthropic()]);
    gateway = await startGateway(
      { GEMINI_API_KEY: 'gemini-test-key-0123456789', GEMINI_BASE_URL: gemini.url, ANTHROPIC_API_KEY: 'sk-ant-test-0123456789', ANTHROPIC_BASE_URL: anthropic.url },
      { imageDispatcher: images },
    );
    grouped = await startGateway(
      {
        LLM_PROXY_CONFIG: configFile(`
providers:
  gemini: { type: gemini, api_key: gemini-test-key-0123456789, base_url: "${gemini.url}", discover: false }
  claude: { type: anthropic, api_key: sk-ant-test-0123456789, base_url: "${anthropic.url}", discover: false }
models:
  - name: seeing
    deployments: [{ provider: gemini, model: gemini-2.5-flash }, { provider: gemini, model: gemini-2.5-pro }]
    fallbacks: [claude/claude-sonnet-4-5]
  - name: gemini-only
    deployments: [{ provider: gemini, model: gemini-2.5-flash }]
routing: { retries: 2 }
`),
      },
      { imageDispatcher: images },
    );
  });
  after(async () => {
    await Promise.all([gateway.close(), grouped.close()]);
    await Promise.all([gemini.close(), anthropic.close(), images.close()]);
  });

  const ask = (model: string, url: string, stream = false) => imageQuestion(gateway, model, url, stream);

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

  test('a client that leaves while its image downloads stops the download, and Gemini is never called', async () => {
    let answered = false;
    // The host answers after 1.5 s unless the download was stopped before (the mock then never reads the body).
    host
      .intercept({ path: '/slow.png', method: 'GET' })
      .reply(200, () => {
        answered = true;
        return PNG;
      }, { headers: { 'content-type': 'image/png' } })
      .delay(1500);
    const from = gemini.requests.length;
    const leaving = new AbortController();
    const asked = fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders(),
      signal: leaving.signal,
      body: JSON.stringify({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://images.example.com/slow.png' } }] }] }),
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    leaving.abort();
    await assert.rejects(asked);
    await new Promise((resolve) => setTimeout(resolve, 1700));
    assert.equal(answered, false, 'the download went on after the client left');
    assert.equal(gemini.requests.length, from);
    assert.equal((await fetch(`${gateway.url}/health`)).status, 200);
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

  test('an image the proxy cannot download goes on to a provider that fetches URLs itself (Claude); the other Gemini deployment does not download it again', async () => {
    // One answer only: a second download would find no interceptor (and fail otherwise than 403).
    host.intercept({ path: '/private.png', method: 'GET' }).reply(403, 'proxy not allowed');
    const [fromGemini, fromClaude] = [gemini.requests.length, anthropic.requests.length];
    const response = await imageQuestion(grouped, 'seeing', 'https://images.example.com/private.png');
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(gemini.requests.length, fromGemini, 'Gemini was called without its image');
    const sent = anthropic.requests[fromClaude]?.body as { messages: Array<{ content: Array<{ source?: unknown }> }> };
    assert.deepEqual(sent.messages[0]?.content[1]?.source, { type: 'url', url: 'https://images.example.com/private.png' });
    images.assertNoPendingInterceptors();
    assert.match(response.headers.get('x-llm-proxy-route') ?? '', /claude/);
  });

  test('an image the proxy cannot download, with nothing else to go to, stays the 400 naming the field, downloaded once despite retries', async () => {
    host.intercept({ path: '/missing.png', method: 'GET' }).reply(404, 'not here');
    const from = gemini.requests.length;
    const response = await imageQuestion(grouped, 'gemini-only', 'https://images.example.com/missing.png');
    assert.equal(response.status, 400);
    const { error } = (await response.json()) as { error: { code: string; param: string; message: string } };
    assert.deepEqual([error.code, error.param], ['invalid_image_url', 'messages[0].content[1].image_url.url']);
    assert.match(error.message, /answered 404/);
    assert.equal(gemini.requests.length, from);
    images.assertNoPendingInterceptors();
  });
});
