import { get } from 'node:http';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { eventually, getJson, startRoutedUpstream, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { spawnRegistry } from '../fixtures/process.js';
import { startTestServer } from '../fixtures/server.js';
import { spawnTickets } from '../fixtures/tickets.js';

/** What examples/tickets/server.mjs answers. */
interface TicketsBody {
  servedBy: string;
  path: string;
}

describe('gateway routing', () => {
  it('routes by url prefix (longest first, whole segments) and adds the forwarding headers', async () => {
    await using server = await startTestServer();
    await using tickets = await spawnTickets();
    await using admin = await startUpstream('admin');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'tickets', id: 't1', host: '127.0.0.1', port: tickets.port, url: '/tickets' });
    await client.register({
      service: 'tickets-admin',
      id: 'a1',
      host: '127.0.0.1',
      port: admin.port,
      url: '/tickets/admin',
    });
    await using gateway = await startTestGateway(server.url);

    const ticket = await getJson<TicketsBody>(`${gateway.url}/tickets/1`);
    expect(ticket.status).toBe(200);
    expect(ticket.body.servedBy).toBe(`127.0.0.1:${tickets.port}`);
    expect(ticket.body.path).toBe('/tickets/1');

    const routed = await getJson(`${gateway.url}/tickets/admin/users?page=2`, {
      headers: { 'x-request-id': 'req-42', 'x-forwarded-for': '203.0.113.9' },
    });
    expect(routed.body.name).toBe('admin');
    expect(routed.body.url).toBe('/tickets/admin/users?page=2');
    // The test client is no trusted proxy (--trusted-proxies): what it claims is replaced (issue #14).
    expect(routed.body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(routed.body.headers['x-forwarded-proto']).toBe('http');
    expect(routed.body.headers['x-forwarded-host']).toBe(new URL(gateway.url).host);
    expect(routed.body.headers['x-request-id']).toBe('req-42');
    expect(routed.headers.get('x-request-id')).toBe('req-42');

    const missing = await getJson<ErrorBody>(`${gateway.url}/ticketsx`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      statusCode: 404,
      code: 'NO_ROUTE',
      error: 'Not Found',
      message: 'no route for /ticketsx',
    });
    expect(missing.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('spreads requests round-robin over several instances of the example service', async () => {
    await using server = await startTestServer();
    await using t1 = await spawnTickets();
    await using t2 = await spawnTickets();
    await using t3 = await spawnTickets();
    const client = new RegistryClient({ url: server.url });
    for (const [i, t] of [t1, t2, t3].entries()) {
      await client.register({ service: 'tickets', id: `t${i}`, host: '127.0.0.1', port: t.port, url: '/tickets' });
    }
    await using gateway = await startTestGateway(server.url);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const { status, body } = await getJson<TicketsBody>(`${gateway.url}/tickets`);
      expect(status).toBe(200);
      counts.set(body.servedBy, (counts.get(body.servedBy) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([10, 10, 10]);
  });

  it('spreads requests by weight when the service asks for the weighted balancer', async () => {
    await using server = await startTestServer();
    await using heavy = await spawnTickets();
    await using light = await spawnTickets();
    const client = new RegistryClient({ url: server.url });
    const metadata = { 'gateway.balance': 'weighted' };
    await client.register({
      service: 'tickets',
      id: 'heavy',
      host: '127.0.0.1',
      port: heavy.port,
      url: '/tickets',
      weight: 3,
      metadata,
    });
    await client.register({
      service: 'tickets',
      id: 'light',
      host: '127.0.0.1',
      port: light.port,
      url: '/tickets',
      weight: 1,
      metadata,
    });
    await using gateway = await startTestGateway(server.url);
    let toHeavy = 0;
    for (let i = 0; i < 40; i++) {
      const { body } = await getJson<TicketsBody>(`${gateway.url}/tickets/${i}`);
      if (body.servedBy.endsWith(`:${heavy.port}`)) toHeavy += 1;
    }
    expect(toHeavy).toBe(30);
  });

  it('sends traffic to a new instance as soon as it registers, and none to it once it is deregistered', async () => {
    await using server = await startTestServer();
    await using old = await startUpstream('old');
    await using fresh = await startUpstream('fresh');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'old', host: '127.0.0.1', port: old.port, url: '/web' });
    await using gateway = await startTestGateway(server.url);

    await client.register({ service: 'web', id: 'fresh', host: '127.0.0.1', port: fresh.port, url: '/web' });
    const registered = performance.now();
    // Two requests in a row always reach both instances (round-robin) once the gateway has the new one.
    await eventually(async () => {
      await getJson(`${gateway.url}/web`);
      return fresh.hits > 0;
    });
    const routedAfterMs = performance.now() - registered;
    // The issue asks for 100 ms; bench/gateway.mjs measures it. Here only a generous bound, as the machine is shared.
    expect(routedAfterMs).toBeLessThan(5_000);

    await client.deregister('web', 'fresh');
    await eventually(() => !gateway.routes().routes.some((r) => r.instances.some((i) => i.id === 'fresh')));
    const hits = fresh.hits;
    for (let i = 0; i < 10; i++) expect((await getJson(`${gateway.url}/web`)).body.name).toBe('old');
    expect(fresh.hits).toBe(hits);
  });

  it('routes /{service}/… by name when asked, and strips the prefix for services that want it', async () => {
    await using server = await startTestServer();
    await using users = await startUpstream('users');
    await using api = await startUpstream('api');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'users', id: 'u1', host: '127.0.0.1', port: users.port });
    await client.register({
      service: 'api',
      id: 'a1',
      host: '127.0.0.1',
      port: api.port,
      url: '/public/api',
      metadata: { 'gateway.stripPrefix': 'true' },
    });
    await using gateway = await startTestGateway(server.url, { routeByName: true });
    expect((await getJson(`${gateway.url}/users/me`)).body).toMatchObject({ name: 'users', url: '/users/me' });
    expect((await getJson(`${gateway.url}/public/api/v2/items?x=1`)).body).toMatchObject({
      name: 'api',
      url: '/v2/items?x=1',
    });
    expect((await getJson(`${gateway.url}/public/api`)).body).toMatchObject({ name: 'api', url: '/' });
    // Stripping applies to the name route of the service too.
    expect((await getJson(`${gateway.url}/api/v2`)).body).toMatchObject({ name: 'api', url: '/v2' });
  });

  it('answers 503 NO_HEALTHY_INSTANCE while no instance of a routed service takes traffic', async () => {
    await using server = await startTestServer();
    await using web = await startUpstream('web');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: web.port, url: '/web' });
    await using gateway = await startTestGateway(server.url);
    await client.setStatus('web', 'w1', 'OUT_OF_SERVICE');
    await eventually(async () => (await getJson(`${gateway.url}/web`)).status === 503);
    const { body } = await getJson<ErrorBody>(`${gateway.url}/web/x`);
    expect(body).toEqual({
      statusCode: 503,
      code: 'NO_HEALTHY_INSTANCE',
      error: 'Service Unavailable',
      message: 'no healthy instance of web',
    });
    await client.setStatus('web', 'w1', 'UP');
    await eventually(async () => (await getJson(`${gateway.url}/web`)).status === 200);
  });

  it('refuses paths with dot segments instead of letting an upstream resolve them past the route', async () => {
    await using server = await startTestServer();
    await using routed = await startRoutedUpstream(server.url, { service: 'web', id: 'w1' });
    const { upstream: web, gateway } = routed;
    // fetch() and URL strings would resolve the dot segments first; node:http sends a `path` option as it is.
    for (const path of ['/web/../admin', '/web/%2e%2e/admin', '/web/./x']) {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        get({ host: '127.0.0.1', port: gateway.port, path }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body });
          });
        }).on('error', reject);
      });
      expect(answer.status).toBe(400);
      expect((JSON.parse(answer.body) as ErrorBody).code).toBe('INVALID_ARGUMENT');
    }
    expect(web.hits).toBe(0);
  });

  it('shows its route table, counters and health under /_gateway/', async () => {
    await using server = await startTestServer();
    await using routed = await startRoutedUpstream(server.url, {
      service: 'web',
      id: 'w1',
      authorizedRoles: ['reader'],
    });
    const { upstream: web, gateway } = routed;
    await getJson(`${gateway.url}/web`);
    const routes = await getJson<Record<string, unknown>>(`${gateway.url}/_gateway/routes`);
    expect(routes.body).toMatchObject({
      stale: false,
      routes: [
        {
          prefix: '/web',
          service: 'web',
          balance: 'round-robin',
          authorizedRoles: ['reader'],
          instances: [{ id: 'w1', address: `127.0.0.1:${web.port}`, eligible: true, ejected: false, requests: 1 }],
        },
      ],
      conflicts: [],
    });
    const metrics = await getJson<Record<string, unknown>>(`${gateway.url}/_gateway/metrics`);
    expect(metrics.body).toMatchObject({ requests: 1, responses: { '2xx': 1 } });
    expect((await getJson(`${gateway.url}/_gateway/health`)).status).toBe(200);
    expect((await getJson(`${gateway.url}/_gateway/nothing`)).status).toBe(404);
  });

  it('runs inside the registry process with serve --gateway-port', async () => {
    await using registry = await spawnRegistry(['--store', 'memory', '--gateway-port', '0', '--gateway-route-by-name']);
    await eventually(() => registry.output().includes('switchboard gateway listening'), 10_000);
    const gatewayUrl = /"url":"(http:\/\/[^"]+)"[^\n]*switchboard gateway listening/.exec(
      registry.output(),
    )?.[1] as string;
    await using users = await startUpstream('users');
    await new RegistryClient({ url: registry.url }).register({
      service: 'users',
      id: 'u1',
      host: '127.0.0.1',
      port: users.port,
    });
    await eventually(async () => (await getJson(`${gatewayUrl}/users/1`)).status === 200);
    expect((await getJson(`${gatewayUrl}/users/1`)).body.name).toBe('users');
    // Its counters join the registry's metrics.
    const metrics = await (await fetch(`${registry.url}/metrics`)).text();
    expect(metrics).toMatch(/^switchboard_gateway_requests_total [1-9]/m);
    expect(metrics).toContain('switchboard_gateway_upstream_requests_total{service="users",instance="u1"}');
  });
});
