/**
 * The reverse proxy's hot path: route lookup in the local table, optional role check, then one undici dispatch per
 * request on the chosen instance's keep-alive pool. Bodies stream in both directions with backpressure and are never
 * buffered: undici reads the client's request as the upstream takes it, and the response is paused whenever the
 * client's socket is full.
 *
 * Failure handling: a connect error, reset or timeout before the response started is retried once on another instance
 * when the method is idempotent and no byte of the request body has been read yet; every failure (and every 5xx
 * answer) counts towards the instance's outlier ejection. The gateway's own errors are JSON bodies (responses.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { GatewayCounters, GatewayErrorCode } from './gateway-counters.js';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.js';
import type { ForwardedRequest } from './headers.js';
import type { RoleVerifier } from './role-verifier.js';
import { upstreamPath } from './route-table.js';
import type { Route, RouteTable } from './route-table.js';
import { sendError, writeRawError } from './responses.js';
import type { GatewayError } from './responses.js';
import type { OutlierOptions, Upstream } from './upstream.js';

/** RFC 9110 §9.2.2: methods whose repetition has the effect of one request, so a retry is safe. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** An error the gateway answers itself, with a code it counts. */
interface OwnError extends GatewayError {
  code: GatewayErrorCode;
}

/** Writes one of the gateway's own errors to wherever the request came from (a response, or a raw socket). */
type Answer = (error: OwnError) => void;

export interface ReverseProxyOptions {
  table: RouteTable;
  verifier: RoleVerifier | undefined;
  outlier: OutlierOptions;
  counters: GatewayCounters;
  logger: Logger;
  connectTimeoutMs: number;
  /** Answers `/_gateway/…` requests. */
  admin: (req: IncomingMessage, res: ServerResponse, target: string) => void;
}

/** What the gateway knows of a request once it is routed. */
interface Routed {
  route: Route;
  forwarded: ForwardedRequest;
  /** The request target as the client sent it (origin-form). */
  target: string;
}

export class ReverseProxy {
  readonly #options: ReverseProxyOptions;
  readonly #table: RouteTable;
  /** Upgraded connections piped through, closed with the gateway. */
  readonly tunnels = new Set<Socket>();
  /** Services with roles but no verifier configured, each warned about once. */
  readonly #unchecked = new Set<string>();
  readonly counters: GatewayCounters;

  constructor(options: ReverseProxyOptions) {
    this.#options = options;
    this.#table = options.table;
    this.counters = options.counters;
  }

  /** The `request` listener of the gateway's HTTP server. */
  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    let target = req.url as string;
    if (target.charCodeAt(0) !== 47 /* / */) target = originForm(target) ?? target;
    if (target.startsWith('/_gateway/')) {
      this.#options.admin(req, res, target);
      return;
    }
    this.counters.requests += 1;
    const forwarded = forwardRequestHeaders(req.rawHeaders, {
      remoteAddress: req.socket.remoteAddress,
      proto: 'http',
      upgrade: false,
    });
    const answer: Answer = (error) => {
      this.#count(error);
      sendError(res, error, forwarded.requestId);
    };
    const route = this.#match(target, answer);
    if (route === undefined) return;
    const routed: Routed = { route, forwarded, target };
    this.#admit(routed, answer, () => {
      this.#forward(req, res, routed);
    });
  };

  /** The `upgrade` listener: WebSocket (or any) upgrades are piped as raw TCP to the chosen instance. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    // Hold what the client sends next until the upstream connection is piped in.
    socket.pause();
    const target = req.url as string;
    this.counters.requests += 1;
    const forwarded = forwardRequestHeaders(req.rawHeaders, {
      remoteAddress: req.socket.remoteAddress,
      proto: 'http',
      upgrade: true,
    });
    const answer: Answer = (error) => {
      this.#count(error);
      writeRawError(socket, error, forwarded.requestId);
    };
    const route = this.#match(target, answer);
    if (route === undefined) return;
    const routed: Routed = { route, forwarded, target };
    this.#admit(routed, answer, () => {
      this.#tunnel({ req, socket, head, routed, answer }, undefined);
    });
  };

  /** An upstream failed (connect error, reset, timeout or 5xx): count it towards its ejection. */
  upstreamFailed(upstream: Upstream): void {
    const ejection = upstream.failed(this.#options.outlier, Date.now());
    if (ejection === undefined) return;
    this.counters.ejections += 1;
    this.#options.logger.warn(
      {
        service: upstream.instance.service,
        id: upstream.instance.id,
        address: `${upstream.host}:${upstream.port}`,
        cooldownMs: ejection.cooldownMs,
      },
      'gateway: instance ejected after consecutive failures',
    );
  }

  #count(error: OwnError): void {
    this.counters.errors[error.code] += 1;
  }

  #match(target: string, answer: Answer): Route | undefined {
    if (target.charCodeAt(0) !== 47 || hasDotSegment(target)) {
      answer({ code: 'INVALID_ARGUMENT', message: 'the request path must be absolute and without dot segments' });
      return undefined;
    }
    const route = this.#table.match(target);
    if (route === undefined) {
      const query = target.indexOf('?');
      answer({ code: 'NO_ROUTE', message: `no route for ${query === -1 ? target : target.slice(0, query)}` });
    }
    return route;
  }

  /** Runs `pass` when the service is open or the caller's token holds one of its roles; else answers 401 or 403. */
  #admit(routed: Routed, answer: Answer, pass: () => void): void {
    const roles = routed.route.authorizedRoles;
    const verifier = this.#options.verifier;
    if (roles === undefined) {
      pass();
      return;
    }
    if (verifier === undefined) {
      this.#warnUnchecked(routed.route.service, roles);
      pass();
      return;
    }
    const token = routed.forwarded.bearer;
    if (token === undefined || token === '') {
      answer({ code: 'UNAUTHENTICATED', message: `${routed.route.service} needs a bearer token` });
      return;
    }
    verifier.roles(token).then(
      (granted) => {
        for (const role of granted) {
          if (roles.has(role)) {
            pass();
            return;
          }
        }
        const needed = [...roles].sort().join(', ');
        answer({ code: 'PERMISSION_DENIED', message: `${routed.route.service} needs one of the roles ${needed}` });
      },
      (err: unknown) => {
        answer({ code: 'UNAUTHENTICATED', message: err instanceof Error ? err.message : 'invalid bearer token' });
      },
    );
  }

  #warnUnchecked(service: string, roles: ReadonlySet<string>): void {
    if (this.#unchecked.has(service)) return;
    this.#unchecked.add(service);
    this.#options.logger.warn(
      { service, authorizedRoles: [...roles] },
      'gateway: service lists authorizedRoles but no JWT verifier is configured; roles are not checked',
    );
  }

  #forward(req: IncomingMessage, res: ServerResponse, routed: Routed): void {
    // The client may have left while its token was checked.
    if (res.destroyed) return;
    const upstream = routed.route.balancer.pick();
    if (upstream === undefined) {
      const error: OwnError = {
        code: 'NO_HEALTHY_INSTANCE',
        message: `no healthy instance of ${routed.route.service}`,
      };
      this.#count(error);
      sendError(res, error, routed.forwarded.requestId);
      return;
    }
    new Exchange(this, { req, res }, routed).send(upstream);
  }

  /**
   * Pipes an upgrade to an instance: connect, replay the request head, then copy bytes both ways until either side
   * closes. A failed connect is retried once on another instance (an upgrade is a GET).
   */
  #tunnel(
    spec: { req: IncomingMessage; socket: Duplex; head: Buffer; routed: Routed; answer: Answer },
    avoid: Upstream | undefined,
  ): void {
    const { req, socket, routed, answer } = spec;
    if (socket.destroyed) return;
    const upstream = routed.route.balancer.pick(avoid);
    if (upstream === undefined) {
      answer({ code: 'NO_HEALTHY_INSTANCE', message: `no healthy instance of ${routed.route.service}` });
      return;
    }
    upstream.requests += 1;
    const conn = connect({ host: upstream.host, port: upstream.port });
    let connected = false;
    conn.setNoDelay(true);
    conn.setTimeout(this.#options.connectTimeoutMs);
    conn.once('timeout', () => {
      conn.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
    });
    conn.once('connect', () => {
      connected = true;
      conn.setTimeout(0);
      upstream.succeeded();
      upstream.outstanding += 1;
      this.counters.upgrades += 1;
      this.tunnels.add(conn);
      const headers = routed.forwarded.headers;
      let head = `${req.method ?? 'GET'} ${upstreamPath(routed.route, routed.target)} HTTP/1.1\r\n`;
      for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`;
      conn.write(`${head}\r\n`);
      if (spec.head.length > 0) conn.write(spec.head);
      conn.pipe(socket);
      socket.pipe(conn);
      socket.once('close', () => conn.destroy());
    });
    conn.on('error', (err: Error & { code?: string }) => {
      if (connected) {
        socket.destroy();
        return;
      }
      this.upstreamFailed(upstream);
      if (avoid === undefined && !socket.destroyed) {
        this.counters.retries += 1;
        this.#tunnel(spec, upstream);
        return;
      }
      answer(upstreamError(routed.route, upstream, err));
    });
    conn.once('close', () => {
      if (!connected) return;
      upstream.outstanding -= 1;
      this.tunnels.delete(conn);
      socket.destroy();
    });
  }
}

/**
 * One proxied request: undici's dispatch handler for it, and its one retry. It uses undici's legacy handler API, which
 * hands over the raw header buffers as they were parsed instead of building a header object per response.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #proxy: ReverseProxy;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #routed: Routed;
  readonly #path: string;
  #upstream: Upstream | undefined;
  #retried = false;
  /** The upstream's status line has been relayed: from here a failure can only cut the connection. */
  #started = false;
  #done = false;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;

  constructor(proxy: ReverseProxy, client: { req: IncomingMessage; res: ServerResponse }, routed: Routed) {
    this.#proxy = proxy;
    this.#req = client.req;
    this.#res = client.res;
    this.#routed = routed;
    this.#path = upstreamPath(routed.route, routed.target);
    client.res.on('close', this.#onClose);
  }

  send(upstream: Upstream): void {
    this.#upstream = upstream;
    upstream.outstanding += 1;
    upstream.requests += 1;
    const req = this.#req;
    upstream.pool.dispatch(
      {
        path: this.#path,
        method: req.method as Dispatcher.HttpMethod,
        headers: this.#routed.forwarded.headers,
        body: this.#routed.forwarded.hasBody ? req : null,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    // The client left while the request waited for a connection.
    if (this.#done) abort(new Error('the client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational answers (103 Early Hints…) are not relayed; the final answer follows.
    if (statusCode < 200) return true;
    const upstream = this.#upstream as Upstream;
    this.#started = true;
    this.#resume = resume;
    if (statusCode >= 500) this.#proxy.upstreamFailed(upstream);
    else upstream.succeeded();
    const classes = this.#proxy.counters.statusClasses;
    const cls = (statusCode / 100) | 0;
    if (cls < classes.length) classes[cls] = (classes[cls] as number) + 1;
    this.#res.writeHead(statusCode, forwardResponseHeaders(rawHeaders, this.#routed.forwarded.requestId));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#res.write(chunk)) return true;
    // The client is slower than the upstream: pause the upstream until the client's socket drains.
    this.#res.once('drain', this.#onDrain);
    return false;
  }

  onComplete(): void {
    this.#done = true;
    this.#release();
    this.#res.end();
  }

  onError(err: Error & { code?: string }): void {
    const upstream = this.#release();
    const res = this.#res;
    // The client went away (or its upload broke off): nothing to answer, and not the upstream's fault.
    if (this.#done || res.destroyed || res.socket?.destroyed === true || this.#req.errored !== null) {
      this.#done = true;
      return;
    }
    this.#proxy.upstreamFailed(upstream);
    if (this.#started) {
      // The answer has begun: cut it, so the client cannot take a truncated body for a whole one.
      this.#done = true;
      res.destroy(err);
      return;
    }
    if (!this.#retried && this.#retryable()) {
      const next = this.#routed.route.balancer.pick(upstream);
      if (next !== undefined) {
        this.#retried = true;
        this.#proxy.counters.retries += 1;
        this.send(next);
        return;
      }
    }
    this.#done = true;
    const error = upstreamError(this.#routed.route, upstream, err);
    this.#proxy.counters.errors[error.code] += 1;
    sendError(res, error, this.#routed.forwarded.requestId);
  }

  #retryable(): boolean {
    const req = this.#req;
    if (!IDEMPOTENT.has(req.method as string)) return false;
    // A body can be sent again only while undici has not read any of it.
    return !this.#routed.forwarded.hasBody || (!req.readableDidRead && !req.destroyed);
  }

  /** Each dispatch ends in exactly one of onComplete and onError, which hand its slot back. */
  #release(): Upstream {
    const upstream = this.#upstream as Upstream;
    upstream.outstanding -= 1;
    return upstream;
  }

  readonly #onDrain = (): void => {
    this.#resume?.();
  };

  /** The response closed: when that was the client going away, stop the upstream request still under way. */
  readonly #onClose = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#abort?.(new Error('the client closed the connection'));
  };
}

/** 504 when the instance was too slow, 502 for anything else it did. */
function upstreamError(route: Route, upstream: Upstream, err: Error & { code?: string }): OwnError {
  const what = `${route.service} instance ${upstream.instance.id}`;
  return err.code !== undefined && TIMEOUT_CODES.has(err.code)
    ? { code: 'UPSTREAM_TIMEOUT', message: `${what} did not answer in time` }
    : { code: 'UPSTREAM_ERROR', message: `${what} failed: ${err.code ?? err.message}` };
}

/** `http://host/path?q` (absolute-form, as sent to proxies) → `/path?q`; undefined for `*` and the like. */
function originForm(target: string): string | undefined {
  if (!/^https?:\/\//i.test(target)) return undefined;
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return undefined;
  }
}

/**
 * `.` and `..` segments (also percent-encoded) are refused rather than passed on: an upstream resolving
 * `/open/../admin` would otherwise reach a path whose route (and roles) the gateway never checked.
 */
export function hasDotSegment(target: string): boolean {
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (!path.includes('/.') && !/%2e/i.test(path)) return false;
  for (const segment of path.split('/')) {
    const decoded = segment.replace(/%2e/gi, '.');
    if (decoded === '.' || decoded === '..') return true;
  }
  return false;
}
