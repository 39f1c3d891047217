/**
 * Issue #14, reproduction 6: the gateway's role tokens could not be tied to an issuer or an audience (a token minted
 * for another API by the same issuer was accepted), a token without `exp` was accepted, a 1-byte HS256 secret and a
 * plain-http JWKS URL were accepted, and verified tokens stayed cached until their `exp` across a key rotation.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig } from '../../src/config/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { createGateway, gatewayOptionsFrom } from '../../src/gateway/index.js';
import { RegistryClient } from '../../src/sdk/index.js';
import { eventually, getJson, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';

const SECRET = 'issue 14: a secret of at least 32 bytes';

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

function hs256(claims: Record<string, unknown>, expiresIn: string | null = '5m'): Promise<string> {
  let jwt = new SignJWT({ roles: ['reader'], ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (expiresIn !== null) jwt = jwt.setExpirationTime(expiresIn);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

async function startReports(): Promise<AsyncDisposable & { url: string }> {
  const server = await startTestServer();
  const reports = await startUpstream('reports');
  await new RegistryClient({ url: server.url }).register({
    service: 'reports',
    id: 'r1',
    host: '127.0.0.1',
    port: reports.port,
    url: '/reports',
    authorizedRoles: ['reader'],
  });
  return {
    url: server.url,
    [Symbol.asyncDispose]: async () => {
      await reports.kill();
      await server[Symbol.asyncDispose]();
    },
  };
}

/** The gateway options `serve` and `switchboard gateway` build from these flags. */
function optionsFromFlags(flags: Record<string, string>): ReturnType<typeof gatewayOptionsFrom> {
  return gatewayOptionsFrom(loadConfig({ env: {}, flags }).gateway, { host: DEFAULTS.http.host, port: 0 });
}

describe('gateway role tokens (issue #14)', () => {
  it('refuses to start with a short HS256 secret or a plain-http JWKS URL, naming the flag', async () => {
    await using server = await startTestServer();
    const start = (flags: Record<string, string>): Promise<unknown> =>
      createGateway({ ...optionsFromFlags(flags), registry: server.url, readyTimeoutMs: 100 }).then(
        async (gateway) => {
          await gateway.close();
          return undefined;
        },
        (err: unknown) => err,
      );
    expect(await start({ 'jwt-secret': 'x' })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/--jwt-secret .*at least 32/) as unknown,
    });
    expect(await start({ 'jwks-url': 'http://idp.example/jwks.json' })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/--jwks-url .*https/) as unknown,
    });
  });

  it('checks --jwt-issuer and --jwt-audience, and refuses tokens without exp', async () => {
    await using server = await startReports();
    const options = optionsFromFlags({
      'jwt-secret': SECRET,
      'jwt-issuer': 'https://idp.example',
      'jwt-audience': 'switchboard',
      'jwt-clock-skew': '5s',
    });
    expect(options.jwt).toMatchObject({ issuer: 'https://idp.example', audience: 'switchboard', clockSkewMs: 5_000 });
    await using gateway = await startTestGateway(server.url, { jwt: options.jwt ?? {} });
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));
    const url = `${gateway.url}/reports/q3`;
    const ours = { iss: 'https://idp.example', aud: 'switchboard' };

    expect((await getJson(url, bearer(await hs256(ours)))).status).toBe(200);
    for (const [what, token] of [
      ['another API’s token', await hs256({ ...ours, aud: 'billing-api' })],
      ['another issuer’s token', await hs256({ ...ours, iss: 'https://elsewhere.example' })],
      ['a token without exp', await hs256(ours, null)],
      ['a token expired beyond the skew', await hs256(ours, '-1m')],
    ] as const) {
      const answer = await getJson<ErrorBody>(url, bearer(token));
      expect(answer.status, what).toBe(401);
      expect(answer.body.code, what).toBe('UNAUTHENTICATED');
    }
  });

  it('stops accepting a token once its key is rotated out of the JWKS', async () => {
    const pair = (kid: string): { kid: string; privateKey: KeyObject; publicKey: KeyObject } => ({
      kid,
      ...generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    });
    const [old, next] = [pair('2024'), pair('2025')];
    let published = [old];
    await using idp = await startUpstream('idp', (_req, res) => {
      void Promise.all(
        published.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: 'ES256', use: 'sig' })),
      ).then((keys) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys }));
      });
    });
    const sign = (key: typeof old): Promise<string> =>
      new SignJWT({ roles: ['reader'] })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .setExpirationTime('1h')
        .sign(key.privateKey);
    await using server = await startReports();
    // A JWKS on a loopback address may be plain http; its cache age is short so the test need not wait 10 minutes.
    await using gateway = await startTestGateway(server.url, {
      jwt: { jwksUrl: `${idp.url}/jwks.json`, jwksCacheMs: 300 },
    });
    await eventually(() => gateway.routes().routes.some((r) => r.instances.length > 0));
    const url = `${gateway.url}/reports/q3`;
    const token = await sign(old);
    for (let i = 0; i < 3; i++) expect((await getJson(url, bearer(token))).status).toBe(200);

    published = [next];
    // The token is valid for an hour more, and was cached: it must still stop working once the set is refreshed.
    await eventually(async () => (await getJson(url, bearer(token))).status === 401, 10_000);
    expect((await getJson(url, bearer(await sign(next)))).status).toBe(200);
  });
});
