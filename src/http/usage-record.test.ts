import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import type { CompletionUsage } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import type { Services } from '../services.js';
import { MemoryUsageRecorder, type UsageRecord } from '../usage/usage-recorder.js';
import { recordCall } from './usage-record.js';

const FIELDS = [
  'id', 'budgetHeld', 'requestId', 'keyId', 'endpoint', 'model', 'provider', 'upstreamModel', 'promptTokens', 'completionTokens',
  'cachedTokens', 'cost', 'latencyMs', 'ttftMs', 'status', 'httpStatus', 'errorCode', 'stream', 'cacheHit', 'estimated', 'createdAt',
];

type Settled = { id?: string; budgetHeld?: boolean };

function harness(settled: Settled = {}) {
  const usage = new MemoryUsageRecorder();
  const settles: Array<{ usage: CompletionUsage | undefined; cost: number | undefined }> = [];
  const services = {
    usage,
    catalog: { cost: (_entry: unknown, prompt: number, completion: number) => prompt * 0.001 + completion * 0.002 },
    admission: {
      settle: (_request: FastifyRequest, tokens: CompletionUsage | undefined, cost: number | undefined) => {
        settles.push({ usage: tokens, cost });
        return settled;
      },
    },
  } as unknown as Services;
  const request = { id: 'req-1', principal: { keyId: 'key-1' } } as unknown as FastifyRequest;
  return { usage, settles, services, request };
}

const route = { provider: { name: 'openai' }, upstreamModel: 'gpt-4o', entry: undefined } as unknown as Route;
const tokens: CompletionUsage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

test('every record has every field, in one order, whatever was known', () => {
  const { usage, services, request } = harness();
  recordCall(services, request, 'chat.completions', route, 'gpt-4o', false, 1_000, 'ok', 200, tokens);
  recordCall(services, request, 'chat.completions', undefined, 'gpt-4o', true, 1_000, 'error', 502, undefined, { errorCode: 'upstream_error' });
  const [full, bare] = usage.recent() as [UsageRecord, UsageRecord];
  assert.deepEqual(Object.keys(full), FIELDS);
  assert.deepEqual(Object.keys(bare), FIELDS);
  assert.equal(full.provider, 'openai');
  assert.equal(full.upstreamModel, 'gpt-4o');
  assert.equal(full.cost, 0.02);
  assert.equal(bare.provider, undefined);
  assert.equal(bare.cost, undefined);
  assert.equal(bare.errorCode, 'upstream_error');
  // Absent fields leave no trace in the spool's JSON lines.
  assert.equal(JSON.parse(JSON.stringify(bare)).provider, undefined);
  assert.equal('cost' in JSON.parse(JSON.stringify(bare)), false);
});

test('the caller\'s extra fields win over the defaults, and the settlement wins over both', () => {
  const { usage, settles, services, request } = harness({ id: 'hold-1', budgetHeld: true });
  recordCall(services, request, 'chat.completions', route, 'gpt-4o', true, 1_000, 'ok', 200, tokens, {
    cacheHit: true,
    cost: 0,
    ttftMs: 7,
    id: 'from-extra',
  });
  const [record] = usage.recent() as [UsageRecord];
  assert.equal(record.cacheHit, true);
  assert.equal(record.cost, 0);
  assert.equal(record.ttftMs, 7);
  assert.equal(record.id, 'hold-1');
  assert.equal(record.budgetHeld, true);
  assert.deepEqual(Object.keys(record), FIELDS);
  // A cache hit settles no tokens, at the caller's cost.
  assert.deepEqual(settles, [{ usage: undefined, cost: 0 }]);
});

test('without a hold, an id from extra stays and nothing says budget was held', () => {
  const { usage, settles, services, request } = harness({});
  recordCall(services, request, 'embeddings', route, 'text-embedding-3-small', false, 1_000, 'ok', 200, tokens, { id: 'from-extra' });
  recordCall(services, request, 'embeddings', route, 'text-embedding-3-small', false, 1_000, 'ok', 200, tokens);
  const [first, second] = usage.recent() as [UsageRecord, UsageRecord];
  assert.equal(first.id, 'from-extra');
  assert.equal(second.id, undefined);
  assert.equal(second.budgetHeld, undefined);
  assert.deepEqual(settles, [
    { usage: tokens, cost: 0.02 },
    { usage: tokens, cost: 0.02 },
  ]);
});
