// RELIABILITY §4d#7/#9 and §4a#19: values a client chooses that the proxy keeps must not hold a key.
// A model name that holds a configured secret (`openai/<client key>`, `openai/<provider key>`, a
// pasted key) is a name nothing serves: it once routed like any `provider/model`, so the client key
// went upstream in the body, and the name stayed in the usage row, the circuit-breaker registry,
// /metrics' circuit_state label and /health/providers for good. An X-Request-Id holding one is
// replaced like any unsafe id (§4a#18), or the key would be stored in the usage row.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { assertError, call, chat, startStack, type Stack } from '../support/reliability-support.js';

// A shape no redaction pattern knows: only exact matching of the configured key can recognise it.
const CLIENT_CANARY = 'canaryClientKey0a1b2c3d4e5f6a7b8c9d';

describe('§4d model names and request ids that hold a configured secret', () => {
  let stack: Stack;
  const client = { authorization: `Bearer ${CLIENT_CANARY}`, 'content-type': 'application/json' };

  before(async () => {
    stack = await startStack({ env: { LLM_PROXY_API_KEYS: CLIENT_CANARY } });
  });
  after(async () => {
    await stack.close();
  });

  const names = [`openai/${CLIENT_CANARY}`, `openai/${UPSTREAM_KEY}`, `openai/x-${CLIENT_CANARY}-y`, `openai/${MASTER_KEY}`];
  const bodies: Array<[string, (model: string) => Record<string, unknown>]> = [
    ['/v1/chat/completions', (model) => ({ model, messages: [{ role: 'user', content: 'hi' }] })],
    ['/v1/chat/completions', (model) => ({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] })],
    ['/v1/embeddings', (model) => ({ model, input: 'hi' })],
    ['/v1/completions', (model) => ({ model, prompt: 'hi', max_tokens: 5 })],
    ['/v1/messages', (model) => ({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })],
    ['/v1/messages/count_tokens', (model) => ({ model, messages: [{ role: 'user', content: 'hi' }] })],
  ];

  test('every model route answers 404 model_not_found, sends nothing upstream and echoes nothing', async () => {
    for (const model of names) {
      for (const [path, body] of bodies) {
        const from = stack.fake.requests.length;
        const res = await call(stack.url, { path, headers: client, body: JSON.stringify(body(model)) });
        assert.equal(res.status, 404, `${path} ${model}: ${res.body.slice(0, 200)}`);
        if (!path.startsWith('/v1/messages')) assertError(res, { status: 404, code: 'model_not_found', param: 'model' });
        assert.match(res.body, /not_found/);
        for (const secret of [CLIENT_CANARY, UPSTREAM_KEY, MASTER_KEY]) assert.ok(!res.body.includes(secret), `${path}: the answer holds a key`);
        assert.equal(stack.fake.requests.length, from, `${path} ${model}: the upstream saw the request`);
      }
    }
    const next = await call(stack.url, { headers: client, body: JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(next.status, 200, next.body);
  });

  test('no such name reaches the usage records, /metrics or /health/providers', async () => {
    const served = await call(stack.url, { headers: client, body: JSON.stringify({ model: 'openai/gpt-4', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(served.status, 200, served.body);
    // The served call is recorded: the records are there to look through.
    await eventually(() => stack.gateway.usage.recent().some((record) => record.requestId === served.headers['x-request-id']));
    const places: Array<[string, string]> = [['usage records', JSON.stringify(stack.gateway.usage.recent())]];
    const metrics = await call(stack.url, { method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${MASTER_KEY}` } });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /llm_proxy_circuit_state\{deployment="openai\/gpt-4"/, 'the registry is listed (the served deployment)');
    places.push(['/metrics', metrics.body]);
    const providers = await call(stack.url, { method: 'GET', path: '/health/providers', headers: client });
    assert.equal(providers.status, 200);
    places.push(['/health/providers', providers.body]);
    for (const [place, text] of places) {
      for (const secret of [CLIENT_CANARY, UPSTREAM_KEY, MASTER_KEY]) assert.ok(!text.includes(secret), `${place} holds a configured key`);
    }
  });

  test('an X-Request-Id holding a key is replaced by a fresh id: the answer, the logs and the usage rows never hold it; a plain id is kept', async () => {
    const secrets = [CLIENT_CANARY, UPSTREAM_KEY, MASTER_KEY];
    const given = [CLIENT_CANARY, `trace-${CLIENT_CANARY}`, UPSTREAM_KEY, MASTER_KEY, 'sk-proj-abcdefghijklmnop0123'];
    const ids: string[] = [];
    for (const id of given) {
      const res = await call(stack.url, { headers: { ...client, 'x-request-id': id }, body: chat() });
      assert.equal(res.status, 200, res.body);
      const answered = String(res.headers['x-request-id']);
      assert.notEqual(answered, id);
      assert.match(answered, /^[0-9a-f-]{36}$/, 'a fresh UUID');
      ids.push(answered);
    }
    const plain = await call(stack.url, { headers: { ...client, 'x-request-id': 'trace-0042' }, body: chat() });
    assert.equal(plain.headers['x-request-id'], 'trace-0042');
    ids.push('trace-0042');
    await eventually(() => ids.every((id) => stack.gateway.usage.recent().some((record) => record.requestId === id)), 3000);
    const places: Array<[string, string]> = [
      ['usage records', JSON.stringify(stack.gateway.usage.recent())],
      ['logs', stack.gateway.logs.join('\n')],
    ];
    for (const [place, text] of places) for (const secret of [...secrets, 'sk-proj-abcdefghijklmnop0123']) assert.ok(!text.includes(secret), `${place} hold a key`);
  });
});
