// HealthProbe.stop(): a probe in flight is abandoned, so it holds no shutdown or retired generation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../logging/logger.js';
import { Redactor } from '../logging/redactor.js';
import type { ChatExecutor } from './chat-executor.js';
import { HealthProbe, probeRequest } from './health-probe.js';
import type { ModelRouter } from './model-router.js';

test('stop() aborts the probe in flight and the deployments not yet probed', async () => {
  const deployments = [{ id: 'a/one', route: { provider: { kind: 'openai' } } }, { id: 'b/two', route: { provider: { kind: 'ollama' } } }];
  const router = { modelGroups: () => [{ name: 'group', deployments, fallbacks: [], retries: 0 }] } as unknown as ModelRouter;
  let calls = 0;
  // An upstream that never answers: only the call's signal ends it.
  const executor = {
    complete: (_group: unknown, _request: unknown, context: { signal: AbortSignal }) => {
      calls++;
      return new Promise((_resolve, reject) => context.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    },
  } as unknown as ChatExecutor;
  const probe = new HealthProbe(router, executor, createLogger('error', new Redactor([], [])), 60_000);
  const probing = probe.probeAll();
  await new Promise((resolve) => setImmediate(resolve));
  const started = Date.now();
  probe.stop();
  await probing;
  assert.ok(Date.now() - started < 1_000, `probeAll took ${Date.now() - started} ms after stop()`);
  assert.equal(calls, 1);
});

test("a probe asks OpenAI and Azure for max_completion_tokens (their reasoning models refuse max_tokens), other hosts for max_tokens", () => {
  assert.deepEqual(probeRequest('o3', 'openai'), { model: 'o3', messages: [{ role: 'user', content: 'ping' }], max_completion_tokens: 1 });
  assert.equal(probeRequest('gpt-5', 'azure').max_completion_tokens, 1);
  assert.deepEqual(probeRequest('llama3', 'ollama'), { model: 'llama3', messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });
});
