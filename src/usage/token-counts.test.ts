import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import { closeCountPool, CountPool, countTokens, INLINE_CHARS, jobChars, runCountJob, WorkersUnavailable, type CountJob, type PromptPlan } from './token-counts.js';
import { watchLoop } from '../../test/support/loop-watch.js';
import { loadTokenCounter, type TokenCounter } from './token-estimator.js';

after(closeCountPool);

const WORDS = ['river', 'stone', 'lantern', 'quietly', 'orbit', 'maple', 'seven', 'harbor', 'echo', 'velvet'];

function prose(chars: number): string {
  let text = '';
  for (let index = 0; text.length < chars; index++) text += `${WORDS[(index * 7) % WORDS.length]}${index % 13 === 0 ? '. ' : ' '}`;
  return text;
}

function chat(text: string): ChatCompletionRequest {
  return {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: text },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: text.slice(0, 1000) }] },
    ],
    tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
  };
}

test('a plan adds up: the request is the priming, every message and the fixed part (tools)', async () => {
  const counter = await loadTokenCounter();
  const request = chat('How far is the harbor from the river?');
  const plan = runCountJob(counter, { kind: 'plan', chat: request }) as PromptPlan;
  assert.equal(plan.request, counter.request(request));
  assert.equal(plan.perMessage.length, 4);
  assert.deepEqual(plan.perMessage, request.messages.map((message) => counter.message(message)));
  assert.equal(plan.priming, counter.messages([]));
  assert.ok(plan.fixed > 0, 'the tool definition is counted outside the messages');
  assert.equal(plan.priming + plan.perMessage.reduce((sum, tokens) => sum + tokens, 0) + plan.fixed, plan.request);
});

test('a plan reads each message once (it read them all again for the whole prompt)', async () => {
  const counter = await loadTokenCounter();
  const request = chat('How far is the harbor from the river?');
  const read = new Map<ChatCompletionRequest['messages'][number], number>();
  const counting: TokenCounter = {
    ...counter,
    message: (message) => {
      read.set(message, (read.get(message) ?? 0) + 1);
      return counter.message(message);
    },
    messages: (messages) => messages.reduce((sum, message) => sum + counting.message(message), counter.messages([])),
    request: (whole) => counting.messages(whole.messages) + counter.fixed(whole),
  };
  const plan = runCountJob(counting, { kind: 'plan', chat: request }) as PromptPlan;
  assert.equal(plan.request, counter.request(request));
  assert.deepEqual([...read.values()], request.messages.map(() => 1));
});

test('big jobs counted in a worker thread give the same numbers as counting in place', async () => {
  const counter = await loadTokenCounter();
  const request = chat(prose(200_000));
  const jobs: CountJob[] = [
    { kind: 'request', chat: request },
    { kind: 'upTo', chat: request, cap: 5_000 },
    { kind: 'plan', chat: request },
    { kind: 'messages', messages: request.messages },
    { kind: 'embeddings', input: [prose(50_000), 'short', prose(20_000)] },
    { kind: 'text', text: prose(30_000) },
    { kind: 'chunks', lines: [prose(40_000), 'a short line', prose(9_000)], budget: 700, maxChunks: 100 },
    { kind: 'extractive', messages: request.messages, maxTokens: 120 },
  ];
  for (const job of jobs) {
    assert.ok(jobChars(job) >= INLINE_CHARS, `${job.kind} is big enough for a worker`);
    assert.deepEqual(await countTokens(job), runCountJob(counter, job), job.kind);
  }
  const upTo = (await countTokens({ kind: 'upTo', chat: request, cap: 5_000 })) as number;
  assert.ok(upTo > 5_000 && upTo < (runCountJob(counter, { kind: 'request', chat: request }) as number), 'upTo stops past its cap');
});

/** Distinct words: no help from the tokenizer's cache, so counting takes its real time (~1 s a MB). */
function distinctWords(chars: number): string {
  let text = '';
  for (let index = 1; text.length < chars; index++) text += `${((index * 2_654_435_761) >>> 0).toString(36)} `;
  return text;
}

test('counting a big prompt leaves the event loop free (in place it held it for the whole count)', async () => {
  const request = chat(distinctWords(1_500_000));
  const watch = watchLoop();
  const started = performance.now();
  const tokens = await countTokens({ kind: 'request', chat: request });
  const took = performance.now() - started;
  const worstGap = watch.stop();
  assert.ok(tokens > 300_000, `counted ${tokens}`);
  // Counted in place, the worst gap would be the whole count; here only the request's structured
  // clone runs on this thread.
  assert.ok(took > 200, `the count took ${took.toFixed(0)} ms: too little to tell`);
  assert.ok(worstGap < took / 4, `the loop stalled ${worstGap.toFixed(0)} ms while a count took ${took.toFixed(0)} ms`);
});

test('a small prompt is sized as small, and tool calls or schemas count as big enough to move', () => {
  assert.ok(jobChars({ kind: 'request', chat: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } }) < INLINE_CHARS);
  assert.ok(jobChars({ kind: 'request', chat: { model: 'm', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } } }) >= INLINE_CHARS);
  assert.equal(jobChars({ kind: 'embeddings', input: ['abcd', 'ef'] }), 6);
  assert.equal(jobChars({ kind: 'embeddings', input: [[1, 2, 3], [4]] }), 2);
});

test('jobs waiting on a worker that goes away are rejected, not left hanging', async () => {
  const pool = new CountPool(1);
  const pending = pool.run({ kind: 'request', chat: chat(prose(3_000_000)) });
  assert.equal(pool.pending(), 1);
  await pool.close();
  await assert.rejects(pending);
  assert.equal(pool.pending(), 0);
});

test('a job that cannot be sent to a worker is refused there and counted in place', async () => {
  // JSON bodies always clone; a function inside is what structured clone refuses.
  const request = { model: 'm', messages: [{ role: 'user', content: prose(20_000) }], hook: () => 1 } as unknown as ChatCompletionRequest;
  const pool = new CountPool(1);
  await assert.rejects(pool.run({ kind: 'request', chat: request }));
  assert.equal(pool.pending(), 0, 'nothing left waiting (the worker is not held referenced)');
  await pool.close();
  const counter = await loadTokenCounter();
  assert.equal(await countTokens({ kind: 'request', chat: request }), counter.request(request));
});

test('where workers cannot start, the pool stops starting them after three failures, and tries again a minute later', async () => {
  let now = 1_000_000;
  const pool = new CountPool(1, { workerUrl: new URL('./no-such-worker.js', import.meta.url), now: () => now });
  const job: CountJob = { kind: 'request', chat: chat(prose(20_000)) };
  for (let attempt = 1; attempt <= 3; attempt++) {
    await assert.rejects(pool.run(job));
    assert.equal(pool.started, attempt);
  }
  // Refused at once, no fourth worker: the caller counts in place without a failed start's cost.
  for (let attempt = 0; attempt < 5; attempt++) await assert.rejects(pool.run(job), WorkersUnavailable);
  assert.equal(pool.started, 3);
  now += 60_000;
  await assert.rejects(pool.run(job));
  assert.equal(pool.started, 4, 'a worker is tried again once the pause is over');
  await pool.close();
});
