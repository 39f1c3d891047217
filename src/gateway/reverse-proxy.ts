/**
 * The reverse proxy's hot path: route lookup in the local table, optional role check, then one undici dispatch per
 * request on the chosen instance's keep-alive pool. Bodies stream in both directions with backpressure and are never
 * buffered: undici reads the client's request as the upstream takes it, and the response is paused whenever the
 * client's socket is full.
 *
 * Failure handling: a connect error, reset or timeout before the response started is retried once on another instance
 * when the method is idempotent and no byte of the request body has been read yet; every failure (and every 5xx
 * answer) counts towards the instance's outlier ejection. The gateway's own errors are JSON bodies (responses.ts).
 *
 * Fallback (issue #15): when the route's balancer has nothing to pick (no eligible instance, or every one ejected, or
 * a retained route of a service with no instance left), the request goes to the route's fallback service instead,
 * chosen by that service's balancer, after the route's own role check; the answer carries `X-Switchboard-Fallback`.
 * The fallback's own fallback is never followed, and a retry stays with the service the first attempt went to.
 *
 * An upgrade becomes a tunnel only once the instance answered 101 (issue #14): any other answer is relayed as an
 * ordinary response and the client's connection closed, so nothing the client sends after its upgrade request
 * reaches the instance unrouted and unchecked.
 */
import { request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { JwtVerifier } from '../auth/index.js';
import type { GatewayCounters, GatewayErrorCode, UpstreamFailure } from './gateway-counters.js';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.js';
import type { ForwardedRequest } from './headers.js';
import { upstreamPath } from './route-table.js';
import type { FallbackTarget, Route, RouteTable } from './route-table.js';
import { FALLBACK_HEADER } from '../wire/index.js';
import { sendError, writeRawError } from './responses.js';
import type { GatewayError } from './responses.js';
import type { AddressRanges } from '../net/index.js';
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
  verifier: JwtVerifier | undefined;
  outlier: OutlierOptions;
  counters: GatewayCounters;
  logger: Logger;
  connectTimeoutMs: number;
  /** How long an upgrade's instance may take to answer it. */
  upstreamTimeoutMs: number;
  /** How long a request may wait for a free connection to its instance before 503 UNAVAILABLE. */
  acquireTimeoutMs: number;
  /** Peers whose forwarding headers are believed and appended to rather than replaced (`--trusted-proxies`). */
  trustedProxies: AddressRanges;
  /** How clients reach the gateway, for X-Forwarded-Proto. */
  proto: 'http' | 'https';
  /** Answers `/_gateway/…` requests. */
  admin: (req: IncomingMessage, res: ServerResponse, target: string) => void;
}

/** What the gateway knows of a request once it is routed. */
interface Routed {
  route: Route;
  forwarded: ForwardedRequest;
  /** The request target as the client sent it (origin-form). */
  target: string;
  /** Set when the request went to the route's fallback service: every attempt stays there. */
  via: FallbackTarget | undefined;
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
    const forwarded = this.#forwardHeaders(req, false);
    const answer: Answer = (error) => {
      this.#count(error);
      sendError(res, error, forwarded.requestId);
    };
    const route = this.#match(target, answer);
    if (route === undefined) return;
    const routed: Routed = { route, forwarded, target, via: undefined };
    this.#admit(routed, answer, () => {
      this.#forward(req, res, routed);
    });
  };

  /** The `upgrade` listener: WebSocket (or any) upgrades are piped as raw TCP to the chosen instance. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    // Hold what the client sends next until the upstream connection is piped in.
    socket.pause();
    let target = req.url as string;
    if (target.charCodeAt(0) !== 47 /* / */) target = originForm(target) ?? target;
    this.counters.requests += 1;
    const forwarded = this.#forwardHeaders(req, true);
    const answer: Answer = (error) => {
      this.#count(error);
      writeRawError(socket, error, forwarded.requestId);
    };
    const route = this.#match(target, answer);
    if (route === undefined) return;
    const routed: Routed = { route, forwarded, target, via: undefined };
    this.#admit(routed, answer, () => {
      this.#tunnel({ req, socket, head, routed, answer }, undefined);
    });
  };

  /** An upstream failed (connect error, reset, timeout or 5xx): count it towards its ejection. */
  upstreamFailed(upstream: Upstream, kind: UpstreamFailure): void {
    const service = this.counters.services.of(upstream.instance.service);
    service.failures[kind] += 1;
    const ejection = upstream.failed(this.#options.outlier, Date.now());
    if (ejection === undefined) return;
    this.counters.ejections += 1;
    service.ejections += 1;
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

  /** The gateway answered a routed request itself with a 5xx (no instance, upstream failure, no connection). */
  answeredItself(service: string): void {
    const classes = this.counters.services.of(service).statusClasses;
    classes[5] = (classes[5] as number) + 1;
  }

  get acquireTimeoutMs(): number {
    return this.#options.acquireTimeoutMs;
  }

  #forwardHeaders(req: IncomingMessage, upgrade: boolean): ForwardedRequest {
    const remoteAddress = req.socket.remoteAddress;
    return forwardRequestHeaders(req.rawHeaders, {
      remoteAddress,
      proto: this.#options.proto,
      trusted: this.#options.trustedProxies.has(remoteAddress),
      upgrade,
    });
  }

  #count(error: OwnError): void {
    this.counters.errors[error.code] += 1;
  }

  #match(target: string, answer: Answer): Route | undefined {
    if (target.charCodeAt(0) !== 47 || hasDotSegment(target)) {
      answer({
        code: 'INVALID_ARGUMENT',
        message: 'the request path must be absolute and without dot segments (also encoded, or with ;parameters)',
      });
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
    const upstream = this.#pick(routed);
    if (upstream === undefined) {
      const error = noHealthyInstance(routed.route);
      this.#count(error);
      this.answeredItself(routed.route.service);
      sendError(res, error, routed.forwarded.requestId);
      return;
    }
    new Exchange(this, { req, res }, routed).send(upstream);
  }

  /** An instance of the route's service, else of its fallback (then `routed.via` says so, and it is counted). */
  #pick(routed: Routed): Upstream | undefined {
    const own = routed.route.balancer.pick();
    const fallback = routed.route.fallback;
    if (own !== undefined || fallback === undefined) return own;
    const upstream = fallback.balancer.pick();
    if (upstream !== undefined) {
      routed.via = fallback;
      this.counters.fallbacks += 1;
    }
    return upstream;
  }

  /**
   * Sends an upgrade request to an instance and, once it answers 101, pipes the two connections into each other until
   * either side closes. Any other answer is relayed and the client's connection closed: it never becomes a tunnel. A
   * failed connect is retried once on another instance (an upgrade is a GET).
   */
  #tunnel(
    spec: { req: IncomingMessage; socket: Duplex; head: Buffer; routed: Routed; answer: Answer },
    avoid: Upstream | undefined,
  ): void {
    const { req, socket, routed, answer } = spec;
    if (socket.destroyed) return;
    const upstream = avoid === undefined ? this.#pick(routed) : (routed.via ?? routed.route).balancer.pick(avoid);
    if (upstream === undefined) {
      this.answeredItself(routed.route.service);
      answer(noHealthyInstance(routed.route));
      return;
    }
    upstream.requests += 1;
    const outgoing = request({
      host: upstream.host,
      port: upstream.port,
      method: req.method ?? 'GET',
      path: pathFor(routed),
      // The forwarded headers, Host, Connection and Upgrade included, exactly as built (a flat array).
      headers: routed.forwarded.headers,
      setHost: false,
      // A connection of its own: it leaves the pool's accounting once it is a tunnel.
      agent: false,
    });
    let connected = false;
    let settled = false;
    const timeout = (code: string, ms: number): NodeJS.Timeout =>
      setTimeout(() => {
        outgoing.destroy(Object.assign(new Error(`no answer within ${ms} ms`), { code }));
      }, ms);
    let timer = timeout('UND_ERR_CONNECT_TIMEOUT', this.#options.connectTimeoutMs);
    outgoing.once('socket', (conn) => {
      conn.setNoDelay(true);
      conn.once('connect', () => {
        connected = true;
        clearTimeout(timer);
        timer = timeout('UND_ERR_HEADERS_TIMEOUT', this.#options.upstreamTimeoutMs);
      });
    });
    outgoing.once('upgrade', (res: IncomingMessage, conn: Socket, upstreamHead: Buffer) => {
      settled = true;
      clearTimeout(timer);
      if (socket.destroyed) {
        conn.destroy();
        return;
      }
      upstream.succeeded();
      upstream.outstanding += 1;
      this.counters.upgrades += 1;
      this.counters.statusClasses[1] = (this.counters.statusClasses[1] ?? 0) + 1;
      const classes = this.counters.services.of(upstream.instance.service).statusClasses;
      classes[1] = (classes[1] as number) + 1;
      this.tunnels.add(conn);
      conn.on('error', () => socket.destroy());
      // The instance's 101 as it sent it (Connection and Upgrade are the answer here, not hop-by-hop noise).
      let head = `HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}\r\n`;
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) head += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`;
      if (routed.via !== undefined) head += `${FALLBACK_HEADER}: ${routed.via.service}\r\n`;
      socket.write(`${head}\r\n`);
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      // Only now may the client's bytes flow to the instance.
      if (spec.head.length > 0) conn.write(spec.head);
      conn.pipe(socket);
      socket.pipe(conn);
      socket.once('close', () => conn.destroy());
      conn.once('close', () => {
        upstream.outstanding -= 1;
        this.tunnels.delete(conn);
        socket.destroy();
      });
    });
    outgoing.once('response', (res: IncomingMessage) => {
      settled = true;
      clearTimeout(timer);
      this.#relayRefusedUpgrade(res, socket, { upstream, requestId: routed.forwarded.requestId, via: routed.via });
    });
    outgoing.on('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      if (settled) {
        socket.destroy();
        return;
      }
      settled = true;
      this.upstreamFailed(upstream, failureOf(err));
      if (!connected && avoid === undefined && !socket.destroyed) {
        this.counters.retries += 1;
        this.#tunnel(spec, upstream);
        return;
      }
      this.answeredItself(upstream.instance.service);
      answer(upstreamError(upstream, err));
    });
    socket.once('close', () => {
      if (!settled) outgoing.destroy();
    });
    outgoing.end();
  }

  /**
   * The instance answered an upgrade request with something other than 101: relay that answer as it is and close
   * the client's connection, whose next bytes would otherwise go nowhere the gateway routed.
   */
  #relayRefusedUpgrade(
    res: IncomingMessage,
    socket: Duplex,
    context: { upstream: Upstream; requestId: string; via: FallbackTarget | undefined },
  ): void {
    const status = res.statusCode ?? 502;
    if (status >= 500) this.upstreamFailed(context.upstream, 'status_5xx');
    else context.upstream.succeeded();
    const classes = this.counters.statusClasses;
    const cls = (status / 100) | 0;
    if (cls < classes.length) classes[cls] = (classes[cls] as number) + 1;
    const own = this.counters.services.of(context.upstream.instance.service).statusClasses;
    if (cls < own.length) own[cls] = (own[cls] as number) + 1;
    if (socket.destroyed) {
      res.destroy();
      return;
    }
    const headers = forwardResponseHeaders(res.rawHeaders, context.requestId);
    if (context.via !== undefined) headers.push(FALLBACK_HEADER, context.via.service);
    let head = `HTTP/1.1 ${status} ${res.statusMessage ?? ''}\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`;
    // The body (de-chunked by node:http) ends where the connection does.
    socket.write(`${head}connection: close\r\n\r\n`);
    res.on('error', () => socket.destroy());
    socket.once('close', () => res.destroy());
    res.pipe(socket);
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
  /** While waiting in line for a connection: leaves the line, true when it was still in it. */
  #leave: (() => boolean) | undefined;
  /** A connection slot of the upstream is this request's, until onComplete or onError. */
  #holding = false;
  #retried = false;
  /** The upstream's status line has been relayed: from here a failure can only cut the connection. */
  #started = false;
  #done = false;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  /** When this attempt was handed to its upstream (performance.now()), for the upstream's latency figures. */
  #sentAt = 0;

  constructor(proxy: ReverseProxy, client: { req: IncomingMessage; res: ServerResponse }, routed: Routed) {
    this.#proxy = proxy;
    this.#req = client.req;
    this.#res = client.res;
    this.#routed = routed;
    this.#path = pathFor(routed);
    client.res.on('close', this.#onClose);
  }

  send(upstream: Upstream): void {
    this.#upstream = upstream;
    this.#sentAt = performance.now();
    upstream.outstanding += 1;
    upstream.requests += 1;
    this.#leave = upstream.acquire(this.#dispatch, this.#expired, this.#proxy.acquireTimeoutMs);
  }

  /** A connection slot is this request's: send it. */
  readonly #dispatch = (): void => {
    this.#leave = undefined;
    this.#holding = true;
    // The client left between the slot's release and this turn.
    if (this.#done) {
      this.#release();
      return;
    }
    const req = this.#req;
    const upstream = this.#upstream as Upstream;
    upstream.pool.dispatch(
      {
        path: this.#path,
        method: req.method as Dispatcher.HttpMethod,
        headers: this.#routed.forwarded.headers,
        body: this.#routed.forwarded.hasBody ? req : null,
      },
      this,
    );
  };

  /** Every connection to the instance stayed busy for the acquire timeout: 503, without counting it a failure. */
  readonly #expired = (): void => {
    this.#leave = undefined;
    const upstream = this.#upstream as Upstream;
    upstream.outstanding -= 1;
    if (this.#done) return;
    this.#done = true;
    const error: OwnError = {
      code: 'UNAVAILABLE',
      message:
        `every connection to ${upstream.instance.service} instance ${upstream.instance.id} stayed busy for ` +
        `${this.#proxy.acquireTimeoutMs} ms (see --gateway-acquire-timeout)`,
    };
    this.#proxy.counters.errors[error.code] += 1;
    this.#proxy.answeredItself(upstream.instance.service);
    sendError(this.#res, error, this.#routed.forwarded.requestId);
  };

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    // The client left while the request waited for a connection.
    if (this.#done) abort(new Error('the client closed the connection'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational answers (103 Early Hints…) are not relayed; the final answer follows.
    if (statusCode < 200) return true;
    const upstream = this.#upstream as Upstream;
    const now = performance.now();
    upstream.load.record(now - this.#sentAt, now);
    this.#started = true;
    this.#resume = resume;
    if (statusCode >= 500) this.#proxy.upstreamFailed(upstream, 'status_5xx');
    else upstream.succeeded();
    const classes = this.#proxy.counters.statusClasses;
    const cls = (statusCode / 100) | 0;
    if (cls < classes.length) classes[cls] = (classes[cls] as number) + 1;
    const service = this.#proxy.counters.services.of(upstream.instance.service);
    if (cls < service.statusClasses.length) service.statusClasses[cls] = (service.statusClasses[cls] as number) + 1;
    service.latency?.observe((now - this.#sentAt) / 1000);
    const headers = forwardResponseHeaders(rawHeaders, this.#routed.forwarded.requestId);
    const via = this.#routed.via;
    if (via !== undefined) headers.push(FALLBACK_HEADER, via.service);
    this.#res.writeHead(statusCode, headers);
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
    // A failure before the headers is an answer too, for the load figures (one with headers was counted then).
    if (!this.#started) {
      const now = performance.now();
      upstream.load.record(now - this.#sentAt, now);
    }
    const res = this.#res;
    // The client went away (or its upload broke off): nothing to answer, and not the upstream's fault.
    if (this.#done || res.destroyed || res.socket?.destroyed === true || this.#req.errored !== null) {
      this.#done = true;
      return;
    }
    this.#proxy.upstreamFailed(upstream, failureOf(err));
    if (this.#started) {
      // The answer has begun: cut it, so the client cannot take a truncated body for a whole one.
      this.#done = true;
      res.destroy(err);
      return;
    }
    if (!this.#retried && this.#retryable()) {
      const next = (this.#routed.via ?? this.#routed.route).balancer.pick(upstream);
      if (next !== undefined) {
        this.#retried = true;
        this.#proxy.counters.retries += 1;
        this.send(next);
        return;
      }
    }
    this.#done = true;
    const error = upstreamError(upstream, err);
    this.#proxy.counters.errors[error.code] += 1;
    this.#proxy.answeredItself(upstream.instance.service);
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
    if (this.#holding) {
      this.#holding = false;
      upstream.release();
    }
    return upstream;
  }

  readonly #onDrain = (): void => {
    this.#resume?.();
  };

  /** The response closed: when that was the client going away, stop the upstream request still under way. */
  readonly #onClose = (): void => {
    if (this.#done) return;
    this.#done = true;
    if (this.#leave !== undefined) {
      // Still in line: leave it. (Already granted, the dispatch turn sees #done and hands the slot back.)
      if (this.#leave()) (this.#upstream as Upstream).outstanding -= 1;
      this.#leave = undefined;
      return;
    }
    this.#abort?.(new Error('the client closed the connection'));
  };
}

/** The path the instance gets: the route's prefix is cut when the service that answers (maybe the fallback) asks. */
function pathFor(routed: Routed): string {
  const via = routed.via;
  return upstreamPath(
    via === undefined ? routed.route : { prefix: routed.route.prefix, stripPrefix: via.stripPrefix },
    routed.target,
  );
}

/** 503: neither the route's service nor its fallback (when it has one) has an instance to take the request. */
function noHealthyInstance(route: Route): OwnError {
  const fallback = route.fallback === undefined ? '' : ` nor of its fallback ${route.fallback.service}`;
  return { code: 'NO_HEALTHY_INSTANCE', message: `no healthy instance of ${route.service}${fallback}` };
}

/** What kind of failure an upstream request's error was, for the per-service error counter. */
function failureOf(err: Error & { code?: string }): UpstreamFailure {
  const code = err.code;
  if (code === undefined) return 'other';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return 'reset';
  return 'other';
}

/** 504 when the instance was too slow, 502 for anything else it did. */
function upstreamError(upstream: Upstream, err: Error & { code?: string }): OwnError {
  const what = `${upstream.instance.service} instance ${upstream.instance.id}`;
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
 * Paths that an instance could read as climbing out of the route are refused with 400 rather than decoded and
 * normalized (issue #14): a segment that is `.` or `..` once percent-decoded (`%2e`, and `%252e` decoded twice),
 * split at encoded or Windows separators (`%2f`, `%5c`, `\`), and stripped of `;` path parameters (`..;` is `..` to
 * Tomcat and Spring). Normalizing instead would change what instances receive (`a%2Fb` is one segment to most of
 * them); refusing leaves every path that means what it says untouched.
 */
export function hasDotSegment(target: string): boolean {
  const query = target.indexOf('?');
  let path = query === -1 ? target : target.slice(0, query);
  // Nearly every path: no dot, and no escape that could hide one.
  if (!path.includes('.') && !path.includes('%')) return false;
  for (let round = 0; round < 3 && path.includes('%'); round++) path = path.replace(/%([0-9a-f]{2})/gi, byteOf);
  for (const segment of path.split(/[/\\]/)) {
    const semicolon = segment.indexOf(';');
    const bare = semicolon === -1 ? segment : segment.slice(0, semicolon);
    if (bare === '.' || bare === '..') return true;
  }
  return false;
}

/** `%2e` → `.`: one byte as a character (only ASCII matters to the check). */
function byteOf(_escape: string, hex: string): string {
  return String.fromCharCode(parseInt(hex, 16));
}
