// The reset times under OpenAI's header names, written as OpenAI writes them (Go's duration format).
// @see https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers

/** The fraction of a second, without trailing zeros: 500 → `.5`, 20 → `.02`, 0 → ``. */
function fractionOf(milliseconds: number): string {
  return milliseconds === 0 ? '' : `.${String(milliseconds).padStart(3, '0').replace(/0+$/, '')}`;
}

/**
 * Milliseconds, rounded up to a whole one, as `x-ratelimit-reset-requests`/`-tokens` carry them:
 * `20ms` under a second, then `1s`, `59.5s`, `6m0s`, `1h0m0s` (a larger unit keeps the smaller ones).
 */
export function formatOpenAiDuration(ms: number): string {
  const total = Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0;
  if (total === 0) return '0s';
  if (total < 1_000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const withinMinute = total % 60_000;
  const seconds = `${Math.floor(withinMinute / 1_000)}${fractionOf(withinMinute % 1_000)}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  return minutes > 0 ? `${minutes}m${seconds}` : seconds;
}
