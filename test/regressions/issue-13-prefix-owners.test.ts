/**
 * Issue 13, point 4: a service `admin` (url `/admin`, roles ["admin"]) answered 401 without a token; a new service
 * `0pen` registered url `/admin` with no roles, took the prefix over (name order decided), and the same request got
 * 200 from the protected upstream, or reached `0pen`'s own upstream with the clients' Authorization headers. A prefix
 * now belongs to the service whose instances route it, until its last instance is gone: every transport refuses the
 * takeover with 409 PREFIX_TAKEN.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/index.js';
import { RegistryClient } from '../../src/sdk/index.js';
import { getJson, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { startTestServer } from '../fixtures/server.js';
import { xmlRpcCall } from '../fixtures/xmlrpc.js';

// HS256 secrets have at least 32 bytes (issue #14).
const SECRET = 'issue 13 secret, at least 32 bytes long';

describe('gateway prefixes have owners (issue #13)', () => {
  it('refuses a second service registering /admin over REST, keeping the route protected', async () => {
    await using server = await startTestServer();
    await using admin = await startUpstream('admin');
    await using open = await startUpstream('0pen');
    const client = new RegistryClient({ url: server.url });
    await client.register({
      service: 'admin',
      id: 'a1',
      host: '127.0.0.1',
      port: admin.port,
      url: '/admin',
      authorizedRoles: ['admin'],
    });

    for (const url of ['/admin', '/admin/', '/admin?take=over']) {
      const reply = await fetch(`${server.url}/v1/services/0pen/instances/o1`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '127.0.0.1', port: open.port, url }),
      });
      expect(reply.status).toBe(409);
      expect(await reply.json()).toMatchObject({
        code: 'PREFIX_TAKEN',
        message: expect.stringContaining('service admin') as unknown,
      });
    }
    // The SDK rebuilds the code.
    await expect(
      client.register({ service: '0pen', id: 'o1', host: '127.0.0.1', port: open.port, url: '/admin' }),
    ).rejects.toMatchObject({ code: 'PREFIX_TAKEN' });
    expect((await client.getService('0pen')).instances).toEqual([]);

    await using gateway = await startTestGateway(server.url, { jwt: { secret: SECRET } });
    const answer = await getJson(`${gateway.url}/admin/users`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(answer.status).toBe(401);
    expect(open.hits).toBe(0);
    const routes = await getJson<{ routes: { prefix: string; service: string }[]; conflicts: unknown[] }>(
      `${gateway.url}/_gateway/routes`,
    );
    expect(routes.body.routes.map((r) => [r.prefix, r.service])).toEqual([['/admin', 'admin']]);
    expect(routes.body.conflicts).toEqual([]);
  });

  it('refuses the takeover over XML-RPC with fault 1490', async () => {
    await using server = await startTestServer();
    await xmlRpcCall(server.url, 'registry.register', [
      { service: 'admin', id: 'a1', host: '127.0.0.1', port: 9001, url: '/admin' },
    ]);
    await expect(
      xmlRpcCall(server.url, 'registry.register', [
        { service: '0pen', id: 'o1', host: '127.0.0.1', port: 9002, url: '/admin' },
      ]),
    ).rejects.toMatchObject({
      faultCode: ERROR_CODES.PREFIX_TAKEN.fault,
      faultString: expect.stringMatching(/^PREFIX_TAKEN: url \/admin is routed to service admin/) as unknown,
    });
  });

  it('frees the prefix once the owning service has no instance left', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'admin', id: 'a1', host: '127.0.0.1', port: 9001, url: '/admin' });
    await client.register({ service: 'admin', id: 'a2', host: '127.0.0.1', port: 9002, url: '/admin' });
    const takeover = { service: '0pen', id: 'o1', host: '127.0.0.1', port: 9003, url: '/admin' };
    await client.deregister('admin', 'a1');
    await expect(client.register(takeover)).rejects.toMatchObject({ code: 'PREFIX_TAKEN' });
    await client.deregister('admin', 'a2');
    await client.register(takeover);
    expect((await client.getService('0pen')).instances.map((i) => i.url)).toEqual(['/admin']);
  });
});
