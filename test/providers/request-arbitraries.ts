// fast-check generators for OpenAI chat requests as the proxy's schema accepts them: any role in any
// order, content as a string, null or parts of every kind (and kinds nobody defined), tool calls with
// ids other providers made, tools, tool_choice, response_format, stop, n, sampling fields, and
// cache_control markers here and there. Plus a generator of conversations that are consistent in
// OpenAI's terms (every tool message answers a call of the assistant message before it).
import fc from 'fast-check';
import { validateChatRequest } from '../../src/openai/chat-request-schema.js';
import type { ChatCompletionRequest } from '../../src/openai/types.js';
import { acceptedBy, shaped } from './wire-arbitraries.js';

/** Mostly absent: a request sets few of the optional fields, and each wrong one ends the translation early. */
function rare<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

const words = fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '👋', '"', '\n'), maxLength: 6 });
/** Ids as OpenAI, Anthropic, Gemini and others make them, and ones only a client would. */
const callId = fc.constantFrom('call_1', 'call_2', 'call.1', 'call 1', 'toolu_01', 'call-1', '', '🙂', 'x'.repeat(70));
const toolName = fc.constantFrom('get_weather', 'search', 'json_response', 'a.b', 'x', 'get weather', '1st');
const marker = fc.oneof(
  { weight: 24, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constant({ type: 'ephemeral' }) },
  { weight: 1, arbitrary: fc.constant({ type: 'ephemeral', ttl: '1h' }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({ type: 'persistent' }, 'yes', { type: 'ephemeral', ttl: '2h' }) },
);

const dataUrl = fc.constantFrom(
  'data:image/png;base64,iVBORw0KGgo=',
  'data:image/jpg;base64,/9j/4AAQ',
  'data:image/svg+xml;base64,PHN2Zz4=',
  'data:;base64,AAAA',
  'data:image/png,raw',
  'data:application/pdf;base64,JVBERi0=',
  'data:',
);
const url = fc.oneof(fc.constantFrom('data:image/png;base64,iVBORw0KGgo=', 'https://example.com/cat.png'), dataUrl, fc.constantFrom('https://example.com/cat.png', 'HTTP://EXAMPLE.COM/a', 'ftp://x/y', 'https://generativelanguage.googleapis.com/v1beta/files/abc-123', ''));

export const contentPart: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 16, arbitrary: shaped({ type: fc.constant('text'), text: fc.oneof({ weight: 20, arbitrary: words }, { weight: 1, arbitrary: fc.constant(undefined) }), cache_control: marker }) },
  {
    weight: 3,
    arbitrary: shaped({
      type: fc.constant('image_url'),
      image_url: fc.oneof({ weight: 10, arbitrary: shaped({ url, detail: fc.constantFrom(undefined, 'low') }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, 'https://x/y.png', 5) }),
      cache_control: marker,
    }),
  },
  { weight: 1, arbitrary: shaped({ type: fc.constant('input_audio'), input_audio: fc.oneof(shaped({ data: fc.constant('UklGRg=='), format: fc.constantFrom('wav', 'mp3', 'w a v', '') }), fc.constant(undefined)) }) },
  {
    weight: 1,
    arbitrary: shaped({
      type: fc.constant('file'),
      file: fc.oneof(shaped({ file_data: fc.oneof(dataUrl, fc.constantFrom(undefined, 'JVBERi0=')), file_id: fc.constantFrom(undefined, 'file-1'), filename: fc.constantFrom(undefined, 'a.pdf', 'a.txt') }), fc.constant(undefined)),
      cache_control: marker,
    }),
  },
  { weight: 1, arbitrary: shaped({ type: fc.constantFrom('refusal', 'input_text', 'video_url', 'x'), refusal: words }) },
);

const content = fc.oneof(
  { weight: 4, arbitrary: words },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, undefined) },
  { weight: 3, arbitrary: fc.array(contentPart, { maxLength: 3 }) },
);

const argumentsText = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('{}', '{"city":"Paris"}', '') }, { weight: 1, arbitrary: fc.constantFrom('[1]', '{"a":', 'null', '"s"') });

const toolCall = shaped({ id: callId, type: fc.constantFrom(undefined, 'function'), function: shaped({ name: toolName, arguments: argumentsText }) });

export const chatMessage: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 2, arbitrary: shaped({ role: fc.constantFrom('system', 'developer'), content, name: fc.constantFrom(undefined, 'ops'), cache_control: marker }) },
  { weight: 6, arbitrary: shaped({ role: fc.constant('user'), content, name: rare(fc.constant('alice')), cache_control: marker }) },
  {
    weight: 4,
    arbitrary: shaped({
      role: fc.constant('assistant'),
      content,
      tool_calls: fc.option(fc.array(toolCall, { maxLength: 3 }), { nil: undefined, freq: 2 }),
      function_call: rare(shaped({ name: toolName, arguments: argumentsText })),
      cache_control: marker,
    }),
  },
  { weight: 2, arbitrary: shaped({ role: fc.constant('tool'), content, tool_call_id: fc.option(callId, { nil: undefined, freq: 8 }), cache_control: marker }) },
  { weight: 1, arbitrary: shaped({ role: fc.constant('function'), content, name: fc.option(toolName, { nil: undefined }) }) },
);

const schema = fc.oneof(
  fc.constantFrom<unknown>(
    undefined,
    {},
    { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { n: { type: ['integer', 'null'] } } },
    { type: 'array', items: { type: 'string' } },
    { type: 'object', properties: { a: { $ref: '#/$defs/A' } }, $defs: { A: { type: 'string', enum: ['x', 1] } } },
    { type: 'object', properties: { a: { $ref: '#/$defs/Missing' } } },
  ),
);

const functionDefinition = shaped({ name: toolName, description: fc.constantFrom(undefined, '', 'Weather.'), parameters: schema, strict: fc.constantFrom(undefined, true, null), cache_control: marker });

export const chatRequest: fc.Arbitrary<ChatCompletionRequest> = shaped({
  model: fc.constant('some-model'),
  messages: fc.array(chatMessage, { minLength: 1, maxLength: 5 }),
  stream: rare(fc.constantFrom(undefined, true, false, null)),
  max_tokens: rare(fc.constantFrom(undefined, null, 1, 100, 1_000_000)),
  max_completion_tokens: rare(fc.constantFrom(undefined, null, 50)),
  temperature: rare(fc.constantFrom(undefined, null, 0, 0.7, 1, 1, 0.2, 1.5)),
  top_p: rare(fc.constantFrom(undefined, null, 0, 0.9, 1)),
  n: rare(fc.constantFrom(undefined, null, 1, 1, 2)),
  stop: rare(fc.constantFrom<unknown>(undefined, null, 'END', [], ['a', 'b'], [''], '\n', ['END', ' \t'])),
  presence_penalty: rare(fc.constantFrom(undefined, 0, 1)),
  frequency_penalty: rare(fc.constantFrom(undefined, 0, -1)),
  seed: rare(fc.constantFrom(undefined, null, 42)),
  user: rare(fc.constantFrom(undefined, '', 'user-1')),
  logprobs: rare(fc.constantFrom(undefined, null, false, false, true)),
  top_logprobs: rare(rare(fc.constantFrom(null, 0, 5))),
  logit_bias: rare(fc.constantFrom<unknown>(undefined, null, {}, { '50256': -100 })),
  response_format: rare(fc.constantFrom<unknown>(
    { type: 'text' },
    { type: 'json_object' },
    { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object', properties: { a: { type: 'string' } } } } },
    { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'array' } } },
    { type: 'json_schema', json_schema: 'x' },
    { type: 'json_schema' },
  )),
  tools: fc.option(fc.array(shaped({ type: fc.constant('function'), function: functionDefinition, cache_control: marker }), { maxLength: 3 }), { nil: undefined }),
  tool_choice: fc.constantFrom<unknown>(undefined, undefined, 'none', 'auto', 'required', { type: 'function', function: { name: 'get_weather' } }),
  parallel_tool_calls: rare(fc.constantFrom(undefined, true, false)),
  functions: rare(fc.option(fc.array(functionDefinition, { maxLength: 2 }), { nil: undefined, freq: 5 })),
  function_call: rare(fc.constantFrom<unknown>(undefined, 'none', 'auto', { name: 'search' })),
  cache_control: marker,
  some_future_field: rare(fc.constantFrom(undefined, 1)),
})
  // Only what the schema accepts reaches a translator: the HTTP layer refuses the rest with its own 400.
  .filter(acceptedBy(validateChatRequest)) as fc.Arbitrary<ChatCompletionRequest>;

/**
 * A conversation that is consistent in OpenAI's terms: user and assistant turns, each assistant call
 * answered by one tool message right after it (ids unique across the conversation, as OpenAI's are).
 */
export const consistentConversation: fc.Arbitrary<Array<Record<string, unknown>>> = fc
  .array(
    fc.record({
      user: fc.oneof(words, fc.array(shaped({ type: fc.constant('text'), text: words }), { maxLength: 2 })),
      text: fc.option(words, { nil: null }),
      calls: fc.array(fc.record({ id: callId, name: toolName, arguments: fc.constantFrom('{}', '{"city":"Paris"}') }), { maxLength: 3 }),
      results: fc.array(fc.oneof(words, fc.constant('{"ok":true}')), { minLength: 3, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((turns) => {
    const messages: Array<Record<string, unknown>> = [{ role: 'system', content: 'Be brief.' }];
    const used = new Set<string>();
    for (const turn of turns) {
      messages.push({ role: 'user', content: turn.user });
      // OpenAI's ids are unique in a conversation; a repeated one is made unique as a client's store would.
      const calls = turn.calls.map((call, index) => {
        let id = call.id;
        while (used.has(id)) id = `${id}#${index}`;
        used.add(id);
        return { id, type: 'function', function: { name: call.name, arguments: call.arguments } };
      });
      messages.push(calls.length > 0 ? { role: 'assistant', content: turn.text, tool_calls: calls } : { role: 'assistant', content: turn.text ?? 'ok' });
      calls.forEach((call, index) => messages.push({ role: 'tool', tool_call_id: call.id, content: turn.results[index] }));
    }
    messages.push({ role: 'user', content: 'And now?' });
    return messages;
  });
