import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingStartFlags } from './node-flags.js';

const FLAGS = ['--max-semi-space-size=8', '--heap-growing-percent=20', '--expose-gc'];

test('the start flags a node was not given are the ones a relaunch adds', () => {
  assert.deepEqual(missingStartFlags([], FLAGS, ''), FLAGS);
  assert.deepEqual(missingStartFlags(FLAGS, FLAGS, ''), []);
});

test("a flag the operator gave wins, with any value and either spelling, on the command line or in NODE_OPTIONS", () => {
  assert.deepEqual(missingStartFlags(['--max_semi_space_size=32'], FLAGS, ''), ['--heap-growing-percent=20', '--expose-gc']);
  // NODE_OPTIONS is not in execArgv; relaunching with --max-semi-space-size=8 would override it.
  assert.deepEqual(missingStartFlags([], FLAGS, '--max-semi-space-size=16  --expose-gc'), ['--heap-growing-percent=20']);
});
