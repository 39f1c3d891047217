/**
 * Where a request carries its token: `Authorization: Bearer <token>`, `X-Switchboard-Token: <token>`, or HTTP basic
 * auth with the token as the password (any user name), which is what an unchanged XML-RPC client sends for
 * `ServerProxy("http://:TOKEN@host:8900")`; and as Consul clients send it (issue #17), `X-Consul-Token: <token>`, or
 * `?token=` on the Consul API's paths only (a token in a URL ends up in proxies' logs: no other route takes one). The
 * first one present is the request's token.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TOKEN_HEADER } from '../wire/index.js';

/** The Consul API's paths (src/consul/), where `?token=` is read. */
const CONSUL_PATHS = /^\/v1\/(?:agent|catalog|health|status)\//;
const CONSUL_TOKEN_HEADER = 'x-consul-token';

/** The token a request presents, or undefined when it presents none. `url` is the request's, for `?token=`. */
export function presentedToken(headers: IncomingHttpHeaders, url?: string): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer') return value;
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon < 0 ? decoded : decoded.slice(colon + 1);
    }
  }
  const header = headers[TOKEN_HEADER] ?? headers[CONSUL_TOKEN_HEADER];
  if (typeof header === 'string') return header.trim();
  return url === undefined ? undefined : consulQueryToken(url);
}

/** `?token=` of a Consul API request. */
function consulQueryToken(url: string): string | undefined {
  const query = url.indexOf('?');
  if (query < 0 || !CONSUL_PATHS.test(url)) return undefined;
  const token = new URLSearchParams(url.slice(query + 1)).get('token');
  return token === null || token === '' ? undefined : token;
}
