// The process-wide budget for request bodies being read (RELIABILITY 4c "Body caps"). Every body
// is charged to it while it is read and released once it is parsed or its request ends, so the
// memory uploads hold stays bounded however many arrive at once (`body_limit_mb`, 413, alone bounds
// one body, not N of them). A metered body whose next chunk does not fit waits, its socket unread,
// until bytes are released: only a wait of `body_buffer_wait_s` in which no waiting body was let in
// ends in a 503, or, at once, a line of waiting bodies already full (each holds reads outside the budget).
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
/** How long a metered body may wait for room when the config sets no `body_buffer_wait_s`. */
const DEFAULT_WAIT_S = 5;

/** The refusal when a body waited too long for room: the client is not at fault, so a retryable 503. */
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
 * What a waiting body is taken to hold outside the budget: the read it waits to charge and the
 * socket's next, which Node reads before the backpressure stops it (64 KiB each at most).
 */
export const WAITING_BODY_BYTES = 128 * 1024;

/** What chargeChunk() decided: charged; waits for room; or refused, the line of waiting bodies being full. */
export type ChunkAdmission = 'charged' | 'waits' | 'busy';

/** What the budget reads and writes of a request. */
export type ChargedRequest = Pick<FastifyRequest, 'bodyCharge'>;

/** A body the budget meters chunk by chunk (body-meter.ts), as the budget sees it. */
export interface MeteredBody {
  readonly request: ChargedRequest;
  /** Size of the chunk it waits to charge, and when it began to wait (performance.now()); set by the budget. */
  waitingBytes: number;
  waitingSince: number;
  /** Its waiting chunk is charged now: it passes the chunk on. */
  proceed(): void;
  /** It waited `body_buffer_wait_s` while no waiting body was let in: it fails with `error`. */
  refuse(error: GatewayError): void;
}

/**
 * Bytes of request body held across every request of the process (shared by the generations a
 * reload creates). Bodies of at most 64 KiB with a Content-Length are charged whole up front and
 * never wait (or are refused at once when even the whole capacity cannot take them); metered bodies
 * (chunked or larger) may fill only part of it, leaving the rest for those.
 *
 * Among metered bodies, the one holding the most (the leader) may always grow to the cap: the others
 * together hold at most `spare`, the metered part less one body at the cap. So at least one body can
 * always reach its end or its 413 and give its bytes back, and a flood of uploads over the cap is
 * answered 413 one after the other instead of filling the budget with partial bodies none can finish.
 * Bodies that do not fit wait and are let in first come, first served as bytes are given back.
 * At most `maxWaiting` wait, so what they hold outside the budget (WAITING_BODY_BYTES each) stays
 * within half the capacity; a body that finds the line full is refused at once.
 * A body is refused only when it has waited `body_buffer_wait_s` and no waiting body was let in
 * meanwhile: the budget is stuck (stalled uploads hold it), not merely busy (in a flood of uploads
 * the last in line may wait longer, as long as the line moves; `request_timeout_s` still ends it).
 */
export class BodyBudget {
  #capacity = 0;
  /** What the metered bodies other than the leader may hold: the capacity less an eighth, less one body at the cap (never below 0). */
  #spare = 0;
  #waitMs = 0;
  #maxWaiting = 1;
  #held = 0;
  /** Metered bodies still arriving, and the one of them charged the most. */
  readonly #metered = new Set<MeteredBody>();
  #leader: MeteredBody | undefined;
  /** Metered bodies waiting for room, in the order they began to wait. */
  readonly #waiting = new Set<MeteredBody>();
  #timer: NodeJS.Timeout | undefined;
  /** When a waiting body was last let in (performance.now()). */
  #lastLetIn = 0;

  constructor(server: Config['server']) {
    this.configure(server);
  }

  /** `body_buffer_budget_mb`, by default two bodies at the cap; a reload's values apply from now on. */
  configure(server: Config['server']): void {
    const limit = Math.floor(server.body_limit_mb * MiB);
    this.#capacity = Math.floor((server.body_buffer_budget_mb ?? 2 * server.body_limit_mb) * MiB);
    const metered = Math.max(this.#capacity - Math.floor(this.#capacity / 8), Math.min(limit, this.#capacity));
    this.#spare = Math.max(0, metered - limit);
    this.#waitMs = (server.body_buffer_wait_s ?? DEFAULT_WAIT_S) * 1000;
    this.#maxWaiting = Math.max(1, Math.floor(this.#capacity / 2 / WAITING_BODY_BYTES));
    this.#wake();
  }

  /** Bytes charged now. */
  get held(): number {
    return this.#held;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Metered bodies waiting for room now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** How many metered bodies may wait at once. */
  get maxWaiting(): number {
    return this.#maxWaiting;
  }

  /** Charges a small body whole; false, and nothing charged, when it does not fit. */
  charge(request: ChargedRequest, bytes: number): boolean {
    if (request.bodyCharge < 0 || this.#held + bytes > this.#capacity) return false;
    this.#held += bytes;
    request.bodyCharge += bytes;
    return true;
  }

  /** Starts metering `body`: it charges its chunks with chargeChunk() until stopMetering(). */
  startMetering(body: MeteredBody): void {
    this.#metered.add(body);
  }

  /**
   * Charges a metered body's next chunk. When it does not fit, the body waits for room, until the
   * budget calls its proceed() (the chunk charged) or refuse() (`body_buffer_wait_s` passed); or,
   * when `maxWaiting` bodies wait already, it is refused at once ('busy', nothing charged).
   */
  chargeChunk(body: MeteredBody, bytes: number): ChunkAdmission {
    if (this.#fits(body, bytes)) {
      this.#chargeMetered(body, bytes);
      return 'charged';
    }
    if (this.#waiting.size >= this.#maxWaiting) return 'busy';
    body.waitingBytes = bytes;
    body.waitingSince = performance.now();
    this.#waiting.add(body);
    this.#timer ??= setTimeout(this.#expire, this.#waitMs).unref();
    return 'waits';
  }

  /** `body` charges nothing more (it ended, was refused or cut short); what it holds stays charged until release(). */
  stopMetering(body: MeteredBody): void {
    if (!this.#metered.delete(body)) return;
    this.#waiting.delete(body);
    if (this.#leader === body) {
      this.#leader = undefined;
      for (const other of this.#metered) if (this.#leader === undefined || other.request.bodyCharge > this.#leader.request.bodyCharge) this.#leader = other;
    }
    this.#wake();
  }

  /** Gives back what `request` holds; it can charge nothing after (no allocation: called for every request). */
  release(request: ChargedRequest): void {
    const charge = request.bodyCharge;
    request.bodyCharge = -1;
    if (charge <= 0) return;
    this.#held -= charge;
    if (this.#waiting.size > 0) this.#wake();
  }

  /**
   * Whether `bytes` more for `body` keep what the bodies other than the leader hold within the
   * spare. Small bodies and bodies read whole but not yet released count as others: they are given
   * back without waiting for anything, so they delay the leader, never stall it.
   */
  #fits(body: MeteredBody, bytes: number): boolean {
    const charge = body.request.bodyCharge + bytes;
    // A leader already released (its client left) holds -1: then this body counts as leading.
    const leading = this.#leader === undefined ? charge : Math.max(charge, this.#leader.request.bodyCharge);
    return this.#held + bytes - leading <= this.#spare;
  }

  #chargeMetered(body: MeteredBody, bytes: number): void {
    this.#held += bytes;
    body.request.bodyCharge += bytes;
    if (this.#leader === undefined || body.request.bodyCharge > this.#leader.request.bodyCharge) this.#leader = body;
  }

  /** Lets in the waiting bodies that fit now, in the order they began to wait; ends those whose request was released meanwhile. */
  #wake(): void {
    let done: MeteredBody[] | undefined;
    for (const body of this.#waiting) {
      const released = body.request.bodyCharge < 0;
      if (!released && !this.#fits(body, body.waitingBytes)) continue;
      this.#waiting.delete(body);
      if (!released) this.#chargeMetered(body, body.waitingBytes);
      (done ??= []).push(body);
    }
    // Charged first, then passed on: a body passing its chunk on may charge, wait or end at once.
    if (done === undefined) return;
    this.#lastLetIn = performance.now();
    for (const body of done) {
      if (body.request.bodyCharge < 0) body.refuse(bodyBudgetFull());
      else body.proceed();
    }
  }

  /** When `body` is refused if nothing is let in before: one timer for all, set for the longest waiting. */
  #deadline(body: MeteredBody): number {
    return Math.max(body.waitingSince, this.#lastLetIn) + this.#waitMs;
  }

  readonly #expire = (): void => {
    const now = performance.now();
    const expired: MeteredBody[] = [];
    for (const body of this.#waiting) {
      if (this.#deadline(body) > now) break;
      this.#waiting.delete(body);
      expired.push(body);
    }
    const next = this.#waiting.values().next();
    this.#timer = next.done === true ? undefined : setTimeout(this.#expire, this.#deadline(next.value) - now).unref();
    // Refused after the timer is set: a refusal lets others in, which may wait again and need it.
    for (const body of expired) body.refuse(bodyBudgetFull());
  };
}
