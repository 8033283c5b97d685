// POST /v1/completions (issue #11) through the official `openai` SDK: passed through to a host that
// serves completions (an OpenAI-format fake speaking text_completion), and emulated over chat for
// Anthropic and Gemini (recorded fixtures), marked `X-LLM-Proxy-Emulated: chat`. Fields chat cannot
// honour get a 400 in OpenAI's error format; usage records say `completions`. A fallback the key may
// not use does not count against passing through.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { KEYS, record } from '../support/conformance-providers.js';
import { readAnthropicJson, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { readGeminiJson, startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { CLIENT_KEY, eventually, MASTER_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

interface SeenRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

const TEXT = ' there was a small village by the sea.';
const PIECES = [' there', ' was a', ' small village', ' by the sea.'];
const USAGE = { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 };
/** What the host writes after a stream's `[DONE]` (set by a test, then cleared). */
let afterDone = '';
/** A host that closes its streams after the finish without `[DONE]` (set by a test, then cleared). */
let omitDone = false;

/** A host that serves legacy completions, as OpenAI answers them (JSON, or `data:` chunks, a usage chunk when asked, [DONE]). */
async function startCompletionsHost(): Promise<{ url: string; requests: SeenRequest[]; close(): Promise<void> }> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      const azure = /^\/openai\/deployments\/[^/]+\/completions\?api-version=/.test(req.url ?? '');
      if (req.url !== '/v1/completions' && !azure) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Unknown path', type: 'invalid_request_error', param: null, code: null } }));
        return;
      }
      const base = { id: 'cmpl-fake1', object: 'text_completion', created: 1_700_000_000, model: 'gpt-3.5-turbo-instruct' };
      if (body.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...base, choices: [{ text: TEXT, index: 0, logprobs: null, finish_reason: 'length' }], usage: USAGE }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const frames = PIECES.map((text, index) => ({ ...base, choices: [{ text, index: 0, logprobs: null, finish_reason: index === PIECES.length - 1 ? 'length' : null }] }));
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      if (includeUsage) frames.push({ ...base, choices: [], usage: USAGE } as never);
      res.end(frames.map((frame) => `data: ${JSON.stringify(frame)}\n\n`).join('') + (omitDone ? '' : 'data: [DONE]\n\n') + afterDone);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('/v1/completions through the openai SDK', () => {
  let host: Awaited<ReturnType<typeof startCompletionsHost>>;
  let anthropic: FakeAnthropic;
  let gemini: FakeGemini;
  let gateway: Gateway;
  let client: OpenAI;

  before(async () => {
    [host, anthropic, gemini] = await Promise.all([startCompletionsHost(), startFakeAnthropic(), startFakeGemini()]);
    gateway = await startGateway(
      {
        OPENAI_API_KEY: KEYS.openai,
        OPENAI_BASE_URL: `${host.url}/v1`,
        ANTHROPIC_API_KEY: KEYS.anthropic,
        ANTHROPIC_BASE_URL: anthropic.url,
        GEMINI_API_KEY: KEYS.gemini,
        GEMINI_BASE_URL: gemini.url,
        AZURE_OPENAI_API_KEY: 'azure-key-0123456789',
        AZURE_OPENAI_ENDPOINT: host.url,
        LLM_PROXY_RPM: '0',
      },
      {
        // Served natively only for keys that may not use the Claude fallback.
        configure: (config) => void (config.models = [{ name: 'instruct-backed', deployments: [{ provider: 'openai', model: 'gpt-3.5-turbo-instruct' }], fallbacks: ['claude-sonnet-4-5'] }]),
      },
    );
    client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([host?.close(), anthropic?.close(), gemini?.close()]);
  });

  /** A native streamed completion, read whole as the SSE text the client got. */
  async function streamedText(): Promise<string> {
    const response = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', max_tokens: 9, stream: true }),
    });
    return response.text();
  }

  async function lastUsage(count: number): Promise<Record<string, unknown>> {
    await eventually(() => gateway.usage.recent().length >= count);
    return gateway.usage.recent().at(-1) as unknown as Record<string, unknown>;
  }

  test('native: the body goes to the host as sent, the answer comes back as it was', async () => {
    host.requests.length = 0;
    const request = { model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', max_tokens: 9, echo: false, logprobs: 2, suffix: '!', best_of: 1 };
    const { data, response } = await client.completions.create(request).withResponse();
    assert.equal(data.object, 'text_completion');
    assert.equal(data.choices[0]?.text, TEXT);
    assert.equal(data.choices[0]?.finish_reason, 'length');
    assert.deepEqual(data.usage, USAGE);
    assert.equal(response.headers.get('x-llm-proxy-emulated'), null, 'not emulated');
    assert.equal(host.requests.length, 1);
    assert.equal(host.requests[0]?.path, '/v1/completions');
    assert.equal(host.requests[0]?.headers.authorization, `Bearer ${KEYS.openai}`);
    assert.deepEqual(host.requests[0]?.body, request, 'logprobs, suffix and echo reach a host that serves them');
    const usage = await lastUsage(1);
    assert.equal(usage.endpoint, 'completions');
    assert.equal(usage.promptTokens, USAGE.prompt_tokens);
    assert.equal(usage.completionTokens, USAGE.completion_tokens);
  });

  test('a fallback the key may not use does not make a completions host emulated', async () => {
    const created = await fetch(`${gateway.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'instruct-only', models: ['instruct-backed'] }),
    });
    const { key } = (await created.json()) as { key: string };
    const request = { model: 'instruct-backed', prompt: 'Once upon a time', max_tokens: 9, logprobs: 2 };
    host.requests.length = 0;
    const limited = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const { data, response } = await limited.completions.create(request).withResponse();
    assert.equal(data.choices[0]?.text, TEXT);
    assert.equal(response.headers.get('x-llm-proxy-emulated'), null, 'not emulated');
    assert.equal(host.requests[0]?.path, '/v1/completions');
    assert.equal(host.requests[0]?.body.logprobs, 2);

    // A key that may fall back to Claude is emulated, and emulation refuses logprobs.
    await assert.rejects(client.completions.create(request), (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'logprobs');
    assert.equal(host.requests.length, 1);
  });

  test('native on Azure: the deployment in the path, the key in api-key', async () => {
    host.requests.length = 0;
    const data = await client.completions.create({ model: 'azure/instruct-prod', prompt: 'Once upon a time', max_tokens: 9 });
    assert.equal(data.choices[0]?.text, TEXT);
    assert.equal(host.requests[0]?.path, '/openai/deployments/instruct-prod/completions?api-version=2024-10-21');
    assert.equal(host.requests[0]?.headers['api-key'], 'azure-key-0123456789');
    assert.equal(host.requests[0]?.body.model, 'instruct-prod');
  });

  test('native, streamed: chunks as the host sent them; usage only when asked, always read', async () => {
    for (const includeUsage of [false, true]) {
      host.requests.length = 0;
      const before = gateway.usage.recent().length;
      const stream = await client.completions.create({
        model: 'gpt-3.5-turbo-instruct',
        prompt: 'Once upon a time',
        max_tokens: 9,
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      });
      let text = '';
      let usageChunks = 0;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'text_completion');
        text += chunk.choices[0]?.text ?? '';
        if (chunk.usage !== undefined && chunk.usage !== null) usageChunks++;
      }
      assert.equal(text, TEXT);
      assert.equal(usageChunks, includeUsage ? 1 : 0);
      assert.deepEqual(host.requests[0]?.body.stream_options, { include_usage: true }, 'the proxy always asks for usage');
      const usage = await lastUsage(before + 1);
      assert.equal(usage.endpoint, 'completions');
      assert.equal(usage.completionTokens, USAGE.completion_tokens);
      assert.equal(usage.estimated, false);
    }
  });

  test('native, streamed: nothing after the host\'s [DONE] is read, so no error event follows it', async () => {
    afterDone = 'data: {not json\n\ndata: {"error":{"message":"late"}}\n\n';
    try {
      const text = await streamedText();
      assert.ok(text.endsWith('data: [DONE]\n\n'), text);
      assert.ok(!text.includes('error'), text);
    } finally {
      afterDone = '';
    }
  });

  test('native, streamed: a host that closes after the finish without [DONE] still gives the client its [DONE], once', async () => {
    omitDone = true;
    try {
      const before = gateway.usage.recent().length;
      const text = await streamedText();
      assert.ok(text.endsWith('data: [DONE]\n\n'), text);
      assert.equal(text.split('[DONE]').length, 2, text);
      assert.ok(!text.includes('error'), text);
      const usage = await lastUsage(before + 1);
      assert.equal(usage.status, 'ok');
    } finally {
      omitDone = false;
    }
    // With the host's own [DONE], still one.
    assert.equal((await streamedText()).split('[DONE]').length, 2);
  });

  test('emulated over chat for Anthropic: one user message, the answer as text_completion, marked', async () => {
    anthropic.reset();
    anthropic.respondWith('text');
    const { data, response } = await client.completions.create({ model: 'claude-sonnet-4-5', prompt: 'Hello', max_tokens: 50, temperature: 0.5 }).withResponse();
    assert.equal(response.headers.get('x-llm-proxy-emulated'), 'chat');
    const fixture = record(readAnthropicJson('anthropic-text.response.json'));
    const text = (fixture.content as Array<{ text: string }>)[0]?.text;
    assert.equal(data.object, 'text_completion');
    assert.match(data.id, /^cmpl-/);
    assert.equal(data.choices[0]?.text, text);
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.ok((data.usage?.prompt_tokens ?? 0) > 0);
    const sent = record(anthropic.requests[0]?.body);
    assert.deepEqual(sent.messages, [{ role: 'user', content: 'Hello' }]);
    assert.equal(sent.max_tokens, 50);
    assert.equal(sent.temperature, 0.5);
    const usage = await lastUsage(1);
    assert.equal(usage.endpoint, 'completions');
    assert.equal(usage.provider, 'anthropic');
  });

  test('emulated over chat for Gemini, streamed: text chunks, [DONE], usage when asked', async () => {
    gemini.reset();
    gemini.respondWith('text');
    const { data: stream, response } = await client.completions.create({ model: 'gemini-2.5-flash', prompt: 'Hello', stream: true, stream_options: { include_usage: true } }).withResponse();
    assert.equal(response.headers.get('x-llm-proxy-emulated'), 'chat');
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion');
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    const fixture = record(readGeminiJson('gemini-text.response.json'));
    const parts = ((fixture.candidates as Array<{ content: { parts: Array<{ text: string }> } }>)[0]?.content.parts ?? []).map((part) => part.text).join('');
    assert.equal(text, parts);
    assert.equal(finish, 'stop');
    assert.ok(usage !== undefined && usage.prompt_tokens > 0, 'the usage chunk');
  });

  test('emulation refuses what chat cannot do, in OpenAI error format, before any upstream call', async () => {
    anthropic.reset();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ echo: true }, 'echo'],
      [{ logprobs: 3 }, 'logprobs'],
      [{ suffix: 'end' }, 'suffix'],
      [{ best_of: 2 }, 'best_of'],
      [{ prompt: ['one', 'two'] }, 'prompt'],
      [{ prompt: [1, 2, 3] }, 'prompt'],
    ];
    for (const [fields, param] of cases) {
      await assert.rejects(client.completions.create({ model: 'claude-sonnet-4-5', prompt: 'Hello', ...fields } as OpenAI.CompletionCreateParamsNonStreaming), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.code, 'unsupported_parameter');
        assert.equal(error.param, param);
        assert.match(error.message, /emulates completions over chat/);
        return true;
      });
    }
    assert.equal(anthropic.requests.length, 0);
  });

  test('bad input and unknown models: OpenAI-shaped errors', async () => {
    await assert.rejects(client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hi', temperature: 5 }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.param, 'temperature');
      return true;
    });
    await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'Hi' }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.NotFoundError);
      assert.equal(error.code, 'model_not_found');
      return true;
    });
  });
});
