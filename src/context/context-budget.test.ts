// Budgets are never exceeded: ~200 random conversations (seeded) through the extractive summary and
// the truncation planner, plus the invariants each must keep (instructions, newest turn, tool pairs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatMessage } from '../openai/types.js';
import { imageTokens, loadTokenCounter } from '../usage/token-estimator.js';
import { conversationUnits, planTrim, recentStart } from './conversation-trim.js';
import type { ModelGroup } from '../routing/model-router.js';
import { ContextCondenser } from './context-condenser.js';
import { extractiveSummary, truncateToTokens } from './extractive-summary.js';

/** mulberry32: a small seeded generator, so a failure replays. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['order', 'refund', 'Alice', 'Tokyo', 'account', 'password', 'the', 'is', 'invoice', '#4521', 'on', 'March', '2024', 'blocked', 'Zürich', '東京', '🙂', 'ticket', 'we', 'agreed', 'escalate', 'why', 'delivery', '$129.99'];

function sentence(random: () => number): string {
  const length = 1 + Math.floor(random() * 18);
  const words = Array.from({ length }, () => WORDS[Math.floor(random() * WORDS.length)] as string);
  return words.join(' ') + ['.', '?', '!', ''][Math.floor(random() * 4)];
}

function text(random: () => number): string {
  const sentences = Math.floor(random() * 6);
  return Array.from({ length: sentences }, () => sentence(random)).join(random() < 0.2 ? '\n' : ' ');
}

/** A random conversation: optional system prompt, user/assistant turns, tool-call rounds, images. */
function conversation(random: () => number): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (random() < 0.7) messages.push({ role: 'system', content: text(random) || 'Be helpful.' });
  const turns = 1 + Math.floor(random() * 14);
  let call = 0;
  for (let turn = 0; turn < turns; turn++) {
    if (random() < 0.15) messages.push({ role: 'user', content: [{ type: 'text', text: text(random) }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] });
    else messages.push({ role: 'user', content: text(random) });
    if (random() < 0.3) {
      const ids = Array.from({ length: 1 + Math.floor(random() * 2) }, () => `call_${call++}`);
      messages.push({ role: 'assistant', content: null, tool_calls: ids.map((id) => ({ id, type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } })) });
      for (const id of ids) messages.push({ role: 'tool', tool_call_id: id, content: text(random) });
    }
    if (random() < 0.1) messages.push({ role: 'developer', content: 'Answer briefly.' });
    if (turn < turns - 1 || random() < 0.5) messages.push({ role: 'assistant', content: text(random) });
  }
  return messages;
}

test('extractive summaries never exceed the budget (200 seeded conversations)', async () => {
  const counter = await loadTokenCounter();
  const random = rng(20_240_801);
  for (let round = 0; round < 200; round++) {
    const messages = conversation(random);
    const budget = 1 + Math.floor(random() * 120);
    const summary = extractiveSummary(messages, budget, counter.text);
    assert.ok(counter.text(summary) <= budget, `round ${round}: ${counter.text(summary)} > ${budget}`);
  }
});

test('truncation keeps instructions, the newest turn and whole tool pairs, within the budget (200 seeded conversations)', async () => {
  const counter = await loadTokenCounter();
  const random = rng(7);
  let trimmed = 0;
  for (let round = 0; round < 200; round++) {
    const messages = conversation(random);
    const tokens = messages.map((message) => counter.message(message));
    const total = tokens.reduce((sum, value) => sum + value, 0);
    const budget = Math.floor(total * random());
    const plan = planTrim(messages, tokens, budget);
    const units = conversationUnits(messages);
    const pinnedTokens = units.filter((unit) => unit.pinned).reduce((sum, unit) => sum + tokens.slice(unit.start, unit.end).reduce((a, b) => a + b, 0), 0);
    if (plan === undefined) {
      assert.ok(pinnedTokens > budget, `round ${round}: refused although the pinned messages fit`);
      continue;
    }
    if (plan.dropped.length > 0) trimmed++;
    const kept = plan.kept.map((index) => messages[index] as ChatMessage);
    assert.ok(kept.reduce((sum, message) => sum + counter.message(message), 0) <= budget, `round ${round}: over budget`);
    // Instructions and the newest user turn stay.
    for (const [index, message] of messages.entries()) {
      if (message.role === 'system' || message.role === 'developer') assert.ok(plan.kept.includes(index), `round ${round}: dropped an instruction`);
    }
    const lastUser = messages.map((message) => message.role).lastIndexOf('user');
    for (let index = lastUser; index < messages.length; index++) assert.ok(plan.kept.includes(index), `round ${round}: dropped the newest turn`);
    // Every kept tool result has its call, and every kept call all its results.
    const callIds = new Set(kept.flatMap((message) => (message.tool_calls ?? []).map((call) => call.id)));
    const resultIds = new Set(kept.filter((message) => message.role === 'tool').map((message) => message.tool_call_id));
    for (const id of resultIds) assert.ok(callIds.has(id as string), `round ${round}: orphan tool result ${id}`);
    for (const id of callIds) assert.ok(resultIds.has(id), `round ${round}: call ${id} without its result`);
    // Kept messages keep their order.
    assert.deepEqual(plan.kept, [...plan.kept].sort((a, b) => a - b));
    // After a trim the conversation opens with a user turn: no reply outlives its question.
    const opening = kept.find((message) => message.role !== 'system' && message.role !== 'developer');
    if (plan.dropped.length > 0) assert.equal(opening?.role, 'user', `round ${round}: the kept conversation opens with ${opening?.role}`);
  }
  assert.ok(trimmed > 50, `only ${trimmed} conversations were trimmed`);
});

/** One token per message unless `tokens` says otherwise: the cases below are about which units go. */
function plan(messages: ChatMessage[], budget: number, tokens: Record<number, number> = {}) {
  return planTrim(messages, messages.map((_, index) => tokens[index] ?? 1), budget);
}

test('truncation drops the reply whose question went: the kept conversation opens with a user turn', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'a long question' },
    { role: 'assistant', content: 'an answer' },
    { role: 'user', content: 'and now?' },
  ];
  // Dropping the long question alone fits; its answer goes with it (was: [system, assistant, user]).
  const result = plan(messages, 3, { 1: 100 });
  assert.deepEqual(result?.kept, [0, 3]);
  assert.deepEqual(result?.dropped, [1, 2]);
  assert.equal(result?.tokens, 2);
});

test('truncation drops a tool exchange and a reply left leading, past a developer prompt, and keeps the newest turn', () => {
  const call = { id: 'call_1', type: 'function' as const, function: { name: 'lookup', arguments: '{}' } };
  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'look it up' },
    { role: 'developer', content: 'Answer briefly.' },
    { role: 'assistant', content: null, tool_calls: [call] },
    { role: 'tool', tool_call_id: 'call_1', content: 'found' },
    { role: 'assistant', content: 'it is found' },
    { role: 'user', content: 'thanks, and next?' },
    { role: 'assistant', content: null, tool_calls: [{ ...call, id: 'call_2' }] },
    { role: 'tool', tool_call_id: 'call_2', content: 'next' },
  ];
  const result = plan(messages, 6, { 1: 50 });
  assert.deepEqual(result?.kept, [0, 2, 6, 7, 8]);
  assert.deepEqual(result?.dropped, [1, 3, 4, 5]);
});

test('truncation leaves a valid conversation alone, and one without a user message loses only what the budget needs', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'assistant', content: 'Hello! How can I help?' },
    { role: 'user', content: 'a question' },
    { role: 'assistant', content: 'an answer' },
    { role: 'user', content: 'and now?' },
  ];
  // Fits: nothing is dropped, even the greeting that opens it.
  assert.deepEqual(plan(messages, 5)?.kept, [0, 1, 2, 3, 4]);
  // Dropping the greeting is enough, and the rest already opens with a user turn.
  assert.deepEqual(plan(messages, 4)?.kept, [0, 2, 3, 4]);
  const replies: ChatMessage[] = [{ role: 'system', content: 'Continue.' }, { role: 'assistant', content: 'one' }, { role: 'assistant', content: 'two' }, { role: 'assistant', content: 'three' }];
  assert.deepEqual(plan(replies, 3)?.kept, [0, 2, 3]);
});

test('preserve_recent starts the kept tail at a user turn, so never inside a tool exchange', () => {
  const call = (id: string) => ({ id, type: 'function' as const, function: { name: 'lookup', arguments: '{}' } });
  const messages: ChatMessage[] = [
    { role: 'user', content: 'look both up' },
    { role: 'assistant', content: null, tool_calls: [call('call_1'), call('call_2')] },
    { role: 'tool', tool_call_id: 'call_1', content: 'one' },
    { role: 'tool', tool_call_id: 'call_2', content: 'two' },
    { role: 'assistant', content: 'both found' },
    { role: 'user', content: 'thanks' },
    { role: 'assistant', content: 'welcome' },
  ];
  // A cut at a result, at the call or at a reply moves back to the user message that asked.
  for (const count of [3, 4, 5, 6]) assert.equal(recentStart(messages, count), 0, String(count));
  assert.equal(recentStart(messages, 1), 5);
  assert.equal(recentStart(messages, 2), 5);
  // Nothing preserved stays nothing; more than there is keeps all.
  assert.equal(recentStart(messages, 0), 7);
  assert.equal(recentStart(messages, 99), 0);
  // No user message at or before the cut: the tail starts at the first one after it; with none at all, nothing is kept.
  const greeted: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'assistant', content: 'Hi!' }, { role: 'user', content: 'hello' }, { role: 'assistant', content: 'yes?' }];
  assert.equal(recentStart(greeted, 3), 2);
  assert.equal(recentStart(greeted, 4), 2);
  assert.equal(recentStart([{ role: 'system', content: 'Be brief.' }, { role: 'assistant', content: 'Hi!' }], 1), 2);
  // A legacy function call stays with its answer the same way.
  const legacy: ChatMessage[] = [
    { role: 'user', content: 'weather?' },
    { role: 'assistant', content: null, function_call: { name: 'weather', arguments: '{}' } },
    { role: 'function', name: 'weather', content: 'sunny' },
    { role: 'user', content: 'thanks' },
  ];
  assert.equal(recentStart(legacy, 2), 0);
});

test('truncateToTokens cuts at a sentence or word boundary, never over', async () => {
  const counter = await loadTokenCounter();
  const long = 'The order #4521 shipped on March 3. Alice asked for a refund of $129.99. We agreed to escalate to Tokyo support.';
  const cut = truncateToTokens(long, 12, counter.text);
  assert.ok(counter.text(cut) <= 12);
  assert.equal(cut, 'The order #4521 shipped on March 3.');
  const words = truncateToTokens('alpha beta gamma delta epsilon zeta eta theta', 3, counter.text);
  assert.ok(counter.text(words) <= 3 && 'alpha beta gamma delta'.startsWith(words) && !words.endsWith(' '));
  assert.equal(truncateToTokens('short', 10, counter.text), 'short');
  assert.equal(truncateToTokens('anything', 0, counter.text), '');
});

test('extractive summaries favour the first and last turns and sentences with numbers', async () => {
  const counter = await loadTokenCounter();
  const messages: ChatMessage[] = [
    { role: 'user', content: 'I need help with order 4521 from Acme.' },
    { role: 'assistant', content: 'Sure, happy to help. Let me look.' },
    { role: 'assistant', content: 'ok' },
    { role: 'user', content: 'Can you refund it by Friday?' },
  ];
  const summary = extractiveSummary(messages, 40, counter.text);
  assert.match(summary, /order 4521/);
  assert.match(summary, /refund it by Friday\?/);
  assert.ok(summary.indexOf('4521') < summary.indexOf('Friday'));
});

test('images count by the tile formula; unknown sizes by a fixed estimate', () => {
  assert.equal(imageTokens('low', 4000, 3000), 85);
  assert.equal(imageTokens('high', 1024, 1024), 765);
  // 2048×4096 → 1024×2048 → 768×1536: 2×3 tiles.
  assert.equal(imageTokens('high', 2048, 4096), 85 + 170 * 6);
  assert.equal(imageTokens(undefined), 765);
});

test('an inline PNG is counted from its own size', async () => {
  const counter = await loadTokenCounter();
  const png = Buffer.alloc(33);
  png.writeUInt32BE(0x89504e47, 0);
  png.writeUInt32BE(0x0d0a1a0a, 4);
  png.writeUInt32BE(13, 8);
  png.write('IHDR', 12, 'latin1');
  png.writeUInt32BE(512, 16);
  png.writeUInt32BE(512, 20);
  const message: ChatMessage = { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } }] };
  assert.equal(counter.message(message), 4 + 85 + 170);
});

// The work is synchronous, so node:test's timeout could not stop it: the time is checked instead.
test('map-reduce cuts one long line into window-sized pieces in linear time (each piece recounted the whole rest: 2 MB took 32 s)', async () => {
  const started = performance.now();
  const counter = await loadTokenCounter();
  const random = rng(11);
  // One line of words and no sentence ends, so nothing but the budget cuts it.
  const line = (size: number) => {
    const words: string[] = [];
    for (let length = 0; length < size; ) {
      const word = WORDS[Math.floor(random() * WORDS.length)] as string;
      words.push(word);
      length += word.length + 1;
    }
    return words.join(' ');
  };
  const transcripts: string[] = [];
  const executor = {
    complete: async (_group: unknown, chat: { messages: Array<{ content: string }> }) => {
      transcripts.push((chat.messages[1]?.content ?? '').replace('Conversation to summarise:\n\n', ''));
      return { body: JSON.stringify({ choices: [{ message: { content: 'A summary.' } }] }), route: { entry: undefined }, usage: undefined };
    },
  };
  const services = { router: {}, config: {}, logger: { warn: () => undefined }, executor } as unknown as ConstructorParameters<typeof ContextCondenser>[0];
  const condenser = new ContextCondenser(services);
  const group = { name: 'small', deployments: [{ route: { entry: { context_length: 8192 } } }], fallbacks: [] } as unknown as ModelGroup;
  const context = { requestId: 'test', signal: new AbortController().signal, allowed: undefined };

  // 200 KB: several pieces, each within the summariser's room, together the whole line.
  const text = line(200_000);
  const result = await condenser.condense({ messages: [{ role: 'user', content: text }], maxTokens: 512, group }, context);
  assert.equal(result.method, 'llm-map-reduce');
  const pieces = transcripts.slice(0, -1);
  assert.ok(pieces.length > 4, `${pieces.length} pieces`);
  for (const piece of pieces) assert.ok(counter.text(piece) <= 8192 - 512, `a piece of ${counter.text(piece)} tokens`);
  assert.equal(pieces.join(' ').replace(/\s+/g, ' '), `User: ${text}`);

  // 2 MB: more pieces than the call limit; refused after 49 of them, then summarised extractively.
  transcripts.length = 0;
  const huge = await condenser.condense({ messages: [{ role: 'user', content: line(2_000_000) }], maxTokens: 512, group }, context);
  assert.equal(huge.method, 'extractive');
  assert.equal(transcripts.length, 0);
  assert.ok(huge.summary_tokens <= 512);
  assert.ok(performance.now() - started < 15_000, `${Math.round(performance.now() - started)} ms`);
});
