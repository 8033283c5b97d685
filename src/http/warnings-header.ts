// X-LLM-Proxy-Warnings: what a translation dropped, one entry per field, joined with `; `. An
// entry names a field as the client spelt it, so the value is made safe for a header here: Node
// refuses a control character or anything past U+00FF in one (a 500, or a stream never answered),
// and would send U+0080-U+00FF as Latin-1 bytes that clients read as other characters. A key sent
// as a field's name is redacted, as it is in error messages. The value is bounded: a body of
// thousands of unknown fields made a header of hundreds of KB, which Node's and most clients
// (16 KiB) and nginx's default buffer (4-8 KiB, a 502) refuse, losing an answer already paid for.
import type { Redactor } from '../logging/redactor.js';

const NOT_PLAIN = /[^\x20-\x7e]/g;
/** The longest value, in characters; the entries past it are counted, not listed. */
export const MAX_WARNINGS_HEADER = 2_048;

function plain(text: string): string {
  return text.replace(NOT_PLAIN, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The header's value, every character outside printable ASCII written as `\uXXXX`, the entries
 * that would take it past MAX_WARNINGS_HEADER replaced by `and N more`; undefined when there is nothing to say.
 */
export function warningsHeader(warnings: readonly string[], redactor: Redactor): string | undefined {
  if (warnings.length === 0) return undefined;
  let value = '';
  for (const [index, warning] of warnings.entries()) {
    const entry = plain(redactor.redact(warning));
    const next = value.length === 0 ? entry : `${value}; ${entry}`;
    // Room is kept for the count (`; and N more` is at most 20 characters).
    if (next.length > MAX_WARNINGS_HEADER - 20) return `${value}${value.length === 0 ? '' : '; '}and ${warnings.length - index} more`;
    value = next;
  }
  return value;
}
