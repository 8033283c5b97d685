// RELIABILITY §4d#7/#9: a client's X-Request-Id is kept as the request's id (answer header, log
// lines, usage row) only when it is plain; one that holds a configured secret or a key shape is
// replaced by a fresh id like any unsafe one (§4a#18), or the key would be stored in the usage row
// (SQLite/PostgreSQL, /admin/usage/records, the CSV export).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { call, chat, startStack, type Stack } from '../support/reliability-support.js';

// A shape no redaction pattern knows: only exact matching of the configured key can recognise it.
const CLIENT_CANARY = 'canaryClientKey0a1b2c3d4e5f6a7b8c9d';

describe('§4d an X-Request-Id that holds a secret', () => {
  let stack: Stack;
  const client = { authorization: `Bearer ${CLIENT_CANARY}`, 'content-type': 'application/json' };

  before(async () => {
    stack = await startStack({ env: { LLM_PROXY_API_KEYS: CLIENT_CANARY } });
  });
  after(async () => {
    await stack.close();
  });

  test('is replaced by a fresh id: the answer, the logs and the usage rows never hold it; a plain id is kept', async () => {
    const secrets = [CLIENT_CANARY, UPSTREAM_KEY, MASTER_KEY];
    const given = [CLIENT_CANARY, `trace-${CLIENT_CANARY}`, UPSTREAM_KEY, MASTER_KEY, 'sk-proj-abcdefghijklmnop0123'];
    const ids: string[] = [];
    for (const id of given) {
      const res = await call(stack.url, { headers: { ...client, 'x-request-id': id }, body: chat() });
      assert.equal(res.status, 200, res.body);
      const answered = String(res.headers['x-request-id']);
      assert.notEqual(answered, id);
      assert.match(answered, /^[0-9a-f-]{36}$/, 'a fresh UUID');
      ids.push(answered);
    }
    const plain = await call(stack.url, { headers: { ...client, 'x-request-id': 'trace-0042' }, body: chat() });
    assert.equal(plain.headers['x-request-id'], 'trace-0042');
    ids.push('trace-0042');
    await eventually(() => ids.every((id) => stack.gateway.usage.recent().some((record) => record.requestId === id)), 3000);
    const places: Array<[string, string]> = [
      ['usage records', JSON.stringify(stack.gateway.usage.recent())],
      ['logs', stack.gateway.logs.join('\n')],
    ];
    for (const [place, text] of places) for (const secret of [...secrets, 'sk-proj-abcdefghijklmnop0123']) assert.ok(!text.includes(secret), `${place} hold a key`);
  });
});
