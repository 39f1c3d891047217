import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ErrorBody } from '../../src/errors/index.js';
import { eventually, getJson, startRoutedUpstream, startTestGateway, startUpstream } from '../fixtures/gateway.js';
import { spawnRegistry } from '../fixtures/process.js';
import { startTestServer } from '../fixtures/server.js';
import { spawnTickets } from '../fixtures/tickets.js';

describe('gateway failure handling', () => {
  it('loses no idempotent request to a killed instance, and ejects it', async () => {
    await using server = await startTestServer();
    await using t0 = await spawnTickets();
    await using t1 = await spawnTickets();
    await using t2 = await spawnTickets();
    const client = new RegistryClient({ url: server.url });
    for (const [i, t] of [t0, t1, t2].entries()) {
      await client.register({ service: 'tickets', id: `t${i}`, host: '127.0.0.1', port: t.port, url: '/tickets' });
    }
    await using gateway = await startTestGateway(server.url);
    // Every instance has a keep-alive connection from the gateway when one of them dies.
    for (let i = 0; i < 6; i++) expect((await getJson(`${gateway.url}/tickets`)).status).toBe(200);

    t1.child.kill('SIGKILL');
    await t1.exited;
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => (await getJson(`${gateway.url}/tickets/${i}`)).status),
    );
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    for (let i = 0; i < 30; i++) expect((await getJson(`${gateway.url}/tickets/${i}`)).status).toBe(200);

    const killed = gateway.routes().routes[0]?.instances.find((i) => i.id === 't1');
    expect(killed).toMatchObject({ ejected: true, eligible: true });
    expect(killed?.failures).toBeGreaterThanOrEqual(3);
    expect(gateway.metrics().retries).toBeGreaterThanOrEqual(3);
    expect(gateway.metrics().ejections).toBe(1);
  });

  it('does not retry a POST, but retries a GET, when an instance resets the connection', async () => {
    await using server = await startTestServer();
    await using broken = await startUpstream('broken', (req) => {
      req.socket.destroy();
    });
    await using good = await startUpstream('good');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'orders', id: 'a-broken', host: '127.0.0.1', port: broken.port, url: '/orders' });
    await client.register({ service: 'orders', id: 'b-good', host: '127.0.0.1', port: good.port, url: '/orders' });
    await using gateway = await startTestGateway(server.url);

    // Round-robin in id order: the first POST goes to the broken instance.
    const post = (): Promise<{ status: number; body: ErrorBody }> =>
      getJson<ErrorBody>(`${gateway.url}/orders`, {
        method: 'POST',
        body: 'x',
        headers: { 'content-type': 'text/plain' },
      });
    const first = await post();
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ statusCode: 502, code: 'UPSTREAM_ERROR', error: 'Bad Gateway' });
    expect(broken.hits).toBe(1);
    expect(good.hits).toBe(0);
    expect((await post()).status).toBe(200);
    expect(good.hits).toBe(1);

    for (let i = 0; i < 4; i++) expect((await getJson(`${gateway.url}/orders`)).body.name).toBe('good');
    expect(gateway.metrics().retries).toBeGreaterThanOrEqual(1);
  });

  it('answers 504 UPSTREAM_TIMEOUT when an instance is too slow, and retries a GET elsewhere', async () => {
    await using server = await startTestServer();
    // Takes the request and never answers.
    await using slow = await startUpstream('slow', () => undefined);
    await using good = await startUpstream('good');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'reports', id: 'a-slow', host: '127.0.0.1', port: slow.port, url: '/reports' });
    await using gateway = await startTestGateway(server.url, { upstreamTimeoutMs: 300 });
    const timedOut = await getJson<ErrorBody>(`${gateway.url}/reports`, { method: 'POST', body: '{}' });
    expect(timedOut.status).toBe(504);
    expect(timedOut.body).toMatchObject({ code: 'UPSTREAM_TIMEOUT', error: 'Gateway Timeout' });

    await client.register({ service: 'reports', id: 'b-good', host: '127.0.0.1', port: good.port, url: '/reports' });
    await eventually(() => gateway.routes().routes[0]?.instances.length === 2);
    for (let i = 0; i < 2; i++) expect((await getJson(`${gateway.url}/reports`)).body.name).toBe('good');
  });

  it('cuts the client connection when an instance fails in the middle of its answer', async () => {
    await using server = await startTestServer();
    await using half = await startUpstream('half', (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('only the beginning');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new RegistryClient({ url: server.url }).register({
      service: 'half',
      id: 'h1',
      host: '127.0.0.1',
      port: half.port,
      url: '/half',
    });
    await using gateway = await startTestGateway(server.url);
    const res = await fetch(`${gateway.url}/half`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('keeps routing on its last table while the registry is down', async () => {
    const registry = await spawnRegistry(['--store', 'memory']);
    await using routed = await startRoutedUpstream(registry.url, { service: 'web', id: 'w1' });
    const { gateway } = routed;
    expect(gateway.routes().stale).toBe(false);

    registry.child.kill('SIGKILL');
    await registry.exited;
    await eventually(() => gateway.routes().stale);
    for (let i = 0; i < 5; i++) expect((await getJson(`${gateway.url}/web/${i}`)).body.name).toBe('web');
    expect((await getJson<{ stale: boolean }>(`${gateway.url}/_gateway/health`)).body.stale).toBe(true);
  });
});
