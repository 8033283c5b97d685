// Non-streamed upstream answers the proxy parses but cannot convert (tool arguments nested too deep
// for JSON.stringify; a passed-through chat completion with mistyped tool calls asked for on
// /v1/messages) are the provider's fault: a 502 and a usage record, never a 500.
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

/** An OpenAI-format chat completion whose message is `message`. */
function chatAnswer(message: Record<string, unknown>): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: 'tool_calls' }],
    usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
  });
}
const OPENAI_ANSWERS = [chatAnswer({ tool_calls: [null] }), chatAnswer({ tool_calls: 'x' }), chatAnswer({ function_call: 'x' }), chatAnswer({ tool_calls: [{ id: 'c', type: 'function' }] })];
let openAiAnswer = OPENAI_ANSWERS[0] as string;

describe('answers that cannot be converted', () => {
  let upstream: Server;
  let gateway: Gateway;
  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      const path = (req.url ?? '').split('?')[0] ?? '';
      const body = path === '/v1/chat/completions' ? openAiAnswer : ANSWERS[path];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(body ?? '{}');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gateway = await startGateway(
      { ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: url, GEMINI_API_KEY: 'gemini-test', GEMINI_BASE_URL: url, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${url}/v1`, LLM_PROXY_RPM: '0' },
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

  test('/v1/messages over an OpenAI-format answer with mistyped tool calls → 502 in Anthropic shape, recorded with its tokens', async () => {
    for (const [index, answer] of OPENAI_ANSWERS.entries()) {
      openAiAnswer = answer;
      const requestId = `mistyped-${index}`;
      const response = await fetch(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'x-request-id': requestId },
        body: JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }),
      });
      const body = (await response.json()) as { type: string; error: { type: string } };
      assert.equal(response.status, 502, `${answer}: ${JSON.stringify(body)}`);
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'api_error');
      await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === requestId), 2000);
      const entry = gateway.usage.recent().find((recorded) => recorded.requestId === requestId);
      assert.equal(entry?.status, 'error');
      assert.equal(entry?.promptTokens, 5);
    }
  });

  test('/v1/messages: a tool call without arguments has the input {}, as in a stream', async () => {
    openAiAnswer = chatAnswer({ tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f' } }] });
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as { content: unknown }).content, [{ type: 'tool_use', id: 'call_1', name: 'f', input: {} }]);
  });

  test('/v1/messages on Claude: the same deep answer passes through as it came (only its cached chat form is given up)', async () => {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }),
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), ANSWERS['/v1/messages']);
  });
});
