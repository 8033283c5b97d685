// The one place errors become HTTP answers: every layer's failure, Fastify's own, unknown routes,
// malformed HTTP and CONNECT all leave as OpenAI-shaped JSON (Anthropic's shape under /v1/messages)
// with the right status.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  GatewayError,
  internalError,
  invalidJson,
  invalidRequest,
  isGatewayError,
  requestTooLarge,
  routeNotFound,
} from '../../errors/gateway-error.js';
import { toAnthropicError } from '../../anthropic-api/from-chat.js';
import type { ErrorBody } from '../../openai/types.js';
import type { Logger } from '../../logging/logger.js';
import type { Redactor } from '../../logging/redactor.js';
import { requestIdFor } from '../request-id.js';

function unsupportedMediaType(message: string): GatewayError {
  return new GatewayError({ status: 415, type: 'invalid_request_error', code: 'unsupported_media_type', message });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The error body's shape: OpenAI's (default) or Anthropic's `{type: "error", error: {type, message}}`. */
    errorFormat?: 'openai' | 'anthropic';
  }
}

/** Fastify's own errors (body limit, content type, parser) mapped to ours. */
export function fromFastifyError(error: FastifyError, bodyLimit: number): GatewayError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return requestTooLarge(bodyLimit);
    // A Content-Type header that does not parse as a media type (`;;;`): any valid one is read as JSON.
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaType('The Content-Type header is not a valid media type; send application/json, or no Content-Type.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidRequest('The request body does not match its Content-Length.', 'invalid_body');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidJson('The request body is empty.');
    case 'FST_ERR_CTP_INVALID_TYPE':
      return unsupportedMediaType('The Content-Type header is not valid.');
    // The router's refusals (via `frameworkErrors`). Fastify's own messages quote the raw path; ours do not.
    case 'FST_ERR_BAD_URL':
      return invalidRequest('The request URL is not valid: it holds a malformed percent-encoding.', 'invalid_url');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new GatewayError({ status: 414, type: 'invalid_request_error', code: 'url_too_long', message: 'A segment of the request URL is too long.' });
    default:
      break;
  }
  if (error.validation !== undefined) return invalidRequest(error.message, 'invalid_value');
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new GatewayError({ status: error.statusCode, type: 'invalid_request_error', code: 'invalid_request', message: 'The request is not valid.' });
  }
  return undefined;
}

/**
 * `redactor` scrubs every error message on its way out (RELIABILITY 4d#7: one redactor for logs
 * and errors alike), so a key a client put in a model name or a path is not echoed back.
 */
export function registerErrorHandler(app: FastifyInstance, bodyLimit: number, redactor?: Redactor): void {
  const write = errorWriter(redactor);
  app.setErrorHandler((error: FastifyError | GatewayError, request, reply) => {
    let gateway = isGatewayError(error) ? error : fromFastifyError(error, bodyLimit);
    if (gateway === undefined) {
      // A call aborted because its client went away is not a bug: the access log says 499.
      const clientGone = request.raw.aborted || request.raw.socket?.destroyed === true;
      if (!(clientGone && error instanceof Error && error.name === 'AbortError')) {
        // request.log already carries reqId: repeating it wrote the key twice in one JSON line.
        request.log.error({ err: error }, 'unhandled error');
      }
      gateway = internalError();
    } else if (gateway.attempts !== undefined) {
      // The answer says how many attempts and what each got; which deployments, only this line (RELIABILITY 4d#8).
      const last = gateway.cause instanceof Error ? gateway.cause.message : undefined;
      request.log.warn({ status: gateway.status, code: gateway.code, attempts: gateway.attempts, last }, 'every attempt failed');
    }
    write(request, reply, gateway);
  });

  // Through the one writer, for its handling of a body still arriving: a SEARCH to an unknown
  // path was answered with its upload half read and no longer read at all, and a request
  // pipelined behind it timed out, leaving the connection open on the server for good.
  app.setNotFoundHandler({}, (request, reply) => {
    write(request, reply, routeNotFound(request.method, request.url.split('?')[0] ?? ''));
  });
}

/**
 * Errors in Anthropic's shape: on the routes of its Messages API (route config `errorFormat`), and
 * on any other request for a path under /v1/messages (a GET, a typo of count_tokens), whose client
 * is an Anthropic one too.
 */
function anthropicShaped(request: FastifyRequest): boolean {
  const format = request.routeOptions.config?.errorFormat;
  if (format !== undefined) return format === 'anthropic';
  if (request.routeOptions.url !== undefined) return false;
  const path = request.url.split('?')[0] ?? '';
  return path === '/v1/messages' || path.startsWith('/v1/messages/');
}

/**
 * Fastify's `frameworkErrors` option: what the router refuses before any route, hook or error
 * handler runs (a malformed percent-encoding, a path parameter over `maxParamLength`), answered
 * like every other error. The caller sets the common headers first: no onRequest hook ran.
 */
export function frameworkErrorHandler(bodyLimit: number, redactor?: Redactor): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  const write = errorWriter(redactor);
  return (error, request, reply) => {
    const gateway = fromFastifyError(error, bodyLimit);
    if (gateway === undefined) request.log.error({ err: error }, 'unhandled framework error');
    write(request, reply, gateway ?? internalError());
  };
}

function errorBody(error: GatewayError, redactor: Redactor | undefined): ErrorBody {
  const out = error.toBody();
  if (redactor !== undefined) {
    out.error.message = redactor.redact(out.error.message);
    // A param names what the client sent (a field, a query parameter): a key used as one is hidden there too.
    if (out.error.param !== null) out.error.param = redactor.redact(out.error.param);
  }
  return out;
}

function anthropicBody(error: GatewayError, requestId: string, redactor: Redactor | undefined): ReturnType<typeof toAnthropicError> {
  return toAnthropicError({ status: error.status, message: redactor === undefined ? error.message : redactor.redact(error.message) }, requestId);
}

/**
 * The request has a body to read. A request without one is not yet `complete` while the router
 * answers it in its 'request' event (frameworkErrors): Node's parser marks it just after.
 */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Sends `gateway` as the answer: the one place a GatewayError becomes a status, headers and body. */
function errorWriter(redactor: Redactor | undefined): (request: FastifyRequest, reply: FastifyReply, gateway: GatewayError) => void {
  return (request, reply, gateway) => {
    if (gateway.retryAfterMs !== undefined) reply.header('retry-after', Math.max(1, Math.ceil(gateway.retryAfterMs / 1000)));
    const raw = request.raw;
    if (!raw.complete && hasBody(raw) && drainable(raw)) {
      // Node reads and drops the rest after the answer, and the connection serves the next request.
      reply.removeHeader('connection');
      reply.raw.once('finish', () => closeUnlessDrained(raw));
    } else if (!raw.complete && hasBody(raw)) {
      // A body refused while it is still arriving (413, bad JSON framing, or a large upload that
      // auth refused): the connection closes after the answer, which says so, or a keep-alive
      // client sends its next request on it and loses it. Closing at once, with the client's bytes
      // unread, makes the kernel reset the connection, which can destroy the answer before the
      // client reads it: instead the answer goes out, the proxy's side is shut, and a bounded part
      // of the rest of the upload is read and dropped until the client closes, for at most
      // LINGER_MS (a lingering close, as nginx does).
      reply.header('connection', 'close');
      holdOpenAfterAnswer(raw.socket);
      reply.raw.once('finish', () => lingeringClose(raw));
    } else if (raw.complete) {
      // Fastify says `Connection: close` after any body parser error, for a body that may still be
      // arriving; one read whole (bad JSON, too deep) leaves nothing behind it, and the connection
      // serves the client's next request, pipelined or not.
      reply.removeHeader('connection');
    }
    reply.code(gateway.status).header('content-type', 'application/json; charset=utf-8');
    // Another API's paths answer in that API's own error shape.
    reply.send(anthropicShaped(request) ? anthropicBody(gateway, request.id, redactor) : errorBody(gateway, redactor));
  };
}

/**
 * The most of an unread body that Node's own drain may read after an answer so the connection
 * stays open for the client's next request: a request that auth or a limit refused before its body
 * was read (a 401, 403 or 429 to a POST or PATCH) is an ordinary one, and closing its connection
 * cost every keep-alive client (the OpenAI SDKs, `requests.Session`) a reconnect, or the next call.
 */
const KEEP_ALIVE_DRAIN_BYTES = 1024 * 1024;

/**
 * Whether Node will read and drop the rest of this body after the answer (it does so for a body
 * nobody started reading), small enough that the connection is kept rather than closed.
 */
function drainable(request: IncomingMessage): boolean {
  if (request.headers['transfer-encoding'] !== undefined || request.readableFlowing !== null) return false;
  const length = Number(request.headers['content-length']);
  return Number.isSafeInteger(length) && length <= KEEP_ALIVE_DRAIN_BYTES;
}

/**
 * A drained body must arrive as an SDK sends one, at once: one that trickles would hold its socket
 * until request_timeout_s, where a refused upload was closed within LINGER_MS. So after LINGER_MS
 * a body still incomplete closes its connection (the answer went out long before).
 */
function closeUnlessDrained(request: IncomingMessage): void {
  if (request.complete) return;
  const timer = setTimeout(() => {
    if (!request.complete) request.socket?.destroy();
  }, LINGER_MS);
  timer.unref();
  request.once('end', () => clearTimeout(timer));
}

/**
 * Node ends the socket of a `Connection: close` answer with destroySoon(), which destroys it as
 * soon as the proxy's FIN is out, with the upload's bytes unread: the reset the lingering close
 * avoids. Ending it is enough; lingeringClose closes it.
 */
function holdOpenAfterAnswer(socket: Socket | null, unlessComplete?: IncomingMessage): void {
  if (socket === null) return;
  const destroySoon = socket.destroySoon;
  socket.destroySoon = () => {
    // A body read whole leaves nothing to be reset by: the socket closes as Node closes it.
    if (unlessComplete?.complete === true) {
      destroySoon.call(socket);
      return;
    }
    socket.end();
    // lingeringClose, at this answer's finish, closes it in time. An answer queued behind a
    // pipelined one that closes the connection is never written, so never finishes: without this
    // the socket, ended and no longer read, stayed open for good (a leaked connection).
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
  };
}

/** How long a connection whose request body was refused mid-upload is kept open before it is closed. */
const LINGER_MS = 2_000;
/**
 * Each chunk of a refused upload that is read and dropped is a fresh buffer until the next full GC,
 * which V8 runs only after ~64 MB of such memory: draining 50 refused uploads at once grew RSS by
 * 40-65 MB (RELIABILITY 4c "Body caps" allows 50). So at most LINGER_DRAINS connections drain at a
 * time, each at most LINGER_BYTES (checked every LINGER_CHECK_MS: the parser reads the socket
 * itself, with no 'data' events to count); the others stop reading. A client that reads while it
 * uploads has its answer either way. One that reads only once its upload is sent (Python's
 * requests does) gets it when it is given a draining connection and the rest of its upload fits in
 * LINGER_BYTES; otherwise its connection is reset once LINGER_MS passes.
 */
const LINGER_DRAINS = 2;
const LINGER_BYTES = 32 * 1024 * 1024;
const LINGER_CHECK_MS = 10;
let draining = 0;

/**
 * Stops reading a socket that Node's HTTP parser consumes. The server stops the handle on the
 * socket's 'pause' event, but Readable.pause() emits it only while the socket is flowing, and a
 * socket whose request was read through the parser usually is not: so the event is emitted here.
 * The server dumps an unread request body when the answer finishes, which resumes the socket on
 * the next tick: a resume while lingering is undone the same way.
 */
function stopReading(socket: Socket): void {
  socket.pause();
  socket.emit('pause');
  socket.on('resume', pauseAgain);
}

function pauseAgain(this: Socket): void {
  this.emit('pause');
}

/**
 * An answer after which the connection closes (the client sent `Connection: close`, or the server
 * is leaving) to a request whose body may still be arriving: a GET's body, which Fastify never
 * reads, or one a route answers without reading. Node destroys the socket once the answer is
 * written, and upload bytes arriving after that make the kernel reset the connection, which can
 * destroy the end of the answer before the client has read it (the client-input fuzz saw a 147 KB
 * /metrics answer cut at 47 KB). A body still incomplete when the answer is written gets the
 * lingering close of a refused upload; a complete one changes nothing.
 */
export function lingerIfUnread(request: IncomingMessage, response: ServerResponse): void {
  if (!hasBody(request) || request.complete) return;
  holdOpenAfterAnswer(request.socket, request);
  response.once('finish', () => {
    if (!request.complete) lingeringClose(request);
  });
}

/** A socket whose lingering close has begun: a second one (the error handler's and the closing answer's) would take a second drain. */
const LINGERING = Symbol('llm-proxy.lingering');

export function lingeringClose(request: IncomingMessage): void {
  const socket = request.socket as (Socket & { [LINGERING]?: true }) | null;
  if (socket === null || socket.destroyed || socket[LINGERING] === true) return;
  socket[LINGERING] = true;
  socket.end();
  // Kept referenced: a socket that stopped reading is no active handle, so while the server closes
  // (it waits for this connection) nothing else may keep the event loop alive, and an unref'd timer
  // let the process go idle with the close, and the usage flush after it, never finished.
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  let check: NodeJS.Timeout | undefined;
  if (draining >= LINGER_DRAINS) {
    stopReading(socket);
  } else {
    draining++;
    // A body refused while piped (the meter) is left paused, and Node dumps only a body nobody
    // read: flowing with no reader, the rest of the upload is dropped as it arrives.
    request.resume();
    const start = socket.bytesRead;
    check = setInterval(() => {
      if (socket.bytesRead - start <= LINGER_BYTES) return;
      stopDraining();
      stopReading(socket);
    }, LINGER_CHECK_MS);
    check.unref();
  }
  function stopDraining(): void {
    if (check === undefined) return;
    clearInterval(check);
    check = undefined;
    draining--;
  }
  socket.once('close', () => {
    stopDraining();
    clearTimeout(timer);
  });
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
};

/**
 * A whole HTTP/1.1 error answer, for a socket no response object owns; the connection closes after
 * it. It carries the headers every routed answer starts with (app.ts startRequest), so no cache
 * between the client and the proxy keeps it.
 */
function rawAnswer(status: number, body: ErrorBody, requestId: string, extraHeaders = ''): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\n${extraHeaders}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nX-Request-Id: ${requestId}\r\nCache-Control: no-store\r\nVary: Authorization\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${text}`;
}

/** A socket whose bad request is answered (or will be, once the answers it owes are out). */
const REFUSED = Symbol('llm-proxy.refused');
/** The answer Node is writing on a connection (the first of any pipelined ones): internal, but what its own clientError default reads. */
type ServedSocket = Socket & {
  _httpMessage?: { req: IncomingMessage; writableFinished: boolean; once(event: 'finish' | 'close', listener: () => void): unknown } | null;
  [REFUSED]?: true;
};

/**
 * Runs `answer` once the answers this connection already owes are written. Requests pipelined
 * ahead of a bad one were parsed and are being served: a 400 written now would reach the client
 * in place of the first of them (which it then reads as that request's answer), and closing now
 * would lose them. Node moves `_httpMessage` to the next queued answer as each one finishes. An
 * answer whose request is still arriving is the failing request's own (a body too slow, or its
 * chunked framing broken): it is owed nothing more, and the error answers it at once.
 */
function afterOwedAnswers(socket: ServedSocket, answer: () => void): void {
  const owed = socket._httpMessage;
  if (owed === null || owed === undefined || owed.writableFinished || !owed.req.complete) {
    answer();
    return;
  }
  let done = false;
  const next = (): void => {
    if (done) return;
    done = true;
    // Node's own 'finish' listener hands the socket to the next answer; this runs after it.
    process.nextTick(() => afterOwedAnswers(socket, answer));
  };
  owed.once('finish', next);
  owed.once('close', next);
}

/** Answers HTTP that never became a request (bad framing, huge headers, slow clients). */
export function clientErrorHandler(logger: Logger) {
  return (error: NodeJS.ErrnoException, socket: ServedSocket): void => {
    // The parser stays failed: every later chunk on the connection raises this again.
    if (socket[REFUSED] === true) return;
    socket[REFUSED] = true;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let code = 'invalid_http';
    let message = 'The request is not valid HTTP.';
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      code = 'headers_too_large';
      message = 'The request headers are too large.';
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      code = 'request_timeout';
      message = 'The request was not received in time.';
    } else if (
      error.code === 'HPE_INVALID_HEADER_TOKEN' ||
      error.code === 'HPE_INVALID_CONSTANT' ||
      // A bare CR or LF inside a header value (header injection attempts).
      error.code === 'HPE_LF_EXPECTED' ||
      error.code === 'HPE_CR_EXPECTED'
    ) {
      code = 'invalid_header';
      message = 'A request header is not valid.';
    }
    const body: ErrorBody = { error: { message, type: 'invalid_request_error', param: null, code } };
    logger.debug({ code: error.code, status }, 'client error');
    afterOwedAnswers(socket, () => {
      // An owed answer that closed the connection (Connection: close, a stream cut) leaves nothing
      // to answer on; destroying it here could cut that answer's last bytes.
      if (socket.writable) socket.end(rawAnswer(status, body, randomUUID()));
    });
  };
}

/** The methods the routes answer, for the 405's Allow header. */
const ROUTE_METHODS = 'GET, HEAD, POST, PATCH, DELETE';

/**
 * Answers a CONNECT request (the node:http server's 'connect' event) with a 405: the proxy is an
 * API, not a forward proxy, and with no listener Node destroys the socket without any answer.
 */
export function connectHandler(logger: Logger) {
  return (request: IncomingMessage, socket: Duplex): void => {
    // Node's server has let go of the socket, and of its error listener: a reset must not crash the process.
    socket.on('error', () => socket.destroy());
    const requestId = requestIdFor(request.headers);
    logger.debug({ reqId: requestId, method: request.method }, 'CONNECT refused');
    const body: ErrorBody = {
      error: { message: 'CONNECT is not supported: this server is an API, not an HTTP proxy.', type: 'invalid_request_error', param: null, code: 'method_not_allowed' },
    };
    // What the client sends after its request is read and dropped, so the close does not reset the connection under the answer.
    socket.resume();
    socket.end(rawAnswer(405, body, requestId, `Allow: ${ROUTE_METHODS}\r\n`));
    // Nor can a client that never closes its side hold the socket open.
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
  };
}
