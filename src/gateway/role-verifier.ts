/**
 * Checks the bearer token of a request to a service that lists `authorizedRoles` (seed 002): a valid, unexpired JWT
 * whose `roles` claim (an array) or `scope` claim (space-separated) holds one of the roles. Keys come from exactly one
 * of an HS256 secret, a PEM public key, or a JWKS URL (fetched and rotated by jose).
 *
 * Verified tokens are remembered until they expire (bounded), so a client reusing its token costs a map lookup.
 */
import { createPublicKey, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWSAlgorithm, JWTPayload, JWTVerifyGetKey } from 'jose';
import { RegistryError } from '../errors/index.js';

export interface JwtOptions {
  /** The raw HS256 shared secret. */
  secret?: string;
  /** A PEM public key (SPKI or X.509 certificate), as text. */
  publicKey?: string;
  /** A file holding a PEM public key. */
  publicKeyFile?: string;
  /** A JSON Web Key Set URL (keys are fetched, cached and refreshed on an unknown `kid`). */
  jwksUrl?: string;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required `aud`, when set. */
  audience?: string;
}

export interface RoleVerifier {
  /** The roles a token grants; rejects with UNAUTHENTICATED when the token is not valid. */
  roles(token: string): Promise<ReadonlySet<string>>;
}

const CACHE_LIMIT = 10_000;

/** Builds the verifier, or undefined when no key source is configured. */
export function createRoleVerifier(options: JwtOptions): RoleVerifier | undefined {
  const sources = [options.secret, options.publicKey ?? options.publicKeyFile, options.jwksUrl].filter(
    (s) => s !== undefined && s !== '',
  );
  if (sources.length === 0) return undefined;
  if (sources.length > 1) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      'give one of a JWT secret, a JWT public key or a JWKS URL, not several',
    );
  }
  const { key, algorithms } = resolveKey(options);
  const verifyOptions = {
    ...(algorithms ? { algorithms } : {}),
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };
  const cache = new Map<string, { roles: ReadonlySet<string>; expiresAt: number }>();
  return {
    async roles(token: string): Promise<ReadonlySet<string>> {
      const cached = cache.get(token);
      if (cached && cached.expiresAt > Date.now()) return cached.roles;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key as KeyObject, verifyOptions));
      } catch (err) {
        throw new RegistryError('UNAUTHENTICATED', `invalid bearer token: ${(err as Error).message}`, { cause: err });
      }
      const roles = rolesOf(payload);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      // Tokens without `exp` are re-verified after a minute rather than remembered for ever.
      cache.set(token, { roles, expiresAt: payload.exp === undefined ? Date.now() + 60_000 : payload.exp * 1000 });
      return roles;
    },
  };
}

/** `roles: ["a", "b"]` and `scope: "a b"` both grant a and b. */
export function rolesOf(payload: JWTPayload): ReadonlySet<string> {
  const roles = new Set<string>();
  const claimed = payload['roles'];
  if (Array.isArray(claimed)) for (const role of claimed) if (typeof role === 'string') roles.add(role);
  const scope = payload['scope'];
  if (typeof scope === 'string') for (const role of scope.split(' ')) if (role !== '') roles.add(role);
  return roles;
}

function resolveKey(options: JwtOptions): { key: KeyObject | JWTVerifyGetKey; algorithms?: JWSAlgorithm[] } {
  if (options.secret) return { key: createSecretKey(Buffer.from(options.secret, 'utf8')), algorithms: ['HS256'] };
  if (options.jwksUrl) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch (err) {
      throw new RegistryError('INVALID_ARGUMENT', `JWKS URL ${options.jwksUrl} is not a URL`, { cause: err });
    }
    return { key: createRemoteJWKSet(url) };
  }
  let pem = options.publicKey;
  if (pem === undefined && options.publicKeyFile !== undefined) {
    try {
      pem = readFileSync(options.publicKeyFile, 'utf8');
    } catch (err) {
      throw new RegistryError(
        'INVALID_ARGUMENT',
        `JWT public key ${options.publicKeyFile}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem as string);
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `JWT public key is not a PEM public key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { key, algorithms: algorithmsFor(key) };
}

/** Only the algorithms of the key's own type, so a token cannot pick a weaker or confused one. */
function algorithmsFor(key: KeyObject): JWSAlgorithm[] {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  if (type === 'rsa-pss') return ['PS256', 'PS384', 'PS512'];
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : ['ES256'];
  }
  if (type === 'ed25519') return ['EdDSA', 'Ed25519'];
  throw new RegistryError('INVALID_ARGUMENT', `JWT public keys of type ${String(type)} are not supported`);
}
