import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Anthropic from '@anthropic-ai/sdk';
import type { ChatCompletionRequest } from '../../openai/types.js';
import { assertRefused, makeTarget } from '../../../test/providers/codec-harness.js';
import { readAnthropicJson } from '../../../test/support/fake-anthropic.js';
import type { AnthropicMessagesRequest } from './anthropic-wire.js';
import { convertAnthropicRequest } from './convert-request.js';

const FIVE = { type: 'ephemeral' } as const;
const HOUR = { type: 'ephemeral', ttl: '1h' } as const;

function convert(request: unknown, stream = false) {
  const target = makeTarget('anthropic', { stream });
  return { body: convertAnthropicRequest(request as ChatCompletionRequest, target), warnings: target.warnings };
}

function rejects(request: unknown, param: string, message: RegExp): void {
  assertRefused(() => convert(request), { code: 'invalid_value', param, message });
}

/** A body as the official SDK types it: the compiler checks each breakpoint sits where Anthropic takes one. */
function sdkShaped(body: AnthropicMessagesRequest): Anthropic.MessageCreateParams {
  return body;
}

describe('cache_control markers from an OpenAI chat request to Anthropic breakpoints', () => {
  it('builds anthropic-prompt-cache.request.json: system message, image part, tool message and tool definition', () => {
    const { body, warnings } = convert(readAnthropicJson('anthropic-prompt-cache.chat-request.json'));
    assert.deepEqual(sdkShaped(body), readAnthropicJson('anthropic-prompt-cache.request.json'));
    assert.deepEqual(warnings, []);
    // The streamed call is built by the same conversion.
    assert.deepEqual(convert(readAnthropicJson('anthropic-prompt-cache.chat-request.json'), true).body, {
      ...(readAnthropicJson('anthropic-prompt-cache.request.json') as object),
      stream: true,
    });
  });

  it('marks a user text part, keeping the turn as blocks, and a top-level marker asks for automatic caching without a warning', () => {
    const { body, warnings } = convert({
      model: 'm',
      cache_control: FIVE,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Rules.' }, { type: 'text', text: 'Long reference.', cache_control: HOUR }] },
        { role: 'user', content: [{ type: 'text', text: 'Question?', cache_control: { type: 'ephemeral', ttl: '5m' } }] },
      ],
    });
    assert.deepEqual(body.system, [
      { type: 'text', text: 'Rules.' },
      { type: 'text', text: 'Long reference.', cache_control: HOUR },
    ]);
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'Question?', cache_control: { type: 'ephemeral', ttl: '5m' } }] }]);
    assert.deepEqual(body.cache_control, FIVE);
    assert.deepEqual(warnings, []);
  });

  it('puts a message-level marker on the message’s last block (a user string, an assistant tool call), and a tool part’s on its result', () => {
    const { body } = convert({
      model: 'm',
      messages: [
        { role: 'user', content: 'Look it up.', cache_control: FIVE },
        { role: 'assistant', content: 'Looking.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }], cache_control: FIVE },
        { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: 'found', cache_control: FIVE }] },
      ],
    });
    assert.deepEqual(body.messages[0], { role: 'user', content: [{ type: 'text', text: 'Look it up.', cache_control: FIVE }] });
    assert.deepEqual(body.messages[1], {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Looking.' },
        { type: 'tool_use', id: 'c1', name: 'f', input: {}, cache_control: FIVE },
      ],
    });
    // A marker on a part of a tool message goes on the result: Anthropic takes none inside it.
    assert.deepEqual(body.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', cache_control: FIVE, content: [{ type: 'text', text: 'found' }] }] });
  });

  it('reads a tool marker beside function first, then inside it; legacy functions too', () => {
    const parameters = { type: 'object', properties: {} };
    const { body } = convert({
      model: 'm',
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [
        { type: 'function', function: { name: 'a', parameters }, cache_control: HOUR },
        { type: 'function', function: { name: 'b', parameters, cache_control: FIVE } },
        { type: 'function', function: { name: 'c', parameters } },
      ],
    });
    assert.deepEqual(
      body.tools?.map((tool) => tool.cache_control),
      [HOUR, FIVE, undefined],
    );
    const legacy = convert({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], functions: [{ name: 'a', parameters, cache_control: FIVE }] }).body;
    assert.deepEqual(legacy.tools?.[0]?.cache_control, FIVE);
  });

  it('sends only type and ttl, and nothing for an unmarked request', () => {
    const { body } = convert({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral', ttl: '1h', scope: 'x' } }] }] });
    assert.deepEqual(body.messages[0]?.content, [{ type: 'text', text: 'Hi', cache_control: HOUR }]);
    const plain = convert(readAnthropicJson('anthropic-prompt-cache.chat-request.json'));
    assert.match(JSON.stringify(plain.body), /cache_control/);
    assert.doesNotMatch(JSON.stringify(convert({ model: 'm', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }] }] }).body), /cache_control/);
  });

  it('refuses a malformed marker with a 400 naming its path', () => {
    const part = (cache_control: unknown) => ({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi', cache_control }] }] });
    rejects(part('ephemeral'), 'messages[0].content[0].cache_control', /expected \{"type": "ephemeral"\}/);
    rejects(part({ type: 'persistent' }), 'messages[0].content[0].cache_control.type', /only "ephemeral"/);
    rejects(part({ type: 'ephemeral', ttl: '24h' }), 'messages[0].content[0].cache_control.ttl', /"5m" or "1h"/);
    rejects({ model: 'm', cache_control: [], messages: [{ role: 'user', content: 'Hi' }] }, 'cache_control', /ephemeral/);
    rejects({ model: 'm', messages: [{ role: 'system', content: 'S', cache_control: { type: 'ephemeral', ttl: 3600 } }, { role: 'user', content: 'Hi' }] }, 'messages[0].cache_control.ttl', /"5m" or "1h"/);
    rejects(
      { model: 'm', messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'function', function: { name: 'f', cache_control: 1 } }] },
      'tools[0].function.cache_control',
      /ephemeral/,
    );
  });

  it('takes a marker on an empty text part of a tool message to its tool_result, where a part marker goes anyway', () => {
    // An empty tool output with the marker on its part (a client marking the last message's last part).
    const { body } = convert({
      model: 'm',
      messages: [
        { role: 'user', content: 'Run it.' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: '', cache_control: FIVE }] },
      ],
    });
    assert.deepEqual(body.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', cache_control: FIVE }] });
  });

  it('refuses a marker with nothing to mark: an empty text part, an empty message', () => {
    rejects({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: '', cache_control: FIVE }] }] }, 'messages[0].content[0].cache_control', /empty text/);
    rejects({ model: 'm', messages: [{ role: 'system', content: [{ type: 'text', text: '', cache_control: FIVE }] }, { role: 'user', content: 'Hi' }] }, 'messages[0].content[0].cache_control', /empty text/);
    rejects({ model: 'm', messages: [{ role: 'user', content: '', cache_control: FIVE }] }, 'messages[0].cache_control', /no content/);
  });

  it('refuses a fifth breakpoint, the top-level one included, naming it in Anthropic’s order', () => {
    const parts = (count: number) => Array.from({ length: count }, (_, index) => ({ type: 'text', text: `part ${index}`, cache_control: FIVE }));
    assert.doesNotThrow(() => convert({ model: 'm', messages: [{ role: 'user', content: parts(4) }] }));
    rejects({ model: 'm', messages: [{ role: 'user', content: parts(5) }] }, 'messages[0].content[4].cache_control', /at most 4 .*found 5/);
    rejects({ model: 'm', cache_control: FIVE, messages: [{ role: 'user', content: parts(4) }] }, 'cache_control', /found 5/);
    // Tools come first in Anthropic's order, so the fifth is a message part even though the tool is listed last.
    rejects(
      { model: 'm', messages: [{ role: 'user', content: parts(4) }], tools: [{ type: 'function', function: { name: 'f' }, cache_control: FIVE }] },
      'messages[0].content[3].cache_control',
      /found 5/,
    );
  });

  it('refuses a 1-hour breakpoint after a 5-minute one in Anthropic’s order (tools, system, messages)', () => {
    rejects(
      { model: 'm', messages: [{ role: 'system', content: 'S', cache_control: FIVE }, { role: 'user', content: 'Hi', cache_control: HOUR }] },
      'messages[1].cache_control',
      /1-hour breakpoint must come before.*'messages\[0\]\.cache_control'/,
    );
    rejects({ model: 'm', cache_control: HOUR, messages: [{ role: 'user', content: 'Hi', cache_control: FIVE }] }, 'cache_control', /1-hour/);
    // A tool's 1-hour breakpoint precedes the system's 5-minute one, wherever the client listed them.
    assert.doesNotThrow(() =>
      convert({ model: 'm', messages: [{ role: 'system', content: 'S', cache_control: FIVE }, { role: 'user', content: 'Hi' }], tools: [{ type: 'function', function: { name: 'f' }, cache_control: HOUR }] }),
    );
  });
});
