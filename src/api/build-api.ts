import { createServer } from 'node:http';
import type { RequestListener, Server, ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { browserGuard } from '../auth/index.js';
import type { AccessControl, BrowserGuardOptions } from '../auth/index.js';
import type { Registry } from '../core/index.js';
import { ERROR_CODES, errorBody, reasonOf } from '../errors/index.js';
import { clientErrorAnswer, serverTiming } from '../net/index.js';
import type { RequestDeadlines } from '../net/index.js';
import { STALE_HEADER } from '../wire/index.js';
import type { ClusterView } from '../wire/index.js';
import { Metrics } from '../metrics/index.js';
import type { SubscriberTable } from '../subscribers/index.js';
import { handleError, handleNotFound } from './error-handler.js';
import { addInstanceRoutes } from './instance-routes.js';
import { addMetricsRoutes } from './metrics-routes.js';
import { RequestMetrics, UNKNOWN_ROUTE } from './request-metrics.js';
import { collectOpenApi } from './openapi.js';
import { AnswerCache, serviceKey } from './answer-cache.js';
import { BlockingReads } from './blocking-reads.js';
import { createFastPath } from './fast-path.js';
import { addServiceRoutes } from './service-routes.js';
import { addSeedRoutes } from './seed-routes.js';
import { addAccessHook } from './route-access.js';
import { addSubscriberRoutes } from './subscriber-routes.js';
import { addSystemRoutes } from './system-routes.js';
import { addTokenRoutes } from './token-routes.js';
import { addUiRoutes } from './ui-routes.js';
import { addWatchRoutes } from './watch-routes.js';
import { compileValidator, parseJsonBody, validationError } from './validation.js';
import type { WatchRouteOptions } from './watch-routes.js';

export interface ApiOptions {
  registry: Registry;
  logger: FastifyBaseLogger;
  /** Largest request body, in bytes, of every route: the configuration's `http.bodyLimitBytes`. */
  bodyLimit: number;
  version?: string;
  /** Served at `GET /metrics`, with the registry's gauges added (default: a new one). */
  metrics?: Metrics;
  /** Event stream keep-alive and buffer bound: the configuration's `watch` slice. */
  watch: WatchRouteOptions;
  /** `GET /v1/cluster`: the registry's nodes (server.ts answers for a single node or asks the cluster). */
  cluster: () => ClusterView;
  /** Who may do what (issue #13): every route declares the right it needs, checked by one hook (route-access.ts). */
  access: AccessControl;
  /** Host and Origin checks against web pages (auth/): where the server listens, and the origins allowed to write. */
  browser: BrowserGuardOptions;
  /** How long a request may take to arrive, and how many connections the server holds at most (issue #14). */
  connections: ConnectionLimits;
  /** Serve HTTPS with this certificate (chain) and key, PEM; with `clientCa`, require client certificates it signed. */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  /** The gateway running inside `serve`, once started: the web dashboard shows its routes (issue #16). */
  gateway?: () => { url: string; routes(): unknown } | undefined;
  /** Who follows the registry and how far (issue #19): `GET /v1/subscribers` and drains; none without it. */
  subscribers?: SubscriberTable;
}

/**
 * The REST API v1 on Fastify, not yet listening: server.ts adds the other transports' routes and listens.
 * Tests drive it with `app.inject()`.
 */
export function buildApi(options: ApiOptions): FastifyInstance {
  // The server hands requests to the fast path (set once the routes exist), which hands the rest to Fastify.
  const fast: { handler?: RequestListener; next: RequestListener } = { next: () => undefined };
  const { bodyLimit, tls } = options;
  const metrics = options.metrics ?? new Metrics();
  // Every answer on this port, by route template and code (issue #20): Fastify's, the fast path's, the guard's.
  const requests = new RequestMetrics(metrics);
  const app = Fastify({
    // The server comes from serverFactory; this only makes Fastify name its address https://.
    ...(tls === undefined ? {} : { https: {} }),
    serverFactory: (fastifyHandler) => {
      fast.next = fastifyHandler;
      const { registry } = options;
      const guard = browserGuard(options.browser);
      const handler: RequestListener = (req, res) => {
        const refusal = guard(req);
        if (refusal) {
          const body = JSON.stringify(errorBody(refusal));
          requests.series(req.method ?? 'GET', UNKNOWN_ROUTE, ERROR_CODES[refusal.code].http).observe(0);
          res.writeHead(ERROR_CODES[refusal.code].http, {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(body),
          });
          res.end(body);
          return;
        }
        // Cut off from its store, a node still answers reads from its last view, and says so on every answer.
        if (registry.stale) res.setHeader(STALE_HEADER, 'true');
        (fast.handler ?? fastifyHandler)(req, res);
      };
      const timing = serverTiming(options.connections);
      const server = tls === undefined ? createServer(timing, handler) : createTlsServer({ ...tls, timing }, handler);
      // A client has `requestTimeoutMs` to send its whole request (headers within `headersTimeoutMs`): a slow or
      // stalled upload cannot hold a connection for ever (issue #14). Answering may take longer: blocking queries
      // hold their answer for minutes, and event streams never end. Idle keep-alive sockets close after 72 s.
      server.keepAliveTimeout = 72_000;
      server.maxConnections = options.connections.maxConnections;
      return server;
    },
    loggerInstance: options.logger,
    // Malformed requests and timeouts (before any route runs) are answered in the one error shape too.
    clientErrorHandler: answerClientError,
    bodyLimit,
    // Per-request log lines would cost more than the lookups themselves; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Instance ids may be 128 characters (INSTANCE_ID_PATTERN); the router's default limit is 100.
    routerOptions: { maxParamLength: 256 },
    // A URL Fastify cannot decode (`/v1/services/%ff`) is answered in the one error shape too, not Fastify's own.
    frameworkErrors: (error, request, reply) => {
      handleError(error, request, reply);
    },
    // Validation messages and JSON parsing come from validation.ts, which the fast path uses too.
    schemaErrorFormatter: validationError,
  });
  app.setValidatorCompiler(({ schema, httpPart }) => compileValidator(schema, httpPart));
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  const openApi = collectOpenApi(app, { title: 'Switchboard registry API', version: options.version ?? '1' });
  const { access } = options;
  addAccessHook(app, access);
  requests.addHook(app);
  addSystemRoutes(app, options.registry, { openApi, cluster: options.cluster });
  addMetricsRoutes(app, options.registry, metrics);
  addInstanceRoutes(app, options.registry);
  const cache = new AnswerCache();
  // A service the registry prunes (empty and unwatched for a while) takes its cached answers with it (issue #14).
  const stopPruning = options.registry.onServicesPruned((services) => {
    for (const service of services) cache.delete(serviceKey(service));
  });
  app.addHook('onClose', (_instance, done) => {
    stopPruning();
    done();
  });
  metrics.gauge(
    'switchboard_tracked_services',
    'Services whose index is kept: those with instances, and those empty for less than --empty-service-grace.',
    () => options.registry.trackedServices,
  );
  metrics.gauge('switchboard_answer_cache_keys', 'Services (and lists) with answers cached.', () => cache.size);
  const { subscribers } = options;
  const blocking = new BlockingReads(app, options.registry, subscribers);
  metrics.gauge(
    'switchboard_blocking_queries',
    'REST reads held waiting for a change (?index=).',
    () => blocking.waiting,
  );
  addServiceRoutes(app, options.registry, { cache, blocking, access });
  fast.handler = createFastPath(
    { registry: options.registry, cache, blocking, logger: options.logger, access, requests, bodyLimit },
    fast.next,
  );
  addSeedRoutes(app, options.registry, { bodyLimit, access });
  addWatchRoutes(app, options.registry, {
    ...options.watch,
    access,
    metrics,
    ...(subscribers ? { subscribers } : {}),
  });
  if (subscribers) addSubscriberRoutes(app, options.registry, { subscribers, access });
  addTokenRoutes(app, access);
  addUiRoutes(app, options.gateway ? { gateway: options.gateway } : {});
  return app;
}

export interface ConnectionLimits extends RequestDeadlines {
  /** Connections held at once; more are closed as they arrive. */
  maxConnections: number;
}

/**
 * What node:http reports before a request reaches a route (a request too slow, unparsable headers), answered in the
 * one error shape with a stable code, then the connection is closed.
 */
function answerClientError(this: FastifyInstance, err: Error & { code?: string }, socket: Duplex): void {
  const error = clientErrorAnswer(err, '--request-timeout');
  if (error === undefined || socket.destroyed) return;
  const body = JSON.stringify(errorBody(error));
  const status = ERROR_CODES[error.code].http;
  this.log.debug({ code: err.code }, 'client error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reasonOf(status)}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * The same server over TLS (every route on the port: REST, XML-RPC, seed routes, events). With a client CA the
 * handshake itself refuses a client without a certificate that CA signed, before any request is read.
 */
function createTlsServer(
  tls: NonNullable<ApiOptions['tls']> & { timing: ServerOptions },
  handler: RequestListener,
): Server {
  const mutual = tls.clientCa !== undefined;
  // Requests under way on each connection: closing ends the connections that have none.
  const busy = new Map<Socket, number>();
  const server = createHttpsServer(
    {
      ...tls.timing,
      cert: tls.cert,
      key: tls.key,
      ...(mutual ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const { socket } = req;
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
      res.once('close', () => {
        if (busy.has(socket)) busy.set(socket, (busy.get(socket) ?? 1) - 1);
      });
      handler(req, res);
    },
  );
  server.on('secureConnection', (socket: Socket) => {
    busy.set(socket, 0);
    socket.once('close', () => busy.delete(socket));
  });
  // Node 20's https server does not always end an idle keep-alive connection in closeIdleConnections (seen once a
  // watch's connection had closed), and Fastify's close would then wait for the client to hang up: up to the 72 s
  // keep-alive it announced. So connections with no request under way are ended from this server's own count.
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const [socket, requests] of busy) if (requests === 0) socket.destroy();
  };
  // https.Server has every method of http.Server that Fastify uses (listen, close, closeIdleConnections, …).
  return server;
}
