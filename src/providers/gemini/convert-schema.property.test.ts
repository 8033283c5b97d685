// Property test: any JSON Schema a client sends (keywords of every kind, mistyped, $refs good and
// bad, type lists, unions, allOf) becomes a schema of Gemini's subset (only its keywords, each of
// its type) or a 400 `unsupported_schema` naming the param, never a TypeError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GatewayError } from '../../errors/gateway-error.js';
import { isRecord } from '../../json/guards.js';
import { convertGeminiSchema } from './convert-schema.js';

const RUNS = { numRuns: 500, seed: 20261128 };
const TYPES = new Set(['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT']);
const STRINGS = new Set(['title', 'description', 'pattern', 'format']);
const COUNTS = new Set(['minItems', 'maxItems', 'minProperties', 'maxProperties', 'minLength', 'maxLength']);
const NUMBERS = new Set(['minimum', 'maximum']);

const typeName = fc.constantFrom('string', 'number', 'integer', 'boolean', 'array', 'object', 'null', 'date', 7);
const keyword = fc.oneof(fc.constantFrom<unknown>('a', '', 'email', 'date-time', 'int32', 0, 3, -1, 2.5, true, null, [], {}), fc.jsonValue({ maxDepth: 1 }));

const { schema } = fc.letrec<{ schema: unknown }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<unknown>(true, false, {}, null, 'string'),
    fc.record(
      {
        type: fc.oneof(typeName, fc.array(typeName, { maxLength: 3 })),
        format: keyword,
        title: keyword,
        description: keyword,
        pattern: keyword,
        minItems: keyword,
        maximum: keyword,
        nullable: fc.constantFrom<unknown>(true, false, 'yes'),
        enum: fc.array(fc.oneof(fc.string({ maxLength: 2 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
        const: fc.jsonValue({ maxDepth: 1 }),
        properties: fc.oneof(fc.dictionary(fc.constantFrom('a', 'b', '__proto__', 'constructor'), tie('schema'), { maxKeys: 3 }), keyword),
        required: fc.oneof(fc.array(fc.constantFrom<unknown>('a', 'b', 'z', 1), { maxLength: 3 }), keyword),
        propertyOrdering: fc.oneof(fc.array(fc.constantFrom<unknown>('a', 'b', 2), { maxLength: 3 }), keyword),
        items: fc.oneof(tie('schema'), fc.array(tie('schema'), { maxLength: 2 })),
        prefixItems: fc.array(tie('schema'), { maxLength: 2 }),
        anyOf: fc.oneof(fc.array(tie('schema'), { maxLength: 3 }), keyword),
        oneOf: fc.array(tie('schema'), { maxLength: 2 }),
        allOf: fc.oneof(fc.array(tie('schema'), { maxLength: 2 }), keyword),
        $ref: fc.constantFrom('#/$defs/A', '#/$defs/B', '#/definitions/A', '#/$defs/Missing', '#/$defs/__proto__', 'http://x', '#'),
        additionalProperties: fc.constantFrom<unknown>(false, {}),
      },
      { requiredKeys: [] },
    ),
  ),
}));

const document = fc.record(
  { root: schema, A: schema, B: schema, placement: fc.constantFrom('$defs', 'definitions', 'both', 'none') },
).map(({ root, A, B, placement }) => {
  const top: Record<string, unknown> = isRecord(root) ? { ...root } : { type: 'object', properties: { x: root } };
  if (placement === '$defs' || placement === 'both') top.$defs = { A, B };
  if (placement === 'definitions' || placement === 'both') top.definitions = { A };
  return top;
});

function assertGeminiSchema(value: unknown, path: string): void {
  assert.ok(isRecord(value), `${path} is not an object`);
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (key === 'type') assert.ok(TYPES.has(item as string), `${at} ${String(item)}`);
    else if (STRINGS.has(key)) assert.equal(typeof item, 'string', at);
    else if (COUNTS.has(key) || NUMBERS.has(key)) assert.equal(typeof item, 'number', at);
    else if (key === 'nullable') assert.equal(item, true, at);
    else if (key === 'enum') assert.ok(Array.isArray(item) && item.every((entry) => typeof entry === 'string') && value.type === 'STRING', at);
    else if (key === 'required' || key === 'propertyOrdering') assert.ok(Array.isArray(item) && item.every((entry) => typeof entry === 'string'), at);
    else if (key === 'items') {
      // "only allowed for ARRAY type", as properties are for OBJECT.
      assert.equal(value.type, 'ARRAY', `${at} beside type ${String(value.type)}`);
      assertGeminiSchema(item, at);
    }
    else if (key === 'anyOf') {
      assert.ok(Array.isArray(item) && item.length > 0, at);
      // "When using any_of, it must be the only field set."
      assert.deepEqual(Object.keys(value), ['anyOf'], `${at} has siblings`);
      item.forEach((member, index) => assertGeminiSchema(member, `${at}[${index}]`));
    } else if (key === 'properties') {
      assert.ok(isRecord(item) && Object.keys(item).length > 0, `${at} empty`);
      assert.equal(value.type, 'OBJECT', `${at} beside type ${String(value.type)}`);
      for (const [name, member] of Object.entries(item)) assertGeminiSchema(member, `${at}.${name}`);
    } else assert.fail(`${at}: a keyword Gemini refuses`);
  }
  if (Array.isArray(value.required)) {
    const properties = isRecord(value.properties) ? value.properties : {};
    for (const name of value.required as string[]) assert.ok(Object.hasOwn(properties, name), `${path}.required names ${name}, not a property`);
  }
}

describe('convertGeminiSchema, property-based', () => {
  it("any JSON Schema → Gemini's subset, each keyword of its type, or a 400 unsupported_schema naming the param", () => {
    fc.assert(
      fc.property(document, (input) => {
        let converted: unknown;
        try {
          converted = convertGeminiSchema(structuredClone(input), 'tools[0].function.parameters');
        } catch (error) {
          assert.ok(error instanceof GatewayError, String(error));
          assert.equal(error.status, 400);
          assert.equal(error.code, 'unsupported_schema');
          assert.equal(error.param, 'tools[0].function.parameters');
          return;
        }
        assertGeminiSchema(JSON.parse(JSON.stringify(converted)), '$');
      }),
      RUNS,
    );
  });
});
