// The Gemini codec over real HTTP against the fake server: the request it describes reaches the
// right path (model encoded, key only in a header), and the bytes that come back convert.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { geminiCodec } from '../../src/providers/gemini/gemini-codec.js';
import type { ChatTarget, UpstreamRequestSpec } from '../../src/providers/provider.js';
import { decodeSse } from '../../src/streaming/sse-decoder.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { collect, collectUntilError, makeTarget, reassemble } from './codec-harness.js';
import { openAiCase } from './openai-cases.js';

describe('geminiCodec over HTTP', () => {
  let fake: FakeGemini;
  before(async () => {
    fake = await startFakeGemini();
  });
  after(() => fake.close());

  async function send(spec: UpstreamRequestSpec): Promise<Response> {
    const headers = { ...geminiCodec.authHeaders('AIza-secret'), ...spec.headers, ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }) };
    return fetch(fake.url + spec.path, { method: spec.method, headers, ...(spec.body === undefined ? {} : { body: spec.body }) });
  }

  async function stream(target: ChatTarget) {
    const response = await send(geminiCodec.buildChatRequest(openAiCase('parallel-tools'), target));
    assert.equal(response.status, 200);
    assert.ok(response.body !== null);
    return geminiCodec.convertStream(decodeSse(response.body), target);
  }

  it('sends the converted body with the key in x-goog-api-key and never in the URL', async () => {
    fake.reset();
    fake.respondWith('parallel-tools');
    const target = makeTarget('gemini');
    const answer = geminiCodec.parseChatResponse(await (await send(geminiCodec.buildChatRequest(openAiCase('parallel-tools'), target))).json(), target);
    assert.equal(answer.choices[0]?.message.tool_calls?.length, 2);
    const request = fake.requests[0];
    assert.equal(request?.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.deepEqual(request?.query, {});
    assert.equal(request?.headers['x-goog-api-key'], 'AIza-secret');
    assert.equal(request?.model, 'gemini-2.5-flash');
  });

  it('streams with alt=sse and converts the fixture bytes', async () => {
    fake.respondWith('parallel-tools');
    const chunks = await collect(await stream(makeTarget('gemini', { stream: true })));
    const request = fake.requests[fake.requests.length - 1];
    assert.equal(request?.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    assert.deepEqual(request?.query, { alt: 'sse' });
    assert.deepEqual(
      reassemble(chunks)[0]?.tool_calls?.map((call) => [call.id, call.function.arguments]),
      [
        ['call_req123_0', '{"location":"Paris","unit":"celsius","days":null}'],
        ['call_req123_1', '{"location":"Tokyo","unit":"celsius","days":null}'],
      ],
    );
  });

  it('fails the stream when the socket dies mid-body', async () => {
    fake.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 1 });
    const { items, error } = await collectUntilError(await stream(makeTarget('gemini', { stream: true })));
    assert.ok(items.length >= 1);
    assert.ok(error instanceof Error);
  });

  it('reads the error body of an injected status', async () => {
    fake.enqueue({ kind: 'error', status: 429 });
    const response = await send(geminiCodec.buildChatRequest(openAiCase('text'), makeTarget('gemini')));
    assert.equal(response.status, 429);
    assert.match(geminiCodec.parseErrorMessage(await response.json()) ?? '', /^RESOURCE_EXHAUSTED: /);
  });

  it('discovers models through the list request', async () => {
    const spec = geminiCodec.listModels?.request();
    assert.ok(spec !== undefined);
    const models = geminiCodec.listModels?.parse(await (await send(spec)).json());
    assert.deepEqual(models?.map((model) => model.id), ['gemini-2.5-flash', 'gemini-2.5-pro']);
    assert.deepEqual(fake.requests[fake.requests.length - 1]?.query, { pageSize: '1000' });
  });

  it('refuses a stream without a finishReason and reports an error payload', async () => {
    fake.respondWith('stream-truncated');
    const truncated = await collectUntilError(await stream(makeTarget('gemini', { stream: true })));
    assert.ok(truncated.error instanceof GatewayError);
    assert.equal(truncated.error.code, 'upstream_stream_error');
    fake.respondWith('stream-error');
    const failed = await collectUntilError(await stream(makeTarget('gemini', { stream: true })));
    assert.ok(failed.error instanceof GatewayError);
    assert.equal(failed.error.status, 502);
  });
});
