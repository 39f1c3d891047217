import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import { createJwtVerifier } from './jwt-verifier.js';
import type { JwtVerifier } from './jwt-verifier.js';

const SECRET = 'correct horse battery staple, and more';

/** An HS256 token that expires in 5 minutes unless told otherwise (`expiresIn: null`: no exp at all). */
function sign(
  claims: Record<string, unknown>,
  options: { secret?: string; expiresIn?: string | null } = {},
): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  const expiresIn = options.expiresIn === undefined ? '5m' : options.expiresIn;
  if (expiresIn !== null) jwt = jwt.setExpirationTime(expiresIn);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

async function rejection(verifier: JwtVerifier, token: string): Promise<unknown> {
  return verifier.roles(token).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('JWT verifier', () => {
  it('is absent without a key source, and refuses several', () => {
    expect(createJwtVerifier({})).toBeUndefined();
    expect(() => createJwtVerifier({ secret: SECRET, jwksUrl: 'https://idp.example/jwks' })).toThrow(RegistryError);
  });

  it('grants the roles of a `roles` array or a space-separated `scope`', async () => {
    const verifier = createJwtVerifier({ secret: SECRET }) as JwtVerifier;
    expect([...(await verifier.roles(await sign({ roles: ['tickets-query', 'x'] })))]).toEqual(['tickets-query', 'x']);
    expect([...(await verifier.roles(await sign({ scope: 'read  tickets-query' })))]).toEqual([
      'read',
      'tickets-query',
    ]);
    expect([...(await verifier.roles(await sign({ sub: 'sam' })))]).toEqual([]);
  });

  it('refuses expired tokens, foreign signatures and garbage as UNAUTHENTICATED', async () => {
    const verifier = createJwtVerifier({ secret: SECRET }) as JwtVerifier;
    const expired = await sign({ roles: ['a'] }, { expiresIn: '-1m' });
    const foreign = await sign({ roles: ['a'] }, { secret: 'another secret of thirty-two bytes' });
    for (const token of [expired, foreign, 'not-a-jwt']) {
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
    const verifier = createJwtVerifier({ publicKeyFile: file }) as JwtVerifier;
    rmSync(dir, { recursive: true });
    const token = await new SignJWT({ roles: ['ops'] })
      .setProtectedHeader({ alg: 'ES256' })
      .setExpirationTime('5m')
      .sign(privateKey);
    expect([...(await verifier.roles(token))]).toEqual(['ops']);
    const hmac = await sign({ roles: ['ops'] });
    expect(((await rejection(verifier, hmac)) as RegistryError).code).toBe('UNAUTHENTICATED');
  });

  it('reports a missing or unreadable key file as INVALID_ARGUMENT', () => {
    expect(() => createJwtVerifier({ publicKeyFile: '/nonexistent/key.pem' })).toThrow(/JWT public key/);
    expect(() => createJwtVerifier({ publicKey: 'not a pem' })).toThrow(/not a PEM public key/);
  });

  describe('closes what issue #14 found open', () => {
    it('refuses an HS256 secret shorter than 32 bytes, naming the flag', () => {
      expect(() => createJwtVerifier({ secret: 'x' })).toThrow(/--jwt-secret .*1 bytes.*at least 32/);
      expect(() => createJwtVerifier({ secret: 'x'.repeat(31) })).toThrow(RegistryError);
      expect(createJwtVerifier({ secret: 'x'.repeat(32) })).toBeDefined();
    });

    it('refuses a plain-http JWKS URL unless it is on a loopback address', () => {
      expect(() => createJwtVerifier({ jwksUrl: 'http://idp.example/jwks.json' })).toThrow(/--jwks-url .*https/);
      expect(() => createJwtVerifier({ jwksUrl: 'http://10.0.0.5/jwks.json' })).toThrow(RegistryError);
      expect(() => createJwtVerifier({ jwksUrl: 'ftp://idp.example/jwks.json' })).toThrow(RegistryError);
      for (const url of [
        'https://idp.example/jwks.json',
        'http://127.0.0.1:9/jwks',
        'http://[::1]:9/j',
        'http://localhost/j',
      ]) {
        expect(createJwtVerifier({ jwksUrl: url }), url).toBeDefined();
      }
    });

    it('requires exp, and allows the configured clock skew around it', async () => {
      const verifier = createJwtVerifier({ secret: SECRET }) as JwtVerifier;
      const forever = await rejection(verifier, await sign({ roles: ['a'] }, { expiresIn: null }));
      expect((forever as RegistryError).code).toBe('UNAUTHENTICATED');
      expect((forever as RegistryError).message).toMatch(/exp/);
      // Expired 10 s ago: inside the default 30 s skew, outside a 1 s one.
      const justExpired = await sign({ roles: ['a'] }, { expiresIn: '-10s' });
      expect([...(await verifier.roles(justExpired))]).toEqual(['a']);
      const strict = createJwtVerifier({ secret: SECRET, clockSkewMs: 1_000 }) as JwtVerifier;
      expect(((await rejection(strict, justExpired)) as RegistryError).code).toBe('UNAUTHENTICATED');
    });

    it('checks iss and aud when configured', async () => {
      const verifier = createJwtVerifier({
        secret: SECRET,
        issuer: 'https://idp',
        audience: 'switchboard',
      }) as JwtVerifier;
      const minted = (iss: string, aud: string): Promise<string> => sign({ roles: ['a'], iss, aud });
      expect([...(await verifier.roles(await minted('https://idp', 'switchboard')))]).toEqual(['a']);
      for (const token of [
        await minted('https://idp', 'another-api'),
        await minted('https://other-idp', 'switchboard'),
        await sign({ roles: ['a'] }),
      ]) {
        expect(((await rejection(verifier, token)) as RegistryError).code).toBe('UNAUTHENTICATED');
      }
    });

    it('stops accepting a cached token once its key is rotated out of the JWKS', async () => {
      const pair = (): { kid: string; privateKey: KeyObject; publicKey: KeyObject } => ({
        kid: Math.random().toString(36).slice(2),
        ...generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      });
      const [old, next] = [pair(), pair()];
      let published = [old];
      let fetches = 0;
      const idp = createServer((_req, res) => {
        fetches += 1;
        void Promise.all(
          published.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: 'ES256' })),
        ).then((keys) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ keys }));
        });
      });
      await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
      try {
        const address = idp.address() as { port: number };
        const verifier = createJwtVerifier({
          jwksUrl: `http://127.0.0.1:${address.port}/jwks.json`,
          jwksCacheMs: 200,
        }) as JwtVerifier;
        const token = await new SignJWT({ roles: ['ops'] })
          .setProtectedHeader({ alg: 'ES256', kid: old.kid })
          .setExpirationTime('1h')
          .sign(old.privateKey);
        expect([...(await verifier.roles(token))]).toEqual(['ops']);
        // Remembered while the key set is fresh: no fetch per request.
        const before = fetches;
        for (let i = 0; i < 5; i++) await verifier.roles(token);
        expect(fetches).toBe(before);
        published = [next];
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(((await rejection(verifier, token)) as RegistryError).code).toBe('UNAUTHENTICATED');
        const fresh = await new SignJWT({ roles: ['ops'] })
          .setProtectedHeader({ alg: 'ES256', kid: next.kid })
          .setExpirationTime('1h')
          .sign(next.privateKey);
        expect([...(await verifier.roles(fresh))]).toEqual(['ops']);
      } finally {
        idp.closeAllConnections();
        await new Promise((resolve) => idp.close(resolve));
      }
    });
  });
});
