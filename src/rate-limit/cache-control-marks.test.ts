// Which cache writes a request's cache_control markers ask for, in both formats the proxy takes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toChatRequest } from '../anthropic-api/to-chat-request.js';
import type { MessagesRequest } from '../anthropic-api/messages-request.js';
import { convertAnthropicRequest } from '../providers/anthropic/convert-request.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import { cacheControlWrites } from './cache-control-marks.js';

const EPHEMERAL = { type: 'ephemeral' };
const HOUR = { type: 'ephemeral', ttl: '1h' };

describe('cacheControlWrites', () => {
  test('a request without markers writes nothing', () => {
    assert.equal(cacheControlWrites({ model: 'm', messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: [{ type: 'text', text: 'x' }] }] }), 'none');
    assert.equal(cacheControlWrites({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: null }] }], cache_control: null }), 'none');
    assert.equal(cacheControlWrites(undefined), 'none');
    assert.equal(cacheControlWrites({ messages: 'not a list', tools: {}, system: 'text' }), 'none');
  });

  test('Anthropic Messages: a marker at the top (automatic caching), on tools, system blocks, content blocks or inside a tool_result', () => {
    const user = (content: unknown) => ({ model: 'm', messages: [{ role: 'user', content }] });
    assert.equal(cacheControlWrites({ ...user('hi'), cache_control: EPHEMERAL }), 'default');
    assert.equal(cacheControlWrites({ ...user('hi'), tools: [{ name: 't', input_schema: { type: 'object' }, cache_control: EPHEMERAL }] }), 'default');
    assert.equal(cacheControlWrites({ ...user('hi'), system: [{ type: 'text', text: 's', cache_control: EPHEMERAL }] }), 'default');
    assert.equal(cacheControlWrites(user([{ type: 'text', text: 'a' }, { type: 'image', source: {}, cache_control: EPHEMERAL }])), 'default');
    const result = { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'r', cache_control: HOUR }] };
    assert.equal(cacheControlWrites(user([result])), '1h');
  });

  test('OpenAI format (OpenRouter): markers on content parts, messages, tools (beside or inside the function) or at the top', () => {
    const part = { role: 'user', content: [{ type: 'text', text: 'big', cache_control: EPHEMERAL }] };
    assert.equal(cacheControlWrites({ model: 'm', messages: [{ role: 'system', content: 's' }, part] }), 'default');
    assert.equal(cacheControlWrites({ model: 'm', messages: [{ role: 'user', content: 'x', cache_control: HOUR }] }), '1h');
    assert.equal(cacheControlWrites({ model: 'm', messages: [], tools: [{ type: 'function', function: { name: 'f', cache_control: EPHEMERAL } }] }), 'default');
    assert.equal(cacheControlWrites({ model: 'm', messages: [], cache_control: HOUR }), '1h');
  });

  test('any 1-hour marker makes the request a 1-hour writer, wherever it stands among 5-minute ones', () => {
    const body = {
      model: 'm',
      system: [{ type: 'text', text: 's', cache_control: EPHEMERAL }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'a', cache_control: { type: 'ephemeral', ttl: '5m' } }] },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: [{ type: 'text', text: 'c', cache_control: HOUR }] },
      ],
    };
    assert.equal(cacheControlWrites(body), '1h');
    assert.equal(cacheControlWrites({ ...body, messages: body.messages.slice(0, 2) }), 'default');
  });

  test('a chat request translated for Anthropic keeps its markers, so the hold counts the same writes on either body (src/rate-limit/chat-admission.ts)', () => {
    const chat = {
      model: 'claude-sonnet-4-6',
      cache_control: HOUR,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 's', cache_control: HOUR }] },
        { role: 'user', content: [{ type: 'text', text: 'big', cache_control: HOUR }], cache_control: HOUR },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } }, cache_control: HOUR }],
    } as unknown as ChatCompletionRequest;
    assert.equal(cacheControlWrites(chat), '1h');
    const sent = convertAnthropicRequest(chat, { provider: 'anthropic', model: 'claude-sonnet-4-6', stream: false, includeUsage: false, requestId: 'r', created: 0, warnings: [] });
    assert.equal(cacheControlWrites(sent), '1h');
    // Four breakpoints: the user message's own marker lands on the block its part already marked.
    assert.equal(JSON.stringify(sent).match(/cache_control/g)?.length, 4);
    assert.deepEqual(sent.system, [{ type: 'text', text: 's', cache_control: HOUR }]);
    assert.deepEqual(sent.tools?.[0]?.cache_control, HOUR);
    assert.deepEqual(sent.cache_control, HOUR);
    // Without markers, none are made up.
    const plain = convertAnthropicRequest({ model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'big' }] }, { provider: 'anthropic', model: 'claude-sonnet-4-6', stream: false, includeUsage: false, requestId: 'r', created: 0, warnings: [] });
    assert.equal(cacheControlWrites(plain), 'none');
  });

  test('a marker on a legacy functions[] entry counts: the translation carries it to the Anthropic tool', () => {
    const chat = {
      model: 'claude-sonnet-4-6',
      messages: [{ role: 'user', content: 'big' }],
      functions: [{ name: 'f', parameters: { type: 'object' }, cache_control: HOUR }],
    } as unknown as ChatCompletionRequest;
    const sent = convertAnthropicRequest(chat, { provider: 'anthropic', model: 'claude-sonnet-4-6', stream: false, includeUsage: false, requestId: 'r', created: 0, warnings: [] });
    assert.equal(cacheControlWrites(sent), '1h');
    assert.equal(cacheControlWrites(chat), '1h');
  });

  test('a Messages request translated through chat keeps its markers: the hold prices the writes a Claude deployment reached that way makes', () => {
    const body = {
      model: 'm',
      max_tokens: 10,
      cache_control: HOUR,
      system: [{ type: 'text', text: 's', cache_control: HOUR }],
      tools: [{ name: 't', input_schema: { type: 'object' }, cache_control: HOUR }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'big', cache_control: HOUR }] }],
    } as unknown as MessagesRequest;
    assert.equal(cacheControlWrites(body), '1h');
    assert.equal(cacheControlWrites(toChatRequest(body, []).chat), '1h');
  });
});
