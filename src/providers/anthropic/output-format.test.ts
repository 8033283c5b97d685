import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claudeOutputFormat } from './output-format.js';

describe('claudeOutputFormat', () => {
  it("closes every object, keeps Claude's keywords and describes the constraints it does not enforce", () => {
    const format = claudeOutputFormat({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      description: 'A city.',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 80, examples: ['Tokyo'] },
        population: { type: 'integer', minimum: 0 },
        founded: { type: 'string', format: 'date' },
        website: { type: 'string', format: 'iri' },
        districts: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }, minItems: 1, maxItems: 30 },
        tags: { type: 'array', items: { type: 'string', enum: ['coastal', 'capital'] }, minItems: 2 },
        mayor: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        kind: { const: 'city' },
      },
      required: ['name', 'population'],
    });
    assert.deepEqual(format, {
      type: 'json_schema',
      schema: {
        type: 'object',
        description: 'A city.',
        properties: {
          name: { type: 'string', description: '{minLength: 1, maxLength: 80}' },
          population: { type: 'integer', description: '{minimum: 0}' },
          founded: { type: 'string', format: 'date' },
          website: { type: 'string', description: '{format: "iri"}' },
          districts: {
            type: 'array',
            items: { type: 'object', properties: { name: { type: 'string' } }, additionalProperties: false, required: ['name'] },
            minItems: 1,
            description: '{maxItems: 30}',
          },
          tags: { type: 'array', items: { enum: ['coastal', 'capital'] }, description: '{minItems: 2}' },
          mayor: { anyOf: [{ type: 'string' }, { type: 'null' }] },
          kind: { const: 'city' },
        },
        additionalProperties: false,
        required: ['name', 'population'],
      },
    });
  });

  it('expands local definitions in place, oneOf as anyOf', () => {
    const format = claudeOutputFormat({
      type: 'object',
      $defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] } },
      definitions: { shape: { oneOf: [{ $ref: '#/$defs/point' }, { type: 'string' }] } },
      properties: { at: { $ref: '#/$defs/point' }, shape: { $ref: '#/definitions/shape' } },
      required: ['at', 'shape'],
    });
    const point = { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, additionalProperties: false, required: ['x', 'y'] };
    assert.deepEqual(format?.schema, { type: 'object', properties: { at: point, shape: { anyOf: [point, { type: 'string' }] } }, additionalProperties: false, required: ['at', 'shape'] });
  });

  it("is undefined for a schema outside Claude's subset, so the forced tool serves it", () => {
    const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties, ...extra });
    const refused: Array<[string, unknown]> = [
      ['a map (open object)', object({}, { additionalProperties: { type: 'string' } })],
      ['any object (closed, only {} would do)', { type: 'object' }],
      ['a property that is any object', object({ a: { type: 'object' } })],
      ['an object open to any key', object({ a: object({}, { additionalProperties: true }) })],
      ['recursion through the root', object({ child: { $ref: '#' } })],
      ['recursion through a definition', object({ node: { $ref: '#/$defs/node' } }, { $defs: { node: object({ next: { $ref: '#/$defs/node' } }) } })],
      ['an external ref', object({ a: { $ref: 'https://example.com/a.json' } })],
      ['a missing definition', object({ a: { $ref: '#/$defs/nowhere' } })],
      ['an object among enum values', object({ a: { enum: [{ b: 1 }] } })],
      ['a root that is not an object', { type: 'array', items: { type: 'string' } }],
      ['a property without type, literals or union', object({ a: { description: 'anything' } })],
      ['more than 24 optional properties', object(Object.fromEntries(Array.from({ length: 25 }, (_, index) => [`p${index}`, { type: 'string' }])))],
      [
        'more than 16 union-typed properties',
        object(
          Object.fromEntries(Array.from({ length: 17 }, (_, index) => [`p${index}`, { type: ['string', 'null'] }])),
          { required: Array.from({ length: 17 }, (_, index) => `p${index}`) },
        ),
      ],
      ['not a schema', 'object'],
    ];
    for (const [why, schema] of refused) assert.equal(claudeOutputFormat(schema), undefined, why);
    // At the limits, it fits.
    const optional = object(Object.fromEntries(Array.from({ length: 24 }, (_, index) => [`p${index}`, { type: 'string' }])));
    assert.notEqual(claudeOutputFormat(optional), undefined);
    // An object closed by the client stays as asked, empty or not.
    assert.deepEqual(claudeOutputFormat(object({ none: object({}, { additionalProperties: false }) }, { required: ['none'] }))?.schema.properties, { none: { type: 'object', properties: {}, additionalProperties: false } });
  });

  it('is bounded: a deep schema and refs that multiply are refused, not expanded without end', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let level = 0; level < 40; level++) deep = { type: 'object', properties: { a: deep }, required: ['a'] };
    assert.equal(claudeOutputFormat(deep), undefined);
    // Each definition uses the one before twice: 2^20 nodes if expanded in full.
    const $defs: Record<string, unknown> = { d0: { type: 'string' } };
    for (let level = 1; level <= 20; level++) $defs[`d${level}`] = { type: 'object', properties: { l: { $ref: `#/$defs/d${level - 1}` }, r: { $ref: `#/$defs/d${level - 1}` } }, required: ['l', 'r'] };
    assert.equal(claudeOutputFormat({ type: 'object', $defs, properties: { top: { $ref: '#/$defs/d20' } }, required: ['top'] }), undefined);
  });
});
