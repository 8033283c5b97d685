// The test harness's process start (test/support/gateway-process.ts): a gateway that exits before
// it listens (it refused its config) fails the start at once, with its exit code and stderr,
// instead of after the whole listen limit (60 s) with only the output's tail.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { MASTER_KEY } from '../support/gateway-harness.js';
import { alive, startGatewayProcess } from '../support/gateway-process.js';
import { eventually } from '../support/gateway-harness.js';

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

// A test file that ends before its after() stopped the gateway (a before() that threw later, the
// runner's --test-force-exit, or its per-file limit's SIGTERM) must not leave the gateway serving
// for good: an orphan holds its port, memory and CPU for the rest of the run.
for (const ending of ['exit', 'SIGTERM'] as const) {
  test(`a gateway process does not outlive the test process that started it (${ending})`, async () => {
    const harness = pathToFileURL('dist/test/support/gateway-process.js').href;
    const script = `
      const { startGatewayProcess } = await import(${JSON.stringify(harness)});
      const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: ${JSON.stringify(MASTER_KEY)} }, 'routing:\\n  discovery_interval_s: 0\\n');
      console.log('pid', gateway.child.pid);
      if (${JSON.stringify(ending)} === 'exit') process.exit(0);
      setInterval(() => {}, 1000);`;
    const { NODE_TEST_CONTEXT: _ownContext, ...env } = process.env;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    owner.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await eventually(() => /pid \d+/.test(output), 60_000);
    const pid = Number(/pid (\d+)/.exec(output)?.[1]);
    if (ending === 'SIGTERM') owner.kill('SIGTERM');
    await once(owner, 'exit');
    try {
      await eventually(() => !alive(pid), 5_000);
    } catch {
      process.kill(pid, 'SIGKILL');
      assert.fail(`the gateway (pid ${pid}) still runs after its test process ended by ${ending}`);
    }
  });
}
