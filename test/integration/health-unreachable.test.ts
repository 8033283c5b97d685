// /health and /health/providers for a provider nothing has ever answered: it stays unreachable
// (and /health unhealthy) when requests fail too, instead of turning "degraded" and "serving".
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { authHeaders, startGateway } from '../support/gateway-harness.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('a provider that never answered stays unreachable after failed requests; /health does not turn degraded and serving', async () => {
  const gateway = await startGateway({ OPENAI_API_KEY: 'sk-upstream-test-0123456789', OPENAI_BASE_URL: `http://127.0.0.1:${await closedPort()}/v1` });
  try {
    await gateway.app.services.discovery.refreshAll();
    const health = async () => (await (await fetch(`${gateway.url}/health`)).json()) as { status: string; providers: { serving: number } };
    const providers = async () => (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { status: string; error_rate: number }>;
    assert.equal((await health()).status, 'unhealthy');
    assert.equal((await providers()).openai?.status, 'unreachable');

    const failed = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(), body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(failed.status, 502);
    await failed.arrayBuffer();

    const after = await health();
    assert.equal(after.status, 'unhealthy');
    assert.equal(after.providers.serving, 0);
    const openai = (await providers()).openai;
    assert.equal(openai?.status, 'unreachable');
    assert.equal(openai?.error_rate, 1);
  } finally {
    await gateway.close();
  }
});
