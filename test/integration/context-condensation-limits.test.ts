// Issue #8 over real HTTP: the chat route's `condense` policy admits its summariser call like any
// call of the key (budget hold, token limit) before making it, and settles it from its usage; a
// map-reduce (/api/condense) holds, records and bills every one of its summariser calls.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Config } from '../../src/config/config-schema.js';
import type { ChatCompletionRequest, CompletionUsage } from '../../src/openai/types.js';
import { estimateAnswerTokens, estimatePromptTokens } from '../../src/usage/usage-check.js';
import { loadTokenCounter } from '../../src/usage/token-estimator.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, type JsonResponse } from '../support/key-support.js';

const SUMMARY = 'Summary: Alice Smith needs a refund of $129.99 for order #4521.';

function isSummariserCall(body: Record<string, unknown> | undefined): boolean {
  const first = (body?.messages as Array<{ content?: unknown }> | undefined)?.[0]?.content;
  return typeof first === 'string' && first.startsWith('You condense conversations');
}

/** About `turns` × 45 tokens: well over the 400-token window set for gpt-3.5-turbo below. */
function longConversation(turns: number): Array<Record<string, unknown>> {
  const messages: Array<Record<string, unknown>> = [{ role: 'system', content: 'You are the TechCorp support assistant.' }];
  for (let turn = 0; turn < turns; turn++) {
    messages.push({ role: 'user', content: `Turn ${turn}: Alice Smith needs a refund of $129.99 for order #4521. Please check parcel ${1000 + turn} too.` });
    messages.push({ role: 'assistant', content: `Noted for turn ${turn}. The parcel ${1000 + turn} is on its way and should arrive within three working days.` });
  }
  messages.push({ role: 'user', content: 'What is my order number?' });
  return messages;
}

function errorOf(response: JsonResponse): { type?: unknown; code?: unknown; message?: unknown } {
  return (response.body.error ?? {}) as { type?: unknown; code?: unknown; message?: unknown };
}

/** A fake OpenAI upstream (answering summariser calls with SUMMARY) and a gateway in front of it. */
async function startPair(configure: (config: Config) => void): Promise<{ upstream: FakeOpenAi; gateway: Gateway }> {
  const upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: (body) => (isSummariserCall(body) ? SUMMARY : undefined) });
  const gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' }, { configure });
  return { upstream, gateway };
}

/** A gpt-3.5-turbo chat with `key`, the context policy header when given. */
function chatWith(base: string, key: string, messages: Array<Record<string, unknown>>, context?: string, maxTokens = 50): Promise<JsonResponse> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  if (context !== undefined) headers['x-llm-proxy-context'] = context;
  return fetch(`${base}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'gpt-3.5-turbo', messages, max_tokens: maxTokens }) }).then(async (response) => {
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as Record<string, unknown> };
  });
}

describe('condense policy: the summariser call is admitted against the key', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let base: string;

  before(async () => {
    ({ upstream, gateway } = await startPair((config) => {
      config.condense = { model: 'gpt-4o-mini' };
      config.model_catalog = { 'gpt-3.5-turbo': { context_length: 400 } };
    }));
    base = gateway.url;
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });
  beforeEach(() => upstream.reset());

  const chat = (key: string, messages: Array<Record<string, unknown>>, context?: string, maxTokens = 50) => chatWith(base, key, messages, context, maxTokens);

  test('a spent budget refuses the condense with the chat call\'s own error, and no summariser call is made', async () => {
    // Spend real money, then lower the budget to exactly what was spent.
    const { id, key } = await createKey(base, { max_budget: 5 });
    const paid = await chat(key, [{ role: 'user', content: 'hi' }]);
    assert.equal(paid.status, 200, paid.text);
    await gateway.app.services.usage.flush();
    const spent = (await gateway.app.services.store.keys.findById(id))?.spend ?? 0;
    assert.ok(spent > 0, `spent ${spent}`);
    assert.equal((await callJson(base, 'PATCH', `/admin/keys/${id}`, MASTER_KEY, { max_budget: spent })).status, 200);
    upstream.reset();

    const refused = await chat(key, longConversation(12), 'condense');
    assert.equal(refused.status, 403, refused.text);
    assert.equal(errorOf(refused).type, 'permission_error');
    assert.equal(errorOf(refused).code, 'budget_exceeded');
    assert.match(String(errorOf(refused).message), /budget of .* is used up/);
    assert.equal(upstream.requests.length, 0, 'no summariser (or chat) call reached the upstream');
    assert.equal(refused.headers.get('x-llm-proxy-context-method'), null);

    // The same key's chat that needs no condensing gets the same error.
    const plain = await chat(key, [{ role: 'user', content: 'hi' }]);
    assert.equal(plain.status, refused.status);
    assert.deepEqual(errorOf(plain), errorOf(refused));
    assert.equal(upstream.requests.length, 0);
    assert.ok(!gateway.usage.recent().some((record) => record.endpoint === 'condense' && record.requestId === refused.headers.get('x-request-id')));
  });

  test('a budget with room: condense and chat both run, both settle, and the spend is both calls\' cost', async () => {
    const { id, key } = await createKey(base, { max_budget: 5, tpm_limit: 100_000 });
    const messages = longConversation(12);
    const response = await chat(key, messages, 'condense');
    assert.equal(response.status, 200, response.text);
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'condense');
    assert.equal(upstream.requests.length, 2);
    assert.ok(isSummariserCall(upstream.requests[0]?.body));
    assert.equal(upstream.requests[0]?.body?.model, 'gpt-4o-mini');
    const sent = upstream.requests[1]?.body?.messages as Array<Record<string, unknown>>;
    assert.equal(sent[1]?.content, `Summary of the earlier conversation: ${SUMMARY}`);

    await gateway.app.services.usage.flush();
    const requestId = response.headers.get('x-request-id');
    const records = gateway.usage.recent().filter((record) => record.requestId === requestId);
    const condense = records.find((record) => record.endpoint === 'condense');
    const chatRecord = records.find((record) => record.endpoint === 'chat.completions');
    assert.ok(condense !== undefined && chatRecord !== undefined, JSON.stringify(records));
    assert.ok((condense.cost ?? 0) > 0 && (chatRecord.cost ?? 0) > 0, `costs ${condense.cost} and ${chatRecord.cost}`);
    // The token window holds the summariser's reported usage (settled) and then the chat's estimate.
    const [, chatPrompt] = (response.headers.get('x-llm-proxy-context-tokens') ?? '').split('->').map(Number);
    const expected = 100_000 - (condense.promptTokens + condense.completionTokens) - ((chatPrompt as number) + 50);
    const remaining = Number(response.headers.get('x-ratelimit-remaining-tokens'));
    // ±2: a minute boundary between the two holds weighs the first by the overlap (rounded down).
    assert.ok(Math.abs(remaining - expected) <= 2, `remaining ${remaining}, expected ${expected}`);
    // Each call held its own budget and its own record settled it: nothing stays held.
    assert.equal(condense.budgetHeld, true);
    assert.equal(chatRecord.budgetHeld, true);
    assert.notEqual(condense.id, chatRecord.id);
    const stored = await gateway.app.services.store.keys.findById(id);
    assert.ok(stored !== undefined);
    assert.ok(Math.abs(stored.spend - ((condense.cost ?? 0) + (chatRecord.cost ?? 0))) < 1e-9, `spend ${stored.spend}`);
    assert.ok(Math.abs(stored.reserved) < 1e-9, `still held: ${stored.reserved}`);
  });

  test('a token limit the summariser call would exceed refuses it before the call, with the 429 a chat call gets', async () => {
    const { key } = await createKey(base, { tpm_limit: 300 });
    // Some of the minute's 300 tokens are used; the summariser needs at least the whole limit (capped at it).
    const first = await chat(key, [{ role: 'user', content: 'hi' }]);
    assert.equal(first.status, 200, first.text);
    upstream.reset();

    const refused = await chat(key, longConversation(12), 'condense');
    assert.equal(refused.status, 429, refused.text);
    assert.equal(errorOf(refused).type, 'rate_limit_error');
    assert.equal(errorOf(refused).code, 'rate_limit_exceeded');
    assert.match(String(errorOf(refused).message), /Token rate limit reached: this key may use 300 tokens per minute/);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('x-ratelimit-limit-tokens'), '300');
    assert.equal(upstream.requests.length, 0, 'no summariser call reached the upstream');
    assert.ok(!gateway.usage.recent().some((record) => record.endpoint === 'condense' && record.requestId === refused.headers.get('x-request-id')));

    // A chat call that needs the whole window is refused the same way.
    const plain = await chat(key, [{ role: 'user', content: 'hi' }], undefined, 300);
    assert.equal(plain.status, refused.status, plain.text);
    assert.equal(errorOf(plain).type, errorOf(refused).type);
    assert.equal(errorOf(plain).code, errorOf(refused).code);
  });
});

describe('condense policy: a summariser that makes no call holds nothing', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    ({ upstream, gateway } = await startPair((config) => {
      // A summariser window too small for even one call: the summary is extractive, no call is made.
      config.condense = { model: 'gpt-4' };
      config.model_catalog = { 'gpt-3.5-turbo': { context_length: 400 }, 'gpt-4': { context_length: 150 } };
    }));
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('the hold taken for the summariser is given back when it never calls', async () => {
    const { id, key } = await createKey(gateway.url, { max_budget: 5, tpm_limit: 100_000 });
    const response = await chatWith(gateway.url, key, longConversation(12), 'condense');
    assert.equal(response.status, 200, response.text);
    assert.equal(response.headers.get('x-llm-proxy-context-method'), 'condense');
    assert.equal(upstream.requests.length, 1);
    assert.ok(!isSummariserCall(upstream.requests[0]?.body));
    const requestId = response.headers.get('x-request-id');
    assert.ok(!gateway.usage.recent().some((record) => record.endpoint === 'condense' && record.requestId === requestId));
    // Only the chat's estimate is in the token window: the summariser's tokens came back.
    const [, chatPrompt] = (response.headers.get('x-llm-proxy-context-tokens') ?? '').split('->').map(Number);
    const remaining = Number(response.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(Math.abs(remaining - (100_000 - (chatPrompt as number) - 50)) <= 2, `remaining ${remaining}`);
    // And nothing stays held against the budget once the chat's record is written.
    await gateway.app.services.usage.flush();
    let reserved = Number.NaN;
    for (let attempt = 0; attempt < 50; attempt++) {
      reserved = (await gateway.app.services.store.keys.findById(id))?.reserved ?? Number.NaN;
      if (Math.abs(reserved) < 1e-9) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(Math.abs(reserved) < 1e-9, `still held: ${reserved}`);
  });
});

/** One call the usage reporter answered: what it reported, or (when it left usage out) what the proxy's local estimate makes of it. */
interface ReporterCall {
  reported: boolean;
  usage: CompletionUsage;
}

interface UsageReporter {
  url: string;
  calls: ReporterCall[];
  /** Whether the call of this index (from 0) reports its usage. */
  reports: (index: number) => boolean;
  /** Whether the call of this index is answered at all (else it hangs until the proxy gives up on it). */
  answers: (index: number) => boolean;
  /** Calls received, answered or not. */
  received: number;
  close(): Promise<void>;
}

/**
 * An OpenAI-format upstream whose answers report their own usage, counted with the proxy's
 * tokenizer (prompt: the messages sent; completion: the answer, within max_tokens), as a provider
 * does; a call `reports` says no to gets no usage at all, as some hosts answer.
 */
async function startUsageReporter(answer: string): Promise<UsageReporter> {
  const counter = await loadTokenCounter();
  const calls: ReporterCall[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      if (req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not here","type":"invalid_request_error","param":null,"code":null}}');
        return;
      }
      if (!reporter.answers(reporter.received++)) return;
      const body = JSON.parse(raw) as ChatCompletionRequest & { max_tokens: number };
      const content = answer.slice(0, counter.fit(answer, body.max_tokens));
      const prompt = counter.messages(body.messages);
      const completion = counter.text(content);
      const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
      const reported = reporter.reports(calls.length);
      const choices = [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }];
      const text = JSON.stringify({ id: `chatcmpl-${calls.length}`, object: 'chat.completion', created: 1, model: body.model, choices, ...(reported ? { usage } : {}) });
      const estimate = { prompt_tokens: estimatePromptTokens(body), completion_tokens: estimateAnswerTokens(text), total_tokens: 0 };
      calls.push({ reported, usage: reported ? usage : estimate });
      res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const reporter: UsageReporter = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    reports: () => true,
    answers: () => true,
    received: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return reporter;
}

describe('/api/condense map-reduce: every summariser call is held, recorded and billed', () => {
  let upstream: UsageReporter;
  let gateway: Gateway;

  before(async () => {
    upstream = await startUsageReporter(SUMMARY);
    gateway = await startGateway(
      { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' },
      { configure: (config) => void (config.model_catalog = { 'gpt-4': { context_length: 700 } }) },
    );
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.calls.length = 0;
    upstream.received = 0;
    upstream.reports = () => true;
    upstream.answers = () => true;
  });

  /** A map-reduce by a key with a token limit and a budget: the tokens it held, and its usage record checked against every call. */
  async function condenseChecked(): Promise<{ held: number; used: number }> {
    const { id, key } = await createKey(gateway.url, { max_budget: 50, tpm_limit: 1_000_000 });
    const response = await callJson(gateway.url, 'POST', '/api/condense', key, { messages: longConversation(30), max_tokens: 100, model: 'gpt-4' });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.method, 'llm-map-reduce');
    const { calls } = upstream;
    assert.ok(calls.length >= 3, `${calls.length} summariser calls`);
    const prompt = calls.reduce((sum, call) => sum + call.usage.prompt_tokens, 0);
    const completion = calls.reduce((sum, call) => sum + call.usage.completion_tokens, 0);

    await gateway.app.services.usage.flush();
    const records = gateway.usage.recent().filter((record) => record.requestId === response.headers.get('x-request-id'));
    assert.equal(records.length, 1);
    const record = records[0];
    assert.ok(record !== undefined);
    assert.deepEqual(
      { endpoint: record.endpoint, promptTokens: record.promptTokens, completionTokens: record.completionTokens, estimated: record.estimated },
      { endpoint: 'condense', promptTokens: prompt, completionTokens: completion, estimated: calls.some((call) => !call.reported) },
    );
    const price = gateway.app.services.router.plan('gpt-4')?.deployments[0]?.route.entry;
    const cost = calls.reduce((sum, call) => sum + (gateway.app.services.catalog.cost(price, call.usage.prompt_tokens, call.usage.completion_tokens) ?? Number.NaN), 0);
    assert.ok(cost > 0 && Math.abs((record.cost ?? 0) - cost) < 1e-12, `cost ${record.cost}, calls ${cost}`);
    const stored = await gateway.app.services.store.keys.findById(id);
    assert.ok(stored !== undefined && Math.abs(stored.spend - cost) < 1e-9 && Math.abs(stored.reserved) < 1e-9, JSON.stringify(stored));
    return { held: 1_000_000 - Number(response.headers.get('x-ratelimit-remaining-tokens')), used: prompt + completion };
  }

  test('the token hold covers every chunk call and the combine call; the record and the spend are their sum', async () => {
    const { held, used } = await condenseChecked();
    // Held before the first call: at least what all the calls then used (it was one call's worth).
    assert.ok(held >= used, `held ${held} tokens for calls that used ${used}`);
  });

  test('a client that leaves before the combine call still pays for the chunk calls that finished', async () => {
    const { id, key } = await createKey(gateway.url, { max_budget: 50, tpm_limit: 1_000_000 });
    // The chunk calls answer; the one after them (the combine call) never does.
    upstream.answers = (index) => index < 4;
    const leaving = new AbortController();
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'condense-left-early' };
    const body = JSON.stringify({ messages: longConversation(30), max_tokens: 100, model: 'gpt-4' });
    const sent = fetch(`${gateway.url}/api/condense`, { method: 'POST', headers, body, signal: leaving.signal }).catch((error: unknown) => error);
    await eventually(() => upstream.received === 5, 10_000);
    leaving.abort();
    await sent;
    await eventually(() => gateway.usage.recent().some((record) => record.requestId === 'condense-left-early'), 5_000);
    const record = gateway.usage.recent().find((record) => record.requestId === 'condense-left-early');
    const { calls } = upstream;
    assert.equal(calls.length, 4);
    assert.deepEqual(
      { status: record?.status, httpStatus: record?.httpStatus, promptTokens: record?.promptTokens, completionTokens: record?.completionTokens },
      {
        status: 'client_disconnected',
        httpStatus: 499,
        promptTokens: calls.reduce((sum, call) => sum + call.usage.prompt_tokens, 0),
        completionTokens: calls.reduce((sum, call) => sum + call.usage.completion_tokens, 0),
      },
    );
    assert.ok((record?.cost ?? 0) > 0);
    await gateway.app.services.usage.flush();
    const stored = await gateway.app.services.store.keys.findById(id);
    assert.ok(stored !== undefined && Math.abs(stored.spend - (record?.cost ?? 0)) < 1e-9 && Math.abs(stored.reserved) < 1e-9, JSON.stringify(stored));
  });

  test('a chat client that leaves while the condense policy summarises gets a client_disconnected condense record', async () => {
    // The summariser call never answers, and the client gives up meanwhile.
    upstream.answers = () => false;
    const leaving = new AbortController();
    const headers = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'x-request-id': 'policy-left-early', 'x-llm-proxy-context': 'condense' };
    const body = JSON.stringify({ model: 'gpt-4', messages: longConversation(30), max_tokens: 50 });
    const sent = fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers, body, signal: leaving.signal }).catch((error: unknown) => error);
    await eventually(() => upstream.received >= 1, 10_000);
    leaving.abort();
    await sent;
    await eventually(() => gateway.usage.recent().some((record) => record.requestId === 'policy-left-early' && record.endpoint === 'condense'), 5_000);
    const record = gateway.usage.recent().find((record) => record.requestId === 'policy-left-early' && record.endpoint === 'condense');
    assert.equal(record?.status, 'client_disconnected');
  });

  test('a call whose answer reports no usage is billed from the local estimate, not as free', async () => {
    upstream.reports = (index) => index % 2 === 1;
    await condenseChecked();
    assert.ok(upstream.calls.some((call) => !call.reported) && upstream.calls.some((call) => call.reported));
  });
});
