// The Anthropic codec over real HTTP against the fake server: the request it describes reaches the
// right path with the right headers, and the bytes that come back convert as in the unit tests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { anthropicCodec } from '../../src/providers/anthropic/anthropic-codec.js';
import type { ChatTarget, UpstreamRequestSpec } from '../../src/providers/provider.js';
import { decodeSse } from '../../src/streaming/sse-decoder.js';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { collect, collectUntilError, makeTarget, reassemble } from './codec-harness.js';
import { openAiCase } from './openai-cases.js';

describe('anthropicCodec over HTTP', () => {
  let fake: FakeAnthropic;
  before(async () => {
    fake = await startFakeAnthropic();
  });
  after(() => fake.close());

  async function send(spec: UpstreamRequestSpec): Promise<Response> {
    const headers = { ...anthropicCodec.authHeaders('sk-ant-secret'), ...spec.headers, ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }) };
    return fetch(fake.url + spec.path, { method: spec.method, headers, ...(spec.body === undefined ? {} : { body: spec.body }) });
  }

  async function stream(target: ChatTarget) {
    const response = await send(anthropicCodec.buildChatRequest(openAiCase('tools'), target));
    assert.equal(response.status, 200);
    assert.ok(response.body !== null);
    return anthropicCodec.convertStream(decodeSse(response.body), target);
  }

  it('sends the converted body with the key and version headers', async () => {
    fake.reset();
    fake.respondWith('tools');
    const target = makeTarget('anthropic');
    const response = await send(anthropicCodec.buildChatRequest(openAiCase('tools'), target));
    const answer = anthropicCodec.parseChatResponse(await response.json(), target);
    assert.equal(answer.choices[0]?.finish_reason, 'tool_calls');
    const request = fake.requests[0];
    assert.equal(request?.path, '/v1/messages');
    assert.equal(request?.headers['x-api-key'], 'sk-ant-secret');
    assert.equal(request?.headers['anthropic-version'], '2023-06-01');
    assert.equal((request?.body as { tool_choice?: unknown }).tool_choice !== undefined, true);
  });

  it('streams the fixture bytes into chunks', async () => {
    fake.respondWith('tools');
    const chunks = await collect(await stream(makeTarget('anthropic', { stream: true })));
    assert.equal((fake.requests[fake.requests.length - 1]?.body as { stream?: boolean }).stream, true);
    assert.deepEqual(reassemble(chunks), [
      {
        index: 0,
        content: "I'll check the current weather in Paris for you.",
        tool_calls: [{ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius","days":null}' } }],
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('fails the stream when the socket dies mid-body', async () => {
    fake.enqueue({ kind: 'destroy', scenario: 'text', afterEvents: 4 });
    const { items, error } = await collectUntilError(await stream(makeTarget('anthropic', { stream: true })));
    assert.ok(items.length >= 1);
    // undici reports the reset (`terminated`); a clean close would be a GatewayError instead.
    assert.ok(error instanceof Error);
  });

  it('reads the error body of an injected status', async () => {
    fake.enqueue({ kind: 'error', status: 529 });
    const response = await send(anthropicCodec.buildChatRequest(openAiCase('text'), makeTarget('anthropic')));
    assert.equal(response.status, 529);
    assert.equal(response.headers.get('x-should-retry'), 'true');
    assert.equal(anthropicCodec.parseErrorMessage(await response.json()), 'overloaded_error: Overloaded');
  });

  it('discovers models through the list request', async () => {
    const spec = anthropicCodec.listModels?.request();
    assert.ok(spec !== undefined);
    const models = anthropicCodec.listModels?.parse(await (await send(spec)).json());
    assert.equal(models?.length, 3);
    assert.equal(fake.requests[fake.requests.length - 1]?.query.limit, '1000');
  });

  it('refuses a stream cut before message_stop', async () => {
    fake.respondWith('stream-truncated');
    const { error } = await collectUntilError(await stream(makeTarget('anthropic', { stream: true })));
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'upstream_stream_error');
  });
});
