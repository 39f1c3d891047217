/**
 * Header rewriting on the proxy's hot path. Both directions work on flat `[name, value, name, value…]` arrays, as
 * Node's `rawHeaders` and undici's raw response headers come, so no header object is built per request.
 *
 * Hop-by-hop headers describe one connection, not the message, and are dropped in both directions
 * (RFC 9110 §7.6.1), together with every header the Connection header names.
 */
import { randomUUID } from 'node:crypto';

/** Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy Proxy-Connection and RFC 7235's proxy credentials). */
const HOP_BY_HOP = [
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
];

/** What a header means to the gateway; 0 (absent from the map) is "forward as it is". */
const enum Kind {
  HopByHop = 1,
  Connection,
  Upgrade,
  TransferEncoding,
  /** The gateway answers `100-continue` itself, and undici refuses to send it. */
  Expect,
  Host,
  ContentLength,
  Authorization,
  ForwardedFor,
  ForwardedProto,
  ForwardedHost,
  RequestId,
}

const KINDS = new Map<string, Kind>([
  ...HOP_BY_HOP.map((name) => [name, Kind.HopByHop] as const),
  ['connection', Kind.Connection],
  ['upgrade', Kind.Upgrade],
  ['transfer-encoding', Kind.TransferEncoding],
  ['expect', Kind.Expect],
  ['host', Kind.Host],
  ['content-length', Kind.ContentLength],
  ['authorization', Kind.Authorization],
  ['x-forwarded-for', Kind.ForwardedFor],
  ['x-forwarded-proto', Kind.ForwardedProto],
  ['x-forwarded-host', Kind.ForwardedHost],
  ['x-request-id', Kind.RequestId],
]);

/**
 * Name lengths that can be special: most headers (user-agent, accept, cookie…) are told apart by their length alone,
 * without lower-casing them.
 */
const SPECIAL_LENGTH = new Uint8Array(32);
for (const name of KINDS.keys()) SPECIAL_LENGTH[name.length] = 1;

function kindOf(name: string): Kind | undefined {
  return name.length < 32 && SPECIAL_LENGTH[name.length] === 1 ? KINDS.get(name.toLowerCase()) : undefined;
}

/** What the single pass over the request's raw headers found, besides the headers to forward. */
export interface ForwardedRequest {
  /** The headers to send upstream, flat. */
  headers: string[];
  requestId: string;
  /** The bearer token of the Authorization header, if any. */
  bearer: string | undefined;
  /** The request carries a body (Content-Length above zero, or a Transfer-Encoding). */
  hasBody: boolean;
}

export interface ForwardContext {
  /** The client's address, appended to X-Forwarded-For. */
  remoteAddress: string | undefined;
  /** `http`, or whatever a proxy in front said in X-Forwarded-Proto. */
  proto: string;
  /**
   * For WebSocket upgrades the Connection and Upgrade headers are the request itself and are kept (the gateway
   * pipes the raw connection through).
   */
  upgrade: boolean;
}

/**
 * Builds the upstream request headers from the client's raw headers: drops hop-by-hop headers (and those the
 * Connection header names), appends the client to X-Forwarded-For, sets X-Forwarded-Proto and -Host unless a proxy in
 * front already did, and keeps or generates X-Request-Id. The client's Host is kept.
 */
export function forwardRequestHeaders(raw: readonly string[], context: ForwardContext): ForwardedRequest {
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let requestId: string | undefined;
  let bearer: string | undefined;
  let host: string | undefined;
  let connection: string | undefined;
  let hasProto = false;
  let hasForwardedHost = false;
  let hasBody = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    switch (kindOf(name)) {
      case undefined:
        headers.push(name, value);
        break;
      case Kind.HopByHop:
      case Kind.Expect:
        break;
      case Kind.Connection:
        connection = connection === undefined ? value : `${connection}, ${value}`;
        if (context.upgrade) headers.push(name, value);
        break;
      case Kind.Upgrade:
        if (context.upgrade) headers.push(name, value);
        break;
      case Kind.TransferEncoding:
        hasBody = true;
        break;
      case Kind.Host:
        host = value;
        headers.push(name, value);
        break;
      case Kind.ContentLength:
        if (value !== '0') hasBody = true;
        headers.push(name, value);
        break;
      case Kind.Authorization:
        if (value.length > 7 && value.slice(0, 7).toLowerCase() === 'bearer ') bearer = value.slice(7).trim();
        headers.push(name, value);
        break;
      case Kind.ForwardedFor:
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        break;
      case Kind.ForwardedProto:
        hasProto = true;
        headers.push(name, value);
        break;
      case Kind.ForwardedHost:
        hasForwardedHost = true;
        headers.push(name, value);
        break;
      case Kind.RequestId:
        requestId ??= value;
        break;
    }
  }
  // Before the gateway adds its own headers, so a client cannot name X-Forwarded-For in Connection to have it dropped.
  if (connection !== undefined) dropNamedByConnection(headers, connection, context.upgrade);
  const client = context.remoteAddress ?? 'unknown';
  headers.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  if (!hasProto) headers.push('x-forwarded-proto', context.proto);
  if (!hasForwardedHost && host !== undefined) headers.push('x-forwarded-host', host);
  requestId ??= randomUUID();
  headers.push('x-request-id', requestId);
  return { headers, requestId, bearer, hasBody };
}

/**
 * Builds the client response headers from undici's raw upstream headers (Buffers, latin1): drops hop-by-hop ones and
 * adds X-Request-Id when the upstream did not echo it.
 */
export function forwardResponseHeaders(raw: readonly Buffer[], requestId: string): string[] {
  const headers: string[] = [];
  let connection: string | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const kind = kindOf(name);
    if (kind === Kind.HopByHop || kind === Kind.Upgrade || kind === Kind.TransferEncoding) continue;
    if (kind === Kind.Connection) {
      connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (kind === Kind.RequestId) hasRequestId = true;
    headers.push(name, value);
  }
  if (connection !== undefined) dropNamedByConnection(headers, connection, false);
  if (!hasRequestId) headers.push('x-request-id', requestId);
  return headers;
}

const OPTIONS_ONLY = new Set(['keep-alive', 'close', 'upgrade']);

/** Removes, in place, the headers that a Connection header lists as hop-by-hop for this connection. */
function dropNamedByConnection(headers: string[], connection: string, upgrade: boolean): void {
  // Nearly every Connection header is just one of these: nothing to drop.
  if (OPTIONS_ONLY.has(connection.toLowerCase())) return;
  const named = new Set<string>();
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    // `keep-alive` and `close` are connection options, and `upgrade` is the upgrade itself when one is passed through.
    if (name === '' || name === 'keep-alive' || name === 'close' || (upgrade && name === 'upgrade')) continue;
    named.add(name);
  }
  if (named.size === 0) return;
  let to = 0;
  for (let from = 0; from < headers.length; from += 2) {
    const name = headers[from] as string;
    if (named.has(name.toLowerCase())) continue;
    headers[to] = name;
    headers[to + 1] = headers[from + 1] as string;
    to += 2;
  }
  headers.length = to;
}
