// buildApp(): the Fastify app with every plugin and route registered, apart from the listener
// (main.ts alone listens), so tests can run it on port 0 or through inject().
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { GatewayError } from './errors/gateway-error.js';
import { parseJsonBody } from './http/json-body.js';
import { registerAuth } from './http/plugins/auth.js';
import { clientErrorHandler, registerErrorHandler } from './http/plugins/error-handler.js';
import { registerChatCompletions } from './http/routes/chat-completions.js';
import { registerHealth } from './http/routes/health.js';
import { registerModels } from './http/routes/models.js';
import { StreamRegistry } from './http/stream-response.js';
import type { Services } from './services.js';

/** A client's own request id is kept when it is short and plain; anything else is replaced. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_HEADERS = 100;

export interface App {
  app: FastifyInstance;
  services: Services;
  streams: StreamRegistry;
}

export function buildApp(services: Services): App {
  const { config, logger } = services;
  const bodyLimit = Math.floor(config.server.body_limit_mb * 1024 * 1024);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One access line per request, written below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    requestTimeout: config.server.request_timeout_s * 1000,
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    },
    clientErrorHandler: clientErrorHandler(logger),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
  });
  app.server.headersTimeout = config.server.headers_timeout_s * 1000;
  app.server.requestTimeout = config.server.request_timeout_s * 1000;

  const streams = new StreamRegistry(config.server.keepalive_s * 1000);
  registerErrorHandler(app, bodyLimit);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('vary', 'Authorization');
    if (request.raw.rawHeaders.length > MAX_HEADERS * 2) {
      throw new GatewayError({ status: 431, type: 'invalid_request_error', code: 'too_many_headers', message: `More than ${MAX_HEADERS} request headers.` });
    }
  });
  registerAuth(app, services);

  app.addHook('preParsing', async (request) => {
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      throw new GatewayError({ status: 415, type: 'invalid_request_error', code: 'unsupported_media_type', message: 'Content-Encoding is not supported; send the body uncompressed.' });
    }
  });
  // Every body is JSON whatever its Content-Type says (curl -d sends a form type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (error) {
      done(error as GatewayError, undefined);
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    if (logger.isLevelEnabled('info')) {
      request.log.info(
        {
          reqId: request.id,
          method: request.method,
          path: request.url.split('?')[0],
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 100) / 100,
          key: request.principal?.keyId,
        },
        'request',
      );
    }
  });

  registerHealth(app, services);
  registerModels(app, services);
  registerChatCompletions(app, services, streams);

  app.addHook('onClose', async () => {
    streams.close();
  });
  return { app, services, streams };
}
