// buildApp(): the Fastify app with every plugin and route registered, apart from the listener
// (main.ts alone listens), so tests can run it on port 0 or through inject().
import type { ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import { trustProxyOption } from './config/trust-proxy.js';
import { GatewayError } from './errors/gateway-error.js';
import { admitBody } from './http/body-meter.js';
import { parseJsonBody } from './http/json-body.js';
import { requestIdFor } from './http/request-id.js';
import { registerAuth } from './http/plugins/auth.js';
import { registerAdminKeys } from './http/routes/admin-keys.js';
import { registerAdminReload, type ReloadHandler } from './http/routes/admin-reload.js';
import { registerUsage } from './http/routes/usage.js';
import { registerUsageAnalytics } from './http/routes/usage-analytics.js';
import { registerUi } from './http/routes/ui.js';
import { clientErrorHandler, frameworkErrorHandler, lingerIfUnread, registerErrorHandler } from './http/plugins/error-handler.js';
import { registerCatalog } from './http/routes/catalog.js';
import { registerChatCompletions } from './http/routes/chat-completions.js';
import { ChatPipeline } from './http/chat-pipeline.js';
import { registerMessages } from './http/routes/messages.js';
import { registerCompletions } from './http/routes/completions.js';
import { registerCondense } from './http/routes/condense.js';
import { registerCacheHealth } from './http/routes/cache-health.js';
import { registerHealth } from './http/routes/health.js';
import { refusal, registerHealthProbes } from './http/routes/health-probes.js';
import { registerMetrics } from './http/routes/metrics.js';
import { registerOpenApi } from './http/openapi-docs.js';
import { closeIfLast, Lifecycle } from './http/graceful-shutdown.js';
import { registerEmbeddings } from './http/routes/embeddings.js';
import { registerModels } from './http/routes/models.js';
import { StreamRegistry } from './http/stream-response.js';
import { UnusedConnections } from './http/unused-connections.js';
import type { Services } from './services.js';

const MAX_HEADERS = 100;
/**
 * A Host is a name (letters, digits, `.`, `-`, `_` as in container names) or a bracketed IPv6
 * literal, with an optional port. Nothing reads it, but a malformed one is refused, so no later
 * code can be fooled by `evil/`, `a?b` or `u@h` (RELIABILITY 4a#20).
 */
const VALID_HOST = /^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/**
 * How many Host lines a request has: Node keeps the first of several, but two Hosts are ambiguous
 * (one proxy may route by one, the next by the other), and RFC 9112 §3.2 asks for a 400.
 */
function hostLines(raw: readonly string[]): number {
  let lines = 0;
  // The length test first: the per-request cost is one comparison per header.
  for (let index = 0; index < raw.length; index += 2) if ((raw[index] as string).length === 4 && (raw[index] as string).toLowerCase() === 'host') lines++;
  return lines;
}

const TRACKED = Symbol('llm-proxy.reply');
const UNROUTED = Symbol('llm-proxy.unrouted');
/** The raw response carries its Fastify reply for the shared close listener. */
type TrackedResponse = ServerResponse & { [TRACKED]?: FastifyReply | undefined; [UNROUTED]?: boolean };

export interface App {
  app: FastifyInstance;
  services: Services;
  streams: StreamRegistry;
  /** Draining or not (graceful shutdown); /health/ready reads it. */
  lifecycle: Lifecycle;
}

export interface AppOptions {
  /** main.ts: one listener shared by the generations a config reload creates (see src/server/gateway-server.ts). */
  serverFactory?: FastifyServerFactory;
  /** POST /admin/reload is registered only when something can reload. */
  reload?: ReloadHandler;
}

export function buildApp(services: Services, options: AppOptions = {}): App {
  const { config, logger } = services;
  const bodyLimit = Math.floor(config.server.body_limit_mb * 1024 * 1024);
  const answerFrameworkError = frameworkErrorHandler(bodyLimit, services.redactor);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One access line per request, written below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    requestTimeout: config.server.request_timeout_s * 1000,
    keepAliveTimeout: 72_000,
    // request.ip, .protocol and .host follow X-Forwarded-* only from the peers server.trust_proxy names.
    trustProxy: trustProxyOption(config.server.trust_proxy),
    // While draining, health-probes.ts answers with an OpenAI-shaped 503 (Fastify's own is not).
    return503OnClosing: false,
    genReqId: (request) => requestIdFor(request.headers, (id) => services.redactor.redact(id) !== id),
    clientErrorHandler: clientErrorHandler(logger),
    // The router answers a malformed percent-encoding (`/%`) or an over-long path parameter before
    // any hook runs, in Fastify's own JSON quoting the path, unless this option answers instead.
    frameworkErrors: (error, request, reply) => {
      // The router builds Fastify's bare Request, without decorations: with no bodyCharge, the
      // budget's release() at the answer's close made its count NaN, and every metered body after
      // it waited body_buffer_wait_s for a 503.
      request.bodyCharge = 0;
      startRequest(request, reply, true);
      answerFrameworkError(error, request, reply);
    },
    http: {
      // A missing Host is answered by the hook below as JSON, not by Node's bare 400.
      requireHostHeader: false,
      // Node checks header and request timeouts only this often (30 s by default), so slow
      // clients would otherwise hold sockets far past headers_timeout_s.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor((config.server.headers_timeout_s * 1000) / 4))),
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
  });
  app.server.headersTimeout = config.server.headers_timeout_s * 1000;
  app.server.requestTimeout = config.server.request_timeout_s * 1000;

  const streams = new StreamRegistry(config.server.keepalive_s * 1000, (config.server.write_stall_s ?? 60) * 1000);
  registerErrorHandler(app, bodyLimit, services.redactor);
  // Before any route: swagger collects routes as they are added.
  registerOpenApi(app);
  // First, so its onRequest hook counts requests that auth or the Host check refuse.
  registerMetrics(app, services, streams);

  const lifecycle = new Lifecycle();
  const { metrics } = services;
  // Shared by every generation; the newest config sets its size.
  const bodyBudget = services.shared.bodyBudget;
  bodyBudget.configure(config.server);
  app.decorateRequest('bodyCharge', 0);
  const accessLog = logger.isLevelEnabled('info');
  function writeAccessLine(request: FastifyRequest, status: number, reply: FastifyReply): void {
    request.log.info(
      { method: request.method, path: request.url.split('?')[0], status, ms: Math.round(reply.elapsedTime * 100) / 100, key: request.principal?.keyId },
      'request',
    );
  }
  function onResponseClose(this: TrackedResponse): void {
    const reply = this[TRACKED];
    if (reply === undefined) return;
    this[TRACKED] = undefined;
    const request = reply.request;
    // A body refused, cut short or never parsed gives its charge back here.
    bodyBudget.release(request);
    const finished = this.writableFinished;
    metrics.requestFinished(request.routeOptions.url ?? 'unmatched', request.method, finished ? this.statusCode : 499, reply.elapsedTime / 1000, reply.getHeader('x-llm-proxy-route'));
    // A client that leaves before its answer is complete (mid-stream too) never reaches
    // onResponse: its access line says 499, as nginx does (RELIABILITY 4b#19). An answer the
    // router gave (frameworkErrors) never reaches onResponse either: its line is written here.
    if (accessLog && (!finished || this[UNROUTED] === true)) writeAccessLine(request, finished ? this.statusCode : 499, reply);
  }
  /**
   * What every answer starts with: the common headers, and request metrics and the 499 access line
   * from one 'close' listener. `unrouted`: the router refused the request, so no hook will run.
   */
  function startRequest(request: FastifyRequest, reply: FastifyReply, unrouted = false): void {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('vary', 'Authorization');
    // Of the dashboard's security headers, the one that means something for JSON and event streams
    // (OWASP's REST cheat sheet asks it of API answers): a browser never reads an answer as another
    // type than it says, however much of a model's text it quotes. Framing, referrer, opener and
    // script policies are for pages (/ui, /docs set them).
    reply.header('x-content-type-options', 'nosniff');
    metrics.requestStarted();
    const res = reply.raw as TrackedResponse;
    res[TRACKED] = reply;
    if (unrouted) res[UNROUTED] = true;
    // One shared listener (it reads the reply from the response) instead of a closure and a once-wrapper per request.
    res.on('close', onResponseClose);
    // The client's `Connection: close` (or HTTP/1.0): its body must not be left unread behind the answer.
    if (!res.shouldKeepAlive) lingerIfUnread(request.raw, res);
  }
  // The one per-request hook before auth, callback-style (no promise per request): the common
  // start, then the cheap refusals.
  app.addHook('onRequest', (request, reply, done) => {
    startRequest(request, reply);
    const refused = refusal(lifecycle, request);
    if (refused !== undefined) {
      done(refused);
      return;
    }
    if (request.raw.rawHeaders.length > MAX_HEADERS * 2) {
      done(new GatewayError({ status: 431, type: 'invalid_request_error', code: 'too_many_headers', message: `More than ${MAX_HEADERS} request headers.` }));
      return;
    }
    const host = request.headers.host;
    if (host === undefined ? request.raw.httpVersion !== '1.0' : !VALID_HOST.test(host) || hostLines(request.raw.rawHeaders) > 1) {
      done(new GatewayError({ status: 400, type: 'invalid_request_error', code: 'invalid_header', message: 'The Host header is missing or not valid.' }));
      return;
    }
    done();
  });
  registerAuth(app, services);

  app.addHook('preParsing', (request, _reply, payload, done) => {
    const encoding = request.headers['content-encoding'];
    // A coding names how a body is sent: a request with none (a GET, Content-Length 0) has nothing to decode.
    const length = request.headers['content-length'];
    const bodied = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (encoding !== undefined && bodied && encoding.toLowerCase() !== 'identity') {
      done(new GatewayError({ status: 415, type: 'invalid_request_error', code: 'unsupported_media_type', message: 'Content-Encoding is not supported; send the body uncompressed.' }));
      return;
    }
    // Node frames a body by its final `chunked` and leaves any coding before it (`gzip, chunked`) undone: refused like Content-Encoding.
    const transfer = request.headers['transfer-encoding'];
    if (transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked') {
      done(new GatewayError({ status: 415, type: 'invalid_request_error', code: 'unsupported_media_type', message: 'Transfer-Encoding other than chunked is not supported; send the body uncompressed.' }));
      return;
    }
    // The body is charged to the process-wide budget while it is read (src/http/body-budget.ts).
    const admitted = admitBody(bodyBudget, request, payload, bodyLimit);
    if (admitted instanceof GatewayError) done(admitted);
    else done(null, admitted);
  });
  // Every body is JSON whatever its Content-Type says (curl -d sends a form type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    // Read whole and about to be parsed: the budget counts bodies still arriving, not requests in flight (a stream may last minutes).
    bodyBudget.release(request);
    // An empty body with a Content-Type (curl -X DELETE -H 'Content-Type: application/json', Python
    // requests with the usual JSON headers) is no body: routes that need one say so themselves.
    if ((body as Buffer).length === 0) {
      done(null, undefined);
      return;
    }
    // No route takes it (the 404 handler's turn): the body is read and dropped, not parsed, so an
    // upload to a path we do not serve (/v1/audio/transcriptions' multipart) is told 404, not invalid_json.
    if (request.routeOptions.url === undefined) {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (error) {
      done(error as GatewayError, undefined);
    }
  });

  // Once a shutdown has started, an answer tells its client to not reuse the connection: during
  // the shutdown delay, so kept-alive clients reconnect (to another instance, once the balancer has
  // taken this one out) before the listener closes; while draining, because a kept-alive connection
  // would be closed as idle (100 ms later) under the next request the client had just sent on it, a
  // reset with no answer. A request pipelined behind it is answered first, and its answer says it.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!lifecycle.leaving) return done(null, payload);
    closeIfLast(request.raw, reply.raw, (last) => {
      if (last) {
        reply.header('connection', 'close');
        lingerIfUnread(request.raw, reply.raw);
      } else reply.removeHeader('connection').raw.removeHeader('connection');
      done(null, payload);
    });
  });

  // One access line per request; no hook at all when the level is above info.
  if (accessLog) {
    app.addHook('onResponse', (request, reply, done) => {
      writeAccessLine(request, reply.statusCode, reply);
      done();
    });
  }

  registerHealthProbes(app, lifecycle);
  registerHealth(app, services);
  registerCacheHealth(app, services);
  registerModels(app, services);
  registerCatalog(app, services);
  const pipeline = new ChatPipeline(services, streams);
  registerChatCompletions(app, pipeline);
  registerMessages(app, services, pipeline);
  registerCompletions(app, services, pipeline);
  registerEmbeddings(app, services);
  registerCondense(app, services);
  registerAdminKeys(app, services);
  registerUsage(app, services);
  if (options.reload !== undefined) registerAdminReload(app, options.reload);
  registerUsageAnalytics(app, services);
  registerUi(app, services);

  app.addHook('onClose', async () => {
    streams.close();
  });
  // Fastify's close() closes idle connections, not those that never sent a request: they held it
  // open for good. A listener shared by reloads (serverFactory) is GatewayServer's to sweep.
  if (options.serverFactory === undefined) {
    const unused = new UnusedConnections(app.server);
    app.addHook('preClose', (done) => {
      unused.close();
      done();
    });
  }
  return { app, services, streams, lifecycle };
}
