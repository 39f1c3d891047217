/**
 * Access tokens (issue #13): what a token may do, and the bodies of `/v1/tokens`. A token is a secret with a policy:
 * `read` on the services its globs match, `write` on those its write globs match (write implies read), or `operator`
 * (everything, tokens included). The registry keeps only the secret's SHA-256; the secret is shown once, when the
 * token is created.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { durationSchema } from './registration.js';

/** A service name in which `*` stands for any run of characters: `payments`, `pay*`, `*`. */
export const SERVICE_GLOB_PATTERN = '^[A-Za-z0-9.*_-]{1,63}$';
const GlobsSchema = Type.Array(Type.String({ pattern: SERVICE_GLOB_PATTERN }), { maxItems: 64 });

export const TokenPolicySchema = Type.Object(
  {
    read: GlobsSchema,
    write: GlobsSchema,
    operator: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type TokenPolicy = Static<typeof TokenPolicySchema>;

/** A token as `/v1/tokens` lists it: never its secret. */
export const TokenInfoSchema = Type.Object({
  id: Type.String({ description: 'public: names the token in `token list` and `token revoke`' }),
  name: Type.String(),
  policy: TokenPolicySchema,
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type TokenInfo = Static<typeof TokenInfoSchema>;

export const TokenListSchema = Type.Object({ tokens: Type.Array(TokenInfoSchema) });
export type TokenList = Static<typeof TokenListSchema>;

/** A token just created: the one answer that carries its secret. */
export const CreatedTokenSchema = Type.Intersect([TokenInfoSchema, Type.Object({ secret: Type.String() })]);
export type CreatedToken = Static<typeof CreatedTokenSchema>;

export const TokenNameSchema = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,63}$' });

export const TokenCreateBodySchema = Type.Object(
  {
    name: TokenNameSchema,
    read: Type.Optional(GlobsSchema),
    write: Type.Optional(GlobsSchema),
    operator: Type.Optional(Type.Boolean()),
    ttl: Type.Optional(durationSchema('how long the token is valid (default: until revoked)')),
  },
  { additionalProperties: false },
);
export type TokenCreateBody = Static<typeof TokenCreateBodySchema>;

/** Who a request is, as `GET /v1/tokens/self` answers: the token's id and name (`anonymous` without one) and policy. */
export const TokenSelfSchema = Type.Object({
  id: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  policy: TokenPolicySchema,
  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type TokenSelf = Static<typeof TokenSelfSchema>;

/** The header that carries a token besides `Authorization: Bearer …` (and, on XML-RPC and the seed routes, basic auth). */
export const TOKEN_HEADER = 'x-switchboard-token';

const GLOB = new RegExp(SERVICE_GLOB_PATTERN);

/**
 * A policy written as flags write it (`--anonymous-policy`): comma-separated `read:GLOB`, `write:GLOB` and
 * `operator`, or `none`. Throws an Error whose message says which term is wrong.
 * @example parsePolicySpec('read:*,write:dev-*') // { read: ['*'], write: ['dev-*'], operator: false }
 */
export function parsePolicySpec(spec: string): TokenPolicy {
  const policy: TokenPolicy = { read: [], write: [], operator: false };
  const terms = spec
    .split(',')
    .map((term) => term.trim())
    .filter((term) => term !== '');
  for (const term of terms) {
    if (term === 'none') continue;
    if (term === 'operator') {
      policy.operator = true;
      continue;
    }
    const [right, glob = ''] = term.split(':', 2);
    if ((right !== 'read' && right !== 'write') || !GLOB.test(glob)) {
      throw new Error(`"${term}" is not read:GLOB, write:GLOB, operator or none`);
    }
    policy[right].push(glob);
  }
  return policy;
}

/** The spec parsePolicySpec reads back: `read:*,write:dev-*`, `operator`, or `none`. */
export function formatPolicySpec(policy: TokenPolicy): string {
  const terms = [
    ...(policy.operator ? ['operator'] : []),
    ...policy.read.map((glob) => `read:${glob}`),
    ...policy.write.map((glob) => `write:${glob}`),
  ];
  return terms.length === 0 ? 'none' : terms.join(',');
}

/**
 * A test of service names against globs (`pay*`, `*`, `payments`): `*` stands for any run of characters, and every
 * other character for itself; a name must match a glob whole. The registry's checks and the dashboard's controls
 * both decide by it.
 */
export function serviceGlobMatcher(globs: readonly string[]): (service: string) => boolean {
  if (globs.includes('*')) return () => true;
  if (globs.length === 0) return () => false;
  const exact = new Set(globs.filter((glob) => !glob.includes('*')));
  const wild = globs.filter((glob) => glob.includes('*'));
  return (service) => exact.has(service) || wild.some((glob) => globMatches(glob, service));
}

/**
 * Whether `name` matches `glob` whole, in time proportional to their lengths multiplied. A backtracking RegExp of `.*`
 * runs would take time exponential in the stars (`*a*a*a*…b` against a long run of `a`), and every request of a token
 * holding such a glob would stall the registry.
 */
function globMatches(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  // Where the last star was, and where in the name its run now ends: on a mismatch, that run takes one more char.
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (g < glob.length && glob[g] === '*') {
      star = g;
      g += 1;
      resume = n;
    } else if (g < glob.length && glob[g] === name[n]) {
      g += 1;
      n += 1;
    } else if (star !== -1) {
      g = star + 1;
      resume += 1;
      n = resume;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g += 1;
  return g === glob.length;
}
