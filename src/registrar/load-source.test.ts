import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayLoadSource } from './load-source.js';

interface FakeGateway {
  url: string;
  requests: IncomingHttpHeaders[];
  server: Server;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server that answers `/_gateway/routes` with `answer()`. */
async function fakeGateway(answer: () => { status: number; body: unknown }): Promise<FakeGateway> {
  const requests: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    if (req.url !== '/_gateway/routes') {
      res.writeHead(404).end();
      return;
    }
    requests.push(req.headers);
    const { status, body } = answer();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

const instance = (id: string, eligible = true) => ({ id, eligible });

function routes(...list: unknown[]) {
  return { status: 200, body: { index: 7, routes: list, conflicts: [], stale: false, updatedAt: null } };
}

const web = {
  prefix: '/web',
  service: 'web',
  retained: false,
  instances: [instance('a'), instance('b'), instance('c', false)],
  load: { inflight: 6, rps: 50, p90Ms: 12.5, windowMs: 10_000 },
};

describe('gatewayLoadSource', () => {
  it("shares a service's figures out over the instances the gateway routes to", async () => {
    const gateway = await fakeGateway(() => routes(web));
    const source = gatewayLoadSource({ url: gateway.url });
    const before = Date.now();
    const sample = await source.sample('web');
    expect(sample).toEqual({
      service: 'web',
      instances: 2,
      inflightPerInstance: 3,
      rpsPerInstance: 25,
      p90Ms: 12.5,
      at: expect.any(Number) as number,
    });
    expect(sample?.at).toBeGreaterThanOrEqual(before);
    source.close();
  });

  it('answers undefined for a service the gateway has no route for, or only a retained one', async () => {
    const retained = { ...web, service: 'gone', prefix: '/gone', retained: true, instances: [] };
    const gateway = await fakeGateway(() => routes(web, retained));
    const source = gatewayLoadSource({ url: gateway.url });
    expect(await source.sample('other')).toBeUndefined();
    expect(await source.sample('gone')).toBeUndefined();
    source.close();
  });

  it('reads the page once for many services sampled together, and again once it is old', async () => {
    const gateway = await fakeGateway(() => routes(web, { ...web, service: 'api', prefix: '/api' }));
    const source = gatewayLoadSource({ url: gateway.url, maxAgeMs: 200 });
    await Promise.all([source.sample('web'), source.sample('api'), source.sample('x')]);
    await source.sample('web');
    expect(gateway.requests).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await source.sample('api');
    expect(gateway.requests).toHaveLength(2);
    source.close();
  });

  it('sends its token as a bearer token', async () => {
    const gateway = await fakeGateway(() => routes(web));
    const source = gatewayLoadSource({ url: gateway.url, token: 'sb_secret' });
    await source.sample('web');
    expect(gateway.requests[0]?.authorization).toBe('Bearer sb_secret');
    source.close();
  });

  it("rejects with the gateway's error code, and asks again on the next sample", async () => {
    let status = 403;
    const gateway = await fakeGateway(() =>
      status === 200 ? routes(web) : { status, body: { code: 'PERMISSION_DENIED', message: 'needs read on *' } },
    );
    const source = gatewayLoadSource({ url: gateway.url });
    await expect(source.sample('web')).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('needs read on *') as string,
    });
    status = 200;
    expect((await source.sample('web'))?.instances).toBe(2);
    source.close();
  });

  it('says so when the gateway shows no load figures', async () => {
    const { load: _load, ...old } = web;
    const gateway = await fakeGateway(() => routes(old));
    const source = gatewayLoadSource({ url: gateway.url });
    await expect(source.sample('web')).rejects.toThrow(/no load figures/);
    source.close();
  });

  it('rejects as UNAVAILABLE when the gateway cannot be reached', async () => {
    const gateway = await fakeGateway(() => routes(web));
    await new Promise((resolve) => gateway.server.close(resolve));
    const source = gatewayLoadSource({ url: gateway.url });
    await expect(source.sample('web')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    source.close();
  });
});
