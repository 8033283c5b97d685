// Non-streamed upstream answers the proxy parses but cannot convert (tool arguments nested too deep
// for JSON.stringify) are the provider's fault: a 502 upstream_error and a usage record, never a 500.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, eventually, startGateway, type Gateway } from '../support/gateway-harness.js';

const DEEP = '['.repeat(20_000) + ']'.repeat(20_000);

/** Each provider's answer with one tool call whose arguments are DEEP. */
const ANSWERS: Record<string, string> = {
  '/v1/messages': JSON.stringify({
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5',
    content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 'DEEP' } }],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 5, output_tokens: 1 },
  }).replace('"DEEP"', DEEP),
  '/v1beta/models/gemini-2.5-flash:generateContent': JSON.stringify({
    candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'f', args: { a: 'DEEP' } } }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1, totalTokenCount: 6 },
  }).replace('"DEEP"', DEEP),
};

describe('answers that cannot be converted', () => {
  let upstream: Server;
  let gateway: Gateway;
  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      const body = ANSWERS[(req.url ?? '').split('?')[0] ?? ''];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(body ?? '{}');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gateway = await startGateway(
      { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: url, GEMINI_API_KEY: 'gemini-test', GEMINI_BASE_URL: url, LLM_PROXY_RPM: '0' },
      { configure: (config) => (config.routing.retries = 0) },
    );
  });
  after(async () => {
    await gateway.close();
    upstream.closeAllConnections();
    upstream.close();
  });

  for (const model of ['anthropic/claude-sonnet-4-5', 'gemini/gemini-2.5-flash']) {
    test(`${model}: tool arguments nested too deep to stringify → 502 upstream_error, recorded`, async () => {
      const requestId = `deep-${model.split('/')[0] ?? ''}`;
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, 'x-request-id': requestId },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }] }),
      });
      const body = (await response.json()) as { error: { code: string; type: string } };
      assert.equal(response.status, 502, JSON.stringify(body));
      assert.equal(body.error.code, 'upstream_error');
      assert.equal(body.error.type, 'api_error');
      await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === requestId), 2000);
      assert.equal(gateway.usage.recent().find((entry) => entry.requestId === requestId)?.status, 'error');
    });
  }
});
