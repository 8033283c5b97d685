import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, makeTarget, sseEvents } from '../../../test/providers/codec-harness.js';
import { openAiCase } from '../../../test/providers/openai-cases.js';
import { readGeminiFixture, readGeminiJson } from '../../../test/support/fake-gemini.js';
import { geminiCodec, parseGeminiModelList, parseGeminiRetryDelay } from './gemini-codec.js';

describe('geminiCodec', () => {
  it('translates: it is not a pass-through codec', () => {
    assert.equal(geminiCodec.passthrough, false);
  });

  it('sends the key in x-goog-api-key only', () => {
    assert.deepEqual(geminiCodec.authHeaders('AIza-test'), { 'x-goog-api-key': 'AIza-test' });
    assert.deepEqual(geminiCodec.authHeaders(undefined), {});
  });

  it('posts to :generateContent, or :streamGenerateContent?alt=sse when streaming, never with the key in the URL', () => {
    const plain = geminiCodec.buildChatRequest(openAiCase('text'), makeTarget('gemini'));
    assert.deepEqual({ ...plain, body: JSON.parse(plain.body ?? '') as unknown }, {
      path: '/v1beta/models/gemini-2.5-flash:generateContent',
      method: 'POST',
      headers: {},
      body: readGeminiJson('gemini-text.request.json'),
    });
    const streaming = geminiCodec.buildChatRequest(openAiCase('text'), makeTarget('gemini', { stream: true }));
    assert.equal(streaming.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    assert.doesNotMatch(plain.path + streaming.path, /key=/);
  });

  it('URL-encodes the model and accepts the models/ prefix', () => {
    assert.equal(geminiCodec.buildChatRequest(openAiCase('text'), makeTarget('gemini', { model: 'models/gemini-2.5-pro' })).path, '/v1beta/models/gemini-2.5-pro:generateContent');
    assert.equal(geminiCodec.buildChatRequest(openAiCase('text'), makeTarget('gemini', { model: 'tuned/a b?c' })).path, '/v1beta/models/tuned%2Fa%20b%3Fc:generateContent');
  });

  it('parses answers, streams and error bodies', async () => {
    assert.equal(geminiCodec.parseChatResponse(readGeminiJson('gemini-text.response.json'), makeTarget('gemini')).choices[0]?.finish_reason, 'stop');
    const chunks = await collect(geminiCodec.convertStream(sseEvents(readGeminiFixture('gemini-tools.chunks.txt')), makeTarget('gemini', { stream: true })));
    assert.equal(chunks[chunks.length - 1]?.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(geminiCodec.parseErrorMessage(readGeminiJson('gemini-error-503.json')), 'UNAVAILABLE: The model is overloaded. Please try again later.');
  });

  it('lists the models that can generate content, without the models/ prefix', () => {
    assert.deepEqual(geminiCodec.listModels?.request(), { path: '/v1beta/models?pageSize=1000', method: 'GET', headers: {} });
    assert.deepEqual(geminiCodec.listModels?.parse(readGeminiJson('gemini-models.json')), [
      { id: 'gemini-2.5-flash', ownedBy: 'google', name: 'Gemini 2.5 Flash', contextLength: 1048576, maxOutputTokens: 65536 },
      { id: 'gemini-2.5-pro', ownedBy: 'google', name: 'Gemini 2.5 Pro', contextLength: 1048576, maxOutputTokens: 65536 },
    ]);
    assert.deepEqual(parseGeminiModelList({ models: [{ name: 'models/x', supportedGenerationMethods: 'generateContent' }, { name: 'models/', supportedGenerationMethods: ['generateContent'] }, 7] }), []);
  });

  it('a body that is not a list is a failed read (undefined); `{}` is an empty list', () => {
    assert.equal(parseGeminiModelList(null), undefined);
    assert.equal(parseGeminiModelList({ error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } }), undefined);
    assert.equal(parseGeminiModelList({ models: 'none' }), undefined);
    assert.equal(parseGeminiModelList({ nextPageToken: 'x' }), undefined);
    // Google's JSON leaves an empty repeated field out.
    assert.deepEqual(parseGeminiModelList({}), []);
    assert.deepEqual(parseGeminiModelList({ models: [] }), []);
  });

  it("reads a 429's RetryInfo delay from the error body", () => {
    assert.equal(parseGeminiRetryDelay(readGeminiJson('gemini-error-429.json')), 37_000);
    assert.equal(parseGeminiRetryDelay({ error: { details: [{ retryDelay: '1.5s' }] } }), 1500);
    assert.equal(parseGeminiRetryDelay({ error: { message: 'no details' } }), undefined);
    assert.equal(parseGeminiRetryDelay('not an object'), undefined);
  });

  it('reads an error body wrapped in a list (a streaming method\'s error) as the object itself', () => {
    const wrapped = (name: string) => [readGeminiJson(name)];
    assert.equal(geminiCodec.parseErrorMessage(wrapped('gemini-error-503.json')), 'UNAVAILABLE: The model is overloaded. Please try again later.');
    assert.equal(parseGeminiRetryDelay(wrapped('gemini-error-429.json')), 37_000);
    assert.equal(geminiCodec.parseErrorStatus?.(400, wrapped('gemini-error-invalid-key.json')), 401);
    assert.equal(geminiCodec.parseErrorStatus?.(400, readGeminiJson('gemini-error-invalid-key.json')), 401);
    assert.equal(geminiCodec.parseErrorStatus?.(400, wrapped('gemini-error-400.json')), undefined);
  });
});

describe("Gemini's status for a request over its size limit", () => {
  it('a 400 INVALID_ARGUMENT "Request payload size exceeds the limit" is read as the 413 it means (request_too_large, as a 413 from any provider)', () => {
    const body = { error: { code: 400, message: 'Request payload size exceeds the limit: 20971520 bytes.', status: 'INVALID_ARGUMENT' } };
    assert.equal(geminiCodec.parseErrorStatus?.(400, body), 413);
    assert.equal(geminiCodec.parseErrorStatus?.(400, [body]), 413, 'as the streaming method wraps it');
    assert.equal(geminiCodec.parseErrorStatus?.(400, { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } }), undefined);
  });
});

describe("Gemini's status for a project it will not serve", () => {
  // Google's troubleshooting table: 400 FAILED_PRECONDITION, "Gemini API free tier is not available in
  // your country. Please enable billing …" (and "User location is not supported for the API use."):
  // the project's billing or region, which the operator must fix, never the client's request.
  // @see https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
  it('a 400 FAILED_PRECONDITION is read as the 402 it means (upstream_billing_error, as a 402 from any provider)', () => {
    assert.equal(geminiCodec.parseErrorStatus?.(400, readGeminiJson('gemini-error-failed-precondition.json')), 402);
    assert.equal(geminiCodec.parseErrorStatus?.(400, [readGeminiJson('gemini-error-failed-precondition.json')]), 402, 'as the streaming method wraps it');
    assert.equal(geminiCodec.parseErrorStatus?.(400, { error: { code: 400, message: 'User location is not supported for the API use.', status: 'FAILED_PRECONDITION' } }), 402);
    assert.equal(geminiCodec.parseErrorStatus?.(400, readGeminiJson('gemini-error-400.json')), undefined, 'INVALID_ARGUMENT stays the client\'s 400');
  });
});
