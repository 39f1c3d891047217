import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import { createRoleVerifier } from './role-verifier.js';
import type { RoleVerifier } from './role-verifier.js';

const SECRET = 'correct horse battery staple';

function sign(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.expiresIn) jwt = jwt.setExpirationTime(options.expiresIn);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

async function rejection(verifier: RoleVerifier, token: string): Promise<unknown> {
  return verifier.roles(token).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('role verifier', () => {
  it('is absent without a key source, and refuses several', () => {
    expect(createRoleVerifier({})).toBeUndefined();
    expect(() => createRoleVerifier({ secret: 's', jwksUrl: 'https://idp.example/jwks' })).toThrow(RegistryError);
  });

  it('grants the roles of a `roles` array or a space-separated `scope`', async () => {
    const verifier = createRoleVerifier({ secret: SECRET }) as RoleVerifier;
    expect([...(await verifier.roles(await sign({ roles: ['tickets-query', 'x'] })))]).toEqual(['tickets-query', 'x']);
    expect([...(await verifier.roles(await sign({ scope: 'read  tickets-query' })))]).toEqual([
      'read',
      'tickets-query',
    ]);
    expect([...(await verifier.roles(await sign({ sub: 'sam' })))]).toEqual([]);
  });

  it('refuses expired tokens, foreign signatures and garbage as UNAUTHENTICATED', async () => {
    const verifier = createRoleVerifier({ secret: SECRET }) as RoleVerifier;
    const expired = await sign({ roles: ['a'] }, { expiresIn: '-1m' });
    for (const token of [expired, await sign({ roles: ['a'] }, { secret: 'another secret' }), 'not-a-jwt']) {
      const err = await rejection(verifier, token);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code).toBe('UNAUTHENTICATED');
    }
  });

  it('verifies tokens signed with the private half of a PEM public key, and only with its algorithm', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-jwt-'));
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const file = join(dir, 'public.pem');
    writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }));
    const verifier = createRoleVerifier({ publicKeyFile: file }) as RoleVerifier;
    rmSync(dir, { recursive: true });
    const token = await new SignJWT({ roles: ['ops'] }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    expect([...(await verifier.roles(token))]).toEqual(['ops']);
    const hmac = await sign({ roles: ['ops'] });
    expect(((await rejection(verifier, hmac)) as RegistryError).code).toBe('UNAUTHENTICATED');
  });

  it('reports a missing or unreadable key file as INVALID_ARGUMENT', () => {
    expect(() => createRoleVerifier({ publicKeyFile: '/nonexistent/key.pem' })).toThrow(/JWT public key/);
    expect(() => createRoleVerifier({ publicKey: 'not a pem' })).toThrow(/not a PEM public key/);
  });
});
