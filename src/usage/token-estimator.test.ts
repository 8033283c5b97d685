import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import { countTokens } from 'gpt-tokenizer';
import { countInPieces, loadTokenCounter } from './token-estimator.js';
import { countTokens as countJob } from './token-counts.js';

/** Counted the way the admission counts (a worker thread for the big ones). */
const estimatePromptTokens = (chat: ChatCompletionRequest) => countJob({ kind: 'request', chat });

function request(content: ChatCompletionRequest['messages'][number]['content'], extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'gpt-4o', messages: [{ role: 'user', content }], ...extra };
}

test('counts text with the per-message framing', async () => {
  // "Hello world" is 2 tokens; 4 for the message, 3 to prime the reply.
  assert.equal(await estimatePromptTokens(request('Hello world')), 9);
  assert.ok((await estimatePromptTokens(request('word '.repeat(1000)))) >= 1000);
});

test('special-token text is counted as text, not refused', async () => {
  assert.ok((await estimatePromptTokens(request('<|endoftext|> and <|im_start|>'))) > 7);
});

test('images, other parts, tools and schemas all count', async () => {
  const text = await estimatePromptTokens(request([{ type: 'text', text: 'What is this?' }]));
  const withImage = await estimatePromptTokens(request([{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }]));
  assert.equal(withImage - text, 765);
  const withTools = await estimatePromptTokens(request('hi', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }));
  assert.ok(withTools > (await estimatePromptTokens(request('hi'))));
});

test('runs with no break are counted in pieces of at most 64 characters; other text in one call', () => {
  const pieces: string[] = [];
  const record = (text: string) => {
    pieces.push(text);
    return 1;
  };
  assert.equal(countInPieces(record, 'an ordinary sentence, with words of every length'), 1);
  assert.equal(pieces.length, 1);
  pieces.length = 0;
  const text = `start ${'x'.repeat(1000)} middle ${' '.repeat(300)}${'中文'.repeat(200)} 👋${'😀'.repeat(100)} end`;
  countInPieces(record, text);
  assert.equal(pieces.join(''), text, 'the pieces cover the text, in order, once');
  for (const piece of pieces) {
    assert.ok(!/\S{65}|\s{65}/.test(piece), `a piece holds a run over 64: ${piece.length} chars`);
    assert.ok(!/^[\udc00-\udfff]/.test(piece), 'no piece starts inside a surrogate pair');
  }
});

test('counting in pieces stays within two tokens per piece of the exact count', () => {
  for (const text of ['x'.repeat(3000), '中文'.repeat(1500), ' '.repeat(3000), '!?'.repeat(1500), `say ${'ab'.repeat(1000)} then stop`]) {
    const exact = countTokens(text);
    const pieces = Math.ceil(text.length / 64);
    const counted = countInPieces((part) => countTokens(part), text);
    assert.ok(Math.abs(counted - exact) <= 2 * pieces, `${text.slice(0, 10)}…: ${counted} vs exact ${exact}`);
  }
});

test('a body-sized run with no break is counted without holding the event loop (quadratic BPE took minutes)', { timeout: 10_000 }, async () => {
  // 300,000 characters of one letter, then of CJK text: exact BPE over one pre-token is quadratic
  // (20,000 took 0.7 s and 3.4 s); in pieces it is linear.
  assert.ok((await estimatePromptTokens(request('x'.repeat(300_000)))) > 30_000);
  assert.ok((await estimatePromptTokens(request('中文'.repeat(150_000)))) > 100_000);
});

test('a run of slashes and line breaks ("!/\\n/\\n…", one pre-token that is no \\S or \\s run) is counted in pieces too', async () => {
  // 20,000 pairs took 2 s, quadratically; 150,000 would take minutes. The work is synchronous, so
  // node:test's timeout could not stop it: the time is checked instead.
  const started = performance.now();
  const pieces: string[] = [];
  countInPieces((part) => (pieces.push(part), 1), `!${'/\n'.repeat(1_000)}`);
  assert.ok(pieces.length > 1 && pieces.every((piece) => piece.length <= 65), 'cut into pieces');
  assert.ok((await estimatePromptTokens(request(`!${'/\n'.repeat(150_000)}`))) > 100_000);
  assert.ok(performance.now() - started < 5_000, `${Math.round(performance.now() - started)} ms`);
});

test('2 MB of distinct words is counted in linear time (the tokenizer cache evicted in time proportional to its deletions)', async () => {
  // gpt-tokenizer's 100,000-entry merge cache, once full, made each new word cost tens of µs: 1 MB of
  // distinct words took 3.7 s, 2 MB 27 s.
  let state = 11;
  const letter = () => String.fromCharCode(97 + ((state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) >>> 16) % 26);
  const words: string[] = [];
  for (let length = 0; length < 2_000_000; length += 8) words.push(letter() + letter() + letter() + letter() + letter() + letter() + letter());
  const started = performance.now();
  assert.ok((await estimatePromptTokens(request(words.join(' ')))) > 500_000);
  assert.ok(performance.now() - started < 15_000, `${Math.round(performance.now() - started)} ms`);
});

test('requestUpTo: exact up to its cap; past it, it stops counting (a refusal costs the window, not the body)', async () => {
  const counter = await loadTokenCounter();
  const small = request('Hello world, how are you?', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
  assert.equal(counter.requestUpTo(small, 10_000), counter.request(small));
  const exact = counter.request(small);
  assert.equal(counter.requestUpTo(small, exact), exact, 'a count equal to the cap is exact');
  // ~400,000 tokens of words: stopped within one 16 KiB slice past a 1,000-token cap.
  const words = Array.from({ length: 200_000 }, (_, index) => `w${index % 997}`).join(' ');
  const big = request(words);
  const capped = counter.requestUpTo(big, 1_000);
  assert.ok(capped > 1_000 && capped < 1_000 + 16_384, `${capped}`);
  assert.ok(counter.request(big) > 100_000);
});
