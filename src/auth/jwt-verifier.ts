/**
 * The gateway's role check (seed 002), kept with the rest of access control (issue #13): a request to a service that
 * lists `authorizedRoles` needs a bearer token that is a valid, unexpired JWT whose `roles` claim (an array) or
 * `scope` claim (space-separated) holds one of the roles. Keys come from exactly one of an HS256 secret, a PEM public
 * key, or a JWKS URL (fetched and rotated by jose).
 *
 * Issue #14 closed what it left open: `iss` and `aud` are checked when configured, `exp` is required (checked with a
 * small clock skew), an HS256 secret has at least 32 bytes (RFC 7518 §3.2), and a JWKS comes over https (or from a
 * loopback address), so nobody on the path can swap the keys.
 *
 * Verified tokens are remembered until they expire (bounded), so a client reusing its token costs a map lookup. An
 * entry remembers the key set it was verified with: once the JWKS is due for a refresh (its cache age, 10 min by
 * default) or has been reloaded, the token is verified again, so a key the issuer rotated out stops working.
 */
import { createPublicKey, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWSAlgorithm, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
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
  /** How far `exp` and `nbf` may be off (clocks differ). Default 30 s. */
  clockSkewMs?: number;
  /** How long a fetched JWKS is used before it is fetched again. Default 10 min. */
  jwksCacheMs?: number;
}

export interface JwtVerifier {
  /** The roles a token grants; rejects with UNAUTHENTICATED when the token is not valid. */
  roles(token: string): Promise<ReadonlySet<string>>;
}

const CACHE_LIMIT = 10_000;
const DEFAULT_CLOCK_SKEW_MS = 30_000;
/** RFC 7518 §3.2: an HS256 key at least as long as the hash output. */
const MIN_SECRET_BYTES = 32;

/** Where the verifier's keys come from, and which generation of them a verification used. */
interface KeySource {
  key: KeyObject | JWTVerifyGetKey;
  algorithms?: JWSAlgorithm[];
  /**
   * The generation of the key set in force: a cached verification counts only while it is the same. Undefined means
   * "due for a refresh": every token is verified again (which reloads the set).
   */
  generation(): number | undefined;
}

/** Builds the verifier, or undefined when no key source is configured. */
export function createJwtVerifier(options: JwtOptions): JwtVerifier | undefined {
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
  const source = resolveKey(options);
  const verifyOptions: JWTVerifyOptions = {
    ...(source.algorithms ? { algorithms: source.algorithms } : {}),
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
    // A token without `exp` would be valid for ever, and could not be revoked short of changing the key.
    requiredClaims: ['exp'],
    clockTolerance: Math.floor((options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS) / 1000),
  };
  const cache = new Map<string, { roles: ReadonlySet<string>; expiresAt: number; generation: number | undefined }>();
  return {
    async roles(token: string): Promise<ReadonlySet<string>> {
      const cached = cache.get(token);
      const generation = source.generation();
      if (cached && cached.expiresAt > Date.now() && generation !== undefined && cached.generation === generation) {
        return cached.roles;
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, source.key as KeyObject, verifyOptions));
      } catch (err) {
        cache.delete(token);
        throw new RegistryError('UNAUTHENTICATED', `invalid bearer token: ${(err as Error).message}`, { cause: err });
      }
      const roles = rolesOf(payload);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      // The key set the token was just verified with (a JWKS may have been reloaded by this verification).
      cache.set(token, { roles, expiresAt: (payload.exp as number) * 1000, generation: source.generation() });
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

function resolveKey(options: JwtOptions): KeySource {
  if (options.secret) {
    const secret = Buffer.from(options.secret, 'utf8');
    if (secret.length < MIN_SECRET_BYTES) {
      throw new RegistryError(
        'INVALID_ARGUMENT',
        `--jwt-secret (or --jwt-secret-file) is ${secret.length} bytes; HS256 needs at least ${MIN_SECRET_BYTES} ` +
          '(RFC 7518 §3.2), e.g. openssl rand -base64 48',
      );
    }
    // A fixed key: changing it means a restart, and a new verifier with an empty cache.
    return { key: createSecretKey(secret), algorithms: ['HS256'], generation: () => 0 };
  }
  if (options.jwksUrl) return remoteKeys(options.jwksUrl, options.jwksCacheMs);
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
  return { key, algorithms: algorithmsFor(key), generation: () => 0 };
}

/** A JWKS over https, or plain http from a loopback address (a local sidecar, tests): nobody on a path can swap it. */
function remoteKeys(jwksUrl: string, cacheMs: number | undefined): KeySource {
  let url: URL;
  try {
    url = new URL(jwksUrl);
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `--jwks-url ${jwksUrl} is not a URL`, { cause: err });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `--jwks-url ${jwksUrl} must be https:// (plain http is allowed on a loopback address only)`,
    );
  }
  const keys = createRemoteJWKSet(url, cacheMs === undefined ? {} : { cacheMaxAge: cacheMs });
  // A new generation whenever a verification finds the set changed (a reload when stale, or for an unknown kid).
  let generation = 0;
  let seen: string | undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    const key = await keys(header, token);
    const current = JSON.stringify(keys.jwks() ?? null);
    if (current !== seen) {
      seen = current;
      generation += 1;
    }
    return key;
  };
  // Once the set is due for a refresh, nothing counts as verified until a verification has reloaded it.
  return { key: getKey, generation: () => (keys.fresh ? generation : undefined) };
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
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
