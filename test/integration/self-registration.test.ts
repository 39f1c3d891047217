/**
 * Self-registration end to end (issue #4): real registry processes, and the example service as a real child
 * process that registers itself with `registerSelf`. Leases are 1 s so that "several ttls" stays short.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { NotFoundError, RegistryClient } from '../../src/sdk/index.js';
import type { Instance } from '../../src/sdk/index.js';
import { spawnRegistry } from '../fixtures/process.js';
import { tempDir } from '../fixtures/server.js';
import { freePort, spawnNode, spawnTickets } from '../fixtures/tickets.js';

const SHORT_TTL = '1s';
/** A lease far longer than any test, so only a deregistration can explain an instance disappearing. */
const LONG_TTL = '30s';

function selfRegistering(registry: string, ttl: string): NodeJS.ProcessEnv {
  return { SELF_REGISTRY: '1', SWITCHBOARD_REGISTRY: registry, SWITCHBOARD_TTL: ttl };
}

async function instanceOf(client: RegistryClient, port: number): Promise<Instance | undefined> {
  try {
    return await client.getInstance('tickets', `127.0.0.1:${port}`);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

async function present(client: RegistryClient, port: number): Promise<Instance> {
  return vi.waitFor(
    async () => {
      const instance = await instanceOf(client, port);
      if (!instance) throw new Error(`tickets on port ${port} is not registered`);
      return instance;
    },
    { timeout: 10_000, interval: 50 },
  );
}

describe('the example service registering itself', () => {
  it('appears on start with the seed fields, UP and passing', async () => {
    await using registry = await spawnRegistry(['--store', 'memory']);
    await using tickets = await spawnTickets(selfRegistering(registry.url, LONG_TTL));
    const client = new RegistryClient({ url: registry.url });
    const instance = await present(client, tickets.port);
    expect(instance).toMatchObject({
      service: 'tickets',
      host: '127.0.0.1',
      port: tickets.port,
      url: '/tickets',
      endpoints: [{ type: 'http', url: `${tickets.url}/tickets` }],
      authorizedRoles: ['tickets-query'],
      status: 'UP',
      health: 'passing',
      ttl: LONG_TTL,
    });
    const { instances } = await client.getService('tickets');
    expect(instances.map((i) => i.port)).toEqual([tickets.port]);
    const answer = await fetch(`${instance.endpoints[0]?.url ?? ''}/7`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ path: '/tickets/7' });
  });

  it('stays registered and passing through several ttls because it heartbeats, where a silent one expires', async () => {
    await using registry = await spawnRegistry(['--store', 'memory', '--lease-sweep-interval', '200ms']);
    const client = new RegistryClient({ url: registry.url });
    await using tickets = await spawnTickets(selfRegistering(registry.url, SHORT_TTL));
    const first = await present(client, tickets.port);
    // The control: an instance registered with the same lease and never renewed.
    await client.register({ service: 'tickets', id: 'silent', host: '127.0.0.1', port: 1, ttl: SHORT_TTL });
    await sleep(4_500);
    const later = await instanceOf(client, tickets.port);
    expect(later).toMatchObject({ status: 'UP', health: 'passing' });
    expect(Date.parse(later?.lastHeartbeat ?? '')).toBeGreaterThan(Date.parse(first.lastHeartbeat));
    await expect(client.getInstance('tickets', 'silent')).rejects.toBeInstanceOf(NotFoundError);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`deregisters on ${signal}, then ends the way ${signal} ends a process`, async () => {
      await using registry = await spawnRegistry(['--store', 'memory']);
      const client = new RegistryClient({ url: registry.url });
      await using tickets = await spawnTickets(selfRegistering(registry.url, LONG_TTL));
      await present(client, tickets.port);
      const sent = Date.now();
      tickets.child.kill(signal);
      const exit = await tickets.exited;
      const elapsed = Date.now() - sent;
      // The process ends by the signal itself, as it would have without the agent (not with an exit code).
      expect(exit).toEqual({ code: null, signal });
      // Gone by the time the process has exited: deregistered, not expired (the lease is a minute long).
      expect(await instanceOf(client, tickets.port)).toBeUndefined();
      expect(tickets.output()).toContain('deregistered tickets/');
      expect(elapsed).toBeLessThan(5_000);
    });
  }

  it('carries on when the registry is killed and restarted on the same data directory', async () => {
    using dir = tempDir();
    const port = await freePort();
    const args = [
      '--port',
      String(port),
      '--store',
      'sqlite',
      '--data-dir',
      dir.path,
      '--lease-sweep-interval',
      '200ms',
    ];
    await using first = await spawnRegistry(args);
    const client = new RegistryClient({ url: first.url });
    await using tickets = await spawnTickets(selfRegistering(first.url, SHORT_TTL));
    await present(client, tickets.port);

    first.child.kill('SIGKILL');
    await first.exited;
    // The service keeps serving while the registry is gone, for longer than its lease.
    await sleep(1_500);
    expect((await fetch(`${tickets.url}/tickets`)).status).toBe(200);
    expect(tickets.child.exitCode).toBeNull();

    await using second = await spawnRegistry(args);
    expect(second.url).toBe(first.url);
    const restarted = Date.now();
    await present(client, tickets.port);
    // Three ttls later it would be critical, then removed, unless the agent were heartbeating the new registry.
    await sleep(3_500);
    const instance = await instanceOf(client, tickets.port);
    expect(instance).toMatchObject({ status: 'UP', health: 'passing' });
    expect(Date.parse(instance?.lastHeartbeat ?? '')).toBeGreaterThan(restarted);
  });

  it('registers again when a restarted registry has lost it (memory store: heartbeats answer 404)', async () => {
    const port = await freePort();
    const args = ['--port', String(port), '--store', 'memory'];
    await using first = await spawnRegistry(args);
    const client = new RegistryClient({ url: first.url });
    await using tickets = await spawnTickets(selfRegistering(first.url, SHORT_TTL));
    await present(client, tickets.port);
    first.child.kill('SIGKILL');
    await first.exited;
    await using second = await spawnRegistry(args);
    expect(await present(client, tickets.port)).toMatchObject({ status: 'UP', url: '/tickets' });
    await tickets.waitForOutput('no longer knows tickets/');
    expect(second.url).toBe(first.url);
  });

  it('registers once the registry comes up when it was started while the registry was down', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await using tickets = await spawnTickets(selfRegistering(url, SHORT_TTL));
    await tickets.waitForOutput('cannot reach the registry');
    // Running and serving all along.
    await sleep(1_000);
    expect((await fetch(`${tickets.url}/health`)).status).toBe(200);

    await using registry = await spawnRegistry(['--port', String(port), '--store', 'memory']);
    const client = new RegistryClient({ url: registry.url });
    expect(await present(client, tickets.port)).toMatchObject({ status: 'UP', health: 'passing' });
    await tickets.waitForOutput('the registry answers again');
  });

  it('registers as STARTING until the service calls agent.ready()', async () => {
    await using registry = await spawnRegistry(['--store', 'memory']);
    const client = new RegistryClient({ url: registry.url });
    await using tickets = await spawnTickets({ ...selfRegistering(registry.url, LONG_TTL), READY_DELAY_MS: '1500' });
    expect(await present(client, tickets.port)).toMatchObject({ status: 'STARTING' });
    // Discovery does not offer it until it is ready.
    expect((await client.getService('tickets')).instances).toEqual([]);
    await vi.waitFor(
      async () => {
        expect((await client.getService('tickets')).instances.map((i) => i.port)).toEqual([tickets.port]);
      },
      { timeout: 10_000, interval: 50 },
    );
  });
});

describe('how the agent lets a process end', () => {
  const script = (registry: string, extra: string): string[] => [
    '--input-type=module',
    '-e',
    `import { registerSelf } from 'switchboard/agent';
     ${extra}
     const agent = registerSelf({
       registry: ${JSON.stringify(registry)}, service: 'batch', host: '127.0.0.1', port: 4000, ttl: '60s',
       logger: { info: (m) => console.log(m), warn: (m) => console.log(m) },
     });
     await agent.whenRegistered();
     console.log('registered ' + agent.id);`,
  ];

  it('deregisters when the event loop empties, then lets the process exit normally', async () => {
    await using registry = await spawnRegistry(['--store', 'memory']);
    const client = new RegistryClient({ url: registry.url });
    await using batch = spawnNode(script(registry.url, ''));
    // Nothing keeps this process alive: it exits on its own once the agent has deregistered.
    expect(await batch.exited).toEqual({ code: 0, signal: null });
    expect(batch.output()).toContain('registered 127.0.0.1:4000');
    expect(batch.output()).toContain('deregistered batch/127.0.0.1:4000');
    expect((await client.getService('batch', { status: 'any', health: 'any' })).instances).toEqual([]);
  });

  it("deregisters on SIGTERM but leaves the exit to the service's own SIGTERM handler", async () => {
    await using registry = await spawnRegistry(['--store', 'memory']);
    const client = new RegistryClient({ url: registry.url });
    const own = `process.on('SIGTERM', () => { console.log('own handler'); setTimeout(() => process.exit(7), 3000); });
                 setInterval(() => {}, 1000);`;
    await using batch = spawnNode(script(registry.url, own));
    await batch.waitForOutput('registered ');
    batch.child.kill('SIGTERM');
    expect(await batch.exited).toEqual({ code: 7, signal: null });
    expect(batch.output()).toContain('own handler');
    expect(batch.output()).toContain('deregistered batch/');
    await expect(client.getInstance('batch', '127.0.0.1:4000')).rejects.toBeInstanceOf(NotFoundError);
  });
});
