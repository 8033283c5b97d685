// The configuration's refusal (ConfigError) and how its messages show what was refused without
// printing it: a key in the wrong field must not reach a terminal, a log or a reload's answer.

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * What a refused value was, without the value: a field meant for a key (or a key put in the wrong
 * place: `providers: { openai: ${OPENAI_API_KEY} }`) must not be printed at start-up, by
 * check-config or in a reload's answer. Types and sizes say enough to find the mistake.
 */
export function shownValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) < 1_000_000 ? String(value) : 'a number';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'an object';
}

/** Key prefixes the redactor knows (src/logging/redactor.ts): the config loads before it exists. */
const KEY_SHAPED = /^(?:sk-|AIza|gsk_|xai_|fw_)/;

/**
 * A field name as shown in a message: a key can become one (`auth: { api_keys: sk-a,sk-b }` reads
 * `sk-b` as a property of `auth`), so a key-shaped or very long name is described instead.
 */
export function shownName(name: string): string {
  return KEY_SHAPED.test(name) || name.length > 40 ? `<a ${name.length}-character name>` : name;
}
