// Issue #8 over real HTTP: POST /api/condense (LLM, overrun cut, map-reduce, extractive fallback,
// validation) and the chat route's context policies (error, truncate, condense incl. a stream, fallback).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, mock, test } from 'node:test';
import type { ChatMessage } from '../../src/openai/types.js';
import { loadTokenCounter } from '../../src/usage/token-estimator.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import { watchLoop } from '../support/loop-watch.js';

const SUMMARISER_PROMPT = /^You condense conversations/;
const FACTS = 'Alice Smith needs a refund of $129.99 for order #4521, placed on March 3 in Tokyo.';

function isSummariserCall(body: Record<string, unknown> | undefined): boolean {
  const first = (body?.messages as Array<{ content?: unknown }> | undefined)?.[0]?.content;
  return typeof first === 'string' && SUMMARISER_PROMPT.test(first);
}

/** A conversation of about `turns` × 45 tokens, with a tool round in the middle. */
function longConversation(turns: number): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [{ role: 'system', content: 'You are the TechCorp support assistant.' }];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({ role: 'user', content: `Turn ${turn}: ${FACTS} Please also check the delivery status of parcel ${1000 + turn} and tell me when it arrives.` });
    if (turn === Math.floor(turns / 2)) {
      messages.push({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup_order', arguments: '{"order":"4521"}' } }] });
      messages.push({ role: 'tool', tool_call_id: 'call_1', content: 'Order 4521: shipped, refund eligible.' });
    }
    messages.push({ role: 'assistant', content: `Noted for turn ${turn}. The parcel ${1000 + turn} is on its way and should arrive within three working days.` });
  }
  messages.push({ role: 'user', content: 'What is my order number?' });
  return messages;
}

describe('context condensation', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let summaryReply: string;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: (body) => (isSummariserCall(body) ? summaryReply : undefined) });
    gateway = await startGateway(
      { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1` },
      {
        configure: (config) => {
          config.condense = { model: 'gpt-4o-mini' };
          // A small window for the chat policies, and a tiny one for the map-reduce summariser.
          config.model_catalog = { 'gpt-3.5-turbo': { context_length: 400 }, 'gpt-4': { context_length: 700 } };
          config.models = [{ name: 'small-group', deployments: [{ provider: 'openai', model: 'gpt-3.5-turbo' }], fallbacks: ['gpt-4o'], context_policy: 'fallback' }];
        },
      },
    );
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.reset();
    summaryReply = `Summary: ${FACTS}`;
  });

  async function condense(body: unknown, headers = authHeaders()): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
    const response = await fetch(`${gateway.url}/api/condense`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as Record<string, unknown>, headers: response.headers };
  }

  async function chat(body: Record<string, unknown>, context?: string): Promise<Response> {
    return fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...authHeaders(), ...(context === undefined ? {} : { 'x-llm-proxy-context': context }) },
      body: JSON.stringify(body),
    });
  }

  test('/api/condense: the configured model writes the summary; usage is recorded as condense', async () => {
    const messages = longConversation(4);
    const { status, json } = await condense({ messages, max_tokens: 100 });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.summary, summaryReply);
    assert.equal(json.model, 'gpt-4o-mini');
    assert.equal(json.method, 'llm');
    assert.equal(json.token_count, 'tokenizer');
    assert.ok(typeof json.original_tokens === 'number' && json.original_tokens > 100);
    assert.ok(typeof json.summary_tokens === 'number' && json.summary_tokens > 0 && json.summary_tokens <= 100);
    const sent = upstream.requests.at(-1)?.body;
    assert.equal(sent?.model, 'gpt-4o-mini');
    assert.equal(sent?.max_tokens, 100);
    const prompt = (sent?.messages as Array<{ content: string }>)[0]?.content ?? '';
    for (const kept of ['facts', 'names', 'numbers', 'decisions', 'open questions', 'goals']) assert.ok(prompt.includes(kept.slice(0, -1)), kept);
    const record = gateway.usage.recent().find((entry) => entry.endpoint === 'condense');
    assert.ok(record !== undefined && record.model === 'gpt-4o-mini' && record.status === 'ok' && record.promptTokens > 0);
  });

  test("/api/condense: a budget above the summariser's catalog output limit asks it for that limit only, and the answer says so", async () => {
    // gpt-4o writes at most 16,384 tokens (built-in catalog): a larger max_tokens would be refused upstream.
    const { status, json, headers } = await condense({ messages: longConversation(4), max_tokens: 20_000, model: 'gpt-4o' });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.method, 'llm');
    const sent = upstream.requests.find((request) => isSummariserCall(request.body))?.body;
    assert.equal(sent?.max_tokens, 16_384);
    assert.match((sent?.messages as Array<{ content: string }>)[0]?.content ?? '', /in at most 16384 tokens/);
    assert.equal(headers.get('x-llm-proxy-warnings'), 'max_tokens lowered from 20000 to 16384: the largest output gpt-4o allows');

    // Within the limit nothing is said; nor when the extractive summary answers, written to max_tokens itself.
    assert.equal((await condense({ messages: longConversation(4), max_tokens: 16_384, model: 'gpt-4o' })).headers.get('x-llm-proxy-warnings'), null);
    upstream.enqueue({ kind: 'status', status: 400 });
    const extractive = await condense({ messages: longConversation(4), max_tokens: 20_000, model: 'gpt-4o' });
    assert.equal(extractive.json.method, 'extractive');
    assert.equal(extractive.headers.get('x-llm-proxy-warnings'), null);
  });

  test('/api/condense: a model that overruns max_tokens is cut at a boundary, never over', async () => {
    summaryReply = Array.from({ length: 40 }, (_, index) => `Point ${index}: the customer repeated the request again.`).join(' ');
    const { status, json } = await condense({ messages: longConversation(2), max_tokens: 20 });
    assert.equal(status, 200);
    assert.ok((json.summary_tokens as number) <= 20, String(json.summary_tokens));
    assert.ok(summaryReply.startsWith(json.summary as string));
    assert.match(json.summary as string, /\.$/);
  });

  test('/api/condense: input larger than the summariser window is map-reduced', async () => {
    const { status, json } = await condense({ messages: longConversation(30), max_tokens: 100, model: 'gpt-4' });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.method, 'llm-map-reduce');
    assert.equal(json.model, 'gpt-4');
    const calls = upstream.requests.filter((request) => isSummariserCall(request.body));
    assert.ok(calls.length >= 3, `only ${calls.length} summariser calls`);
    // Every call fits the 700-token window: prompt (estimated from bytes by the fake) plus max_tokens.
    for (const call of calls) assert.ok(Number(call.body?.max_tokens) <= 100);
    assert.ok((json.summary_tokens as number) <= 100);
  });

  test('/api/condense: when the summariser fails, an extractive summary still answers', async () => {
    upstream.enqueue({ kind: 'status', status: 400 });
    const { status, json } = await condense({ messages: longConversation(6), max_tokens: 60 });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.method, 'extractive');
    assert.equal(json.model, 'extractive');
    assert.ok((json.summary_tokens as number) <= 60 && (json.summary as string).length > 0);
    assert.match(json.summary as string, /4521|What is my order number\?/);
  });

  test('/api/condense: preserve_recent keeps the newest messages verbatim', async () => {
    const messages = longConversation(3);
    const { status, json } = await condense({ messages, preserve_recent: 2, instructions: 'Mention the order number.' });
    assert.equal(status, 200);
    const out = json.messages as Array<Record<string, unknown>>;
    assert.deepEqual(out.slice(-2), messages.slice(-2));
    assert.equal(out[0]?.content, messages[0]?.content);
    assert.match(String(out[1]?.content), /^Summary of the earlier conversation: /);
    const sent = upstream.requests.at(-1)?.body?.messages as Array<{ content: string }>;
    assert.match(sent[0]?.content ?? '', /Mention the order number\./);
    assert.ok(!(sent[1]?.content ?? '').includes('What is my order number?'));
  });

  test('/api/condense: preserve_recent moves back to the user turn that led to a tool call, never leaving an orphan result', async () => {
    const messages = [
      { role: 'user', content: 'Hello, I have a question about an order.' },
      { role: 'assistant', content: 'Of course, which one?' },
      { role: 'user', content: `${FACTS} Where is it?` },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup_order', arguments: '{"order":"4521"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'Order 4521: shipped.' },
      { role: 'assistant', content: 'It has shipped.' },
      { role: 'user', content: 'When does it arrive?' },
    ];
    const { status, json } = await condense({ messages, preserve_recent: 3 });
    assert.equal(status, 200);
    // Three from the end is the tool result: the cut moves back past its call to the user turn that asked.
    assert.deepEqual(json.messages, [{ role: 'system', content: `Summary of the earlier conversation: ${summaryReply}` }, ...messages.slice(2)]);
    assert.equal(json.preserved, 5);
    const sent = upstream.requests.at(-1)?.body?.messages as Array<{ content: string }>;
    assert.match(sent[1]?.content ?? '', /which one\?/);
    assert.ok(!(sent[1]?.content ?? '').includes('Order 4521: shipped.'));
  });

  /** The roles of a conversation after its leading system/developer prompts. */
  function turnRoles(messages: unknown): string[] {
    const roles = (messages as Array<{ role: string }>).map((message) => message.role);
    const first = roles.findIndex((role) => role !== 'system' && role !== 'developer');
    return first < 0 ? [] : roles.slice(first);
  }

  test('/api/condense: system prompts kept verbatim are not summarised; with nothing else to summarise, no summariser call', async () => {
    const system = { role: 'system', content: 'You are the TechCorp support assistant. Never promise refunds.' };
    const { status, json } = await condense({ messages: [system, { role: 'user', content: 'Hello?' }], preserve_recent: 1 });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(upstream.requests.filter((request) => isSummariserCall(request.body)).length, 0, 'a summariser call for the system prompt alone');
    assert.deepEqual(json.messages, [system, { role: 'user', content: 'Hello?' }]);
    assert.equal(json.preserved, 1);
    assert.equal(json.method, 'none');
    assert.equal(json.summary, '');
    assert.equal(json.summary_tokens, 0);
    assert.equal(json.original_tokens, 0);
    // All messages preserved, or only instructions to summarise: no call either.
    assert.equal((await condense({ messages: [system, { role: 'user', content: 'Hello?' }], preserve_recent: 5 })).json.method, 'none');
    assert.equal((await condense({ messages: [system] })).json.method, 'none');
    assert.equal(upstream.requests.filter((request) => isSummariserCall(request.body)).length, 0);

    // With older turns to summarise, the summariser gets them without the system prompt it keeps.
    const messages = [system, { role: 'user', content: `${FACTS} Where is it?` }, { role: 'assistant', content: 'Checking.' }, { role: 'user', content: 'Any news?' }];
    const summarised = await condense({ messages, preserve_recent: 1 });
    assert.equal(summarised.json.method, 'llm');
    assert.deepEqual(summarised.json.messages, [system, { role: 'system', content: `Summary of the earlier conversation: ${summaryReply}` }, messages[3]]);
    const calls = upstream.requests.filter((request) => isSummariserCall(request.body));
    assert.equal(calls.length, 1);
    const transcript = String((calls[0]?.body?.messages as Array<{ content: string }>)[1]?.content);
    assert.match(transcript, /order #4521/);
    assert.ok(!transcript.includes('Never promise refunds'), transcript);
  });

  test('/api/condense: the preserved tail starts at a user turn, so the conversation is one any provider takes', async () => {
    // README's example: the newest message is the assistant's reply; its question stays with it.
    const readme = [{ role: 'user', content: 'My order #4521 never arrived' }, { role: 'assistant', content: 'Sorry! Let me check.' }];
    const small = await condense({ messages: readme, max_tokens: 100, preserve_recent: 1 });
    assert.equal(small.status, 200, JSON.stringify(small.json));
    assert.deepEqual(turnRoles(small.json.messages), ['user', 'assistant']);

    const messages = [
      { role: 'system', content: 'You are the TechCorp support assistant.' },
      { role: 'user', content: `${FACTS} Where is it?` },
      { role: 'assistant', content: 'Let me check.' },
      { role: 'user', content: 'It was due on March 3.' },
      { role: 'assistant', content: 'It has shipped.' },
    ];
    const { status, json } = await condense({ messages, preserve_recent: 1 });
    assert.equal(status, 200, JSON.stringify(json));
    assert.deepEqual(turnRoles(json.messages), ['user', 'assistant']);
    assert.deepEqual((json.messages as unknown[]).slice(-2), messages.slice(-2));
    assert.equal(json.preserved, 2);
    // A conversation opening with the assistant's greeting: the tail moves on to the first user turn.
    const greeted = [{ role: 'assistant', content: 'Hi, how can I help?' }, ...messages.slice(1, 3)];
    const opened = await condense({ messages: greeted, preserve_recent: 3 });
    assert.deepEqual(turnRoles(opened.json.messages), ['user', 'assistant']);
    assert.equal(opened.json.preserved, 2);
  });

  test('/api/condense: bad input is a 400 naming the parameter', async () => {
    const ok = [{ role: 'user', content: 'hi' }];
    const cases: Array<[unknown, string]> = [
      [{}, 'messages'],
      [{ messages: 'hello' }, 'messages'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ messages: ok, max_tokens: 0 }, 'max_tokens'],
      [{ messages: ok, max_tokens: -5 }, 'max_tokens'],
      [{ messages: ok, max_tokens: 2.5 }, 'max_tokens'],
      [{ messages: ok, max_tokens: '100' }, 'max_tokens'],
      [{ messages: ok, max_tokens: 32_769 }, 'max_tokens'],
      [{ messages: ok, preserve_recent: -1 }, 'preserve_recent'],
      [{ messages: ok, model: 42 }, 'model'],
      [{ messages: ok, instructions: ['x'] }, 'instructions'],
    ];
    for (const [body, param] of cases) {
      const { status, json } = await condense(body);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal((json.error as Record<string, unknown>).param, param, JSON.stringify(body));
    }
    const ceiling = await condense({ messages: ok, max_tokens: 1_000_000 });
    assert.deepEqual(ceiling.json.error, { message: "Invalid value for 'max_tokens': 1000000 is above the maximum of 32768.", type: 'invalid_request_error', param: 'max_tokens', code: 'invalid_value' });
    assert.equal((await condense({ messages: ok, model: 'no-such-model' })).status, 404);
    // An embedding model would only fail upstream and leave an extractive summary: refused, and nothing is called.
    const calls = upstream.requests.length;
    const embedding = await condense({ messages: ok, model: 'text-embedding-3-small' });
    assert.deepEqual(embedding.json.error, {
      message: "Invalid value for 'model': 'text-embedding-3-small' is not a chat model; the summary needs one.",
      type: 'invalid_request_error',
      param: 'model',
      code: 'invalid_value',
    });
    assert.equal(upstream.requests.length, calls);
    assert.equal((await condense({ messages: ok }, { 'content-type': 'application/json' })).status, 401);
  });

  test('a key whose allowlist leaves out condense.model: /api/condense is refused unless it names a model it may use; the policy summarises extractively', async () => {
    const { key } = await createKey(gateway.url, { name: 'no-summariser', models: ['gpt-3.5-turbo', 'gpt-4'] });
    const refused = await condense({ messages: longConversation(4), max_tokens: 100 }, authHeaders(key));
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    const error = refused.json.error as { code: string; message: string };
    assert.equal(error.code, 'model_not_allowed');
    assert.match(error.message, /'gpt-4o-mini'.*condense\.model/);
    assert.equal(upstream.requests.length, 0);
    // A model it may not use is refused as such, whatever kind of model it is (nothing told about it).
    const embedding = await condense({ messages: longConversation(4), max_tokens: 100, model: 'text-embedding-3-small' }, authHeaders(key));
    assert.equal(embedding.status, 403, JSON.stringify(embedding.json));
    assert.equal((embedding.json.error as { code: string }).code, 'model_not_allowed');
    const named = await condense({ messages: longConversation(4), max_tokens: 100, model: 'gpt-4' }, authHeaders(key));
    assert.equal(named.status, 200, JSON.stringify(named.json));
    assert.equal(named.json.model, 'gpt-4');

    // The chat call is the key's own; its summary is made without the summariser it may not use.
    upstream.reset();
    const messages = longConversation(12);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...authHeaders(key), 'x-llm-proxy-context': 'condense' },
      body: JSON.stringify({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'condense');
    await response.text();
    assert.deepEqual(upstream.requests.map((request) => request.body?.model), ['gpt-3.5-turbo']);
    const sent = upstream.requests[0]?.body?.messages as Array<Record<string, unknown>>;
    assert.match(String(sent[1]?.content), /^Summary of the earlier conversation: /);
    assert.ok(!String(sent[1]?.content).includes(summaryReply));
    const requestId = response.headers.get('x-request-id');
    assert.ok(!gateway.usage.recent().some((entry) => entry.endpoint === 'condense' && entry.requestId === requestId));

    // An entry that routes where condense.model does allows it.
    const allowed = await createKey(gateway.url, { name: 'summariser-by-provider-name', models: ['openai/gpt-4o-mini'] });
    const served = await condense({ messages: longConversation(4), max_tokens: 100 }, authHeaders(allowed.key));
    assert.equal(served.status, 200, JSON.stringify(served.json));
    assert.equal(served.json.model, 'gpt-4o-mini');
  });

  test('policy error (default): an over-long prompt is refused before any upstream call', async () => {
    const response = await chat({ model: 'gpt-3.5-turbo', messages: longConversation(12), max_tokens: 50 });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; param: string } };
    assert.equal(body.error.code, 'context_length_exceeded');
    assert.equal(body.error.param, 'messages');
    assert.equal(upstream.requests.length, 0);
  });

  test('prompts denser than half a token per byte are counted, not waved through: byte-fallback text and image URLs', async () => {
    // 130 hieroglyphs: 520 bytes of UTF-8, each byte its own token (the old bound counted ~290).
    const glyphs = '\u{13000}'.repeat(130);
    const dense = await chat({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: glyphs }], max_tokens: 10 });
    assert.equal(dense.status, 400, await dense.clone().text());
    assert.equal(((await dense.json()) as { error: { code: string } }).error.code, 'context_length_exceeded');
    // One image URL, ~40 bytes, counts 765 tokens: over the 400-token window.
    const image = await chat({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is it?' }, { type: 'image_url', image_url: { url: 'https://ex.com/1.jpg' } }] }], max_tokens: 10 });
    assert.equal(image.status, 400, await image.clone().text());
    assert.equal(((await image.json()) as { error: { code: string } }).error.code, 'context_length_exceeded');
    assert.equal(upstream.requests.length, 0);
  });

  test('a prompt that fits is sent untouched, without context headers', async () => {
    const response = await chat({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 50 }, 'truncate');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-llm-proxy-context-method'), null);
    await response.text();
  });

  test('policy truncate: oldest turns go; system prompt, newest turn and tool pairs stay', async () => {
    const messages = longConversation(12);
    const response = await chat({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }, 'truncate');
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'truncate');
    const [before, after] = (response.headers.get('x-llm-proxy-context-tokens') ?? '').split('->').map(Number);
    assert.ok(before !== undefined && after !== undefined && before > 400 && after + 50 <= 400, `${before}->${after}`);
    const sent = upstream.requests.at(-1)?.body?.messages as Array<Record<string, unknown>>;
    assert.ok(sent.length < messages.length);
    assert.deepEqual(sent[0], messages[0]);
    assert.deepEqual(sent.at(-1), messages.at(-1));
    const calls = sent.filter((message) => Array.isArray(message.tool_calls)).length;
    const results = sent.filter((message) => message.role === 'tool').length;
    assert.equal(calls, results);
    await response.text();
  });

  test('policy truncate on a 1.5 MB conversation is counted in a worker thread: the event loop stays free', { timeout: 60_000 }, async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: distinctWords(100_000) },
      { role: 'assistant', content: distinctWords(100_000) },
      { role: 'user', content: 'And now, in one word?' },
    ];
    // The gateway runs in this process: a count on its event loop would stall this watch.
    const watch = watchLoop();
    const started = performance.now();
    const response = await chat({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }, 'truncate');
    const took = performance.now() - started;
    const worstGap = watch.stop();
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'truncate');
    const [before, after] = (response.headers.get('x-llm-proxy-context-tokens') ?? '').split('->').map(Number);
    assert.ok(before !== undefined && after !== undefined && before > 100_000 && after + 50 <= 400, `${before}->${after}`);
    assert.deepEqual(upstream.requests.at(-1)?.body?.messages, [messages[0], messages[3]]);
    await response.text();
    // On the event loop, the count (most of `took`) was one stall; off it, only the body's parse and clone are.
    assert.ok(took > 400, `the request took ${Math.round(took)} ms: too little to tell`);
    assert.ok(worstGap < took / 3, `the event loop stalled ${Math.round(worstGap)} ms of the request's ${Math.round(took)} ms`);
  });

  test('policy condense: old turns become one summary message; the summariser call is recorded', async () => {
    const messages = longConversation(12);
    const response = await chat({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }, 'condense');
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'condense');
    const [, after] = (response.headers.get('x-llm-proxy-context-tokens') ?? '').split('->').map(Number);
    assert.ok(after !== undefined && after + 50 <= 400);
    assert.equal(upstream.requests.length, 2);
    assert.ok(isSummariserCall(upstream.requests[0]?.body));
    const sent = upstream.requests[1]?.body?.messages as Array<Record<string, unknown>>;
    assert.deepEqual(sent[0], messages[0]);
    assert.equal(sent[1]?.role, 'system');
    assert.equal(sent[1]?.content, `Summary of the earlier conversation: ${summaryReply}`);
    assert.deepEqual(sent.at(-1), messages.at(-1));
    await response.text();
    assert.ok(gateway.usage.recent().some((entry) => entry.endpoint === 'condense' && entry.requestId === response.headers.get('x-request-id')));
  });

  test('policy condense counts each message once: the summariser is handed the counts the policy made of the dropped turns', async () => {
    // Under 8 KiB of text and no tool calls (each counts as 8 KiB), so every count runs in this
    // process, on the shared counter spied here, not in a worker thread.
    const counter = await loadTokenCounter();
    const message = mock.method(counter, 'message');
    const messages = mock.method(counter, 'messages');
    try {
      const conversation = longConversation(12).filter((entry) => entry.tool_calls === undefined && entry.role !== 'tool');
      const response = await chat({ model: 'gpt-3.5-turbo', messages: conversation, max_tokens: 50 }, 'condense');
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(response.headers.get('x-llm-proxy-context-method'), 'condense');
      await response.text();
      const key = (entry: { role?: unknown; content?: unknown; tool_call_id?: unknown }) => JSON.stringify([entry.role, entry.content, entry.tool_call_id]);
      const counted = new Map<string, number>();
      const note = (entry: ChatMessage) => counted.set(key(entry), (counted.get(key(entry)) ?? 0) + 1);
      for (const call of message.mock.calls) note(call.arguments[0]);
      for (const call of messages.mock.calls) for (const entry of call.arguments[0]) note(entry);
      for (const entry of conversation) assert.equal(counted.get(key(entry)), 1, `counted ${counted.get(key(entry)) ?? 0} times: ${key(entry)}`);
    } finally {
      message.mock.restore();
      messages.mock.restore();
    }
  });

  test('policy truncate and condense drop the reply whose question went: the upstream conversation opens with a user message', async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: `${FACTS} `.repeat(30) },
      { role: 'assistant', content: 'Refund filed for order 4521.' },
      { role: 'user', content: 'And now?' },
    ];
    const truncated = await chat({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }, 'truncate');
    assert.equal(truncated.status, 200, await truncated.clone().text());
    // Was [system, assistant, user]: Anthropic refuses a first message that is not the user's.
    assert.deepEqual(upstream.requests.at(-1)?.body?.messages, [messages[0], messages[3]]);
    await truncated.text();

    upstream.reset();
    const condensed = await chat({ model: 'gpt-3.5-turbo', messages, max_tokens: 50 }, 'condense');
    assert.equal(condensed.status, 200, await condensed.clone().text());
    // The reply dropped with its question is summarised with it.
    const transcript = String((upstream.requests[0]?.body?.messages as Array<{ content: unknown }>)[1]?.content);
    assert.match(transcript, /Refund filed for order 4521\./);
    assert.deepEqual(upstream.requests[1]?.body?.messages, [messages[0], { role: 'system', content: `Summary of the earlier conversation: ${summaryReply}` }, messages[3]]);
    await condensed.text();
  });

  test('policy condense works for a stream', async () => {
    const messages = longConversation(12);
    const response = await chat({ model: 'gpt-3.5-turbo', messages, max_tokens: 50, stream: true }, 'condense');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'condense');
    assert.match(response.headers.get('x-llm-proxy-context-tokens') ?? '', /^\d+->\d+$/);
    const text = await response.text();
    assert.match(text, /"content":" number\?"/);
    assert.ok(text.trimEnd().endsWith('data: [DONE]'));
    const sent = upstream.requests.at(-1)?.body;
    assert.equal(sent?.stream, true);
    assert.match(String((sent?.messages as Array<Record<string, unknown>>)[1]?.content), /^Summary of the earlier conversation: /);
  });

  test('policy fallback (from the group config): a larger-window fallback serves it', async () => {
    const response = await chat({ model: 'small-group', messages: longConversation(12), max_tokens: 50 });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'fallback');
    assert.equal(upstream.requests.length, 1);
    assert.equal(upstream.requests[0]?.body?.model, 'gpt-4o');
    await response.text();
  });

  test('the header overrides the group policy, and a bad value is a 400', async () => {
    const refused = await chat({ model: 'small-group', messages: longConversation(12), max_tokens: 50 }, 'error');
    assert.equal(refused.status, 400);
    await refused.text();
    const bad = await chat({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'hi' }] }, 'shrink');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'X-LLM-Proxy-Context');
  });
});

/** Distinct words (no help from the tokenizer's cache): counting them takes about a second per MB. */
function distinctWords(count: number): string {
  let seed = count;
  const word = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % 1_000_000_007).toString(36);
  return Array.from({ length: count }, word).join(' ');
}

describe('context condensation without any provider', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({});
  });
  after(async () => {
    await gateway.close();
  });

  test('/api/condense answers extractively when no model can serve', async () => {
    const response = await fetch(`${gateway.url}/api/condense`, {
      method: 'POST',
      headers: authHeaders(),
      body: JSON.stringify({ messages: longConversation(5), max_tokens: 50 }),
    });
    assert.equal(response.status, 200);
    const json = (await response.json()) as Record<string, unknown>;
    assert.equal(json.method, 'extractive');
    assert.equal(json.token_count, 'estimate');
    assert.ok((json.summary_tokens as number) <= 50 && (json.summary as string).length > 0);
  });

  test('/api/condense of a 1.5 MB conversation counts and summarises in a worker thread: the event loop stays free', { timeout: 60_000 }, async () => {
    const messages = [
      { role: 'user', content: distinctWords(100_000) },
      { role: 'assistant', content: distinctWords(100_000) },
      { role: 'user', content: 'What did we decide about the order 4521?' },
    ];
    // The gateway runs in this process: counting on its event loop would stall this watch.
    const watch = watchLoop();
    const started = performance.now();
    const response = await fetch(`${gateway.url}/api/condense`, { method: 'POST', headers: authHeaders(), body: JSON.stringify({ messages, max_tokens: 80 }) });
    const json = (await response.json()) as Record<string, unknown>;
    const took = performance.now() - started;
    const worstGap = watch.stop();
    assert.equal(response.status, 200, JSON.stringify(json));
    assert.equal(json.method, 'extractive');
    assert.ok((json.original_tokens as number) > 100_000, String(json.original_tokens));
    assert.ok((json.summary_tokens as number) <= 80 && (json.summary as string).length > 0);
    assert.ok(took > 400, `the request took ${Math.round(took)} ms: too little to tell`);
    assert.ok(worstGap < took / 3, `the event loop stalled ${Math.round(worstGap)} ms of the request's ${Math.round(took)} ms`);
  });
});
