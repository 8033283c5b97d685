import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, makeTarget, sseEvents } from '../../../test/providers/codec-harness.js';
import { openAiCase } from '../../../test/providers/openai-cases.js';
import { readAnthropicFixture, readAnthropicJson } from '../../../test/support/fake-anthropic.js';
import { upstreamError } from '../../errors/gateway-error.js';
import { anthropicCodec, parseAnthropicModelList } from './anthropic-codec.js';

describe('anthropicCodec', () => {
  it('translates: it is not a pass-through codec', () => {
    assert.equal(anthropicCodec.passthrough, false);
  });

  it('sends the key as x-api-key with the pinned API version', () => {
    assert.deepEqual(anthropicCodec.authHeaders('sk-ant-1'), { 'x-api-key': 'sk-ant-1', 'anthropic-version': '2023-06-01' });
    assert.deepEqual(anthropicCodec.authHeaders(undefined), { 'anthropic-version': '2023-06-01' });
  });

  it('posts to /v1/messages, with stream: true in the body when streaming', () => {
    const plain = anthropicCodec.buildChatRequest(openAiCase('text'), makeTarget('anthropic'));
    assert.equal(plain.path, '/v1/messages');
    assert.equal(plain.method, 'POST');
    assert.deepEqual(JSON.parse(plain.body ?? ''), readAnthropicJson('anthropic-text.request.json'));
    const streaming = anthropicCodec.buildChatRequest(openAiCase('text'), makeTarget('anthropic', { stream: true }));
    assert.equal(streaming.path, '/v1/messages');
    assert.equal((JSON.parse(streaming.body ?? '') as { stream?: boolean }).stream, true);
  });

  it('parses answers, streams and error bodies', async () => {
    const response = anthropicCodec.parseChatResponse(readAnthropicJson('anthropic-text.response.json'), makeTarget('anthropic'));
    assert.equal(response.choices[0]?.message.content, 'Hello! How can I help you today?');
    const chunks = await collect(anthropicCodec.convertStream(sseEvents(readAnthropicFixture('anthropic-text.chunks.txt')), makeTarget('anthropic', { stream: true })));
    assert.equal(chunks[chunks.length - 1]?.choices[0]?.finish_reason, 'stop');
    assert.equal(anthropicCodec.parseErrorMessage(readAnthropicJson('anthropic-error-529.json')), 'overloaded_error: Overloaded');
  });

  it('retries 529 (overloaded): the shared status table makes every 5xx a retryable upstream_error', () => {
    const error = upstreamError(529, 'anthropic', anthropicCodec.parseErrorMessage(readAnthropicJson('anthropic-error-529.json')) ?? '');
    assert.equal(error.retryable, true);
    assert.equal(error.code, 'upstream_error');
  });

  it('lists models from GET /v1/models?limit=1000', () => {
    assert.deepEqual(anthropicCodec.listModels?.request(), { path: '/v1/models?limit=1000', method: 'GET', headers: {} });
    assert.deepEqual(anthropicCodec.listModels?.parse(readAnthropicJson('anthropic-models.json')), [
      { id: 'claude-sonnet-4-5-20250929', ownedBy: 'anthropic', name: 'Claude Sonnet 4.5', created: 1759104000, contextLength: 200000, maxOutputTokens: 64000 },
      { id: 'claude-haiku-4-5-20251001', ownedBy: 'anthropic', name: 'Claude Haiku 4.5', created: 1760486400 },
      { id: 'claude-opus-4-1-20250805', ownedBy: 'anthropic', name: 'Claude Opus 4.1', created: 1754352000, contextLength: 200000, maxOutputTokens: 32000 },
    ]);
  });

  it('skips model entries it cannot use', () => {
    assert.deepEqual(parseAnthropicModelList({ data: [{ id: '' }, { id: 3 }, null, { id: 'x'.repeat(300) }, { id: 'ok', created_at: 'not a date' }] }), [{ id: 'ok', ownedBy: 'anthropic' }]);
  });

  it('a body that is not a list is a failed read (undefined), an empty data array an empty list', () => {
    assert.equal(parseAnthropicModelList({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), undefined);
    assert.equal(parseAnthropicModelList({ data: { id: 'x' } }), undefined);
    assert.equal(parseAnthropicModelList(null), undefined);
    assert.equal(parseAnthropicModelList([]), undefined);
    assert.deepEqual(parseAnthropicModelList({ data: [], has_more: false }), []);
  });
});

describe("Anthropic's status for an account out of credit", () => {
  const body = (message: string) => ({ type: 'error', error: { type: 'invalid_request_error', message } });

  it('a 400 "credit balance is too low" is read as the 402 it means (the operator\'s billing, not the client\'s request)', () => {
    const broke = body('Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.');
    assert.equal(anthropicCodec.parseErrorStatus?.(400, broke), 402);
    assert.equal(anthropicCodec.parseErrorStatus?.(400, body('messages: roles must alternate')), undefined, 'other 400s stay the client\'s');
    assert.equal(anthropicCodec.parseErrorStatus?.(429, broke), undefined);
    assert.equal(anthropicCodec.parseErrorStatus?.(400, '<html>'), undefined);
  });
});
