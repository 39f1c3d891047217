import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../auth/index.js';
import type { TokenRecord } from '../store/index.js';
import { RegistryError } from '../errors/index.js';
import {
  CreatedTokenSchema,
  TokenCreateBodySchema,
  TokenInfoSchema,
  TokenListSchema,
  TokenSelfSchema,
  parseDuration,
} from '../wire/index.js';
import type { CreatedToken, TokenCreateBody, TokenInfo, TokenSelf } from '../wire/index.js';
import { errorSchema } from './schemas.js';

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema };

/** `/v1/tokens`: create, list and revoke access tokens (operator only), and `self`: who the caller is. */
export function addTokenRoutes(app: FastifyInstance, access: AccessControl): void {
  const { tokens } = access;

  app.post<{ Body: TokenCreateBody }>(
    '/v1/tokens',
    {
      schema: { body: TokenCreateBodySchema },
      config: {
        access: 'operator',
        summary: 'Create a token; the answer is the only place its secret ever appears (operator)',
        responses: { 201: CreatedTokenSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { name, read = [], write = [], operator = false, ttl } = request.body;
      const ttlMs = ttl === undefined ? undefined : parseDuration(ttl, 'ttl');
      if (ttlMs === 0) throw new RegistryError('INVALID_ARGUMENT', 'ttl must be above zero (omit it: until revoked)');
      const { record, secret } = await tokens.create({
        name,
        policy: { read, write, operator },
        ...(ttlMs === undefined ? {} : { ttlMs }),
      });
      const created: CreatedToken = { ...infoOf(record), secret };
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/tokens',
    {
      config: {
        access: 'operator',
        summary: 'Every token: id, name, policy, expiry; never a secret (operator)',
        responses: { 200: TokenListSchema, ...errors },
      },
    },
    (_request, reply) => reply.send({ tokens: tokens.list().map(infoOf) }),
  );

  app.get(
    '/v1/tokens/self',
    {
      config: {
        access: 'per-item',
        summary: "The caller's token: id, name and policy (anonymous: the anonymous policy)",
        responses: { 200: TokenSelfSchema, 401: errorSchema },
      },
    },
    (request, reply) => {
      const principal = access.principalOf(request.raw);
      const self: TokenSelf = { id: principal.tokenId, name: principal.name, policy: principal.policy };
      if (principal.expiresAt !== undefined) self.expiresAt = new Date(principal.expiresAt).toISOString();
      return reply.send(self);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/tokens/:id',
    {
      config: {
        access: 'operator',
        summary: 'Revoke a token: no node accepts it once this answers (operator)',
        responses: { 200: TokenInfoSchema, 404: errorSchema, ...errors },
      },
    },
    async (request, reply) => reply.send(infoOf(await tokens.revoke(request.params.id))),
  );
}

function infoOf(record: TokenRecord): TokenInfo {
  const info: TokenInfo = {
    id: record.id,
    name: record.name,
    policy: record.policy,
    createdAt: new Date(record.createdAt).toISOString(),
  };
  if (record.expiresAt !== undefined) info.expiresAt = new Date(record.expiresAt).toISOString();
  return info;
}
