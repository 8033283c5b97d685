import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { convertGeminiSchema } from './convert-schema.js';

const convert = (schema: unknown) => convertGeminiSchema(schema, 'response_format.json_schema.schema');

describe('convertGeminiSchema', () => {
  it('removes the keywords Gemini rejects and names types as Gemini does', () => {
    assert.deepEqual(
      convert({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $id: 'urn:x',
        type: 'object',
        title: 'Person',
        additionalProperties: false,
        strict: true,
        properties: {
          name: { type: 'string', minLength: 1, default: 'x', examples: ['Ada'] },
          age: { type: 'integer', minimum: 0, maximum: 150, exclusiveMaximum: 151, multipleOf: 1 },
          tags: { type: 'array', items: { type: 'string' }, maxItems: 3, uniqueItems: true },
        },
        required: ['name', 'age', 'missing'],
      }),
      {
        type: 'OBJECT',
        title: 'Person',
        properties: {
          name: { type: 'STRING', minLength: 1 },
          age: { type: 'INTEGER', minimum: 0, maximum: 150 },
          tags: { type: 'ARRAY', maxItems: 3, items: { type: 'STRING' } },
        },
        required: ['name', 'age'],
      },
    );
  });

  it('turns type lists with null into nullable, and several types into anyOf', () => {
    assert.deepEqual(convert({ type: ['string', 'null'], description: 'maybe' }), { type: 'STRING', description: 'maybe', nullable: true });
    assert.deepEqual(convert({ type: ['string', 'number'] }), { anyOf: [{ type: 'STRING' }, { type: 'NUMBER' }] });
  });

  it('turns anyOf/oneOf with a null member into nullable, inlining a single member', () => {
    assert.deepEqual(convert({ anyOf: [{ type: 'null' }, { type: 'array', items: { type: 'integer' } }], description: 'ids' }), {
      type: 'ARRAY',
      description: 'ids',
      nullable: true,
      items: { type: 'INTEGER' },
    });
    assert.deepEqual(convert({ oneOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] }), {
      anyOf: [
        { type: 'STRING', nullable: true },
        { type: 'INTEGER', nullable: true },
      ],
    });
    assert.deepEqual(convert({ anyOf: [{ type: 'null' }], description: 'nothing' }), { description: 'nothing', nullable: true });
  });

  // Gemini: "When using any_of, it must be the only field set" (a 400 for the whole request).
  it('leaves anyOf alone in its schema: the other keywords move into its members, by type', () => {
    assert.deepEqual(
      convert({
        type: 'object',
        description: 'A shape.',
        properties: { kind: { type: 'string' } },
        required: ['kind'],
        anyOf: [{ properties: { radius: { type: 'number' } }, required: ['radius'] }, { properties: { side: { type: 'number' } } }],
      }),
      {
        anyOf: [
          { type: 'OBJECT', description: 'A shape.', properties: { kind: { type: 'STRING' }, radius: { type: 'NUMBER' } }, required: ['kind', 'radius'] },
          { type: 'OBJECT', description: 'A shape.', properties: { kind: { type: 'STRING' }, side: { type: 'NUMBER' } }, required: ['kind'] },
        ],
      },
    );
    assert.deepEqual(convert({ type: ['string', 'array', 'null'], items: { type: 'string' }, maxLength: 8, description: 'One or many.' }), {
      anyOf: [
        { type: 'STRING', description: 'One or many.', maxLength: 8, nullable: true },
        { type: 'ARRAY', description: 'One or many.', nullable: true, items: { type: 'STRING' } },
      ],
    });
    assert.deepEqual(convert({ title: 'Id', anyOf: [{ type: 'string' }, { anyOf: [{ type: 'integer' }, { type: 'boolean' }], description: 'inner' }] }), {
      anyOf: [{ type: 'STRING', title: 'Id' }, { anyOf: [{ type: 'INTEGER', description: 'inner', title: 'Id' }, { type: 'BOOLEAN', description: 'inner', title: 'Id' }] }],
    });
  });

  it('turns const into a one-value string enum and keeps string enums', () => {
    assert.deepEqual(convert({ const: 'fixed' }), { type: 'STRING', enum: ['fixed'] });
    assert.deepEqual(convert({ type: 'string', enum: ['a', 'b'] }), { type: 'STRING', enum: ['a', 'b'] });
  });

  it('a null among enum values makes the enum nullable and keeps the strings an enum', () => {
    // OpenAI's structured outputs write an optional enum this way.
    assert.deepEqual(convert({ type: ['string', 'null'], enum: ['a', 'b', null] }), { type: 'STRING', enum: ['a', 'b'], nullable: true });
    assert.deepEqual(convert({ enum: ['a', null] }), { type: 'STRING', enum: ['a'], nullable: true });
    assert.deepEqual(convert({ type: ['integer', 'null'], enum: [1, null] }), { type: 'INTEGER', description: 'Allowed values: 1.', nullable: true });
    assert.deepEqual(convert({ const: null }), { nullable: true });
  });

  // Gemini: "properties: only allowed for OBJECT type", a 400 for the whole request.
  it('reads an untyped schema with properties as an object, with items as an array, and leaves out keywords of another type', () => {
    assert.deepEqual(convert({ type: 'object', properties: { data: { description: 'The page.', properties: { page_id: { type: 'string' } }, required: ['page_id'] } } }), {
      type: 'OBJECT',
      properties: { data: { type: 'OBJECT', description: 'The page.', properties: { page_id: { type: 'STRING' } }, required: ['page_id'] } },
    });
    assert.deepEqual(convert({ items: { type: 'string' }, maxItems: 2 }), { type: 'ARRAY', maxItems: 2, items: { type: 'STRING' } });
    assert.deepEqual(convert({ type: 'string', minLength: 2, minItems: 1, minimum: 0, items: { type: 'string' }, properties: { a: { type: 'string' } }, required: ['a'] }), {
      type: 'STRING',
      minLength: 2,
    });
    assert.deepEqual(convert({ type: 'integer', pattern: '^[0-9]+$', maximum: 9 }), { type: 'INTEGER', maximum: 9 });
  });

  it('a nullable union of one member that is a union itself: nullable goes into its members', () => {
    assert.deepEqual(convert({ oneOf: [{ anyOf: [{ type: 'string' }, { type: 'integer' }] }, { type: 'null' }] }), {
      anyOf: [
        { type: 'STRING', nullable: true },
        { type: 'INTEGER', nullable: true },
      ],
    });
  });

  it('keeps non-string enums for the model to read, since Gemini enums are strings', () => {
    assert.deepEqual(convert({ type: 'integer', enum: [1, 2], description: 'Level.' }), { type: 'INTEGER', description: 'Level. Allowed values: 1, 2.' });
  });

  it('keeps only the formats Gemini accepts', () => {
    assert.deepEqual(convert({ type: 'string', format: 'date-time' }), { type: 'STRING', format: 'date-time' });
    assert.deepEqual(convert({ type: 'string', format: 'email' }), { type: 'STRING' });
    assert.deepEqual(convert({ type: 'integer', format: 'int64' }), { type: 'INTEGER', format: 'int64' });
  });

  it('inlines $ref from $defs and definitions, keeping sibling keywords', () => {
    assert.deepEqual(
      convert({
        type: 'object',
        properties: { home: { $ref: '#/$defs/Address', description: 'Home address' }, work: { $ref: '#/definitions/Address' } },
        $defs: { Address: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
        definitions: { Address: { type: 'object', properties: { street: { type: 'string' } } } },
      }),
      {
        type: 'OBJECT',
        properties: {
          home: { type: 'OBJECT', description: 'Home address', properties: { city: { type: 'STRING' } }, required: ['city'] },
          work: { type: 'OBJECT', properties: { city: { type: 'STRING' } }, required: ['city'] },
        },
      },
    );
  });

  it('merges allOf members', () => {
    assert.deepEqual(convert({ allOf: [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, { properties: { b: { type: 'number' } } }] }), {
      type: 'OBJECT',
      properties: { a: { type: 'STRING' }, b: { type: 'NUMBER' } },
      required: ['a'],
    });
  });

  it('drops an empty properties map (Gemini rejects it) and keeps tuple items as their first schema', () => {
    assert.deepEqual(convert({ type: 'object', properties: {} }), { type: 'OBJECT' });
    assert.deepEqual(convert({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] }), { type: 'ARRAY', items: { type: 'STRING' } });
  });

  it('refuses recursive and dangling references with a 400 naming the parameter', () => {
    const recursive = { $ref: '#/$defs/Node', $defs: { Node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/Node' } } } } } };
    for (const schema of [recursive, { $ref: '#/$defs/Missing' }, { $ref: 'https://example.com/schema.json' }]) {
      assert.throws(
        () => convert(schema),
        (error: unknown) => error instanceof GatewayError && error.status === 400 && error.code === 'unsupported_schema' && error.param === 'response_format.json_schema.schema',
      );
    }
  });

  // Found by convert-schema.property.test.ts: these went to Gemini as sent, and it answers 400 to them.
  it('keeps a copied keyword only when it has its type: text for pattern and title, a count for minLength, a number for minimum', () => {
    assert.deepEqual(convert({ type: 'string', pattern: 0, title: 5, minLength: -1, maxLength: 2.5, minimum: 'x' }), { type: 'STRING' });
    assert.deepEqual(convert({ type: 'string', pattern: '^a', title: 'T', minLength: 0, maxLength: 3 }), { type: 'STRING', pattern: '^a', title: 'T', minLength: 0, maxLength: 3 });
  });

  it('accepts `true` and empty schemas as unconstrained', () => {
    assert.deepEqual(convert(true), {});
    assert.deepEqual(convert({ type: 'object', properties: { any: {} } }), { type: 'OBJECT', properties: { any: {} } });
  });

  // The work is synchronous, so node:test's timeout could not stop it: the time is checked instead.
  it('refuses a $ref fan-out (2^30 subschemas inlined) and a 10,000-link $ref chain at once, and merges 20,000 allOf members (10,000 took 28 s)', () => {
    const started = performance.now();
    const refused = (error: unknown) => error instanceof GatewayError && error.code === 'unsupported_schema' && error.param === 'response_format.json_schema.schema';
    const fanOut: Record<string, unknown> = { D30: { type: 'string' } };
    for (let index = 0; index < 30; index++) fanOut[`D${index}`] = { type: 'object', properties: { a: { $ref: `#/$defs/D${index + 1}` }, b: { $ref: `#/$defs/D${index + 1}` } } };
    assert.throws(() => convert({ $ref: '#/$defs/D0', $defs: fanOut }), refused);
    // A chain recursed once per link: 8,000 overflowed the stack.
    const chain: Record<string, unknown> = { D10000: { type: 'string' } };
    for (let index = 0; index < 10_000; index++) chain[`D${index}`] = { type: 'object', properties: { a: { $ref: `#/$defs/D${index + 1}` } } };
    assert.throws(() => convert({ $ref: '#/$defs/D0', $defs: chain }), refused);
    // A short chain and a few shared definitions still inline.
    assert.deepEqual(convert({ type: 'object', properties: { x: { $ref: '#/$defs/A' }, y: { $ref: '#/$defs/A' } }, $defs: { A: { type: 'array', items: { $ref: '#/$defs/B' } }, B: { type: 'string' } } }), {
      type: 'OBJECT',
      properties: { x: { type: 'ARRAY', items: { type: 'STRING' } }, y: { type: 'ARRAY', items: { type: 'STRING' } } },
    });
    const allOf = Array.from({ length: 20_000 }, (_, index) => ({ properties: { [`p${index}`]: { type: 'string' } }, required: [`p${index}`] }));
    const merged = convert({ type: 'object', allOf });
    assert.equal(Object.keys(merged.properties ?? {}).length, 20_000);
    assert.deepEqual(merged.required?.slice(0, 2), ['p0', 'p1']);
    assert.ok(performance.now() - started < 5_000, `${Math.round(performance.now() - started)} ms`);
  });

  it('refuses a schema nested deeper than 128 levels through 64 refs (each within the body depth limit) with a 400, not a stack overflow', () => {
    // 64 definitions, each 50 arrays deep around a $ref to the next: an 82 KB request the body
    // checks accept, that recursed ~3,200 times and threw a RangeError (a 500).
    const $defs: Record<string, unknown> = {};
    for (let index = 0; index < 64; index++) {
      let node: Record<string, unknown> = index === 63 ? { type: 'string' } : { $ref: `#/$defs/D${index + 1}` };
      for (let level = 0; level < 50; level++) node = { type: 'array', items: node };
      $defs[`D${index}`] = node;
    }
    assert.throws(
      () => convert({ type: 'object', properties: { a: { $ref: '#/$defs/D0' } }, $defs }),
      (error: unknown) => error instanceof GatewayError && error.status === 400 && error.code === 'unsupported_schema' && /deeper than 128/.test(error.message),
    );
    // Two definitions deep still converts.
    assert.equal(convert({ type: 'object', properties: { a: { $ref: '#/$defs/D62' } }, $defs }).properties?.a?.type, 'ARRAY');
  });
});

describe('property order of a response schema', () => {
  const schema = {
    type: 'object',
    properties: { reasoning: { type: 'string' }, answer: { type: 'string' }, sources: { type: 'array', items: { type: 'object', properties: { url: { type: 'string' }, title: { type: 'string' } } } } },
    required: ['reasoning', 'answer'],
  };

  it('every object of a response schema keeps its order as written (Gemini orders keys alphabetically otherwise)', () => {
    const converted = convertGeminiSchema(schema, 'response_format.json_schema.schema', true);
    assert.deepEqual(converted.propertyOrdering, ['reasoning', 'answer', 'sources']);
    assert.deepEqual(converted.properties?.sources?.items?.propertyOrdering, ['url', 'title']);
    // A client's own propertyOrdering stands.
    assert.deepEqual(convertGeminiSchema({ ...schema, propertyOrdering: ['answer', 'reasoning', 'sources'] }, 'p', true).propertyOrdering, ['answer', 'reasoning', 'sources']);
    // One property has no order to keep.
    assert.equal(convertGeminiSchema({ type: 'object', properties: { only: { type: 'string' } } }, 'p', true).propertyOrdering, undefined);
  });

  it("tool parameters get none: a call's arguments are an object, read by name", () => {
    assert.equal(convertGeminiSchema(schema, 'tools[0].function.parameters').propertyOrdering, undefined);
  });
});
