/**
 * What keeps a web page in an operator's browser from using a registry it can reach (issue #13). Binding to loopback
 * does not protect on its own: a page may POST to 127.0.0.1 without a CORS preflight, and DNS rebinding gives a page
 * of attacker.example read access to a loopback port. So:
 * - on a loopback bind, a request whose Host is not a loopback name or address is refused (rebinding sends the
 *   attacker's name);
 * - a write (any method but GET, HEAD, OPTIONS) that carries an Origin is refused unless that origin is the registry's
 *   own (same host) or listed in `allowedOrigins`. Clients that are not browsers send no Origin.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/index.js';

export interface BrowserGuardOptions {
  /** The address the server listens on (`http.host`). */
  listenHost: string;
  /** Origins (`https://ops.example:8443`) whose pages may change the registry. */
  allowedOrigins: readonly string[];
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a host (no port, IPv6 without brackets) names this machine's loopback. */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** The host of a Host header or URL authority: `[::1]:8900` → `::1`, `localhost:8900` → `localhost`. */
function hostOf(authority: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(authority);
  if (bracketed) return bracketed[1] ?? '';
  return authority.replace(/:\d*$/, '');
}

/** Returns the check every request passes first: the refusal, or undefined. */
export function browserGuard(options: BrowserGuardOptions): (req: IncomingMessage) => RegistryError | undefined {
  const loopbackOnly = isLoopback(options.listenHost);
  const allowed = new Set(options.allowedOrigins.map((origin) => origin.toLowerCase().replace(/\/+$/, '')));
  return (req) => {
    const host = req.headers.host;
    if (loopbackOnly && host !== undefined && !isLoopback(hostOf(host))) {
      return new RegistryError(
        'PERMISSION_DENIED',
        `Host ${JSON.stringify(host)} is not a loopback name: this registry listens on ${options.listenHost} only`,
      );
    }
    const origin = req.headers.origin;
    if (origin === undefined || READS.has(req.method ?? 'GET')) return undefined;
    const normalized = origin.toLowerCase();
    if (allowed.has(normalized)) return undefined;
    let sameHost = false;
    try {
      sameHost = new URL(normalized).host === host?.toLowerCase();
    } catch {
      // "null" (a sandboxed page or a file:) and other non-URLs are nobody's origin.
    }
    if (sameHost) return undefined;
    return new RegistryError(
      'PERMISSION_DENIED',
      `a page from ${origin} may not change the registry (allow its origin with --allowed-origins)`,
    );
  };
}
