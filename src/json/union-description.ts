// How a refused value's schema is named in a 400 or a config error. TypeBox says only "Expected union
// value" for a union: the allowed words (a role, a strategy, a policy) are what the reader needs.

/** The parts of a JSON schema node a description reads. */
export interface DescribedSchema {
  type?: unknown;
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  anyOf?: DescribedSchema[];
}

/** One member of a union as a reader would name it: `"auto"`, `an integer from 1 to 256`, `null`. */
function describeMember(schema: DescribedSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.type === 'integer' || schema.type === 'number') {
    const kind = schema.type === 'integer' ? 'an integer' : 'a number';
    const { minimum, maximum, exclusiveMinimum } = schema;
    if (minimum !== undefined && maximum !== undefined) return `${kind} from ${minimum} to ${maximum}`;
    if (exclusiveMinimum !== undefined) return `${kind} above ${exclusiveMinimum}`;
    if (minimum !== undefined) return `${kind} of at least ${minimum}`;
    return maximum === undefined ? kind : `${kind} up to ${maximum}`;
  }
  if (schema.type === 'array') return 'an array';
  if (schema.type === 'object') return 'an object';
  return typeof schema.type === 'string' ? (schema.type === 'null' ? 'null' : `a ${schema.type}`) : 'another value';
}

/** `one of "a", "b"` for a union of words, `"a", "b" or an object` for a mixed one; undefined for no union. */
export function describeUnion(schema: DescribedSchema): string | undefined {
  const members = schema.anyOf;
  if (members === undefined || members.length === 0) return undefined;
  // Several object forms read as one "an object".
  const named = [...new Set(members.map(describeMember))];
  if (members.every((member) => member.const !== undefined)) return `one of ${named.join(', ')}`;
  return `${named.slice(0, -1).join(', ')}${named.length > 1 ? ' or ' : ''}${named.at(-1) as string}`;
}

/** What a field takes, as a reader would name it: its union spelled out, or its one type (`a string`). */
export function describeSchema(schema: DescribedSchema): string {
  return describeUnion(schema) ?? describeMember(schema);
}
