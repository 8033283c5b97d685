// GatewayServer across config reloads: a retired generation must become garbage once its last
// request has ended, or every reload keeps a whole app (routes, schemas, services) for good.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../config/config-loader.js';
import { GatewayServer } from './gateway-server.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

test('a retired generation is collected after a reload: nothing of it stays reachable from the next one', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'gateway-server-'));
  const env = { LLM_PROXY_DB: join(directory, 'db.sqlite'), LLM_PROXY_API_KEYS: 'sk-test-client-key-0123456789', LLM_PROXY_LOG_LEVEL: 'error' };
  const gateway = await GatewayServer.create(loadConfig(env).config, undefined);
  try {
    await gateway.listen(0, '127.0.0.1');
    const retired: WeakRef<object>[] = [];
    for (let reload = 0; reload < 3; reload++) {
      retired.push(new WeakRef(gateway.app.app));
      const outcome = await gateway.reload({ config: loadConfig(env).config, restartRequired: [] });
      assert.equal(outcome.reloaded, true);
    }
    // Closing a retired generation (app.close(), then its services) takes a few ticks.
    for (let attempt = 0; attempt < 50 && retired.some((reference) => reference.deref() !== undefined); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      collectGarbage();
    }
    assert.deepEqual(
      retired.map((reference) => reference.deref() === undefined),
      [true, true, true],
    );
  } finally {
    await gateway.shutdown(1000);
    rmSync(directory, { recursive: true, force: true });
  }
});
