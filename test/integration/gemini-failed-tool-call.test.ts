// Gemini's MALFORMED_FUNCTION_CALL (an answer with nothing in it but a function call the model
// failed to write): the call is tried again and answered when a try succeeds, plain and streamed;
// when every try fails the client gets a 502 naming it, and the deployment's circuit stays closed
// however often it happens (the request's tools, not the deployment, are the likely cause).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { authHeaders, startGateway, type Gateway } from '../support/gateway-harness.js';

describe('Gemini: a function call the model failed to write', () => {
  let gemini: FakeGemini;
  let gateway: Gateway;

  before(async () => {
    gemini = await startFakeGemini();
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-malformed-'));
    const file = join(dir, 'config.yaml');
    // One failing request (three tries) would open the circuit if these counted against the deployment.
    writeFileSync(file, 'routing:\n  retries: 2\n  failure_threshold: 3\n  cooldown_s: 60\n');
    gateway = await startGateway({ GEMINI_API_KEY: 'gemini-key-malformed-123456', GEMINI_BASE_URL: gemini.url, LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway?.close();
    await gemini?.close();
  });
  beforeEach(() => gemini.reset());

  async function chat(stream: boolean): Promise<{ status: number; text: string; route: string | null }> {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders(),
      body: JSON.stringify({ model: 'gemini-2.5-flash', stream, messages: [{ role: 'user', content: 'Weather in Paris?' }] }),
    });
    return { status: response.status, text: await response.text(), route: response.headers.get('x-llm-proxy-route') };
  }

  async function circuit(): Promise<string | undefined> {
    const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { deployments?: Record<string, { circuit: string }> }>;
    return providers.gemini?.deployments?.['gemini/gemini-2.5-flash']?.circuit;
  }

  for (const stream of [false, true]) {
    test(`${stream ? 'streamed' : 'plain'}: tried again, and the next try's answer is the client's`, async () => {
      gemini.enqueue({ kind: 'scenario', scenario: 'malformed-call' });
      const answer = await chat(stream);
      assert.equal(answer.status, 200, answer.text);
      assert.match(answer.text, /Hello there!/);
      assert.equal(answer.route, 'gemini/gemini-2.5-flash=upstream_failed_tool_call, gemini/gemini-2.5-flash=200');
    });
  }

  test('every try failing: 502 upstream_failed_tool_call; the circuit stays closed, and the next request is served', async () => {
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 3; index++) gemini.enqueue({ kind: 'scenario', scenario: 'malformed-call' });
      const failed = await chat(false);
      assert.equal(failed.status, 502, failed.text);
      const error = (JSON.parse(failed.text) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'upstream_failed_tool_call');
      assert.match(error.message, /MALFORMED_FUNCTION_CALL/);
    }
    assert.equal(await circuit(), 'closed');
    assert.equal((await chat(false)).status, 200);
  });
});
