// A `--workers` reload is all or nothing: when a worker cannot apply the new config (here it dies
// while applying it, as a worker the OOM killer ends would), the workers that took it go back to
// the running config, the primary keeps that one (a replacement starts on it, the next reload is
// compared with it), and the SIGHUP log line says the reload failed and why. Workers are made to
// die on the reload message by a preload (stuck-worker.ts, STUCK_WORKER_DIE): each test waits on the
// primary's log line, not on a stuck worker's pid to kill (a wait that flaked under load).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { childPids, send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

const PRELOAD = ['--import', new URL('../support/stuck-worker.js', import.meta.url).href];
const BASE_CONFIG = 'server:\n  shutdown_timeout_s: 5\nrouting:\n  discovery_interval_s: 0\n';
const WITH_ALIAS = `${BASE_CONFIG}aliases:\n  fast: openai/gpt-4o-mini\n`;
const HEADERS = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', 'cache-control': 'no-store' };

/** The status of a chat call naming `model`, on a connection of its own (the workers take them in turn). */
async function chatStatus(url: string, model: string): Promise<number> {
  const answer = await send(url, '/v1/chat/completions', { headers: HEADERS, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  return answer.status;
}

/** The pids of the workers stuck on the reload message, or dead of it (the preload writes each first). */
function stuckPids(flag: string, count: number, gateway: GatewayProcess): number[] {
  const file = `${flag}.pids`;
  const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  assert.equal(pids.length, count, `${count} worker(s) should have been stuck on the reload; output:\n${gateway.output().slice(-3000)}`);
  return pids;
}

/** An upper bound only (a passing run waits for the line, not the time): a loaded machine is slow. */
const LOADED_MS = 45_000;

/** `model`'s status on both workers, including every replacement started since `from` (the output's length then). */
async function statusOnEveryWorker(gateway: GatewayProcess, model: string, expected: number): Promise<void> {
  // An upper bound only: a replacement's start alone took 12-15 s at a load of 16-20.
  const deadline = Date.now() + LOADED_MS;
  const servedBy = new Set<number>();
  const from = gateway.output().length;
  // Both slots must answer, each after its replacement listened (the access line names the worker).
  while (servedBy.size < 2) {
    assert.ok(Date.now() < deadline, `not every worker answered:\n${gateway.output().slice(-3000)}`);
    let status: number;
    try {
      status = await chatStatus(gateway.url, model);
    } catch (error) {
      // Every worker died: none listens until the replacements do.
      if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw error;
      await sleep(50);
      continue;
    }
    assert.equal(status, expected);
    for (const line of gateway.output().slice(from).split('\n')) {
      if (!line.includes('"path":"/v1/chat/completions"')) continue;
      const worker = (JSON.parse(line) as { worker?: number }).worker;
      if (worker !== undefined) servedBy.add(worker);
    }
    await sleep(50);
  }
}

function failureLine(gateway: GatewayProcess): { err: string; msg: string } {
  const line = gateway.output().split('\n').find((text) => text.includes('configuration reload failed'));
  assert.ok(line !== undefined, gateway.output().slice(-3000));
  return JSON.parse(line) as { err: string; msg: string };
}

for (const [name, one] of [
  ['one worker dies while applying a reload', true],
  ['every worker dies while applying a reload', false],
] as const) {
  describe(`cluster reload: ${name}`, () => {
    let fake: FakeOpenAi;
    let gateway: GatewayProcess;
    let dir: string;
    let flag: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'llm-proxy-cluster-reload-'));
      flag = join(dir, 'stuck');
      fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => 'hello' });
      try {
        gateway = await startGatewayProcess(
          {
            LLM_PROXY_MASTER_KEY: MASTER_KEY,
            OPENAI_API_KEY: UPSTREAM_KEY,
            OPENAI_BASE_URL: `${fake.url}/v1`,
            STUCK_WORKER_AT: 'reload',
            STUCK_WORKER_FILE: flag,
            STUCK_WORKER_DIE: '1',
            ...(one ? { STUCK_WORKER_ONE: '1' } : {}),
          },
          BASE_CONFIG,
          ['--workers', '2'],
          'dist/src/main.js',
          PRELOAD,
        );
      } catch (error) {
        // after() has no gateway to stop: an open fake kept the whole file running until the run's limit.
        await fake.close();
        throw error;
      }
    });

    after(async () => {
      // A drain first: a primary killed outright leaves its workers writing into the data directory cleanup removes.
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await gateway.cleanup();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the reload fails as a whole: the log says why, every worker (replacements too) serves the running config', async () => {
      writeFileSync(flag, '');
      gateway.writeConfig(WITH_ALIAS);
      gateway.child.kill('SIGHUP');
      await gateway.waitFor('configuration reload failed', LOADED_MS);
      const stuck = stuckPids(flag, one ? 1 : 2, gateway);
      const failure = failureLine(gateway);
      assert.match(failure.err, /^worker \d: exited while applying it \(SIGKILL\)/, failure.err);
      assert.doesNotMatch(gateway.output(), /configuration reloaded on every worker/);
      // Both slots, each worker that survived and each replacement, serve the config that was running.
      await statusOnEveryWorker(gateway, 'fast', 404);
      assert.equal(childPids(gateway.child.pid as number).filter((pid) => stuck.includes(pid)).length, 0);
    });

    test('the next reload is compared with the running config, and then applies on every worker', async () => {
      rmSync(flag, { force: true });
      gateway.child.kill('SIGHUP');
      await gateway.waitFor('configuration reloaded on every worker', LOADED_MS);
      await statusOnEveryWorker(gateway, 'fast', 200);
    });

    if (one) {
      test('POST /admin/reload: the answer says the reload failed, on which worker and why; the running config stays on every worker', async () => {
        rmSync(`${flag}.pids`, { force: true });
        writeFileSync(flag, '');
        gateway.writeConfig(`${WITH_ALIAS}  quick: openai/gpt-4o-mini\n`);
        // Answered by the worker it reached; the other one dies applying the reload.
        const refused = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: HEADERS.authorization } });
        stuckPids(flag, 1, gateway);
        // The config is fine (a worker failed it): a 503 to retry, not the 400 of a config refused.
        assert.equal(refused.status, 503, refused.body);
        const { error } = JSON.parse(refused.body) as { error: { message: string; type: string; code: string } };
        assert.equal(error.code, 'reload_failed');
        assert.equal(error.type, 'service_unavailable_error');
        assert.match(error.message, /^The reload failed on a worker and the running configuration stays: worker \d: exited while applying it \(SIGKILL\)$/);
        await statusOnEveryWorker(gateway, 'quick', 404);
        await statusOnEveryWorker(gateway, 'fast', 200);
      });
    }
  });
}

// A worker whose event loop is stuck on the reload (it never answers, never dies) holds the reload
// for server.worker_reload_timeout_s only: the reload fails as a whole, that worker is killed (it
// answers no ping either) and replaced, and the next reload is not queued behind it.
describe('cluster reload: a worker hangs on a reload', () => {
  const config = `${BASE_CONFIG.replace('server:\n', 'server:\n  worker_reload_timeout_s: 2\n')}`;
  let fake: FakeOpenAi;
  let gateway: GatewayProcess;
  let dir: string;
  let flag: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-cluster-hang-'));
    flag = join(dir, 'stuck');
    fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => 'hello' });
    try {
      gateway = await startGatewayProcess(
        {
          LLM_PROXY_MASTER_KEY: MASTER_KEY,
          OPENAI_API_KEY: UPSTREAM_KEY,
          OPENAI_BASE_URL: `${fake.url}/v1`,
          STUCK_WORKER_AT: 'reload',
          STUCK_WORKER_FILE: flag,
          STUCK_WORKER_ONE: '1',
        },
        config,
        ['--workers', '2'],
        'dist/src/main.js',
        PRELOAD,
      );
    } catch (error) {
      // after() has no gateway to stop: the fake must not keep the file running.
      await fake.close();
      throw error;
    }
  });

  after(async () => {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    await gateway.cleanup();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('POST /admin/reload answers 503 reload_failed after the deadline, not 60 s; the stuck worker is killed and replaced; every worker keeps the running config', async () => {
    writeFileSync(flag, '');
    gateway.writeConfig(`${config}aliases:\n  fast: openai/gpt-4o-mini\n`);
    const started = Date.now();
    const refused = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: HEADERS.authorization } });
    const [stuck] = stuckPids(flag, 1, gateway);
    assert.equal(refused.status, 503, refused.body);
    const { error } = JSON.parse(refused.body) as { error: { message: string; code: string } };
    assert.equal(error.code, 'reload_failed');
    assert.match(error.message, /: worker \d: did not answer within 2 s \(server\.worker_reload_timeout_s\)$/);
    // The deadline, then at most the switch-back of the worker that took it (it answers at once).
    assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms`);
    // A stuck event loop runs no drain: the primary kills it once it answers no ping either.
    await gateway.waitFor('its event loop is stuck', LOADED_MS);
    await gateway.waitFor('worker exited; starting a new one', LOADED_MS);
    assert.equal(childPids(gateway.child.pid as number).includes(stuck as number), false);
    await statusOnEveryWorker(gateway, 'fast', 404);
  });

  test('the next reload is not held by the worker that hung: it applies on every worker', async () => {
    rmSync(flag, { force: true });
    gateway.child.kill('SIGHUP');
    await gateway.waitFor('configuration reloaded on every worker', LOADED_MS);
    await statusOnEveryWorker(gateway, 'fast', 200);
  });
});
