// The process-wide budget for request bodies being read (RELIABILITY 4c "Body caps"). Every body
// is charged to it while it is read and released once it is parsed or its request ends; a body that
// would take the total over `server.body_buffer_budget_mb` is refused with a 503 instead of being
// buffered, so the memory uploads hold stays bounded however many arrive at once. The per-request
// cap (`body_limit_mb`, 413) alone bounds one body, not N of them.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/config-schema.js';
import { GatewayError } from '../errors/gateway-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Bytes of this request's body charged to the BodyBudget and not yet released; -1 once released for good. */
    bodyCharge: number;
  }
}

const MiB = 1024 * 1024;
/** How long a refused body's bytes stay charged (see releaseLater): longer than a flood of uploads takes to be refused. */
export const REFUSED_HOLD_MS = 1_000;

/** The refusal when the budget is full: the client is not at fault, so a retryable 503. */
export function bodyBudgetFull(): GatewayError {
  return new GatewayError({
    status: 503,
    type: 'service_unavailable_error',
    code: 'server_busy',
    message: 'The server is reading too many request bodies at once; retry the request shortly.',
    retryable: true,
    retryAfterMs: 1000,
  });
}

/**
 * Bytes of request body held across every request of the process (shared by the generations a
 * reload creates). Metered bodies (chunked or large) may fill it only up to a reserve kept for
 * small ones, so a flood of uploads cannot refuse ordinary requests.
 */
export class BodyBudget {
  #capacity = 0;
  /** What metered bodies may fill: the capacity less an eighth, but never less than one body at the cap. */
  #meteredCapacity = 0;
  #held = 0;

  constructor(server: Config['server']) {
    this.configure(server);
  }

  /** `body_buffer_budget_mb`, by default two bodies at the cap; a reload's values apply to the next charge. */
  configure(server: Config['server']): void {
    const limit = Math.floor(server.body_limit_mb * MiB);
    this.#capacity = Math.floor((server.body_buffer_budget_mb ?? 2 * server.body_limit_mb) * MiB);
    this.#meteredCapacity = Math.max(this.#capacity - Math.floor(this.#capacity / 8), Math.min(limit, this.#capacity));
  }

  /** Bytes charged now. */
  get held(): number {
    return this.#held;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Charges a small body whole; false, and nothing charged, when it does not fit. */
  charge(request: FastifyRequest, bytes: number): boolean {
    return this.#charge(request, bytes, this.#capacity);
  }

  /** Charges a metered body's next chunk, leaving the small bodies' reserve; false when it does not fit. */
  chargeChunk(request: FastifyRequest, bytes: number): boolean {
    return this.#charge(request, bytes, this.#meteredCapacity);
  }

  #charge(request: FastifyRequest, bytes: number, capacity: number): boolean {
    // A released request charges nothing more: what it still receives is dropped, not held.
    if (request.bodyCharge < 0 || this.#held + bytes > capacity) return false;
    this.#held += bytes;
    request.bodyCharge += bytes;
    return true;
  }

  /**
   * Gives back what a refused body holds a little later (REFUSED_HOLD_MS); the request charges
   * nothing more. The body's buffers are garbage from the refusal on, but they stay memory until a
   * GC frees them, and V8 collects such buffers only after ~64 MB of them: given back at once, their
   * bytes let the other uploads of a flood go on reading, and 50 refused chunked uploads read ~110 MB
   * into garbage (+55 to +69 MB RSS) instead of ~20 MB (+20 MB).
   */
  releaseLater(request: FastifyRequest): void {
    const charge = request.bodyCharge;
    request.bodyCharge = -1;
    if (charge <= 0) return;
    setTimeout(() => {
      this.#held -= charge;
    }, REFUSED_HOLD_MS).unref();
  }

  /** Gives back what `request` holds; it can charge nothing after (no allocation: called for every request). */
  release(request: FastifyRequest): void {
    const charge = request.bodyCharge;
    if (charge > 0) this.#held -= charge;
    request.bodyCharge = -1;
  }
}
