/**
 * Header rewriting on the proxy's hot path. Both directions work on flat `[name, value, name, value…]` arrays, as
 * Node's `rawHeaders` and undici's raw response headers come, so no header object is built per request.
 *
 * Hop-by-hop headers describe one connection, not the message, and are dropped in both directions
 * (RFC 9110 §7.6.1), together with every header the Connection header names.
 */
import { randomUUID } from 'node:crypto';

/** Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy Proxy-Connection and RFC 7235's proxy credentials). */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/**
 * Request headers the gateway drops or sets itself: hop-by-hop ones, `expect` (the gateway answers
 * `100-continue` itself, and undici refuses to send it), and the ones rewritten below.
 */
const REQUEST_OWN = new Set([...HOP_BY_HOP, 'expect', 'x-forwarded-for', 'x-request-id']);

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
    const lower = name.toLowerCase();
    if (REQUEST_OWN.has(lower)) {
      switch (lower) {
        case 'x-forwarded-for':
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
          break;
        case 'x-request-id':
          requestId ??= value;
          break;
        case 'connection':
          connection = connection === undefined ? value : `${connection}, ${value}`;
          if (context.upgrade) headers.push(name, value);
          break;
        case 'upgrade':
          if (context.upgrade) headers.push(name, value);
          break;
        case 'transfer-encoding':
          hasBody = true;
          break;
        default:
          break;
      }
      continue;
    }
    switch (lower) {
      case 'host':
        host = value;
        break;
      case 'content-length':
        if (value !== '0') hasBody = true;
        break;
      case 'authorization':
        if (value.length > 7 && value.slice(0, 7).toLowerCase() === 'bearer ') bearer = value.slice(7).trim();
        break;
      case 'x-forwarded-proto':
        hasProto = true;
        break;
      case 'x-forwarded-host':
        hasForwardedHost = true;
        break;
      default:
        break;
    }
    headers.push(name, value);
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
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (lower === 'x-request-id') hasRequestId = true;
    headers.push(name, value);
  }
  if (connection !== undefined) dropNamedByConnection(headers, connection, false);
  if (!hasRequestId) headers.push('x-request-id', requestId);
  return headers;
}

/** Removes, in place, the headers that a Connection header lists as hop-by-hop for this connection. */
function dropNamedByConnection(headers: string[], connection: string, upgrade: boolean): void {
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
