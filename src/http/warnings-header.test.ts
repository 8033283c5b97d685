import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor } from '../logging/redactor.js';
import { MAX_WARNINGS_HEADER, warningsHeader } from './warnings-header.js';

const redactor = new Redactor(['configured-secret-value']);

test('entries are joined, escaped and redacted; none: no header', () => {
  assert.equal(warningsHeader([], redactor), undefined);
  assert.equal(warningsHeader(['a: x, ignored', 'é😀\n: x', 'configured-secret-value: x'], redactor), 'a: x, ignored; \\u00e9\\ud83d\\ude00\\u000a: x; [redacted]: x');
});

test('thousands of entries: the value stays within its bound and counts the rest', () => {
  const warnings = Array.from({ length: 3_000 }, (_, index) => `field_${'x'.repeat(50)}${index}: not supported by anthropic, ignored`);
  const value = warningsHeader(warnings, redactor) ?? '';
  assert.ok(value.length <= MAX_WARNINGS_HEADER, `${value.length} characters`);
  const listed = value.split('; ');
  const more = /^and (\d+) more$/.exec(listed.pop() ?? '');
  assert.ok(more !== null, value.slice(-80));
  assert.equal(listed.length + Number(more[1]), 3_000);
  assert.deepEqual(listed, warnings.slice(0, listed.length));
  // Escaping counts: entries that grow sixfold are bounded too.
  const wide = warningsHeader(Array.from({ length: 500 }, () => `${'😀'.repeat(32)}: ignored`), redactor) ?? '';
  assert.ok(wide.length <= MAX_WARNINGS_HEADER && wide.endsWith(' more'), `${wide.length} characters`);
});
