// Gemini's image models (gemini-2.5-flash-image) answer with the image as an `inlineData` part: through
// the proxy it is the message's `images` (a data URL, OpenRouter's and LiteLLM's field), whole and
// streamed, and a cached stream serves it to a whole-answer request; it was dropped, leaving "" or the caption.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

const PNG_URL = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

describe('Gemini: a generated image reaches the client', () => {
  let upstream: FakeGemini;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeGemini();
    upstream.respondWith('image-output');
    gateway = await startGateway({ GEMINI_API_KEY: UPSTREAM_KEY, GEMINI_BASE_URL: upstream.url, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'memory' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('as message.images beside the caption, whole, streamed, and from a cached stream', async () => {
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const ask = (content: string) => ({ model: 'gemini/gemini-2.5-flash-image', messages: [{ role: 'user' as const, content }] });
    const whole = await client.chat.completions.create(ask('Draw a tiny red square.'));
    const message = whole.choices[0]?.message as { content: string | null; images?: unknown };
    assert.equal(message.content, 'Here is a tiny red square.');
    assert.deepEqual(message.images, [{ type: 'image_url', image_url: { url: PNG_URL } }]);

    const streamed = await client.chat.completions.create({ ...ask('Draw a tiny red square, streamed.'), stream: true });
    const images: unknown[] = [];
    let caption = '';
    for await (const chunk of streamed) {
      const delta = chunk.choices[0]?.delta as { content?: string | null; images?: unknown[] } | undefined;
      caption += delta?.content ?? '';
      images.push(...(delta?.images ?? []));
    }
    assert.equal(caption, 'Here is a tiny red square.');
    assert.deepEqual(images, [{ type: 'image_url', image_url: { url: PNG_URL } }]);

    // The stream's cache entry, asked for whole.
    const calls = upstream.requests.length;
    const cached = await client.chat.completions.create(ask('Draw a tiny red square, streamed.'));
    assert.equal(upstream.requests.length, calls);
    assert.deepEqual((cached.choices[0]?.message as { images?: unknown }).images, [{ type: 'image_url', image_url: { url: PNG_URL } }]);
  });
});
