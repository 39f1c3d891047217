/**
 * The API gateway (issue #7): server-side discovery. Clients send every request here; the gateway finds a healthy
 * instance of the service the path belongs to and forwards the request to it.
 *
 * A local route table answers every request, so a request never waits on the registry. Run on its own
 * (`switchboard gateway`), it fills the table through the SDK: one watch of every service, and when the registry is
 * unreachable it keeps routing on the last table it had (the watch reconnects and resumes by itself). Run inside
 * `serve`, the registry pushes its changes into the table as it applies them (`local`): no HTTP, no JSON, and never
 * a change behind the registry it runs in.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createHttpsServer } from 'node:https';
import { createJwtVerifier } from '../auth/index.js';
import type { JwtOptions } from '../auth/index.js';
import { RegistryError, toRegistryError } from '../errors/index.js';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { RegistryClient, newSubscriberId } from '../sdk/index.js';
import type { RegistryClientOptions, WatchStatus } from '../sdk/index.js';
import type { BalanceStrategy } from './balancer.js';
import type { Config } from '../config/index.js';
import { METRICS_CONTENT_TYPE, Metrics } from '../metrics/index.js';
import { GatewayCounters, exportGatewayMetrics } from './gateway-counters.js';
import type { GatewayMetrics } from './gateway-counters.js';
import { ReverseProxy } from './reverse-proxy.js';
import { AddressRanges, clientErrorAnswer, serverTiming } from '../net/index.js';
import { sendBody, sendError, sendJson, writeRawError } from './responses.js';
import type { GatewayError } from './responses.js';
import { RouteTable } from './route-table.js';
import type { RouteFeedEvent, RouteTableView } from './route-table.js';
import { DEFAULT_OUTLIER } from './upstream.js';
import { serviceLoads } from './load-window.js';
import type { OutlierOptions } from './upstream.js';

/** Where the route table comes from: the registry's watch of every service. */
export type RouteFeed = (options: {
  signal: AbortSignal;
  onStatus: (status: WatchStatus) => void;
}) => AsyncIterable<RouteFeedEvent>;

/**
 * The registry in the same process: its instances now, then every change as it is applied. Each change is a few
 * map updates in the table (routes are rebuilt on the next lookup), so it is cheap enough to run inside the
 * registry's apply path.
 */
export interface LocalRouteFeed {
  /** Calls `onEvent` with a snapshot at once, then with each change; returns the function that stops it. */
  follow(onEvent: (event: RouteFeedEvent) => void): () => void;
  /** True while the registry's own view may be behind (its store cannot be reached). */
  readonly stale: boolean;
}

export interface GatewayOptions {
  /** Registry node URL(s) to watch (the SDK fails over between them). Needed unless `local` or `feed` is given. */
  registry?: string | readonly string[];
  /** Bearer token for the registry. */
  token?: string;
  /** For an `https://` registry: CA(s) to trust, and a client certificate and key (mutual TLS), PEM. */
  ca?: RegistryClientOptions['ca'];
  cert?: RegistryClientOptions['cert'];
  key?: RegistryClientOptions['key'];
  /** Serve HTTPS with this certificate (chain) and key, PEM (`gatewayOptionsFrom` reads them from the files). */
  tls?: { cert: Buffer; key: Buffer };
  /** Address to listen on (`gatewayOptionsFrom` fills it and every other setting from the configuration). */
  host: string;
  /** 0 takes any free port. */
  port: number;
  /** Also route `/{service}/…` to every service. */
  routeByName: boolean;
  /** Balancer of services whose instances do not set `metadata["gateway.balance"]`. */
  balance: BalanceStrategy;
  /** How long an instance may take to start answering, and at most between two body chunks. */
  upstreamTimeoutMs: number;
  /** How long connecting to an instance may take (never above the upstream timeout). */
  connectTimeoutMs: number;
  /** Connections kept to one instance at most; more requests queue. */
  maxConnectionsPerInstance: number;
  /** How long a request may wait in that queue before 503 UNAVAILABLE. */
  acquireTimeoutMs: number;
  /** How long a route whose service has no instance left still answers through its fallback (default 1 h). */
  fallbackRetentionMs?: number;
  /**
   * Time to receive a request's headers, and the whole request, before 408 REQUEST_TIMEOUT; how long an idle
   * keep-alive connection stays open; client connections held at once (issue #14).
   */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** Peers (CIDRs) whose X-Forwarded-* and Forwarded headers are appended to; from others they are replaced. */
  trustedProxies?: readonly string[];
  outlier?: Partial<OutlierOptions>;
  /** Role checks for services with `authorizedRoles`: one of secret, publicKey(File) or jwksUrl, and the claims. */
  jwt?: JwtOptions;
  /**
   * Admits a request to `/_gateway/routes` and `/_gateway/metrics`, which show every service (issue #13: read on
   * every service), or rejects with a RegistryError (UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE, …) that the
   * gateway answers as its JSON error. Without it those pages are closed to everyone. `/_gateway/health` is public.
   */
  authorizePage?: (req: IncomingMessage) => Promise<void>;
  logger?: Logger;
  /** How long startup waits for the registry's first snapshot before listening anyway. */
  readyTimeoutMs: number;
  /**
   * Where to add the gateway's metric families: the registry's, served at its `GET /metrics`, when the gateway runs
   * inside `serve`. Without it the gateway makes its own, with the process metrics. Either way
   * `/_gateway/metrics?format=prometheus` renders this one.
   */
  metrics?: Metrics;
  /** The registry in this process, followed in place of a watch over HTTP (`serve --gateway-port`). */
  local?: LocalRouteFeed;
  /** Replaces the registry watch (tests). */
  feed?: RouteFeed;
  /**
   * How the gateway names itself to the registry (issue #19): it is a subscriber of every service, and reports a
   * change applied once its route table has it. Default: a random id named `gateway`.
   */
  subscriber?: { id?: string; name?: string };
}

/** What `/_gateway/routes` answers. */
export interface GatewayRoutes extends RouteTableView {
  /** True while the registry cannot be reached: the table is the last one known. */
  stale: boolean;
  /** When the last snapshot or change arrived (ISO 8601), null before the first. */
  updatedAt: string | null;
}

/** A running gateway. */
export interface Gateway extends AsyncDisposable {
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly port: number;
  /** Resolves once the registry's first snapshot is in the table. */
  readonly ready: Promise<void>;
  /** The route table, as `GET /_gateway/routes` answers it. */
  routes(): GatewayRoutes;
  /** Every counter, for the metrics endpoint. */
  metrics(): GatewayMetrics;
  /** Stops listening, lets requests under way finish (up to a few seconds), then closes every connection. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5_000;

/**
 * The gateway's own endpoints, under a prefix no service should claim. Health is public (load balancers probe it);
 * the others show every service and its instances, so they need `authorizePage`.
 */
const ADMIN_PAGES: Readonly<Partial<Record<string, 'routes' | 'metrics' | 'health'>>> = {
  '/_gateway/routes': 'routes',
  '/_gateway/metrics': 'metrics',
  '/_gateway/health': 'health',
};

/**
 * Starts the gateway: watches the registry and serves HTTP on `host:port`.
 * @example
 * const gateway = await createGateway({
 *   ...gatewayOptionsFrom(config.gateway, { host: '127.0.0.1', port: 8080 }),
 *   registry: 'http://127.0.0.1:8900',
 * });
 * // curl http://127.0.0.1:8080/tickets → an instance of the service registered with url "/tickets"
 * await gateway.close();
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const { upstreamTimeoutMs } = options;
  const connectTimeoutMs = Math.min(options.connectTimeoutMs, upstreamTimeoutMs);
  const verifier = createJwtVerifier(options.jwt ?? {});
  const trustedProxies = new AddressRanges(options.trustedProxies ?? [], '--trusted-proxies');
  const authorizePage = options.authorizePage ?? closedPages;
  const local = options.local;
  const feed = local === undefined ? (options.feed ?? registryFeed(options)) : undefined;
  const table = new RouteTable({
    routeByName: options.routeByName,
    balance: options.balance,
    pool: { upstreamTimeoutMs, connectTimeoutMs, maxConnections: options.maxConnectionsPerInstance },
    ...(options.fallbackRetentionMs === undefined
      ? {}
      : { fallbackMemory: { retentionMs: options.fallbackRetentionMs } }),
  });
  const counters = new GatewayCounters();
  // updatedAt is epoch ms, formatted only when shown: a timestamp string per change would cost more than the change.
  const state = { watchStale: true, updatedAt: 0, reported: undefined as boolean | undefined };
  const isStale = (): boolean => (local === undefined ? state.watchStale : local.stale);

  const routes = (): GatewayRoutes => ({
    ...table.view(),
    stale: isStale(),
    updatedAt: state.updatedAt === 0 ? null : new Date(state.updatedAt).toISOString(),
  });
  const metrics = (): GatewayMetrics => ({
    requests: counters.requests,
    responses: {
      '1xx': counters.statusClasses[1] ?? 0,
      '2xx': counters.statusClasses[2] ?? 0,
      '3xx': counters.statusClasses[3] ?? 0,
      '4xx': counters.statusClasses[4] ?? 0,
      '5xx': counters.statusClasses[5] ?? 0,
    },
    errors: { ...counters.errors },
    retries: counters.retries,
    ejections: counters.ejections,
    upgrades: counters.upgrades,
    fallbacks: counters.fallbacks,
    index: table.index,
    upstreams: table.upstreams().map((u) => ({
      service: u.instance.service,
      id: u.instance.id,
      address: `${u.host}:${u.port}`,
      requests: u.requests,
      failures: u.failures,
      ejections: u.totalEjections,
      outstanding: u.outstanding,
      ejected: u.ejected,
    })),
    services: serviceLoads(table.upstreams(), performance.now()),
  });

  // One definition of the families: a standalone gateway exports into a Metrics of its own, scraped at
  // `/_gateway/metrics?format=prometheus`, just as the one inside `serve` exports into the registry's.
  const exported = options.metrics ?? new Metrics();
  // One snapshot per scrape. prom-client awaits between families, so the snapshot lasts until the next turn of the
  // event loop, not the next microtask (which rebuilt it for every family).
  let snapshot: { metrics: GatewayMetrics; routes: number; stale: boolean } | undefined;
  exportGatewayMetrics(
    exported,
    () => {
      if (snapshot === undefined) {
        snapshot = { metrics: metrics(), routes: table.size, stale: isStale() };
        // The per-service counters keep the services still routed, as the per-instance ones do.
        counters.services.prune(new Set(snapshot.metrics.upstreams.map((u) => u.service)));
        setImmediate(() => {
          snapshot = undefined;
        });
      }
      return snapshot;
    },
    counters.services,
  );

  /** JSON (the dashboard's), or with `format=prometheus` the text format, as Consul's `/v1/agent/metrics` does. */
  const metricsPage = (res: ServerResponse, search: string): void => {
    const format = metricsFormat(search);
    if (typeof format !== 'string') {
      sendError(res, format, '-');
      return;
    }
    switch (format) {
      case 'json':
        sendJson(res, 200, metrics());
        return;
      case 'prometheus':
        exported.render().then(
          (body) => {
            if (!res.destroyed) sendBody(res, { status: 200, contentType: METRICS_CONTENT_TYPE, body });
          },
          (err: unknown) => {
            logger.error({ err }, 'gateway: could not render the metrics');
            sendError(res, { code: 'INTERNAL', message: 'could not render the metrics' }, '-');
          },
        );
        return;
    }
  };

  const admin = (req: IncomingMessage, res: ServerResponse, target: string): void => {
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    const page = req.method === 'GET' || req.method === 'HEAD' ? ADMIN_PAGES[path] : undefined;
    if (page === undefined) {
      sendError(res, { code: 'NO_ROUTE', message: `no route ${req.method ?? ''} ${path}` }, '-');
      return;
    }
    if (page === 'health') {
      sendJson(res, 200, { status: 'ok', stale: isStale(), index: table.index });
      return;
    }
    authorizePage(req).then(
      () => {
        // The client may have left while its token was checked.
        if (res.destroyed) return;
        if (page === 'routes') sendJson(res, 200, routes());
        else metricsPage(res, query === -1 ? '' : target.slice(query + 1));
      },
      (err: unknown) => {
        const error = toRegistryError(err);
        if (error.code === 'INTERNAL' || error.code === 'UNAVAILABLE') {
          logger.warn({ err, page: path }, 'gateway: could not check the token of an operator page request');
        }
        sendError(res, { code: error.code, message: error.message }, '-');
      },
    );
  };

  const proxy = new ReverseProxy({
    table,
    verifier,
    counters,
    logger,
    connectTimeoutMs,
    upstreamTimeoutMs,
    acquireTimeoutMs: options.acquireTimeoutMs,
    trustedProxies,
    proto: options.tls === undefined ? 'http' : 'https',
    outlier: { ...DEFAULT_OUTLIER, ...options.outlier },
    admin,
  });

  // Follow the registry: the first snapshot makes the gateway ready; later ones replace the table.
  const stop = new AbortController();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const following =
    feed === undefined
      ? followLocal(local as LocalRouteFeed, stop.signal, (event) => {
          table.apply(event);
          state.updatedAt = Date.now();
          if (event.type === 'snapshot') markReady();
        })
      : follow({
          feed,
          signal: stop.signal,
          logger,
          onEvent: (event) => {
            table.apply(event);
            state.updatedAt = Date.now();
            if (event.type === 'snapshot') markReady();
          },
          onStatus: (status) => {
            state.watchStale = !status.connected;
            // Log each change of state once, not every retry of the watch.
            if (status.connected === state.reported) return;
            state.reported = status.connected;
            if (status.connected) logger.info('gateway: following the registry');
            else
              logger.warn(
                { reason: reasonOf(status.error) },
                'gateway: registry unreachable, routing on the last table',
              );
          },
        });

  const server: Server = listenerServer(options.tls, serverTiming(options), proxy.handleRequest);
  server.on('upgrade', proxy.handleUpgrade);
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    answerClientError(err, socket, counters);
  });
  // A client has `requestTimeoutMs` to send its whole request (headers within `headersTimeoutMs`), so slow uploads
  // cannot hold the instances' connections for ever (issue #14); the answer may take longer (the upstream timeout
  // bounds its silences). Past `maxConnections`, new connections are closed as they arrive.
  server.keepAliveTimeout = options.idleTimeoutMs;
  server.maxConnections = options.maxConnections;

  const { host } = options;
  const listenPort = options.port;
  try {
    await waitAtMost(ready, options.readyTimeoutMs);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    stop.abort();
    await table.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listenPort;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `${options.tls === undefined ? 'http' : 'https'}://${shown}:${port}`;
  logger.info({ url, routes: table.view().routes.length }, 'switchboard gateway listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stop.abort();
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      server.closeIdleConnections();
      for (const tunnel of proxy.tunnels) tunnel.destroy();
      const grace = setTimeout(() => {
        server.closeAllConnections();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
      await following;
      await table.close();
      logger.info('switchboard gateway stopped');
    })();
    return closing;
  };
  return { url, port, ready, routes, metrics, close, [Symbol.asyncDispose]: close };
}

/** Longest `format` value quoted back in an error (the query string is bounded only by the header limit). */
const MAX_QUOTED_FORMAT = 64;

/** The format `/_gateway/metrics` is asked for: JSON without `format`, `prometheus`, or an error naming the value. */
function metricsFormat(search: string): 'json' | 'prometheus' | GatewayError {
  const formats = new URLSearchParams(search).getAll('format');
  const [format] = formats;
  if (format === undefined) return 'json';
  if (formats.length > 1) return { code: 'INVALID_ARGUMENT', message: 'format is given more than once' };
  if (format === 'prometheus') return 'prometheus';
  const quoted = JSON.stringify(format.length > MAX_QUOTED_FORMAT ? `${format.slice(0, MAX_QUOTED_FORMAT)}…` : format);
  return {
    code: 'INVALID_ARGUMENT',
    message: `format ${quoted} is not supported: format=prometheus for the Prometheus text format, or no format for JSON`,
  };
}

/** Without `authorizePage` nobody can be checked, so nobody is admitted (fail closed). */
function closedPages(): Promise<void> {
  return Promise.reject(
    new RegistryError(
      'PERMISSION_DENIED',
      'this page is closed: the gateway was started without a way to check tokens (authorizePage)',
    ),
  );
}

/** The default feed: the SDK's watch of every service. */
function registryFeed(options: GatewayOptions): RouteFeed {
  const registry = options.registry;
  if (registry === undefined || registry.length === 0) {
    throw new Error('createGateway needs the registry URL(s) (or a feed)');
  }
  const { token, ca, cert, key } = options;
  const client = new RegistryClient({
    urls: typeof registry === 'string' ? [registry] : [...registry],
    ...(token === undefined ? {} : { token }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  });
  const subscriber = { id: options.subscriber?.id ?? newSubscriberId(), name: options.subscriber?.name ?? 'gateway' };
  // The route table applies each event before the next is asked for, so the watch's acknowledgements mean "routed".
  return ({ signal, onStatus }) => client.watch(undefined, { signal, onStatus, subscriber });
}

/** The gateway's server: HTTP, or HTTPS with `tls` (upgrades, timeouts and closing work the same on both). */
function listenerServer(tls: GatewayOptions['tls'], timing: ServerOptions, handler: RequestListener): Server {
  if (tls === undefined) return createServer(timing, handler);
  // https.Server has every method of http.Server used here (listen, close, closeIdleConnections, …).
  return createHttpsServer({ ...timing, cert: tls.cert, key: tls.key }, handler);
}

/**
 * What node:http reports before or while a request arrives (too slow, unparsable), answered as the gateway's JSON
 * error with a stable code; the connection is closed. Once an answer has begun on the connection, it is only cut.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex, counters: GatewayCounters): void {
  // node:http's own check before writing on a socket it hands over (an in-flight answer must not be corrupted).
  const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent === true) {
    socket.destroy();
    return;
  }
  const answer = clientErrorAnswer(err, '--gateway-request-timeout');
  if (answer === undefined) {
    socket.destroy();
    return;
  }
  const code = answer.code === 'REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'INVALID_ARGUMENT';
  counters.errors[code] += 1;
  writeRawError(socket, { code, message: answer.message }, '-');
  // Once the answer is flushed, close even if the client keeps sending (end() alone would wait for it).
  socket.once('finish', () => socket.destroy());
}

/** Applies the local registry's snapshot and changes until stopped. */
function followLocal(
  local: LocalRouteFeed,
  signal: AbortSignal,
  onEvent: (event: RouteFeedEvent) => void,
): Promise<void> {
  const stopFollowing = local.follow(onEvent);
  return new Promise<void>((resolve) => {
    signal.addEventListener(
      'abort',
      () => {
        stopFollowing();
        resolve();
      },
      { once: true },
    );
  });
}

/** Applies the feed's events until stopped; a feed that ends or fails is started again after a pause. */
async function follow(spec: {
  feed: RouteFeed;
  signal: AbortSignal;
  logger: Logger;
  onEvent: (event: RouteFeedEvent) => void;
  onStatus: (status: WatchStatus) => void;
}): Promise<void> {
  let pauseMs = 250;
  while (!isAborted(spec.signal)) {
    try {
      for await (const event of spec.feed({ signal: spec.signal, onStatus: spec.onStatus })) {
        spec.onEvent(event);
        pauseMs = 250;
      }
    } catch (err) {
      if (isAborted(spec.signal)) return;
      // The watch retries by itself; it only gives up when the registry refuses it (a bad token, say).
      spec.logger.error({ err }, 'gateway: the registry watch failed; retrying');
    }
    if (isAborted(spec.signal)) return;
    spec.onStatus({ connected: false, mode: 'events' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pauseMs);
      spec.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    pauseMs = Math.min(pauseMs * 2, 10_000);
  }
}

/** One line for the log: a fetch failure's cause says more than "fetch failed". */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/** A function, so the compiler does not take `aborted` for a constant inside a loop. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Waits for `promise`, but no longer than `ms`. */
async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The gateway's slice of the server configuration, where null means "not set". */
export type GatewaySettings = Config['gateway'];

/**
 * Options for createGateway from the configuration slice; `fallback` fills the address when it is not set. Reads the
 * files the slice names (TLS certificate and key, JWT secret file); one that cannot be read is an INVALID_ARGUMENT
 * naming its flag, never its content.
 */
export function gatewayOptionsFrom(
  settings: GatewaySettings,
  fallback: { host: string; port: number },
): GatewayOptions {
  const jwt: JwtOptions = {};
  if (settings.jwt.secret !== null) jwt.secret = settings.jwt.secret;
  if (settings.jwt.secretFile !== null) {
    // A secret in a file stays out of `ps`; its trailing newline (from `echo … >`) is not part of it.
    jwt.secret = readSetting(settings.jwt.secretFile, '--jwt-secret-file')
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (jwt.secret === '')
      throw new RegistryError('INVALID_ARGUMENT', `--jwt-secret-file ${settings.jwt.secretFile} is empty`);
  }
  if (settings.jwt.publicKeyFile !== null) jwt.publicKeyFile = settings.jwt.publicKeyFile;
  if (settings.jwt.jwksUrl !== null) jwt.jwksUrl = settings.jwt.jwksUrl;
  if (settings.jwt.issuer !== null) jwt.issuer = settings.jwt.issuer;
  if (settings.jwt.audience !== null) jwt.audience = settings.jwt.audience;
  jwt.clockSkewMs = settings.jwt.clockSkewMs;
  return {
    host: settings.host ?? fallback.host,
    port: settings.port ?? fallback.port,
    routeByName: settings.routeByName,
    balance: settings.balance,
    upstreamTimeoutMs: settings.upstreamTimeoutMs,
    connectTimeoutMs: settings.connectTimeoutMs,
    maxConnectionsPerInstance: settings.maxConnectionsPerInstance,
    acquireTimeoutMs: settings.acquireTimeoutMs,
    fallbackRetentionMs: settings.fallbackRetentionMs,
    headersTimeoutMs: settings.headersTimeoutMs,
    requestTimeoutMs: settings.requestTimeoutMs,
    idleTimeoutMs: settings.idleTimeoutMs,
    maxConnections: settings.maxConnections,
    trustedProxies: settings.trustedProxies,
    readyTimeoutMs: settings.readyTimeoutMs,
    jwt,
    ...(settings.tlsCertFile === null || settings.tlsKeyFile === null
      ? {}
      : {
          tls: {
            cert: readSetting(settings.tlsCertFile, '--gateway-tls-cert'),
            key: readSetting(settings.tlsKeyFile, '--gateway-tls-key'),
          },
        }),
  };
}

function readSetting(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `${flag} ${file}: ${(err as Error).message}`, { cause: err });
  }
}
