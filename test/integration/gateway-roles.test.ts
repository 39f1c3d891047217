import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { eventually, getJson, startRoutedUpstream, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';
import { spawnTickets } from '../fixtures/tickets.js';

const SECRET = 'gateway test secret, 32 bytes or more';

function token(claims: Record<string, unknown>, expiresIn = '5m'): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(SECRET));
}

const bearer = (value: string): RequestInit => ({ headers: { authorization: `Bearer ${value}` } });

describe('gateway role checks', () => {
  it('needs a valid token holding one of the service’s authorizedRoles (the seed’s tickets-query)', async () => {
    await using server = await startTestServer();
    // The example service registers itself as the seed's did: url /tickets, authorizedRoles ["tickets-query"].
    await using tickets = await spawnTickets({ SELF_REGISTRY: '1', SWITCHBOARD_REGISTRY: server.url });
    await using open = await startUpstream('open');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'open', id: 'o1', host: '127.0.0.1', port: open.port, url: '/open' });
    await using gateway = await startTestGateway(server.url, { jwt: { secret: SECRET } });
    await eventually(
      () => gateway.routes().routes.some((r) => r.service === 'tickets' && r.instances.length > 0),
      10_000,
    );
    const url = `${gateway.url}/tickets`;

    const anonymous = await getJson<ErrorBody>(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');

    expect((await getJson<ErrorBody>(url, bearer('not.a.token'))).status).toBe(401);
    expect((await getJson<ErrorBody>(url, bearer(await token({ roles: ['tickets-query'] }, '-1m')))).status).toBe(401);

    const wrongRole = await getJson<ErrorBody>(url, bearer(await token({ roles: ['billing'] })));
    expect(wrongRole.status).toBe(403);
    expect(wrongRole.body).toMatchObject({
      code: 'PERMISSION_DENIED',
      message: 'tickets needs one of the roles tickets-query',
    });

    const allowed = await getJson<{ servedBy: string }>(
      url,
      bearer(await token({ roles: ['billing', 'tickets-query'] })),
    );
    expect(allowed.status).toBe(200);
    expect(allowed.body.servedBy).toBe(`127.0.0.1:${tickets.port}`);
    expect((await getJson(url, bearer(await token({ scope: 'openid tickets-query' })))).status).toBe(200);

    // Services without authorizedRoles stay open.
    expect((await getJson(`${gateway.url}/open`)).status).toBe(200);
    expect(gateway.metrics().errors).toMatchObject({ UNAUTHENTICATED: 3, PERMISSION_DENIED: 1 });
  });

  it('verifies RS256 tokens against a JSON Web Key Set', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    await using idp = await startUpstream('idp', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await using server = await startTestServer();
    await using routed = await startRoutedUpstream(
      server.url,
      { service: 'reports', id: 'r1', authorizedRoles: ['auditor'] },
      { jwt: { jwksUrl: `${idp.url}/.well-known/jwks.json` } },
    );
    const { gateway } = routed;
    const signed = await new SignJWT({ roles: ['auditor'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await getJson(`${gateway.url}/reports/q3`, bearer(signed))).body.name).toBe('reports');
    expect((await getJson(`${gateway.url}/reports/q3`, bearer(await token({ roles: ['auditor'] })))).status).toBe(401);
  });
});
