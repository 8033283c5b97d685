// The test harness's process start (test/support/gateway-process.ts): a gateway that exits before
// it listens (it refused its config) fails the start at once, with its exit code and stderr,
// instead of after the whole listen limit (60 s) with only the output's tail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MASTER_KEY } from '../support/gateway-harness.js';
import { startGatewayProcess } from '../support/gateway-process.js';

test('a gateway that refuses its config fails the start at once, naming its exit code and what it wrote to stderr', async () => {
  const started = performance.now();
  await assert.rejects(
    startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, 'limits:\n  default_rpm: many\n'),
    (error: Error) => {
      assert.match(error.message, /exited with code 1 before it listened/);
      assert.match(error.message, /its stderr:\nllm-proxy: Invalid configuration .*\n {2}limits\.default_rpm/);
      return true;
    },
  );
  // The config check and exit take well under a second; the listen limit is 60 s.
  assert.ok(performance.now() - started < 15_000, `took ${Math.round(performance.now() - started)} ms`);
});

test('a cluster primary whose start fails (its workers cannot listen) fails the start at once too', async () => {
  const started = performance.now();
  // A host that is not this machine's: every worker fails to bind, and the primary stops with exit 1.
  await assert.rejects(startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY, HOST: '192.0.2.1' }, 'routing:\n  discovery_interval_s: 0\n', ['--workers', '2']), /exited with code 1 before it listened/);
  assert.ok(performance.now() - started < 30_000, `took ${Math.round(performance.now() - started)} ms`);
});
