import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Discovery, RegistryClient } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';
import { gate, until } from '../fixtures/until.js';

/** An upstream answering its own name after `delayMs`; `inFlight` counts the requests it has not answered yet. */
async function upstream(name: string, delayMs = 0): Promise<Server & { port: number; inFlight: number }> {
  const state = { inFlight: 0 };
  const server = createServer((_req, res) => {
    state.inFlight += 1;
    setTimeout(() => {
      res.end(name);
      state.inFlight -= 1;
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.defineProperty(server, 'inFlight', { get: () => state.inFlight });
  return Object.assign(server as Server & { inFlight: number }, { port: (server.address() as AddressInfo).port });
}

describe('drain (issue #19)', () => {
  it('answers only once the gateway and both Discovery subscribers have applied it, and names the slow one when wait runs out', async () => {
    await using server = await startTestServer({ gateway: { port: 0, routeByName: true } });
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'web-1', host: '127.0.0.1', port: 1 });
    await client.register({ service: 'web', id: 'web-2', host: '127.0.0.1', port: 2 });
    await client.register({ service: 'web', id: 'web-3', host: '127.0.0.1', port: 3 });
    const slow = gate();
    using fast = new Discovery(new RegistryClient({ url: server.url }), { subscriber: { name: 'fast-discovery' } });
    using slowed = new Discovery(new RegistryClient({ url: server.url }), {
      subscriber: { name: 'slow-discovery' },
      beforeApply: () => slow.wait(),
    });
    await fast.all('web');
    await slowed.all('web');
    await until('the three subscribers to be listed', async () => {
      const { subscribers } = await client.subscribers();
      const names = subscribers.map((s) => s.name);
      return ['fast-discovery', 'slow-discovery', 'gateway'].every((n) => names.includes(n));
    });

    // The slow one is held: a drain with a short wait answers without it, naming it.
    slow.close();
    const short = await client.drain('web', 'web-1', { wait: '300ms' });
    expect(short.complete).toBe(false);
    expect(short.behind.map((s) => s.name)).toEqual(['slow-discovery']);
    expect(short.caughtUp.map((s) => s.name).sort()).toEqual(['fast-discovery', 'gateway']);
    expect((await fast.all('web')).map((i) => i.id)).toEqual(['web-2', 'web-3']);
    expect((await slowed.all('web')).map((i) => i.id)).toEqual(['web-1', 'web-2', 'web-3']);

    // A drain that waits long enough answers once the slow one has applied it, and not before.
    let answered = false;
    const long = client.drain('web', 'web-2', { wait: '20s' }).then((answer) => {
      answered = true;
      return answer;
    });
    await until('the fast Discovery to see web-1', async () => (await fast.all('web')).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    slow.open();
    const answer = await long;
    expect(answer.complete).toBe(true);
    expect(answer.behind).toEqual([]);
    expect(answer.caughtUp.map((s) => s.name).sort()).toEqual(['fast-discovery', 'gateway', 'slow-discovery']);
    for (const s of answer.caughtUp) expect(s.applied).toBeGreaterThanOrEqual(answer.index);
    expect((await slowed.all('web')).map((i) => i.id)).toEqual(['web-3']);
    const drained = await client.getInstance('web', 'web-2');
    expect(drained.maintenance).toEqual({ enabled: true, reason: 'draining' });
  }, 30_000);

  it('shows a stalled subscriber lagging, then catching up', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'api', id: 'api-1', host: '127.0.0.1', port: 1 });
    const stall = gate();
    using stalled = new Discovery(new RegistryClient({ url: server.url }), {
      subscriber: { id: 'stalled-1', name: 'stalled' },
      beforeApply: () => stall.wait(),
    });
    await stalled.all('api');
    const me = async () => (await client.subscribers()).subscribers.find((s) => s.id === 'stalled-1');
    await until('the subscriber to catch up', async () => (await me())?.lagChanges === 0);
    stall.close();
    await client.register({ service: 'api', id: 'api-2', host: '127.0.0.1', port: 2 });
    await client.register({ service: 'api', id: 'api-3', host: '127.0.0.1', port: 3 });
    await until('two changes of lag', async () => (await me())?.lagChanges === 2);
    const first = (await me())?.lagMs ?? 0;
    await until('the lag to grow', async () => ((await me())?.lagMs ?? 0) > first);
    const behind = await me();
    expect(behind).toMatchObject({ watches: 'api', transport: 'events', connected: true, live: true, lagChanges: 2 });
    stall.open();
    await until('the subscriber to catch up again', async () => (await me())?.lagChanges === 0);
    expect(await me()).toMatchObject({ lagMs: 0, applied: server.registry.serviceIndex('api') });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_subscriber_apply_lag_seconds_count [1-9]/);
    expect(metrics).toContain('switchboard_subscribers_behind 0');
  }, 30_000);

  it('costs no failed request when an instance is drained before it stops; without a drain it costs some', async () => {
    await using server = await startTestServer({ gateway: { port: 0, routeByName: true } });
    const gatewayUrl = server.gateway?.url as string;
    const client = new RegistryClient({ url: server.url });

    async function run(drain: boolean): Promise<{ failures: number; total: number }> {
      const service = drain ? 'drained' : 'killed';
      // Requests take a while, so some are always in flight on each instance.
      const one = await upstream('one', 20);
      const two = await upstream('two', 20);
      await client.register({ service, id: `${service}-1`, host: '127.0.0.1', port: one.port });
      await client.register({ service, id: `${service}-2`, host: '127.0.0.1', port: two.port });
      await until('the gateway to route the service', async () => {
        const routes = (server.gateway?.routes().routes ?? []) as { service: string; upstreams?: unknown[] }[];
        return routes.filter((r) => r.service === service).length > 0 && (await fetch(`${gatewayUrl}/${service}/`)).ok;
      });
      let failures = 0;
      let total = 0;
      let running = true;
      // A steady loop: 4 concurrent callers through the gateway.
      const callers = Array.from({ length: 4 }, async () => {
        while (running) {
          total += 1;
          try {
            // POST: the gateway never sends a non-idempotent request twice, so a cut connection is a failure.
            const response = await fetch(`${gatewayUrl}/${service}/`, { method: 'POST', body: 'order' });
            await response.text();
            if (!response.ok) failures += 1;
          } catch {
            failures += 1;
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (drain) {
        const answer = await client.drain(service, `${service}-1`, { wait: '10s' });
        expect(answer.complete).toBe(true);
        // In-flight requests finish, then the instance stops.
        await new Promise<void>((resolve) =>
          one.close(() => {
            resolve();
          }),
        );
        one.closeAllConnections();
        await client.deregister(service, `${service}-1`);
      } else {
        // Killed before the gateway hears of it: its connections are cut under the requests in flight (waited for, so
        // that the comparison does not rest on where the callers happen to be on a loaded machine).
        await until('a request in flight on the instance', () => one.inFlight > 0);
        one.close();
        one.closeAllConnections();
        await client.deregister(service, `${service}-1`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      running = false;
      await Promise.all(callers);
      two.close();
      two.closeAllConnections();
      return { failures, total };
    }

    const drained = await run(true);
    const killed = await run(false);
    console.log(
      `drain then stop: ${drained.failures} failed of ${drained.total}; ` +
        `deregister and stop without a drain: ${killed.failures} failed of ${killed.total}`,
    );
    expect(drained.failures).toBe(0);
    expect(killed.failures).toBeGreaterThan(0);
  }, 60_000);
});
