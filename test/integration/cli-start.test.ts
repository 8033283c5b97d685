// `llm-proxy start` serves from a node with the flags of `npm start` (package.json's start script):
// started without them, the CLI runs itself again with them, passes signals on and exits as the
// server did; started with them, it serves in its own process.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startScriptFlags } from '../../src/server/node-flags.js';
import { eventually, MASTER_KEY } from '../support/gateway-harness.js';
import { childPids, send, startGatewayProcess } from '../support/gateway-process.js';

const CONFIG = 'server:\n  shutdown_timeout_s: 5\nrouting:\n  discovery_interval_s: 0\n';

/** Running, not merely not yet reaped (an orphan's zombie waits for whoever adopted it). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

function nodeArguments(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((word) => word.length > 0);
}

test('the start flags come from package.json', () => {
  assert.deepEqual(startScriptFlags(), ['--max-semi-space-size=8', '--heap-growing-percent=20', '--expose-gc']);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`llm-proxy start without the flags serves from a node with them; ${signal} to the CLI drains it once and exits 0`, async () => {
    const cli = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, CONFIG, ['start'], 'dist/src/cli.js');
    try {
      const servers = childPids(cli.child.pid as number);
      assert.equal(servers.length, 1, cli.output());
      const server = servers[0] as number;
      const flags = nodeArguments(server);
      for (const flag of startScriptFlags()) assert.ok(flags.includes(flag), `${flag} missing from ${flags.join(' ')}`);
      assert.equal((await send(cli.url, '/health/live')).status, 200);
      cli.child.kill(signal);
      assert.equal(await cli.exited, 0, cli.output());
      assert.equal(cli.output().split('"shutting down"').length - 1, 1, cli.output());
      assert.match(cli.output(), /shutdown complete/);
      assert.equal(running(server), false, 'the server outlived the CLI');
    } finally {
      await cli.cleanup();
    }
  });
}

test('a CLI killed outright (SIGKILL) does not leave its server running', async () => {
  const cli = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, CONFIG, ['start'], 'dist/src/cli.js');
  try {
    const [server] = childPids(cli.child.pid as number);
    assert.ok(server !== undefined, cli.output());
    cli.child.kill('SIGKILL');
    await cli.exited;
    await eventually(() => !running(server), 15_000);
    assert.match(cli.output(), /shutdown complete/);
  } finally {
    await cli.cleanup();
  }
});

test('llm-proxy start in a node that has the flags serves in that process', async () => {
  const cli = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, CONFIG, ['start'], 'dist/src/cli.js', startScriptFlags());
  try {
    assert.deepEqual(childPids(cli.child.pid as number), []);
    assert.equal((await send(cli.url, '/health/live')).status, 200);
  } finally {
    await cli.cleanup();
  }
});
