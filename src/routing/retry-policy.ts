// Retries before the first byte reaches the client: exponential backoff with full jitter,
// `Retry-After` honoured, inside a retry budget (Envoy's rule: retries at most 20% of the
// requests in flight, never fewer than 3 allowed at once). The loop itself is the executor's
// (src/routing/deployment-failover.ts run()), which also moves between deployments.
import { isGatewayError } from '../errors/gateway-error.js';

export interface RetryOptions {
  /** Extra attempts after the first. */
  retries: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error goes to the client instead. */
  maxRetryAfterMs?: number;
}

/** The longest Retry-After a retry waits for (unless the options say otherwise); a longer one cools the deployment instead. */
export const MAX_WAITED_RETRY_AFTER_MS = 10_000;

export class RetryBudget {
  inFlight = 0;
  private retrying = 0;

  constructor(
    private readonly ratio = 0.2,
    private readonly minimum = 3,
  ) {}

  tryAcquire(): boolean {
    if (this.retrying >= Math.max(this.minimum, Math.floor(this.inFlight * this.ratio))) return false;
    this.retrying++;
    return true;
  }

  release(): void {
    this.retrying--;
  }
}

/** The delay before retry number `attempt` (1-based), or undefined when it should not be retried. */
export function retryDelay(error: unknown, attempt: number, options: RetryOptions, random: () => number = Math.random): number | undefined {
  const base = options.baseDelayMs ?? 250;
  const cap = options.maxDelayMs ?? 4000;
  const hinted = isGatewayError(error) ? error.retryAfterMs : undefined;
  if (hinted !== undefined) return hinted <= (options.maxRetryAfterMs ?? MAX_WAITED_RETRY_AFTER_MS) ? hinted : undefined;
  return Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
}
