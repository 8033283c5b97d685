// Token counts read off a translated provider's answer, as the client sees them in `usage`.

/**
 * Past this no count is real (a trillion tokens); below it, sums of a few counts stay exact integers.
 * Billing checks counts on its own (src/usage/usage-check.ts); this keeps the client's JSON sound.
 */
export const MAX_UPSTREAM_TOKEN_COUNT = 2 ** 40;

/**
 * An upstream count, or 0 when it is none: negative, infinite (JSON's 1e999) or absurd counts once
 * reached the client as a negative `cached_tokens` or a `total_tokens` of null (Infinity in JSON).
 * A fraction is rounded: OpenAI's usage fields are integers.
 */
export function upstreamTokenCount(value: unknown): number {
  return typeof value === 'number' && value >= 0 && value <= MAX_UPSTREAM_TOKEN_COUNT ? Math.round(value) : 0;
}
