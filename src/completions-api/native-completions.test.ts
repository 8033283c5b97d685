// The pass-through of /v1/completions streams: the proxy always asks the host for usage, so usage the
// client did not ask for is taken out, whatever its counts look like; an event that is no chunk fails the stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StreamStats } from '../routing/chat-call-types.js';
import type { Route } from '../routing/model-router.js';
import { GatewayError } from '../errors/gateway-error.js';
import { completionsProtocol } from './native-completions.js';

const ROUTE = { provider: { name: 'openai', kind: 'openai' }, upstreamModel: 'gpt-3.5-turbo-instruct', model: 'gpt-3.5-turbo-instruct', entry: undefined } as unknown as Route;

function read(data: unknown, clientUsage: boolean): { frame: string; stats: StreamStats } {
  const stats: StreamStats = { usage: undefined, finished: false, contentStarted: false, chunks: 0, model: undefined };
  const frame = completionsProtocol({ model: 'gpt-3.5-turbo-instruct', prompt: 'Hi' }, clientUsage, () => undefined).readEvent({ data: JSON.stringify(data) }, stats, ROUTE);
  return { frame, stats };
}

const usageChunk = (usage: unknown) => ({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices: [], usage });
const textChunk = (usage: unknown) => ({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices: [{ text: 'Hi', index: 0, logprobs: null, finish_reason: 'stop' }], usage });

describe('completions pass-through: usage the client did not ask for', () => {
  test('a readable usage chunk is dropped and recorded', () => {
    const { frame, stats } = read(usageChunk({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 }), false);
    assert.equal(frame, '');
    assert.equal(stats.usage?.completion_tokens, 3);
  });

  // Found by the chaos suite: a usage object without readable counts (`{}`, strings) reached the client.
  for (const usage of [{}, { prompt_tokens: '4', completion_tokens: '3' }, { total_tokens: 7 }]) {
    test(`a usage chunk with unreadable counts ${JSON.stringify(usage)} is dropped too`, () => {
      const { frame, stats } = read(usageChunk(usage), false);
      assert.equal(frame, '');
      assert.equal(stats.usage, undefined);
    });

    test(`usage beside text ${JSON.stringify(usage)} is removed, the text kept`, () => {
      const { frame } = read(textChunk(usage), false);
      const sent = JSON.parse(frame.replace(/^data: /, '')) as Record<string, unknown>;
      assert.equal(sent.usage, undefined);
      assert.deepEqual((sent.choices as Array<{ text: string }>)[0]?.text, 'Hi');
    });
  }

  test('a client that asked gets the chunk as it came', () => {
    const data = usageChunk({});
    assert.equal(read(data, true).frame, `data: ${JSON.stringify(data)}\n\n`);
  });
});

describe('completions pass-through: events that are no chunk', () => {
  // Found by the chaos suite: `{"unexpected": true}` went to the client as if it were a chunk.
  for (const data of [{ unexpected: true }, { choices: 'none' }, { object: 'text_completion', choices: null }]) {
    test(`${JSON.stringify(data)} ends the stream with an upstream error`, () => {
      assert.throws(() => read(data, false), (error: unknown) => error instanceof GatewayError && error.status === 502);
    });
  }
});

describe('completions pass-through: the request to Azure', () => {
  const AZURE = { provider: { name: 'azure', kind: 'azure', baseUrl: new URL('https://x.openai.azure.com/') }, upstreamModel: 'instruct', model: 'instruct', entry: undefined } as unknown as Route;
  const sent = (apiVersion: string | undefined) =>
    JSON.parse(completionsProtocol({ model: 'azure/instruct', prompt: 'Hi', stream: true, stream_options: { include_usage: true } }, true, () => apiVersion).request(AZURE, true).body ?? '') as Record<string, unknown>;

  test('an api-version that takes stream_options is asked for usage', () => {
    assert.deepEqual(sent(undefined).stream_options, { include_usage: true });
    assert.deepEqual(sent('2024-10-21').stream_options, { include_usage: true });
  });

  test('an older api-version, which answers 400 to stream_options, gets none (not even the client’s)', () => {
    const body = sent('2024-06-01');
    assert.equal('stream_options' in body, false);
    assert.deepEqual(body, { model: 'instruct', prompt: 'Hi', stream: true });
  });
});
