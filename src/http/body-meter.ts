// Meters a request body as it arrives (RELIABILITY 4c "Body caps"): each chunk is charged to the
// process-wide BodyBudget before it reaches Fastify's buffer, and the body is refused at the cap.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyRequest, RequestPayload } from 'fastify';
import { GatewayError, requestTooLarge } from '../errors/gateway-error.js';
import { bodyBudgetFull, type BodyBudget, type MeteredBody } from './body-budget.js';

/**
 * A body whose Content-Length is at most this is charged whole before it is read, with no meter
 * (the common case, a chat request). Larger ones are metered as they arrive, so a client that
 * declares a large body and then stalls holds only what it sent.
 */
export const METER_ABOVE_BYTES = 64 * 1024;

/**
 * A refused upload's chunks (up to the cap, 10 MiB by default) are garbage once its 413 is out, but
 * V8 collects socket buffers only after ~64 MB more of them: a flood of uploads over the cap (RELIABILITY
 * 4c, 50 at once, RSS growth ≤ 50 MB) piles up refused bodies faster than that. With `--expose-gc`
 * (in `npm start`'s flags) a full collection follows every RECLAIM_AFTER_BYTES of refused body, at
 * most one per RECLAIM_GAP_MS; without it, V8's own schedule applies.
 */
const RECLAIM_AFTER_BYTES = 8 * 1024 * 1024;
const RECLAIM_GAP_MS = 25;
const collect = (globalThis as { gc?: () => void }).gc;
let refusedBytes = 0;
let reclaim: NodeJS.Timeout | undefined;

function reclaimSoon(bytes: number): void {
  if (collect === undefined || bytes <= 0) return;
  refusedBytes += bytes;
  if (refusedBytes < RECLAIM_AFTER_BYTES || reclaim !== undefined) return;
  // Later, not now: the refused chunks are still referenced until the 413 has been handled.
  reclaim = setTimeout(() => {
    reclaim = undefined;
    refusedBytes = 0;
    collect();
  }, RECLAIM_GAP_MS);
}

function ignoreError(): void {
  // A meter's late error (the client left after Fastify stopped listening) has nobody to tell.
}

/**
 * Passes a body through while charging each chunk to the budget. A chunk the budget has no room
 * for is held back, uncharged, until the budget lets it in: meanwhile the request's stream backs up
 * and Node stops reading its socket. Over the cap (or after waiting too long for room) it fails
 * with the 413 (or 503; at once when too many bodies wait already) before the chunk reaches
 * Fastify's buffer and stops taking the upload;
 * after the answer, the error handler's lingering close reads a bounded part of what is left.
 */
class BodyMeter extends Transform implements MeteredBody {
  readonly request: FastifyRequest;
  waitingBytes = 0;
  waitingSince = 0;
  #received = 0;
  readonly #budget: BodyBudget;
  readonly #source: Readable;
  readonly #limit: number;
  /** The chunk waiting for room, and the callback that passes it on. */
  #waitingChunk: Buffer | undefined;
  #waitingCallback: TransformCallback | undefined;

  constructor(budget: BodyBudget, request: FastifyRequest, source: Readable, limit: number) {
    super();
    this.#budget = budget;
    this.request = request;
    this.#source = source;
    this.#limit = limit;
    this.on('error', ignoreError);
    budget.startMetering(this);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    // Checked here, not left to Fastify: a chunk Fastify refused would stay charged to a dropped body.
    if (this.#received > this.#limit) return this.#refuse(requestTooLarge(this.#limit), callback);
    // Released (its request ended): what it still receives is dropped, not held.
    if (this.request.bodyCharge < 0) return this.#refuse(bodyBudgetFull(), callback);
    const admission = this.#budget.chargeChunk(this, chunk.length);
    if (admission === 'charged') return callback(null, chunk);
    if (admission === 'busy') return this.#refuse(bodyBudgetFull(), callback);
    this.#waitingChunk = chunk;
    this.#waitingCallback = callback;
  }

  override _flush(callback: TransformCallback): void {
    this.#budget.stopMetering(this);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.#waitingChunk = undefined;
    this.#waitingCallback = undefined;
    this.#budget.stopMetering(this);
    callback(error);
  }

  proceed(): void {
    const callback = this.#waitingCallback;
    const chunk = this.#waitingChunk;
    this.#waitingCallback = undefined;
    this.#waitingChunk = undefined;
    callback?.(null, chunk);
  }

  refuse(error: GatewayError): void {
    const callback = this.#waitingCallback;
    this.#waitingCallback = undefined;
    this.#waitingChunk = undefined;
    if (callback !== undefined) this.#refuse(error, callback);
  }

  #refuse(error: GatewayError, callback: TransformCallback): void {
    reclaimSoon(this.request.bodyCharge);
    // Given back at once: the bodies waiting for room go on, and the next reaches its own end or cap.
    this.#budget.stopMetering(this);
    this.#budget.release(this.request);
    // Unpiped, the request is paused: what is left of the upload waits for the answer, after which
    // the error handler's lingering close reads a bounded part of it or stops reading.
    this.#source.unpipe(this);
    callback(error);
  }
}

/**
 * What the preParsing hook hands Fastify for `request`'s body: the payload itself when there is
 * nothing to meter (no body, a body over the cap that Fastify refuses unread, or a small
 * Content-Length charged up front), a metering stream otherwise, or the refusal when the budget
 * cannot take a small body.
 */
export function admitBody(budget: BodyBudget, request: FastifyRequest, payload: RequestPayload, limit: number): RequestPayload | GatewayError {
  const headers = request.headers;
  // Chunked framing wins over any Content-Length, so only a body without it is sized by its header.
  if (headers['transfer-encoding'] === undefined) {
    const declared = headers['content-length'];
    if (declared === undefined) return payload;
    const bytes = Number(declared);
    if (bytes === 0 || bytes > limit) return payload;
    if (bytes <= METER_ABOVE_BYTES) return budget.charge(request, bytes) ? payload : bodyBudgetFull();
  }
  // Fastify never reads these methods' bodies; Node discards them after the answer, unmetered.
  const method = request.method;
  if (method === 'GET' || method === 'HEAD' || method === 'TRACE') return payload;
  const meter = new BodyMeter(budget, request, payload, limit);
  payload.pipe(meter);
  // pipe() does not pass an abort on: without this, Fastify would wait for the meter's end forever.
  payload.once('close', () => {
    if (!meter.writableEnded) meter.destroy(new GatewayError({ status: 400, type: 'invalid_request_error', code: 'invalid_body', message: 'The request body ended early.' }));
  });
  return meter;
}
