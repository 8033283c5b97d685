// The OpenAI requests behind every provider fixture case: one table both translated providers
// (and the conformance suite) read, so `anthropic-tools.*` and `gemini-tools.*` answer the same question.
import type { ChatCompletionRequest } from '../../src/openai/types.js';

export type ChatCase =
  | 'text'
  | 'multi-turn'
  | 'image'
  | 'image-url'
  | 'tools'
  | 'parallel-tools'
  | 'tool-result'
  | 'legacy-functions'
  | 'json-mode'
  | 'stop'
  | 'max-tokens';

/** A 1×1 PNG, small enough to inline. */
export const TINY_PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
export const IMAGE_URL = 'https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png';

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city.',
    strict: true,
    parameters: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        location: { type: 'string', description: 'City name, e.g. Paris' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'], default: 'celsius' },
        days: { type: ['integer', 'null'], description: 'Forecast days', examples: [1, 3] },
      },
      required: ['location', 'unit', 'days'],
      additionalProperties: false,
    },
  },
} as const;

export const weatherFunction = weatherTool.function;

export function openAiCase(name: ChatCase): ChatCompletionRequest {
  switch (name) {
    case 'text':
      return { model: 'test-model', messages: [{ role: 'user', content: 'Hello' }] };
    case 'multi-turn':
      return {
        model: 'test-model',
        messages: [
          { role: 'system', content: 'You are a terse assistant.' },
          { role: 'developer', content: 'Answer in English.' },
          { role: 'user', content: 'What is the capital of France?' },
          { role: 'assistant', content: 'Paris.' },
          { role: 'user', content: 'And of Germany?' },
          { role: 'user', content: [{ type: 'text', text: 'One word, please.' }] },
        ],
        temperature: 0.2,
        top_p: 0.9,
        max_tokens: 100,
        user: 'user-123',
      };
    case 'image':
      return {
        model: 'test-model',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this image?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${TINY_PNG_BASE64}`, detail: 'low' } },
            ],
          },
        ],
      };
    case 'image-url':
      return {
        model: 'test-model',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe this picture.' },
              { type: 'image_url', image_url: { url: IMAGE_URL } },
            ],
          },
        ],
      };
    case 'tools':
      return {
        model: 'test-model',
        messages: [{ role: 'user', content: "What's the weather in Paris?" }],
        tools: [structuredClone(weatherTool) as unknown as NonNullable<ChatCompletionRequest['tools']>[number]],
        tool_choice: 'auto',
      };
    case 'parallel-tools':
      return {
        model: 'test-model',
        messages: [{ role: 'user', content: 'What is the weather in Paris and in Tokyo?' }],
        tools: [structuredClone(weatherTool) as unknown as NonNullable<ChatCompletionRequest['tools']>[number]],
        tool_choice: 'required',
      };
    case 'tool-result':
      return {
        model: 'test-model',
        messages: [
          { role: 'user', content: 'What is the weather in Paris and in Tokyo?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius","days":null}' } },
              { id: 'call_tokyo', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo","unit":"celsius","days":null}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_paris', content: '{"temperature":18,"condition":"cloudy"}' },
          { role: 'tool', tool_call_id: 'call_tokyo', content: 'Sunny, 24°C' },
        ],
        tools: [structuredClone(weatherTool) as unknown as NonNullable<ChatCompletionRequest['tools']>[number]],
        parallel_tool_calls: false,
      };
    case 'legacy-functions':
      return {
        model: 'test-model',
        messages: [
          { role: 'user', content: 'What is the weather in Paris?' },
          { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius","days":null}' } },
          { role: 'function', name: 'get_weather', content: '{"temperature":18,"condition":"cloudy"}' },
          { role: 'user', content: 'And in Rome?' },
        ],
        functions: [{ name: 'get_weather', description: 'Get the current weather for a city.', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } }],
        function_call: 'auto',
      };
    case 'json-mode':
      return {
        model: 'test-model',
        messages: [{ role: 'user', content: 'Give me the largest city in Japan as JSON.' }],
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'city',
            strict: true,
            schema: {
              type: 'object',
              properties: { name: { type: 'string' }, population: { type: 'integer' } },
              required: ['name', 'population'],
              additionalProperties: false,
            },
          },
        },
      };
    case 'stop':
      return { model: 'test-model', messages: [{ role: 'user', content: 'Count from 1 to 10, one number per line.' }], stop: ['5'] };
    case 'max-tokens':
      return { model: 'test-model', messages: [{ role: 'user', content: 'Write a long story about a dragon.' }], max_completion_tokens: 16 };
  }
}
