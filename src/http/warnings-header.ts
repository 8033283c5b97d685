// X-LLM-Proxy-Warnings: what a translation dropped, one entry per field, joined with `; `. An
// entry names a field as the client spelt it, so the value is made safe for a header here: Node
// refuses a control character or anything past U+00FF in one (a 500, or a stream never answered),
// and would send U+0080-U+00FF as Latin-1 bytes that clients read as other characters. A key sent
// as a field's name is redacted, as it is in error messages.
import type { Redactor } from '../logging/redactor.js';

const NOT_PLAIN = /[^\x20-\x7e]/g;

/** The header's value, every character outside printable ASCII written as `\uXXXX`; undefined when there is nothing to say. */
export function warningsHeader(warnings: readonly string[], redactor: Redactor): string | undefined {
  if (warnings.length === 0) return undefined;
  return redactor.redact(warnings.join('; ')).replace(NOT_PLAIN, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
