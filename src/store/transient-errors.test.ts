import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTransientStoreError } from './transient-errors.js';

const coded = (code: string) => Object.assign(new Error(code), { code });

test("the database's state is transient; what it says of the data is not", () => {
  for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN', 'ECONNREFUSED', 'ECONNRESET', '08006', '25006', '40001', '40P01', '53100', '55P03', '57P01', '57014']) {
    assert.equal(isTransientStoreError(coded(code)), true, code);
  }
  for (const code of ['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_MISMATCH', 'SQLITE_TOOBIG', 'SQLITE_BUSYX', '22P02', '22001', '23505', '42P01']) {
    assert.equal(isTransientStoreError(coded(code)), false, code);
  }
  assert.equal(isTransientStoreError(new Error('Connection terminated unexpectedly')), false, 'no code: the writer asks the database');
  // node-pg's timeouts have no code either, but a ping answering after one says nothing of the data (test/store/postgres-pool-busy.test.ts).
  for (const message of ['timeout exceeded when trying to connect', 'Query read timeout', 'Connection terminated due to connection timeout']) {
    assert.equal(isTransientStoreError(new Error(message)), true, message);
  }
  assert.equal(isTransientStoreError(Object.assign(new Error('Query read timeout'), { code: '22P02' })), false, 'a code decides');
  assert.equal(isTransientStoreError(undefined), false);
  assert.equal(isTransientStoreError({ code: 5 }), false);
});
