// Property test of the request id a client may choose: any X-Request-Id (any text, a list, absent)
// comes back as itself only when it is short and plain and holds no secret, else a new UUID; it can
// never carry a control character, a space or a key into headers, logs or usage rows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { requestIdFor } from './request-id.js';

const SAFE = /^[A-Za-z0-9._:-]{1,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const header = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'Z', '9', '.', '_', ':', '-'), maxLength: 140 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('req\r\nx-evil: 1', 'sk-live-abcdef', '', ' id', 'id\u0000'),
  fc.array(fc.constantFrom('a', 'b'), { maxLength: 2 }),
  fc.constant(undefined),
);

describe('requestIdFor, property-based', () => {
  it('any X-Request-Id → itself when short, plain and secret-free, else a fresh UUID', () => {
    fc.assert(
      fc.property(header, (given) => {
        const holdsSecret = (id: string) => id.startsWith('sk-');
        const id = requestIdFor(given === undefined ? {} : { 'x-request-id': given }, holdsSecret);
        const kept = typeof given === 'string' && SAFE.test(given) && !holdsSecret(given);
        if (kept) assert.equal(id, given);
        else assert.match(id, UUID);
      }),
      { numRuns: 500, seed: 20261128 },
    );
  });
});
