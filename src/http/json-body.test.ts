import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors/gateway-error.js';
import { CHAT_SCHEMAS, guardBody, MESSAGES_SCHEMAS, schemaPositions, type SchemaPositions } from './json-body.js';

const MESSAGES = [{ role: 'user', content: 'hi' }];

/** The `param` guardBody refuses `body` with, or undefined when it passes. */
function refusedAt(body: Record<string, unknown>, schemas?: SchemaPositions): string | null | undefined {
  try {
    guardBody(body, schemas);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'forbidden_param');
    return error.param;
  }
}

/** An object schema whose property names are override keys: legitimate inside a schema. */
const OVERRIDE_NAMED = {
  type: 'object',
  properties: { base_url: { type: 'string' }, api_key: { type: 'string' }, nested: { type: 'object', properties: { custom_host: { type: 'string' } } } },
  required: ['base_url'],
};

describe('guardBody schema positions', () => {
  test('keys named parameters/schema/input_schema/properties outside a schema position get no exemption', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ parameters: { base_url: 'http://evil', api_key: 'x' } }, 'parameters.base_url'],
      [{ schema: { custom_host: 'h' } }, 'schema.custom_host'],
      [{ input_schema: { api_base: 'h' } }, 'input_schema.api_base'],
      [{ properties: { api_key: 'x' } }, 'properties.api_key'],
      [{ messages: [{ role: 'user', content: 'x', parameters: { api_key: 'x' } }] }, 'messages[0].parameters.api_key'],
      [{ metadata: { schema: { base_url: 'http://evil' } } }, 'metadata.schema.base_url'],
      // A schema path below its own depth is not the real position.
      [{ metadata: { tools: [{ function: { parameters: { base_url: 'x' } } }] } }, 'metadata.tools[0].function.parameters.base_url'],
      [{ response_format: { json_schema: { name: 'x', api_key: 'k' } } }, 'response_format.json_schema.api_key'],
      // `tools` is an array: an object keyed like an index is not it.
      [{ tools: { '0': { function: { parameters: { api_key: 'x' } } } } }, 'tools.0.function.parameters.api_key'],
    ];
    for (const [extra, param] of cases) {
      assert.equal(refusedAt({ model: 'gpt-4o-mini', messages: MESSAGES, ...extra }, CHAT_SCHEMAS), param, JSON.stringify(extra));
    }
    // The bypass from the report, whole: the first offending key is named.
    const bypass = { model: 'gpt-4o-mini', messages: MESSAGES, parameters: { base_url: 'http://evil', api_key: 'x' }, schema: { custom_host: 'h' } };
    assert.match(String(refusedAt(bypass, CHAT_SCHEMAS)), /^(parameters\.(base_url|api_key)|schema\.custom_host)$/);
    assert.match(String(refusedAt(bypass, MESSAGES_SCHEMAS)), /^(parameters\.(base_url|api_key)|schema\.custom_host)$/);
  });

  test('OpenAI chat schemas may name properties base_url/api_key', () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: MESSAGES,
      tools: [
        { type: 'function', function: { name: 'a', parameters: { type: 'object' } } },
        { type: 'function', function: { name: 'connect', parameters: OVERRIDE_NAMED } },
      ],
      functions: [{ name: 'legacy', parameters: OVERRIDE_NAMED }],
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: OVERRIDE_NAMED } },
    };
    assert.equal(refusedAt(body, CHAT_SCHEMAS), undefined);
    // The Anthropic positions are not chat's: the same body is refused on /v1/messages.
    assert.match(String(refusedAt(body, MESSAGES_SCHEMAS)), /\.properties\.(base_url|api_key)$/);
    // Keys beside a schema are still checked.
    assert.equal(refusedAt({ ...body, tools: [{ type: 'function', function: { name: 'x', api_key: 'k', parameters: {} } }] }, CHAT_SCHEMAS), 'tools[0].function.api_key');
  });

  test('Anthropic Messages schemas may name properties base_url/api_key', () => {
    const body = {
      model: 'claude-x',
      max_tokens: 10,
      messages: MESSAGES,
      tools: [{ name: 'connect', input_schema: OVERRIDE_NAMED }],
      output_config: { format: { type: 'json_schema', schema: OVERRIDE_NAMED } },
      output_format: { type: 'json_schema', schema: OVERRIDE_NAMED },
    };
    assert.equal(refusedAt(body, MESSAGES_SCHEMAS), undefined);
    assert.match(String(refusedAt(body, CHAT_SCHEMAS)), /\.properties\.(base_url|api_key)$/);
    assert.equal(refusedAt({ model: 'claude-x', messages: MESSAGES, tools: [{ name: 'c', input_schema: OVERRIDE_NAMED }] }, CHAT_SCHEMAS), 'tools[0].input_schema.properties.base_url');
  });

  test("Anthropic Messages: a tool call's input and a tool's input_examples are the client's data", () => {
    // A tool with a `repo_url` or `api_key` parameter (its input_schema is exempt): the model's call of
    // it comes back as a tool_use block in the next request, its input an object, not chat's string.
    const input = { repo_url: 'https://example.com/r.git', api_key: 'k', nested: { base_url: 'x' } };
    const body = {
      model: 'claude-x',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'clone it' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'clone', input }, { type: 'mcp_tool_use', id: 'mcptoolu_1', name: 'fetch', server_name: 's', input }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'done' }] },
      ],
      tools: [{ name: 'clone', input_schema: OVERRIDE_NAMED, input_examples: [input] }],
    };
    assert.equal(refusedAt(body, MESSAGES_SCHEMAS), undefined);
    // Only at those positions: the same keys beside them are still refused.
    assert.equal(refusedAt({ ...body, messages: [{ role: 'user', content: [{ type: 'text', text: 'x', api_key: 'k' }] }] }, MESSAGES_SCHEMAS), 'messages[0].content[0].api_key');
    assert.equal(refusedAt({ ...body, tools: [{ name: 'clone', input_schema: {}, base_url: 'x' }] }, MESSAGES_SCHEMAS), 'tools[0].base_url');
    assert.equal(refusedAt({ ...body, input: { api_key: 'k' } }, MESSAGES_SCHEMAS), 'input.api_key');
  });

  test('routes without schemas check every key', () => {
    assert.equal(refusedAt({ model: 'x', input: 'y', tools: [{ function: { parameters: { api_key: 'k' } } }] }), 'tools[0].function.parameters.api_key');
  });

  test('schemaPositions parses index steps', () => {
    const positions = schemaPositions('a[].b', 'c');
    assert.deepEqual(positions.paths, [['a', null, 'b'], ['c']]);
    assert.deepEqual([...positions.leaves], ['b', 'c']);
    assert.equal(refusedAt({ a: [{ b: { api_key: 'x' } }], c: { base_url: 'y' } }, positions), undefined);
  });
});

describe('guardBody numbers', () => {
  test('an infinite number (JSON 1e309) is refused at its path, inside schemas too; finite extremes pass', () => {
    const cases: Array<[string, string]> = [
      ['{"x":1e309}', 'x'],
      ['{"a":[0,{"b":-1e309}]}', 'a[1].b'],
      ['{"tools":[{"function":{"parameters":{"maximum":1e309}}}]}', 'tools[0].function.parameters.maximum'],
    ];
    for (const [text, param] of cases) {
      assert.throws(
        () => guardBody(JSON.parse(text) as Record<string, unknown>, CHAT_SCHEMAS),
        (error: unknown) => error instanceof GatewayError && error.code === 'invalid_value' && error.param === param,
        text,
      );
    }
    guardBody(JSON.parse('{"a":1.7976931348623157e308,"b":-0,"c":1e-400,"d":[5e-324]}') as Record<string, unknown>);
  });
});
