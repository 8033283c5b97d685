// Hosts that think aloud stream the thinking before the answer: DeepSeek and vLLM in
// `reasoning_content`, OpenRouter and Groq in `reasoning`. That thinking is the model answering: it
// ends the hold of the stream's start (and its time-to-first-token limit), so a long think is
// streamed to the client as it comes instead of being cut off as a stall and retried. A spoken
// answer (OpenAI's audio output) streams in `audio` with content null throughout: that is answering too,
// and so is an image model's picture (`images`, OpenRouter's field, which Gemini's translation uses).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertServing, chat, chatCalls, post, splitSse, withStack } from '../support/reliability-support.js';

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-r', object: 'chat.completion.chunk', created: 1, model: 'gpt-4', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

describe('reasoning streams', () => {
  for (const field of ['reasoning_content', 'reasoning']) {
    test(`thinking in ${field} longer than the time to first token is streamed, not cut off as a stall`, async () => {
      await withStack({ yaml: 'routing:\n  ttfb_timeout_s: 0.4\n  retries: 0\n' }, async ({ fake, url }) => {
        const thinking = ['Let me', ' think', ' this', ' through', '.'].map((piece) => chunk({ [field]: piece, content: null }));
        fake.enqueue({
          kind: 'raw-parts',
          parts: [chunk({ role: 'assistant', content: '' }), ...thinking, chunk({ content: 'Yes.' }), chunk({}, 'stop'), 'data: [DONE]\n\n'],
          gapMs: 150,
        });
        const res = await post(url, chat({ stream: true }));
        assert.equal(res.status, 200, res.body);
        const data = splitSse(res.body).data;
        assert.equal(data.at(-1), '[DONE]');
        const chunks = data.slice(0, -1).map((text) => JSON.parse(text) as { choices: { delta: Record<string, unknown> }[] });
        const thought = chunks.map((parsed) => parsed.choices[0]?.delta[field] ?? '').join('');
        assert.equal(thought, 'Let me think this through.');
        assert.equal(chunks.map((parsed) => parsed.choices[0]?.delta.content ?? '').join(''), 'Yes.');
        assert.equal(chatCalls(fake), 1);
        await assertServing(url);
      });
    });
  }
});

describe('audio streams', () => {
  test('a spoken answer (delta.audio, content null) longer than the time to first token is streamed, not held to its end and cut off as a stall', async () => {
    await withStack({ yaml: 'routing:\n  ttfb_timeout_s: 0.4\n  retries: 0\n' }, async ({ fake, url }) => {
      const spoken = [{ id: 'audio_1', transcript: 'Hello' }, { transcript: ' there' }, { data: 'UklGRg==' }, { data: 'AAAA' }, { expires_at: 1_735_689_600 }].map((audio) => chunk({ audio }));
      fake.enqueue({
        kind: 'raw-parts',
        parts: [chunk({ role: 'assistant', content: null, refusal: null }), ...spoken, chunk({}, 'stop'), 'data: [DONE]\n\n'],
        gapMs: 150,
      });
      const res = await post(url, chat({ stream: true, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'pcm16' } }));
      assert.equal(res.status, 200, res.body);
      const data = splitSse(res.body).data;
      assert.equal(data.at(-1), '[DONE]');
      const chunks = data.slice(0, -1).map((text) => JSON.parse(text) as { choices: { delta: { audio?: { transcript?: string; data?: string } } }[] });
      assert.equal(chunks.map((parsed) => parsed.choices[0]?.delta.audio?.transcript ?? '').join(''), 'Hello there');
      assert.equal(chunks.map((parsed) => parsed.choices[0]?.delta.audio?.data ?? '').join(''), 'UklGRg==AAAA');
      assert.equal(chatCalls(fake), 1);
      await assertServing(url);
    });
  });
});

describe('image streams', () => {
  test("an image model's pictures (delta.images, content null) over longer than the time to first token are streamed, not held and cut off as a stall", async () => {
    await withStack({ yaml: 'routing:\n  ttfb_timeout_s: 0.4\n  retries: 0\n' }, async ({ fake, url }) => {
      const image = (data: string) => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${data}` } });
      const pictures = ['iVBORw0K', 'AAAA', 'BBBB'].map((data) => chunk({ content: null, images: [image(data)] }));
      fake.enqueue({
        kind: 'raw-parts',
        parts: [chunk({ role: 'assistant', content: null }), ...pictures, chunk({}, 'stop'), 'data: [DONE]\n\n'],
        gapMs: 200,
      });
      const res = await post(url, chat({ stream: true, modalities: ['image', 'text'] }));
      assert.equal(res.status, 200, res.body);
      const data = splitSse(res.body).data;
      assert.equal(data.at(-1), '[DONE]');
      const chunks = data.slice(0, -1).map((text) => JSON.parse(text) as { choices: { delta: { images?: { image_url: { url: string } }[] } }[] });
      const urls = chunks.flatMap((parsed) => parsed.choices[0]?.delta.images ?? []).map((entry) => entry.image_url.url);
      assert.deepEqual(urls, ['data:image/png;base64,iVBORw0K', 'data:image/png;base64,AAAA', 'data:image/png;base64,BBBB']);
      assert.equal(chatCalls(fake), 1);
      await assertServing(url);
    });
  });
});
