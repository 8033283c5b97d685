import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import { buildCacheKey, cacheScope, canonicalCacheInput } from './cache-key.js';
import { CanonicalDepthError, canonicalJson } from './canonical-json.js';

const SECRET = Buffer.alloc(32, 7);
const TARGET = { model: 'gpt-4', deployments: ['openai/gpt-4'] };

function request(fields: Record<string, unknown>): ChatCompletionRequest {
  return { model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }], ...fields } as ChatCompletionRequest;
}

describe('canonicalJson', () => {
  test('sorts keys at every depth and writes no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  test('matches JSON.stringify on scalars and leaves out undefined keys', () => {
    for (const value of ['é "q" \n', 0, -1.5, 1e21, true, false, null, [], {}]) assert.equal(canonicalJson(value), JSON.stringify(value));
    assert.equal(canonicalJson({ a: undefined, b: [undefined, Number.NaN] }), '{"b":[null,null]}');
  });

  test('is iterative and bounded: a 10k-deep array fails cleanly, not with a stack overflow', () => {
    let deep: unknown = 1;
    for (let index = 0; index < 10_000; index++) deep = [deep];
    assert.throws(() => canonicalJson(deep), CanonicalDepthError);
    let ok: unknown = 1;
    for (let index = 0; index < 70; index++) ok = [ok];
    assert.equal(canonicalJson(ok), `${'['.repeat(70)}1${']'.repeat(70)}`);
  });
});

describe('buildCacheKey', () => {
  const scope = cacheScope('static-1', undefined);

  test('field order and whitespace do not change the key', () => {
    const one = JSON.parse('{"model":"gpt-4","temperature":0.2,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}}}]}');
    const two = JSON.parse(`{
      "tools": [ { "function": { "parameters": { "properties": { "a": {"type":"string"}, "b": {"type":"number"} }, "type": "object" }, "name": "f" }, "type": "function" } ],
      "messages": [ { "content": "hi", "role": "user" } ],
      "temperature": 0.2, "model": "gpt-4" }`);
    assert.equal(buildCacheKey(SECRET, scope, TARGET, one), buildCacheKey(SECRET, scope, TARGET, two));
  });

  test("the order of a JSON schema's properties changes the key: the model writes an object's fields in that order (reasoning before answer, or after)", () => {
    const schema = (properties: Record<string, unknown>) => ({
      response_format: { type: 'json_schema', json_schema: { name: 'r', strict: true, schema: { type: 'object', properties, required: ['reasoning', 'answer'] } } },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties } } }],
    });
    const first = schema({ reasoning: { type: 'string' }, answer: { type: 'string' } });
    const last = schema({ answer: { type: 'string' }, reasoning: { type: 'string' } });
    assert.notEqual(buildCacheKey(SECRET, scope, TARGET, request(first)), buildCacheKey(SECRET, scope, TARGET, request(last)));
    // The keys of a property's own schema are still in any order.
    const spelled = schema({ reasoning: { description: 'd', type: 'string' }, answer: { type: 'string' } });
    const reordered = schema({ reasoning: { type: 'string', description: 'd' }, answer: { type: 'string' } });
    assert.equal(buildCacheKey(SECRET, scope, TARGET, request(spelled)), buildCacheKey(SECRET, scope, TARGET, request(reordered)));
  });

  test('delivery and labels do not change the key: stream, stream_options, user and its successors, metadata', () => {
    const base = buildCacheKey(SECRET, scope, TARGET, request({}));
    assert.equal(buildCacheKey(SECRET, scope, TARGET, request({ stream: true, stream_options: { include_usage: true } })), base);
    assert.equal(buildCacheKey(SECRET, scope, TARGET, request({ user: 'u-1', metadata: { run: 'a' } })), base);
    // The two fields OpenAI replaced `user` with label the caller as it did.
    assert.equal(buildCacheKey(SECRET, scope, TARGET, request({ safety_identifier: 'hashed-user-1', prompt_cache_key: 'tenant-1' })), base);
    // The model name as asked is replaced by what it resolved to.
    assert.equal(buildCacheKey(SECRET, scope, TARGET, request({ model: 'my-alias' })), base);
  });

  test('every field that changes the answer changes the key', () => {
    const base = buildCacheKey(SECRET, scope, TARGET, request({}));
    const variants: Array<Record<string, unknown>> = [
      { messages: [{ role: 'user', content: 'hi!' }] },
      { temperature: 0.5 },
      { top_p: 0.9 },
      { max_tokens: 10 },
      { max_completion_tokens: 10 },
      { stop: ['x'] },
      { n: 2 },
      { seed: 1 },
      { logprobs: true },
      { top_logprobs: 2 },
      { presence_penalty: 0.1 },
      { frequency_penalty: 0.1 },
      { logit_bias: { '50256': -100 } },
      { response_format: { type: 'json_object' } },
      { tools: [{ type: 'function', function: { name: 'f' } }] },
      { tool_choice: 'required' },
      { functions: [{ name: 'f' }] },
      { function_call: 'auto' },
      { parallel_tool_calls: false },
      { reasoning_effort: 'high' },
    ];
    const keys = new Set([base]);
    for (const fields of variants) keys.add(buildCacheKey(SECRET, scope, TARGET, request(fields)));
    assert.equal(keys.size, variants.length + 1);
  });

  test('the resolved target, the scope and the secret are all part of the key', () => {
    const base = buildCacheKey(SECRET, scope, TARGET, request({}));
    assert.notEqual(buildCacheKey(SECRET, scope, { model: 'gpt-4', deployments: ['azure/gpt-4'] }, request({})), base);
    assert.notEqual(buildCacheKey(SECRET, cacheScope('static-2', undefined), TARGET, request({})), base);
    assert.notEqual(buildCacheKey(Buffer.alloc(32, 8), scope, TARGET, request({})), base);
    // The fallbacks the key may use: a fallback's answer is no answer for a key that may not use it.
    const reaching = buildCacheKey(SECRET, scope, { ...TARGET, fallbacks: ['gpt-4o'] }, request({}));
    assert.notEqual(reaching, base);
    assert.notEqual(buildCacheKey(SECRET, scope, { ...TARGET, fallbacks: ['gpt-4o', 'claude'] }, request({})), reaching);
    assert.equal(buildCacheKey(SECRET, scope, { ...TARGET, fallbacks: [] }, request({})), base);
    // A shared namespace is one scope for every key, and never equal to a key's own scope.
    assert.equal(cacheScope('static-1', 'team'), cacheScope('static-2', 'team'));
    assert.notEqual(cacheScope('team', undefined), cacheScope('x', 'team'));
  });

  test('the builder refuses to build a key without a scope', () => {
    assert.throws(() => buildCacheKey(SECRET, '', TARGET, request({})), /scope/);
  });

  test('the key is a fixed-size HMAC and holds nothing of the request', () => {
    const key = buildCacheKey(SECRET, scope, TARGET, request({ messages: [{ role: 'user', content: 'secret prompt' }] }));
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(canonicalCacheInput(scope, TARGET, request({})).startsWith('{"deployments":["openai/gpt-4"],"model":"gpt-4","request":{'));
  });
});
