// RELIABILITY.md §4c load figures at reduced sizes (TEST_SIZES in test/support/load-support.ts): each
// against the real `node dist/src/main.js` and bench/load-upstream.mjs, over HTTP on 127.0.0.1. The
// full sizes run with `npm run load`. Rows with tests elsewhere are not repeated here: the one-instance
// budget race (virtual-keys.test.ts), one stream cut by SIGTERM (graceful-shutdown.test.ts), one 413 and
// one slow socket (reliability-inputs.test.ts).
//
// Latency and rate checks (marked `timing`) also move with CPU that other processes take on a shared
// machine, so a figure whose only failures are timing checks is measured once more; any other failure,
// and a timing failure that repeats, fails the test.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { failures, figures, formatResult, TEST_SIZES, type Figure, type FigureResult } from '../support/load-support.js';

/**
 * Checks the proxy fails today, each a reported finding (see the load notes): the test still runs and
 * reports them, as TODO, and turns into a plain pass once they are fixed.
 */
const KNOWN_FINDINGS = new Map<string, string>();

function assertFigure(result: FigureResult): void {
  assert.ok(result.checks.length > 0, `${result.figure} measured nothing`);
  assert.deepEqual(
    failures(result).map((check) => check.name),
    [],
    formatResult(result),
  );
}

/** One figure, measured once more when only its timing checks failed. */
async function measure(figure: Figure, t: TestContext): Promise<void> {
  let result = await figure.run();
  const failed = failures(result);
  if (failed.length > 0 && failed.every((check) => check.timing === true)) {
    t.diagnostic(`timing only, measured again:\n${formatResult(result)}`);
    result = await figure.run();
  }
  if (result.skipped !== undefined) {
    if (process.env.CI === 'true') assert.fail(`${figure.name}: ${result.skipped}; CI=true requires it`);
    t.skip(result.skipped);
    return;
  }
  t.diagnostic(formatResult(result));
  const open = failures(result);
  if (open.length > 0 && open.every((check) => KNOWN_FINDINGS.has(check.name))) {
    t.todo(open.map((check) => `known finding: ${KNOWN_FINDINGS.get(check.name)}`).join('; '));
  }
  assertFigure(result);
}

describe('RELIABILITY §4c load figures (reduced sizes)', () => {
  const all = figures(TEST_SIZES);
  // One at a time: what they measure moves with the CPU anything else takes (Figure.alone).
  for (const figure of all.filter((each) => each.alone)) test(figure.name, (t) => measure(figure, t));
  // Then the rest two at a time, each with its own proxy and upstream: they count answers, fds, heap
  // and RSS, and mostly wait (settling, flushes), so running beside another changes none of them.
  describe('without timing checks, two at a time', { concurrency: 2 }, () => {
    for (const figure of all.filter((each) => !each.alone)) test(figure.name, (t) => measure(figure, t));
  });
});
