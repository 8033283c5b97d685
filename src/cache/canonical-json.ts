// Canonical JSON for cache keys: object keys sorted, no whitespace, so field order and formatting
// never change a key (except where the caller says order carries meaning). Iterative with a depth
// bound, so a hostile body cannot blow the stack.

/** Deeper than any body the route accepts (MAX_JSON_DEPTH is 64), with room for the key's own wrapper. */
export const MAX_CANONICAL_DEPTH = 80;

export class CanonicalDepthError extends Error {
  constructor(limit: number) {
    super(`value nested deeper than ${limit} levels`);
    this.name = 'CanonicalDepthError';
  }
}

interface Pending {
  value: unknown;
  depth: number;
  /** An object whose keys stay in their own order (the value of a key in `ordered`). */
  keepOrder?: boolean;
}

function scalar(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // null, and what JSON.stringify writes as null inside arrays (undefined, functions, symbols).
  return 'null';
}

const UNORDERED: ReadonlySet<string> = new Set();

/**
 * Serialises a JSON value with sorted object keys and no whitespace. Keys whose value is
 * `undefined` are left out, as JSON.stringify does. An object that is the value of a key named in
 * `ordered` keeps its keys in their own order (the keys of the objects inside it are still sorted).
 * Throws CanonicalDepthError past `maxDepth`.
 */
export function canonicalJson(value: unknown, maxDepth = MAX_CANONICAL_DEPTH, ordered: ReadonlySet<string> = UNORDERED): string {
  let out = '';
  // Work items: a literal to append, or a value to serialise. Popped from the end, so pushed in reverse.
  const stack: Array<string | Pending> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop() as string | Pending;
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    const current = item.value;
    if (current === null || typeof current !== 'object') {
      out += scalar(current);
      continue;
    }
    const depth = item.depth + 1;
    if (depth > maxDepth) throw new CanonicalDepthError(maxDepth);
    if (Array.isArray(current)) {
      out += '[';
      stack.push(']');
      for (let index = current.length - 1; index >= 0; index--) {
        stack.push({ value: current[index], depth });
        if (index > 0) stack.push(',');
      }
      continue;
    }
    const record = current as Record<string, unknown>;
    const keys = Object.keys(record).filter((key) => record[key] !== undefined);
    if (item.keepOrder !== true) keys.sort();
    out += '{';
    stack.push('}');
    for (let index = keys.length - 1; index >= 0; index--) {
      const key = keys[index] as string;
      stack.push(ordered.has(key) ? { value: record[key], depth, keepOrder: true } : { value: record[key], depth });
      stack.push(`${JSON.stringify(key)}:`);
      if (index > 0) stack.push(',');
    }
  }
  return out;
}
