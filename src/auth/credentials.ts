/**
 * Where a request carries its token: `Authorization: Bearer <token>`, `X-Switchboard-Token: <token>`, or HTTP basic
 * auth with the token as the password (any user name), which is what an unchanged XML-RPC client sends for
 * `ServerProxy("http://:TOKEN@host:8900")`. The first one present is the request's token.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TOKEN_HEADER } from '../wire/index.js';

/** The token a request presents, or undefined when it presents none. */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
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
  const header = headers[TOKEN_HEADER];
  return typeof header === 'string' ? header.trim() : undefined;
}
