/**
 * The one place every transport asks "may this request do that?" (issue #13). REST, its fast path, XML-RPC, the
 * seed routes, the event stream, /metrics and the gateway's pages all call it; the core never does (it knows no
 * requests).
 *
 * With auth off (the default, allowed only on a loopback bind) every request may do everything. With auth on, a
 * request without a token gets the anonymous policy (default: nothing), and one with a token gets that token's.
 * A denial is 401 UNAUTHENTICATED when no token (or an invalid one) was sent, 403 PERMISSION_DENIED when the token
 * lacks the right; the message names the right, never the token.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/index.js';
import type { TokenPolicy } from '../wire/index.js';
import { isLoopback } from './browser-guard.js';
import { presentedToken } from './credentials.js';
import { Principal } from './principal.js';
import type { TokenTable } from './token-table.js';

export const AUTH_MODES = ['off', 'on'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface AccessControlOptions {
  mode: AuthMode;
  /** What a request without a token may do when auth is on. */
  anonymousPolicy: TokenPolicy;
  /** The tokens the registry accepts (unused with auth off). */
  tokens: TokenTable;
}

/** Anyone, with auth off: every right. */
const UNRESTRICTED = new Principal({
  tokenId: null,
  name: 'anonymous',
  policy: { read: [], write: [], operator: true },
});

export class AccessControl {
  readonly mode: AuthMode;
  readonly tokens: TokenTable;
  readonly #anonymous: Principal;

  constructor(options: AccessControlOptions) {
    this.mode = options.mode;
    this.tokens = options.tokens;
    this.#anonymous = new Principal({ tokenId: null, name: 'anonymous', policy: options.anonymousPolicy });
  }

  /**
   * Who a caller that cannot present a token is (DNS, issue #17): everyone with auth off, the anonymous policy on.
   */
  get anonymous(): Principal {
    return this.mode === 'off' ? UNRESTRICTED : this.#anonymous;
  }

  /**
   * Who sent `req`: the principal of its token, or the anonymous one. Throws UNAUTHENTICATED when the request
   * presents a token that is not valid (unknown, revoked or expired), whatever the anonymous policy would allow: a
   * client with a broken token should learn it rather than be served as somebody else.
   */
  principalOf(req: IncomingMessage): Principal {
    if (this.mode === 'off') return UNRESTRICTED;
    // No need to remember it per request: the token table remembers recent secrets.
    const secret = presentedToken(req.headers, req.url);
    return secret === undefined ? this.#anonymous : this.tokens.authenticate(secret);
  }
}

/**
 * Throws when the registry would listen beyond loopback with auth off: anyone who reaches the port could change it.
 * The one-line message names the way out.
 */
export function refuseOpenBind(bind: { host: string; mode: AuthMode; insecureNoAuth: boolean }): void {
  if (bind.mode === 'on' || bind.insecureNoAuth || isLoopback(bind.host)) return;
  throw new RegistryError(
    'INVALID_ARGUMENT',
    `refusing to listen on ${bind.host} with auth off, where anyone who reaches the port could change the registry: ` +
      'start with --auth on (the first start writes an operator token to <data-dir>/bootstrap-token), ' +
      'or with --insecure-no-auth if that is really what you want',
  );
}
