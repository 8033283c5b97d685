// An `Expect` header other than 100-continue reaches the routes like any request: Node's own answer
// to it (in the process's listener, src/server/gateway-server.ts) was a bare 417 without a body.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

describe('the Expect header', () => {
  let fake: FakeOpenAi;
  let gateway: GatewayProcess;
  before(async () => {
    fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGatewayProcess(
      { LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_RPM: '0' },
      'routing:\n  discovery_interval_s: 0\n',
    );
  });
  after(async () => {
    await gateway.cleanup();
    await fake.close();
  });

  test('an unknown expectation is ignored: the request is served, and its errors are JSON', async () => {
    const headers = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json', expect: 'something-else' };
    const served = await send(gateway.url, '/v1/chat/completions', { headers, body: JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(served.status, 200, served.body);
    assert.ok(typeof served.headers['x-request-id'] === 'string');
    const refused = await send(gateway.url, '/v1/chat/completions', { headers, body: '{"model": 1}' });
    assert.equal(refused.status, 400, refused.body);
    assert.equal((JSON.parse(refused.body) as { error: { type: string } }).error.type, 'invalid_request_error');
  });
});
