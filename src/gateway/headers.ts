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
  /** RFC 7239's `Forwarded`. */
  Forwarded,
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
  ['forwarded', Kind.Forwarded],
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
  /** The peer's address, appended to X-Forwarded-For. */
  remoteAddress: string | undefined;
  /** How the peer reached the gateway: `http` or `https`. */
  proto: string;
  /**
   * The peer is a trusted proxy (`--trusted-proxies`): its X-Forwarded-For and Forwarded are appended to, and its
   * X-Forwarded-Proto and -Host kept. From any other peer all four are replaced by the gateway's own view (issue #14).
   */
  trusted: boolean;
  /**
   * For WebSocket upgrades the Connection and Upgrade headers are the request itself and are kept (the gateway
   * pipes the raw connection through).
   */
  upgrade: boolean;
}

/**
 * Builds the upstream request headers from the client's raw headers: drops hop-by-hop headers (and those the
 * Connection header names), sets the forwarding headers (X-Forwarded-For, -Proto, -Host and Forwarded: appended to
 * or kept when the peer is a trusted proxy, replaced otherwise), and keeps or generates X-Request-Id. The client's
 * Host is kept.
 */
export function forwardRequestHeaders(raw: readonly string[], context: ForwardContext): ForwardedRequest {
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedList: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let requestId: string | undefined;
  let bearer: string | undefined;
  let host: string | undefined;
  let connection: string | undefined;
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
      // Collected here and written once below, by the peer's trust.
      case Kind.ForwardedProto:
        forwardedProto ??= value;
        break;
      case Kind.ForwardedHost:
        forwardedHost ??= value;
        break;
      case Kind.Forwarded:
        forwardedList = forwardedList === undefined ? value : `${forwardedList}, ${value}`;
        break;
      case Kind.RequestId:
        requestId ??= value;
        break;
    }
  }
  // Before the gateway adds its own headers, so a client cannot name X-Forwarded-For in Connection to have it dropped.
  if (connection !== undefined) dropNamedByConnection(headers, connection, context.upgrade);
  const client = context.remoteAddress ?? 'unknown';
  const trusted = context.trusted;
  // What the gateway itself saw, as one RFC 7239 element (quoted: an IPv6 address or a host with a port needs it).
  let element = `for=${quoted(client.includes(':') ? `[${client}]` : client)}`;
  if (host !== undefined) element += `;host=${quoted(host)}`;
  element += `;proto=${context.proto}`;
  headers.push('x-forwarded-for', trusted && forwardedFor !== undefined ? `${forwardedFor}, ${client}` : client);
  headers.push('x-forwarded-proto', (trusted ? forwardedProto : undefined) ?? context.proto);
  const shownHost = (trusted ? forwardedHost : undefined) ?? host;
  if (shownHost !== undefined) headers.push('x-forwarded-host', shownHost);
  headers.push('forwarded', trusted && forwardedList !== undefined ? `${forwardedList}, ${element}` : element);
  requestId ??= randomUUID();
  headers.push('x-request-id', requestId);
  return { headers, requestId, bearer, hasBody };
}

/**
 * Builds the client response headers from undici's raw upstream headers (Buffers, latin1; or node:http's strings):
 * drops hop-by-hop ones and adds X-Request-Id when the upstream did not echo it.
 */
export function forwardResponseHeaders(raw: readonly (Buffer | string)[], requestId: string): string[] {
  const headers: string[] = [];
  let connection: string | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i] as Buffer | string);
    const value = latin1(raw[i + 1] as Buffer | string);
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

function latin1(raw: Buffer | string): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

/** An RFC 7239 quoted-string (RFC 9110 §5.6.4). */
function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
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
