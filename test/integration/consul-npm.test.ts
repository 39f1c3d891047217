import Consul from 'consul';
import type { CheckOptions } from 'consul/lib/agent/check.js';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

interface HealthEntry {
  Service: { ID: string; Service: string; Port: number; Address: string; Tags: string[] };
  Checks: { CheckID: string; Status: string; Name: string; Notes: string }[];
}

/** The status of the `service:<ID>` check, and whether a maintenance check is present, in the latest entries. */
function stateOf(entries: HealthEntry[], id: string): { status?: string; maintenance: boolean; present: boolean } {
  const entry = entries.find((e) => e.Service.ID === id);
  if (!entry) return { present: false, maintenance: false };
  const own = entry.Checks.find((c) => c.CheckID === `service:${id}`);
  return {
    present: true,
    ...(own ? { status: own.Status } : {}),
    maintenance: entry.Checks.some((c) => c.CheckID === `_service_maintenance:${id}`),
  };
}

describe('the npm consul client (consul 2.0.1)', () => {
  it('registers with a TTL check, passes and fails it, watches health, toggles maintenance and deregisters', async () => {
    await using server = await startTestServer();
    const consul = new Consul({ host: '127.0.0.1', port: server.port });

    await consul.agent.service.register({
      name: 'web',
      id: 'web-1',
      address: '127.0.0.1',
      port: 8080,
      tags: ['v1', 'primary'],
      meta: { version: '1.2.3' },
      // The client's type asks for every check a name and a timeout, which a TTL check has no use for.
      check: { ttl: '30s', deregistercriticalserviceafter: '10m' } as CheckOptions,
    });

    // Every change the watch sees is kept, so a test waits for the state it expects rather than for a count.
    const seen: HealthEntry[][] = [];
    const errors: unknown[] = [];
    const watch = consul.watch({
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the client's documented form; it binds the method itself
      method: consul.health.service,
      options: { service: 'web', wait: '5s' },
    });
    watch.on('change', (data: HealthEntry[]) => seen.push(data));
    watch.on('error', (err: unknown) => errors.push(err));
    try {
      const latest = (): HealthEntry[] => seen.at(-1) ?? [];
      await until('passing', () => (stateOf(latest(), 'web-1').status === 'passing' ? true : undefined));
      const first = latest()[0] as HealthEntry;
      expect(first.Service).toMatchObject({ ID: 'web-1', Service: 'web', Port: 8080, Address: '127.0.0.1' });
      expect(first.Service.Tags).toEqual(['v1', 'primary']);

      // The client URL-encodes the check id (service%3Aweb-1).
      await consul.agent.check.fail({ id: 'service:web-1', note: 'disk full' });
      await until('critical', () => (stateOf(latest(), 'web-1').status === 'critical' ? true : undefined));
      expect(server.registry.get('web', 'web-1').status).toBe('DOWN');

      await consul.agent.check.pass('service:web-1');
      await until('passing again', () => (stateOf(latest(), 'web-1').status === 'passing' ? true : undefined));
      expect(server.registry.get('web', 'web-1').status).toBe('UP');

      await consul.agent.service.maintenance({ id: 'web-1', enable: true, reason: 'deploying' });
      await until('maintenance', () => (stateOf(latest(), 'web-1').maintenance ? true : undefined));
      const checks = (await consul.health.checks('web')) as HealthEntry['Checks'];
      expect(checks.find((c) => c.CheckID === '_service_maintenance:web-1')).toMatchObject({
        Name: 'Service Maintenance Mode',
        Status: 'critical',
        Notes: 'deploying',
      });
      // `passing` keeps only the entries whose checks all pass: none, while in maintenance.
      expect(await consul.health.service({ service: 'web', passing: true })).toEqual([]);

      await consul.agent.service.maintenance({ id: 'web-1', enable: false });
      await until('maintenance off', () => (stateOf(latest(), 'web-1').maintenance ? undefined : true));
      expect(await consul.health.service({ service: 'web', passing: true })).toHaveLength(1);

      const catalog = (await consul.catalog.service.list()) as Record<string, string[]>;
      expect(catalog['web']).toEqual(['primary', 'v1']);
      const nodes = (await consul.catalog.service.nodes('web')) as { ServiceID: string; Node: string }[];
      expect(nodes).toEqual([expect.objectContaining({ ServiceID: 'web-1', Node: '127.0.0.1' })]);
      expect(await consul.status.leader()).toBe(`127.0.0.1:${server.port}`);

      await consul.agent.service.deregister('web-1');
      await until('deregistered', () => (seen.length > 0 && latest().length === 0 ? true : undefined));
      expect(errors).toEqual([]);
    } finally {
      watch.end();
    }
  });

  it('answers an unknown check id with 404 and a registration without a port with 400, as text', async () => {
    await using server = await startTestServer();
    const consul = new Consul({ host: '127.0.0.1', port: server.port });
    await expect(consul.agent.check.pass('service:nobody')).rejects.toMatchObject({
      response: { statusCode: 404 },
    });
    const portless = await fetch(`${server.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'web' }),
    });
    expect(portless.status).toBe(400);
    expect(portless.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await portless.text()).toMatch(/Port/);
  });
});
