// The in-process test gateway (test/support/gateway-harness.ts): a start that fails after the
// services were built (a `prepare` that throws, a port it cannot bind) closes what it built, so the
// test file is not kept alive by the store, its timers or connections, and leaves no open database.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../support/gateway-harness.js';
import { hasOpen } from '../support/gateway-process.js';

test('a gateway whose start fails after its services were built closes them (its database is no longer open)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-harness-'));
  const dbPath = join(dir, 'llm-proxy.db');
  try {
    await assert.rejects(
      startGateway({ LLM_PROXY_DB: dbPath }, {
        prepare: () => {
          // The services opened the database before the app was prepared.
          assert.ok(hasOpen(process.pid, dbPath), 'the database was open while the gateway started');
          throw new Error('the test refuses to prepare this gateway');
        },
      }),
      /the test refuses to prepare this gateway/,
    );
    assert.equal(hasOpen(process.pid, dbPath), false, 'the failed start left its database open');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
