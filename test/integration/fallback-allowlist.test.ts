// A key's model allowlist covers fallbacks too: a fallback the key may not use is skipped (never
// called, never billed, named in the route header), both after an upstream failure and when the
// context policy moves a long prompt to a larger-window model; with nothing it may use left, the
// original error stands. The budget hold covers the fallbacks the key may use, and only those: for
// chat, the summariser (/api/condense and the `condense` policy) and embeddings alike.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat, createKey, errorCode, type JsonResponse } from '../support/key-support.js';
import { configFile } from '../support/reliability-support.js';

describe("fallbacks follow the key's model allowlist", () => {
  let primary: FakeOpenAi;
  let backup: FakeOpenAi;
  let gateway: Gateway;
  /** May use the group `cheap` and its fallback `cheap-backup`, not `dear-model`. */
  let withBackup: string;
  /** May use the group `cheap` alone. */
  let cheapOnly: string;
  /** May use the plain model `solo-model` (routing-wide fallbacks) and `cheap-backup`. */
  let solo: string;

  before(async () => {
    primary = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['cheap-model', 'solo-model'] });
    backup = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['dear-model', 'cheap-backup'] });
    gateway = await startGateway({
      LLM_PROXY_CONFIG: configFile(`
providers:
  primary: { type: openai-compatible, api_key: ${UPSTREAM_KEY}, base_url: "${primary.url}/v1", models: [cheap-model, solo-model] }
  backup: { type: openai-compatible, api_key: ${UPSTREAM_KEY}, base_url: "${backup.url}/v1", models: [dear-model, cheap-backup] }
  claude: { type: anthropic, api_key: sk-ant-unused-123456, base_url: "http://127.0.0.1:9", models: [dear-chat] }
model_catalog:
  cheap-model: { context_length: 1000, input_cost: 0.0001, output_cost: 0.0001 }
  dear-model: { context_length: 100000, input_cost: 0.01, output_cost: 0.03 }
  cheap-backup: { context_length: 50000, input_cost: 0.0001, output_cost: 0.0001 }
  claude/dear-chat: { context_length: 100000, input_cost: 0.01, output_cost: 0.03 }
models:
  - name: cheap
    deployments: [{ provider: primary, model: cheap-model }]
    fallbacks: [dear-model, cheap-backup]
  # An embeddings fallback with a dear chat-only deployment (no embeddings to bill) beside a cheap one.
  - name: mixed
    deployments: [{ provider: claude, model: dear-chat }, { provider: backup, model: cheap-backup }]
  - name: embed
    deployments: [{ provider: primary, model: cheap-model }]
    fallbacks: [mixed]
routing: { retries: 0, failure_threshold: 1000, fallbacks: [dear-model, cheap-backup] }
`),
      LLM_PROXY_RPM: '0',
    });
    withBackup = (await createKey(gateway.url, { name: 'with-backup', models: ['cheap', 'cheap-backup'] })).key;
    cheapOnly = (await createKey(gateway.url, { name: 'cheap-only', models: ['cheap'] })).key;
    solo = (await createKey(gateway.url, { name: 'solo', models: ['solo-model', 'cheap-backup'] })).key;
  });
  beforeEach(() => {
    primary.reset();
    backup.reset();
  });
  after(async () => {
    await gateway.close();
    await primary.close();
    await backup.close();
  });

  const calledModels = () => backup.requests.map((request) => request.body?.model);

  test('a failing primary falls back past a model the key may not use, to one it may', async () => {
    for (const stream of [false, true]) {
      backup.reset();
      primary.enqueue({ kind: 'status', status: 500 });
      const response = await chat(gateway.url, withBackup, { model: 'cheap', stream });
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(calledModels(), ['cheap-backup'], 'dear-model is never called');
      assert.equal(response.headers.get('x-llm-proxy-route'), 'primary/cheap-model=upstream_error, dear-model=model_not_allowed, backup/cheap-backup=200');
    }
    const { usage } = gateway;
    assert.equal(usage.recent().at(-1)?.upstreamModel, 'cheap-backup');
  });

  test("the routing-wide fallbacks are checked the same way", async () => {
    primary.enqueue({ kind: 'status', status: 503 });
    const response = await chat(gateway.url, solo, { model: 'solo-model' });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(calledModels(), ['cheap-backup']);
  });

  test('with no fallback the key may use, the primary error stands', async () => {
    primary.enqueue({ kind: 'status', status: 500 });
    const response = await chat(gateway.url, cheapOnly, { model: 'cheap' });
    assert.equal(response.status, 502, response.text);
    assert.equal(errorCode(response), 'upstream_error');
    assert.doesNotMatch(response.text, /dear-model|cheap-backup|Tried/);
    assert.deepEqual(calledModels(), []);
  });

  test('a key without an allowlist still gets the first fallback', async () => {
    const { key } = await createKey(gateway.url, { name: 'any-model' });
    primary.enqueue({ kind: 'status', status: 500 });
    const response = await chat(gateway.url, key, { model: 'cheap' });
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(calledModels(), ['dear-model']);
  });

  test('the context policy moves a long prompt only to a larger-window fallback the key may use', async () => {
    const long = 'lorem ipsum dolor sit amet '.repeat(400);
    const request = { model: 'cheap', messages: [{ role: 'user', content: long }] };
    const send = (key: string) =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'X-LLM-Proxy-Context': 'fallback' },
        body: JSON.stringify(request),
      });
    const moved = await send(withBackup);
    assert.equal(moved.status, 200, await moved.clone().text());
    assert.equal(moved.headers.get('x-llm-proxy-context-method'), 'fallback');
    // dear-model would have taken the prompt first: the client is told why it was passed over.
    assert.equal(moved.headers.get('x-llm-proxy-route'), 'dear-model=model_not_allowed, backup/cheap-backup=200');
    assert.deepEqual(calledModels(), ['cheap-backup']);
    assert.deepEqual(primary.requests, []);

    backup.reset();
    const refused = await send(cheapOnly);
    const body = (await refused.json()) as { error: { code: string } };
    assert.equal(refused.status, 400);
    assert.equal(body.error.code, 'context_length_exceeded');
    assert.deepEqual(calledModels(), []);

    // A key that may use dear-model is moved there, with nothing skipped to report.
    const { key } = await createKey(gateway.url, { name: 'dear-allowed', models: ['cheap', 'dear-model'] });
    const dear = await send(key);
    assert.equal(dear.status, 200, await dear.clone().text());
    assert.equal(dear.headers.get('x-llm-proxy-route'), 'backup/dear-model=200');
  });

  test('the budget hold prices the dearest fallback the key may use, not one it may not', async () => {
    // With max_tokens 100, cheap-model (and cheap-backup) may cost ~$0.00001, dear-model ~$0.003:
    // a budget of $0.001 fits a call that can only reach the cheap ones.
    const request = { model: 'cheap', max_tokens: 100 };
    const budget = { max_budget: 0.001 };
    const mayFallToDear = [
      (await createKey(gateway.url, { name: 'dear-fallback', models: ['cheap', 'dear-model'], ...budget })).key,
      (await createKey(gateway.url, { name: 'any-fallback', ...budget })).key,
    ];
    for (const key of mayFallToDear) {
      const refused = await chat(gateway.url, key, request);
      assert.equal(refused.status, 403, refused.text);
      assert.equal(errorCode(refused), 'budget_exceeded');
    }
    assert.deepEqual(primary.requests, [], 'refused before any call');

    const { key } = await createKey(gateway.url, { name: 'cheap-fallback', models: ['cheap', 'cheap-backup'], ...budget });
    primary.enqueue({ kind: 'status', status: 500 });
    const admitted = await chat(gateway.url, key, request);
    assert.equal(admitted.status, 200, admitted.text);
    assert.equal(admitted.headers.get('x-llm-proxy-route'), 'primary/cheap-model=upstream_error, dear-model=model_not_allowed, backup/cheap-backup=200');
  });

  /**
   * Sends `send` with a $0.001 budget key that may fall back to dear-model (by its list, and with no
   * list) and one that may reach only the cheap models: the first two are refused before any call,
   * the last is served by cheap-backup after the primary fails.
   */
  async function checkHolds(name: string, send: (key: string) => Promise<JsonResponse>): Promise<JsonResponse> {
    const budget = { max_budget: 0.001 };
    for (const models of [['cheap', 'dear-model'], undefined]) {
      const { key } = await createKey(gateway.url, { name: `${name}-dear`, ...budget, ...(models === undefined ? {} : { models }) });
      const refused = await send(key);
      assert.equal(refused.status, 403, `${name} ${String(models)}: ${refused.text}`);
      assert.equal(errorCode(refused), 'budget_exceeded');
    }
    assert.deepEqual([...primary.requests, ...backup.requests], [], 'refused before any call');
    const { key } = await createKey(gateway.url, { name: `${name}-cheap`, models: ['cheap', 'cheap-backup'], ...budget });
    primary.enqueue({ kind: 'status', status: 500 });
    const admitted = await send(key);
    assert.equal(admitted.status, 200, admitted.text);
    assert.deepEqual(calledModels(), ['cheap-backup']);
    return admitted;
  }

  test("the summariser's hold prices the dearest fallback the key may use, not one it may not", async () => {
    // ~150 prompt tokens and 100 out: ~$0.0045 at dear-model's prices, ~$0.00003 at the cheap ones'.
    const messages = [{ role: 'user', content: 'My order #4521 never arrived.' }, { role: 'assistant', content: 'Sorry! Let me check.' }];
    const admitted = await checkHolds('condense', (key) => callJson(gateway.url, 'POST', '/api/condense', key, { model: 'cheap', messages, max_tokens: 100 }));
    assert.equal(admitted.body.method, 'llm');
  });

  test("the condense policy's summariser hold refuses before the summariser is called", async () => {
    // Over cheap-model's 1,000-token window: the older turns go to the summariser (`cheap`, the
    // cheapest model the key may use), whose fallback dear-model prices the hold past the budget.
    const turn = 'lorem ipsum dolor sit amet '.repeat(60);
    const messages = [1, 2, 3, 4].flatMap(() => [{ role: 'user', content: turn }, { role: 'assistant', content: turn }]);
    const { key } = await createKey(gateway.url, { name: 'policy-dear', models: ['cheap', 'dear-model'], max_budget: 0.001 });
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'X-LLM-Proxy-Context': 'condense' },
      body: JSON.stringify({ model: 'cheap', max_tokens: 50, messages: [...messages, { role: 'user', content: 'And now?' }] }),
    });
    const text = await response.text();
    assert.equal(response.status, 403, text);
    assert.match(text, /budget_exceeded/);
    assert.deepEqual([...primary.requests, ...backup.requests], [], 'no summariser call was made');
  });

  test('the embeddings hold prices the dearest fallback the key may use, not one it may not', async () => {
    // ~300 input tokens: ~$0.003 at dear-model's input price, ~$0.00003 at the cheap ones'.
    const input = 'word '.repeat(300);
    const admitted = await checkHolds('embeddings', (key) => callJson(gateway.url, 'POST', '/v1/embeddings', key, { model: 'cheap', input }));
    assert.equal(admitted.headers.get('x-llm-proxy-route'), 'primary/cheap-model=upstream_error, dear-model=model_not_allowed, backup/cheap-backup=200');

    // A fallback's deployment that cannot embed bills nothing, so it is not held for.
    const { key: any } = await createKey(gateway.url, { name: 'embeddings-mixed', max_budget: 0.001 });
    const mixed = await callJson(gateway.url, 'POST', '/v1/embeddings', any, { model: 'embed', input });
    assert.equal(mixed.status, 200, mixed.text);
  });
});

describe('a shared cache namespace keeps to each key\'s allowlist', () => {
  let primary: FakeOpenAi;
  let backup: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    primary = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['cheap-model'] });
    backup = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['cheap-backup'] });
    gateway = await startGateway({
      LLM_PROXY_CONFIG: configFile(`
providers:
  primary: { type: openai-compatible, api_key: ${UPSTREAM_KEY}, base_url: "${primary.url}/v1", models: [cheap-model] }
  backup: { type: openai-compatible, api_key: ${UPSTREAM_KEY}, base_url: "${backup.url}/v1", models: [cheap-backup] }
models:
  - name: cheap
    deployments: [{ provider: primary, model: cheap-model }]
    fallbacks: [cheap-backup]
routing: { retries: 0, failure_threshold: 1000 }
cache: { namespace: team }
`),
      LLM_PROXY_RPM: '0',
      LLM_PROXY_CACHE: 'memory',
    });
  });
  after(async () => {
    await gateway.close();
    await primary.close();
    await backup.close();
  });

  test('an answer a fallback gave one key is never served to a key that may not use that fallback', async () => {
    const withBackup = (await createKey(gateway.url, { name: 'ns-with-backup', models: ['cheap', 'cheap-backup'] })).key;
    const alsoBackup = (await createKey(gateway.url, { name: 'ns-also-backup', models: ['cheap', 'cheap-backup'] })).key;
    const cheapOnly = (await createKey(gateway.url, { name: 'ns-cheap-only', models: ['cheap'] })).key;
    for (const stream of [false, true]) {
      const question = { model: 'cheap', stream, messages: [{ role: 'user', content: `shared ${String(stream)}` }] };
      primary.enqueue({ kind: 'status', status: 500 });
      const served = await callJson(gateway.url, 'POST', '/v1/chat/completions', withBackup, question);
      assert.equal(served.status, 200, served.text);
      assert.equal(served.headers.get('x-llm-proxy-route'), 'primary/cheap-model=upstream_error, backup/cheap-backup=200');
      // A key with the same reach shares the namespace's entry.
      const shared = await callJson(gateway.url, 'POST', '/v1/chat/completions', alsoBackup, question);
      assert.equal(shared.headers.get('x-cache'), 'HIT', `stream: ${stream}`);
      // A key limited to `cheap` would never have been answered by cheap-backup: no hit, its own call.
      const calls = primary.requests.length;
      const own = await callJson(gateway.url, 'POST', '/v1/chat/completions', cheapOnly, question);
      assert.equal(own.status, 200, own.text);
      assert.equal(own.headers.get('x-cache'), 'MISS', `stream: ${stream}`);
      assert.equal(own.headers.get('x-llm-proxy-route'), 'primary/cheap-model=200');
      assert.equal(primary.requests.length, calls + 1);
    }
  });
});
