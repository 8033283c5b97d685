// RELIABILITY §4b#19, the billing half: a client that leaves mid-stream is billed for what it was
// sent (prompt plus the completion tokens counted locally from the chunks written), not refunded to
// zero (new-api#5235) and not charged its max_tokens (new-api#4199).
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { eventually } from '../support/gateway-harness.js';
import { chat, JSON_AUTH, splitSse, withStack } from '../support/reliability-support.js';

describe('§4b#19 a mid-stream disconnect is billed what was sent', () => {
  test('completion tokens are those of the chunks the client got; the cost is that, far below max_tokens', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await withStack({ fake: { reply: 'alpha beta gamma delta epsilon zeta eta theta iota kappa' } }, async ({ fake, gateway, url }) => {
      fake.enqueue({ kind: 'gated-stream', chunks: 4, release: gate });
      const target = new URL(url);
      let received = '';
      const req = httpRequest({ host: target.hostname, port: target.port, path: '/v1/chat/completions', method: 'POST', headers: { ...JSON_AUTH, 'x-request-id': 'left-mid-stream' }, agent: false }, (res) => {
        res.on('data', (data: Buffer) => (received += data.toString('utf8')));
        res.on('error', () => undefined);
      });
      req.on('error', () => undefined);
      req.end(chat({ stream: true, max_tokens: 4000 }));
      // Four chunks written, the fifth held back: the client leaves with what it has.
      await eventually(() => splitSse(received).data.length >= 4, 3000);
      req.destroy();
      await fake.waitForAbort(1000);
      release();

      await eventually(() => gateway.usage.recent().some((record) => record.requestId === 'left-mid-stream'), 3000);
      const record = gateway.usage.recent().find((entry) => entry.requestId === 'left-mid-stream');
      assert.equal(record?.status, 'client_disconnected');
      const text = splitSse(received)
        .data.map((item) => (JSON.parse(item) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
        .join('');
      const words = text.trim().split(/\s+/).filter((word) => word.length > 0).length;
      assert.ok(words >= 2 && words < 10, `the client got "${text}"`);
      // Not refunded: the words it got are billed, one or two tokens each; not charged the 4,000 it might have had.
      assert.ok(record.completionTokens >= words && record.completionTokens <= 2 * words + 1, `${record.completionTokens} completion tokens for "${text}"`);
      assert.ok(record.promptTokens > 0);
      const route = gateway.app.services.router.plan('gpt-4')?.deployments[0]?.route.entry;
      const expected = gateway.app.services.catalog.cost(route, record.promptTokens, record.completionTokens);
      assert.ok(expected !== undefined && expected > 0);
      assert.ok(Math.abs((record.cost ?? 0) - expected) < 1e-12, `cost ${String(record.cost)}, expected ${expected}`);
      const atMax = gateway.app.services.catalog.cost(route, record.promptTokens, 4000) ?? 0;
      assert.ok((record.cost ?? 0) < atMax / 50, 'not billed at max_tokens');
    });
  });

  /** Sends a chat request on its own connection and destroys it after `leaveAfterMs`. */
  async function leaveEarly(url: string, requestId: string, body: string, leaveAfterMs: number): Promise<void> {
    const target = new URL(url);
    const req = httpRequest({ host: target.hostname, port: target.port, path: '/v1/chat/completions', method: 'POST', headers: { ...JSON_AUTH, 'x-request-id': requestId }, agent: false });
    req.on('error', () => undefined);
    req.on('response', (res) => res.on('error', () => undefined));
    req.end(body);
    await new Promise((resolve) => setTimeout(resolve, leaveAfterMs));
    req.destroy();
  }

  test('§4b#20: a client that leaves while the upstream reads its prompt (before any answer) is billed that prompt, estimated, and no output', async () => {
    await withStack({}, async ({ fake, gateway, url }) => {
      for (const [requestId, stream] of [['left-waiting', false], ['left-before-first-token', true]] as const) {
        fake.enqueue({ kind: 'delay-headers', ms: 3000 });
        await leaveEarly(url, requestId, chat({ stream, max_tokens: 4000 }), 300);
        await fake.waitForAbort(1000);
        await eventually(() => gateway.usage.recent().some((record) => record.requestId === requestId), 3000);
        const record = gateway.usage.recent().find((entry) => entry.requestId === requestId);
        assert.equal(record?.status, 'client_disconnected', requestId);
        assert.ok(record.promptTokens > 0, `${requestId}: the prompt the provider read is billed`);
        assert.equal(record.completionTokens, 0, `${requestId}: no output was written`);
        assert.equal(record.estimated, true);
        const entry = gateway.app.services.router.plan('gpt-4')?.deployments[0]?.route.entry;
        const expected = gateway.app.services.catalog.cost(entry, record.promptTokens, 0);
        assert.ok(expected !== undefined && expected > 0 && Math.abs((record.cost ?? 0) - expected) < 1e-12, `${requestId}: cost ${String(record.cost)}, expected ${String(expected)}`);
      }
    });
  });

  test('§4b#20: a client that leaves after its only attempt was answered with an error (waiting for the retry) is billed nothing', async () => {
    await withStack({ yaml: 'routing: { retries: 1 }' }, async ({ fake, gateway, url }) => {
      // A 503 that asks for 2 s: the retry waits, and the client leaves during the wait.
      fake.enqueue({ kind: 'status', status: 503, headers: { 'retry-after': '2' } });
      await leaveEarly(url, 'left-during-retry-wait', chat({ max_tokens: 100 }), 500);
      await eventually(() => gateway.usage.recent().some((record) => record.requestId === 'left-during-retry-wait'), 4000);
      const record = gateway.usage.recent().find((entry) => entry.requestId === 'left-during-retry-wait');
      assert.equal(record?.status, 'client_disconnected');
      assert.equal(record.promptTokens, 0);
      assert.equal(record.cost ?? 0, 0);
    });
  });
});

