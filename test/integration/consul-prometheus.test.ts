/**
 * Prometheus' Consul service discovery against Switchboard's Consul API (issue #17): the replay of consul.go's loop
 * (test/fixtures/prometheus.ts) finds instances registered over REST v1, and Debian's real Prometheus scrapes them.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConsulDiscovery, startPrometheus } from '../fixtures/prometheus.js';
import type { LabelSet } from '../fixtures/prometheus.js';
import { startTestServer } from '../fixtures/server.js';

/** Polls `probe` until it returns a value, or fails at the deadline with what was last seen. */
async function eventually<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: () => string,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `PUT /v1/services/:service/instances/:id` over REST v1. */
async function register(url: string, instance: { service: string; id: string; body: object }): Promise<void> {
  const { service, id, body } = instance;
  const response = await fetch(`${url}/v1/services/${service}/instances/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.text()).toBeLessThan(300);
}

function targetOf(discovery: ConsulDiscovery, id: string): LabelSet | undefined {
  return discovery.targets().find((target) => target['__meta_consul_service_id'] === id);
}

/** An HTTP server answering `/metrics` in Prometheus' text format. */
async function metricsServer(): Promise<Server & AsyncDisposable> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end('# TYPE demo_requests_total counter\ndemo_requests_total 7\n');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(server, {
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  });
}

function portOf(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

describe("Prometheus' Consul discovery (consul.go, replayed)", () => {
  it('finds instances registered over REST v1, labels a lapsed one critical and drops a deregistered one', async () => {
    await using server = await startTestServer({ consul: { datacenter: 'eu-west' } });
    const discovery = new ConsulDiscovery({ server: server.url, refreshIntervalMs: 100 });
    discovery.start();
    try {
      await register(server.url, {
        service: 'api',
        id: 'api-1',
        body: {
          host: '10.1.2.3',
          port: 8080,
          ttl: '1h',
          tags: ['prod', 'canary'],
          metadata: { version: '1.2.3', 'build-id': '42' },
        },
      });
      // A lease of 1s that is never renewed lapses; deregisterAfter keeps the instance to be seen critical.
      await register(server.url, {
        service: 'api',
        id: 'api-2',
        body: { host: '10.1.2.4', port: 8081, ttl: '1s', deregisterAfter: '1h' },
      });

      const first = await eventually(
        () => targetOf(discovery, 'api-1'),
        () => JSON.stringify(discovery.targets()),
      );
      expect(first).toEqual({
        __address__: '10.1.2.3:8080',
        __meta_consul_address: '10.1.2.3',
        __meta_consul_node: '10.1.2.3',
        __meta_consul_tags: ',prod,canary,',
        __meta_consul_service_address: '10.1.2.3',
        __meta_consul_service_port: '8080',
        __meta_consul_service_id: 'api-1',
        __meta_consul_health: 'passing',
        __meta_consul_service_metadata_version: '1.2.3',
        __meta_consul_service_metadata_build_id: '42',
        __meta_consul_tagged_address_lan: '10.1.2.3',
        __meta_consul_tagged_address_wan: '10.1.2.3',
        __meta_consul_service: 'api',
        __meta_consul_dc: 'eu-west',
      });

      const lapsed = await eventually(
        () => {
          const target = targetOf(discovery, 'api-2');
          return target?.['__meta_consul_health'] === 'critical' ? target : undefined;
        },
        () => JSON.stringify(discovery.targets()),
      );
      expect(lapsed['__address__']).toBe('10.1.2.4:8081');
      expect(targetOf(discovery, 'api-1')?.['__meta_consul_health']).toBe('passing');

      const gone = await fetch(`${server.url}/v1/services/api/instances/api-1`, { method: 'DELETE' });
      expect(gone.status).toBe(200);
      await eventually(
        () => (targetOf(discovery, 'api-1') === undefined ? true : undefined),
        () => JSON.stringify(discovery.targets()),
      );
      expect(targetOf(discovery, 'api-2')).toBeDefined();

      // The whole service gone: the catalog drops it and discovery clears its group.
      expect((await fetch(`${server.url}/v1/services/api/instances/api-2`, { method: 'DELETE' })).status).toBe(200);
      await eventually(
        () => (discovery.groups.has('api') ? undefined : true),
        () => JSON.stringify([...discovery.groups.keys()]),
      );
      expect(discovery.errors).toEqual([]);
    } finally {
      await discovery.stop();
    }
  });

  it("moves a service's X-Consul-Index only with that service, never answers 0, and holds a query until a change", async () => {
    await using server = await startTestServer();
    const index = async (path: string): Promise<number> => {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-consul-knownleader')).toBe('true');
      expect(response.headers.get('x-consul-lastcontact')).toBe('0');
      return Number(response.headers.get('x-consul-index'));
    };
    // Nothing registered yet: the index is still 1, never 0.
    expect(await index('/v1/catalog/services')).toBe(1);
    expect(await index('/v1/health/service/web')).toBe(1);

    // A query holding index 1 on an empty registry is woken by the first registration.
    const held = fetch(`${server.url}/v1/health/service/web?index=1&wait=30s&stale`);
    await register(server.url, { service: 'web', id: 'w1', body: { host: '10.0.0.1', port: 80, ttl: '1h' } });
    const woken = await held;
    const webIndex = Number(woken.headers.get('x-consul-index'));
    expect(webIndex).toBeGreaterThan(1);
    expect(((await woken.json()) as unknown[]).length).toBe(1);

    await register(server.url, { service: 'other', id: 'o1', body: { host: '10.0.0.2', port: 81, ttl: '1h' } });
    expect(await index('/v1/health/service/web')).toBe(webIndex);
    expect(await index('/v1/catalog/services')).toBeGreaterThan(webIndex);

    // An index ahead of the registry's (another history) is answered at once.
    const ahead = await fetch(`${server.url}/v1/health/service/web?index=999999&wait=10m`);
    expect(Number(ahead.headers.get('x-consul-index'))).toBe(webIndex);
    // Parameters Prometheus and other clients send are tolerated (`filter` and `node-meta`: consul-filter.test.ts).
    const tolerated = await fetch(
      `${server.url}/v1/health/service/web?dc=dc1&stale&consistent&filter=Service.Service%3D%3Dweb&ns=default&partition=default`,
    );
    expect(tolerated.status).toBe(200);
    expect(((await tolerated.json()) as unknown[]).length).toBe(1);
    const badWait = await fetch(`${server.url}/v1/health/service/web?index=1&wait=soon`);
    expect(badWait.status).toBe(400);
    expect(await badWait.text()).toMatch(/wait/);
  });
});

describe('the consul.go replay itself', () => {
  /** A stand-in Consul answering `web`'s health with `entry` and `headers`, to show what the replay refuses. */
  async function fakeConsul(
    entry: object,
    headers: Record<string, string>,
  ): Promise<Server & AsyncDisposable & { paths: string[] }> {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      paths.push(path);
      const body =
        path === '/v1/agent/self'
          ? { Config: { Datacenter: 'dc1' } }
          : path === '/v1/catalog/services'
            ? { web: [] }
            : [entry];
      res.writeHead(200, { 'content-type': 'application/json', 'x-consul-lastcontact': '0', ...headers });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return Object.assign(server, {
      paths,
      [Symbol.asyncDispose]: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        }),
    });
  }
  const entry = {
    Node: { Node: 'n1', Address: '10.0.0.1' },
    Service: { ID: 'web-1', Service: 'web', Port: 80, Tags: ['a'], Meta: {} },
    Checks: [],
  };

  it('refuses a field of the wrong Go type, as encoding/json does', async () => {
    await using fake = await fakeConsul(
      { ...entry, Service: { ...entry.Service, Port: '80' } },
      { 'x-consul-index': '5' },
    );
    const discovery = new ConsulDiscovery({ server: `http://127.0.0.1:${portOf(fake)}`, refreshIntervalMs: 50 });
    discovery.start();
    try {
      await eventually(
        () => (discovery.errors.length > 0 ? true : undefined),
        () => 'no decode error',
      );
      expect(discovery.errors[0]?.message).toMatch(/Service\.Port int/);
      expect(discovery.targets()).toEqual([]);
    } finally {
      await discovery.stop();
    }
  });

  it('drops an answer whose X-Consul-Index is 0, as it equals the index it starts from', async () => {
    await using fake = await fakeConsul(entry, { 'x-consul-index': '0' });
    const discovery = new ConsulDiscovery({ server: `http://127.0.0.1:${portOf(fake)}`, refreshIntervalMs: 50 });
    discovery.start();
    try {
      // The catalog's answer (index 0) is dropped too, so the service is never watched: no update is ever sent.
      await eventually(
        () => (fake.paths.filter((path) => path === '/v1/catalog/services').length >= 3 ? true : undefined),
        () => fake.paths.join(' '),
      );
      expect(fake.paths).not.toContain('/v1/health/service/web');
      expect(discovery.updates).toEqual([]);
      expect(discovery.errors).toEqual([]);
    } finally {
      await discovery.stop();
    }
  });
});

describe("Debian's Prometheus scraping what the Consul discovery found", () => {
  it(
    'scrapes the discovered targets with the __meta_consul_* labels relabelled onto them',
    { timeout: 90_000 },
    async () => {
      await using server = await startTestServer();
      await using first = await metricsServer();
      await using second = await metricsServer();
      await register(server.url, {
        service: 'shop',
        id: 'shop-1',
        body: {
          host: '127.0.0.1',
          port: portOf(first),
          ttl: '1h',
          tags: ['canary'],
          metadata: { team: 'payments' },
        },
      });
      await register(server.url, {
        service: 'shop',
        id: 'shop-2',
        body: { host: '127.0.0.1', port: portOf(second), ttl: '1h' },
      });

      const discovery = new ConsulDiscovery({ server: server.url, refreshIntervalMs: 100 });
      discovery.start();
      await using prometheus = await startPrometheus({
        scrapeIntervalS: 1,
        relabelConfigs: [
          '      - source_labels: [__meta_consul_service]',
          '        target_label: service',
          '      - source_labels: [__meta_consul_service_id]',
          '        target_label: service_id',
          '      - source_labels: [__meta_consul_dc]',
          '        target_label: dc',
          '      - source_labels: [__meta_consul_health]',
          '        target_label: health',
          '      - source_labels: [__meta_consul_tags]',
          "        regex: '.*,canary,.*'",
          '        target_label: canary',
          "        replacement: 'yes'",
          '      - action: labelmap',
          '        regex: __meta_consul_service_metadata_(.+)',
          '        replacement: meta_$1',
        ].join('\n'),
      });
      try {
        const targets = await eventually(
          () => {
            const found = discovery.targets();
            return found.length === 2 ? found : undefined;
          },
          () => JSON.stringify(discovery.targets()),
        );
        prometheus.setTargets(
          targets.map(({ __address__: address, ...labels }) => ({ targets: [address ?? ''], labels })),
        );
        const up = await eventually(
          async () => {
            const samples = await prometheus.query('up');
            return samples.length === 2 && samples.every((sample) => sample.value[1] === '1') ? samples : undefined;
          },
          () => prometheus.output(),
          60_000,
        );
        const byId = new Map(up.map((sample) => [sample.metric['service_id'], sample.metric]));
        expect(byId.get('shop-1')).toMatchObject({
          job: 'consul',
          instance: `127.0.0.1:${portOf(first)}`,
          service: 'shop',
          dc: 'dc1',
          health: 'passing',
          canary: 'yes',
          meta_team: 'payments',
        });
        expect(byId.get('shop-2')).toMatchObject({ instance: `127.0.0.1:${portOf(second)}`, service: 'shop' });
        expect(byId.get('shop-2')?.['canary']).toBeUndefined();
        // No __meta_ label survives relabelling.
        for (const metric of byId.values())
          expect(Object.keys(metric).some((k) => k.startsWith('__meta_'))).toBe(false);
        expect(discovery.errors).toEqual([]);
      } finally {
        await discovery.stop();
        await prometheus.close();
      }
    },
  );
});
