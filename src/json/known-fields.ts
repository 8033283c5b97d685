// Refuses a name the documented schema does not list (400 `unknown_parameter`): a misspelt `strat=`
// or `preserve_recnt` would otherwise be ignored and the default answered as if it were asked for.
// The schema is the one /openapi.json shows, so what a handler accepts and what is documented are one list.
import type { TObject } from '@sinclair/typebox';
import { invalidRequest } from '../errors/gateway-error.js';

function refuseUnknown(names: readonly string[], schema: TObject, noun: string): void {
  const known = Object.keys(schema.properties);
  for (const name of names) {
    if (known.includes(name)) continue;
    // `param` is the name only when it is a plain one: a client's odd bytes are not echoed.
    const shown = /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : null;
    const knownList = known.length === 0 ? `This endpoint takes no ${noun}s.` : `Known: ${known.join(', ')}.`;
    throw invalidRequest(`Unknown ${noun}${shown === null ? '' : ` '${shown}'`}. ${knownList}`, 'unknown_parameter', shown);
  }
}

/** A query string's parameters against its documented schema. */
export function knownParams(query: unknown, schema: TObject): void {
  refuseUnknown(Object.keys(query ?? {}), schema, 'query parameter');
}

/** A JSON body's top-level fields against its documented schema. */
export function knownFields(body: Record<string, unknown>, schema: TObject): void {
  refuseUnknown(Object.keys(body), schema, 'field');
}
