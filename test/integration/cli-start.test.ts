// `llm-proxy start` serves from a node with the flags of `npm start` (package.json's start script):
// started without them, the CLI runs itself again with them, passes signals on and exits as the
// server did; started with them, it serves in its own process. A SIGTERM that reaches a server
// twice (from the stop and passed on by its parent) drains it once.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startScriptFlags } from '../../src/server/node-flags.js';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { eventually, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { childPids, forceStop, openStream, send, startGatewayProcess, signalEveryProcess } from '../support/gateway-process.js';

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
    // Its last line may still be in the pipe when the process is gone: read until it comes.
    await cli.waitFor('shutdown complete', 5_000);
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

const CHAT_AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
const STREAM_BODY = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });

/** The CLI (started detached, with `args`) in front of a fake upstream, and a stream in flight that ends when `release` is called. */
async function cliWithStream(args: string[], env: Record<string, string> = {}, before?: (url: string) => Promise<void>) {
  const fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
  const cli = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, ...env }, CONFIG, ['start', ...args], 'dist/src/cli.js', [], { detached: true });
  await before?.(cli.url);
  let release = () => undefined as void;
  fake.enqueue({ kind: 'gated-stream', chunks: 2, release: new Promise<void>((resolve) => (release = resolve)) });
  const stream = openStream(cli.url, CHAT_AUTH, STREAM_BODY);
  // A broken stream is text the assertions show, not an unhandled rejection.
  const finished = stream.done.catch((error: Error) => `the stream broke: ${error.message}`);
  await eventually(() => stream.received().includes('data: '), 5_000);
  return {
    cli,
    release: () => release(),
    finished,
    async cleanup() {
      await cli.cleanup();
      await fake.close();
    },
  };
}

for (const workers of [1, 2]) {
  test(`SIGTERM to every process (systemd's stop), so each server process gets it twice, workers: ${workers}: a stream in flight completes and the CLI exits 0`, async () => {
    const { cli, release, finished, cleanup } = await cliWithStream(['--workers', String(workers)]);
    try {
      // Each server process gets SIGTERM directly, then once more from its parent (the CLI, the primary).
      await signalEveryProcess(cli.child.pid as number, 'SIGTERM', (signalled) => cli.waitFor('shutting down', 5_000, signalled));
      // Well past the repeated signal: the drain is still waiting for the stream.
      await sleep(500);
      release();
      const text = await finished;
      assert.ok(text.trimEnd().endsWith('data: [DONE]'), `${text.slice(-300)}\n${cli.output().slice(-3000)}`);
      assert.equal(await cli.exited, 0, cli.output().slice(-3000));
      // One drain per server process: the primary and each worker, or the one server.
      assert.equal(cli.output().split('shutting down').length - 1, workers === 1 ? 1 : workers + 1, cli.output());
    } finally {
      await cleanup();
    }
  });
}

test('a second SIGTERM more than a second after the first ends the drain at once', async () => {
  const { cli, finished, cleanup } = await cliWithStream([]);
  try {
    await forceStop(cli);
    assert.doesNotMatch(await finished, /data: \[DONE\]/);
    assert.doesNotMatch(cli.output(), /shutdown complete/);
  } finally {
    await cleanup();
  }
});

test('workers whose primary is killed outright (SIGKILL) spool the usage records not yet written', async () => {
  const answered = (url: string) => send(url, '/v1/chat/completions', { method: 'POST', headers: CHAT_AUTH, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
  // A database that never answers keeps the finished call's record in its worker's queue.
  const { cli, cleanup } = await cliWithStream(['--workers', '2'], { DATABASE_URL: 'postgres://llm@127.0.0.1:1/none' }, async (url) => {
    assert.equal((await answered(url)).status, 200);
  });
  try {
    const [primary] = childPids(cli.child.pid as number);
    assert.ok(primary !== undefined, cli.output());
    const workers = childPids(primary);
    assert.equal(workers.length, 2, cli.output());
    process.kill(primary, 'SIGKILL');
    // node:cluster ends each worker once its channel to the primary closes.
    await eventually(() => workers.every((pid) => !running(pid)), 10_000);
    const dir = dirname(cli.dbPath);
    const lines = readdirSync(dir)
      .filter((name) => /^usage-spool(-\d+)?\.jsonl$/.test(name))
      .flatMap((name) => readFileSync(join(dir, name), 'utf8').split('\n').filter((line) => line.length > 0));
    assert.equal(lines.length, 1, cli.output().slice(-3000));
  } finally {
    await cleanup();
  }
});

test('the forced exit keeps the usage records already made: they go to the spool file for the next start', async () => {
  // A database that never answers keeps the finished call's record in the writer's queue.
  const answered = (url: string) => send(url, '/v1/chat/completions', { method: 'POST', headers: CHAT_AUTH, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
  const { cli, finished, cleanup } = await cliWithStream([], { DATABASE_URL: 'postgres://llm@127.0.0.1:1/none' }, async (url) => {
    assert.equal((await answered(url)).status, 200);
  });
  try {
    await forceStop(cli);
    await finished;
    const spool = join(dirname(cli.dbPath), 'usage-spool.jsonl');
    const lines = readFileSync(spool, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1, cli.output().slice(-3000));
    assert.equal((JSON.parse(lines[0] as string) as { endpoint: string }).endpoint, 'chat.completions');
  } finally {
    await cleanup();
  }
});
