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
});
