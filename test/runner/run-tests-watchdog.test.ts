// scripts/run-tests.mjs (what `npm test` runs) against fixture files that hang (test/runner/fixtures,
// plain .mjs: never compiled, so never in the suite's own dist/**/*.test.js). A hung file must fail
// with its name and what it was doing, soon, and leave the other files' results alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

const FIXTURES = 'test/runner/fixtures';

interface Run {
  code: number | null;
  /** Whether the runner ended by itself (not by this test's own limit). */
  ended: boolean;
  seconds: number;
  output: string;
}

/** Runs the runner on `files` with a per-file limit of `limitS` seconds; gives up on it after `giveUpS`. */
function runTests(files: string[], limitS: number, giveUpS: number): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now();
    // Without NODE_TEST_CONTEXT (this file's own, as a runner's child): with it, node --test would
    // take itself for a child and run nothing.
    const { NODE_TEST_CONTEXT: _ownContext, ...env } = process.env;
    const child = spawn(process.execPath, ['scripts/run-tests.mjs', ...files.map((file) => `${FIXTURES}/${file}`)], {
      env: { ...env, TEST_FILE_TIMEOUT_S: String(limitS) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so giving up stops the runner's children too (they hold the pipes).
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    let ended = true;
    const giveUp = setTimeout(() => {
      ended = false;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, giveUpS * 1000);
    child.once('close', (code) => {
      clearTimeout(giveUp);
      resolve({ code, ended, seconds: (Date.now() - started) / 1000, output });
    });
  });
}

describe('the test runner with a file that hangs', () => {
  it('a before() that throws after starting a server, left open, fails the file at the limit with its error and what held it', async () => {
    const run = await runTests(['leaks-after-failed-before.mjs'], 4, 30);
    assert.ok(run.ended, `the runner hung on the open server:\n${run.output}`);
    assert.notEqual(run.code, 0, run.output);
    assert.match(run.output, /Invalid configuration: the fixture refuses it/);
    assert.match(run.output, /leaks-after-failed-before\.mjs did not finish in 4 s/);
    assert.match(run.output, /every test it started had ended: an after\(\) hook, or something a test left waiting, kept it from finishing/);
  });

  it("every test of a file is reported, the last ones too, and a file's handle left open fails it", async () => {
    // --test-force-exit lost the last results of such a file in about one run in three here.
    for (let round = 0; round < 3; round++) {
      const run = await runTests(['many-quick-tests.mjs'], 30, 60);
      const tail = run.output.slice(-300);
      assert.ok(run.ended, tail);
      assert.equal(run.code, 0, tail);
      assert.match(run.output, /^# pass 2000$/m, tail);
      assert.match(run.output, /^ok 2000 - quick test 1999 x+$/m, tail);
    }
  });

  it('a test that never settles fails the file after the limit, named with the test it was running; the other file passes', async () => {
    const run = await runTests(['never-settles.mjs', 'slow-but-finishing.mjs'], 4, 30);
    assert.ok(run.ended, `the runner hung:\n${run.output}`);
    assert.notEqual(run.code, 0, run.output);
    assert.match(run.output, /never-settles\.mjs did not finish in 4 s/);
    assert.match(run.output, /it was running: a suite that hangs > waits for an answer that never comes/);
    assert.match(run.output, /^ok \d+ - takes a while$/m);
    assert.match(run.output, /^# pass 2$/m, 'finishes and takes a while pass');
  });
});
