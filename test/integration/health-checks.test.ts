import { createServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer, Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { RegistryClient } from '../../src/sdk/index.js';
import type { ChangeEvent, CheckDefinition, Health, Instance } from '../../src/wire/index.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

/** Sub-second checks and sweeps keep these tests short; thresholds are the defaults (1 and 3). */
const FAST_CHECK = { interval: '200ms', timeout: '150ms' };
/** Sub-second checks against local servers: the registry's floor is 1s by default (issue #13). */
const FAST_CONFIG = { leases: { sweepIntervalMs: 100 }, checks: { minIntervalMs: 100 } };

interface Target extends AsyncDisposable {
  port: number;
  /** Requests (HTTP) or connections (TCP) served so far. */
  readonly served: number;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** An HTTP server on a fixed port; `answer(n)` picks the status of the n-th request (1-based). */
async function httpTarget(answer: (n: number) => number = () => 200): Promise<Target & { url: string }> {
  let served = 0;
  const server = createServer((_req, res) => {
    served += 1;
    const code = answer(served);
    res.writeHead(code, { 'content-type': 'text/plain' }).end(code === 200 ? 'ok' : `answered ${code}`);
  });
  const port = await listen(server, 0);
  return Object.defineProperties(
    controls(server, port, () => served),
    {
      url: { value: `http://127.0.0.1:${port}/health`, enumerable: true },
    },
  ) as Target & { url: string };
}

async function tcpTarget(): Promise<Target & { address: string }> {
  let served = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    served += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.end();
  });
  const port = await listen(server, 0);
  // Not a spread: it would copy `served` once instead of keeping the getter.
  return Object.defineProperties(
    controls(server, port, () => served),
    {
      address: { value: `127.0.0.1:${port}`, enumerable: true },
    },
  ) as Target & { address: string };
}

function controls(server: HttpServer | TcpServer, port: number, served: () => number): Target {
  let listening = true;
  const stop = async (): Promise<void> => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    if ('closeAllConnections' in server) server.closeAllConnections();
    await closed;
  };
  return {
    port,
    get served() {
      return served();
    },
    stop,
    start: async () => {
      await listen(server, port);
      listening = true;
    },
    [Symbol.asyncDispose]: stop,
  };
}

function listen(server: HttpServer | TcpServer, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server, 0);
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Resolves with the first change (subscribe before acting) that matches; fails after `timeoutMs`. */
function nextChange(
  server: RunningServer,
  match: (c: ChangeEvent) => boolean,
  timeoutMs = 10_000,
): Promise<ChangeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching change within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = server.registry.watch(undefined, (change) => {
      if (!match(change)) return;
      clearTimeout(timer);
      stop();
      resolve(change);
    });
  });
}

/** Polls `condition` until it holds; fails after `timeoutMs` (a generous bound, not a measurement). */
async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const isHealth = (id: string, health: Health) => (c: ChangeEvent) =>
  c.instance.id === id && c.type === 'health' && c.instance.health === health;

describe('active health checks against real servers', () => {
  it('keeps a healthy instance passing, with the HTTP body as the check output', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    await using http = await httpTarget();
    await using tcp = await tcpTarget();
    const client = new RegistryClient({ url: server.url });
    const passing = nextChange(server, isHealth('w1', 'passing'));
    const registered = await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: http.port,
      checks: [
        { http: http.url, ...FAST_CHECK },
        { tcp: tcp.address, ...FAST_CHECK },
      ],
    });
    expect(registered.health).toBe('critical'); // not discoverable before its checks answer
    await passing;
    const changes: ChangeEvent[] = [];
    const unwatch = server.registry.watch('web', (c) => changes.push(c));
    const seen = http.served;
    await eventually(() => http.served >= seen + 5 && tcp.served >= 5);
    unwatch();
    expect(changes).toEqual([]);
    const instance = await client.getInstance('web', 'w1');
    expect(instance.health).toBe('passing');
    expect(instance.checks?.map((c) => [c.kind, c.status])).toEqual([
      ['http', 'passing'],
      ['tcp', 'passing'],
    ]);
    expect(instance.checks?.[0]?.output).toBe('ok');
    expect((await client.getService('web')).instances.map((i) => i.id)).toEqual(['w1']);
  });

  it('turns a stopped server critical after exactly failuresBefore failures, and passing again when it recovers', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    await using tcp = await tcpTarget();
    const client = new RegistryClient({ url: server.url });
    const results = vi.spyOn(server.registry, 'recordCheckResult');
    const passing = nextChange(server, isHealth('db1', 'passing'));
    await client.register({
      service: 'db',
      id: 'db1',
      host: '127.0.0.1',
      port: tcp.port,
      checks: [{ tcp: tcp.address, ...FAST_CHECK }],
    });
    await passing;

    // Count the failures the registry had been told of when it announced the change.
    let failuresAtChange = -1;
    const critical = nextChange(server, (c) => {
      if (!isHealth('db1', 'critical')(c)) return false;
      failuresAtChange = results.mock.calls.filter(([, r]) => r.status === 'critical').length;
      return true;
    });
    await tcp.stop();
    const change = await critical;
    expect(failuresAtChange).toBe(3);
    expect(change.instance.checks?.[0]?.output).toMatch(/ECONNREFUSED/);
    expect((await client.getService('db')).instances).toEqual([]);
    expect((await client.getService('db', { health: 'critical' })).instances.map((i) => i.id)).toEqual(['db1']);

    const recovered = nextChange(server, isHealth('db1', 'passing'));
    await tcp.start();
    await recovered;
    expect((await client.getService('db')).instances.map((i) => i.id)).toEqual(['db1']);
  });

  it('turns an HTTP check critical only on the third consecutive error answer, warning on 429', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    let mode = 200;
    let errorsServed = 0;
    await using http = await httpTarget(() => {
      if (mode !== 200) errorsServed += 1;
      return mode;
    });
    const client = new RegistryClient({ url: server.url });
    const passing = nextChange(server, isHealth('w1', 'passing'));
    await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: http.port,
      checks: [{ http: http.url, ...FAST_CHECK }],
    });
    await passing;

    let servedAtChange = -1;
    const warning = nextChange(server, (c) => {
      if (!isHealth('w1', 'warning')(c)) return false;
      servedAtChange = errorsServed;
      return true;
    });
    mode = 429;
    await warning;
    expect(servedAtChange).toBe(3);
    expect((await client.getService('web')).instances.map((i) => i.health)).toEqual(['warning']); // still discoverable

    const critical = nextChange(server, isHealth('w1', 'critical'));
    errorsServed = 0;
    mode = 503;
    const change = await critical;
    expect(change.instance.checks?.[0]?.output).toBe('answered 503');
  });

  it('does not flap an instance whose server alternates good and bad answers', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    await using http = await httpTarget((n) => (n % 2 === 0 ? 500 : 200));
    const client = new RegistryClient({ url: server.url });
    const passing = nextChange(server, isHealth('w1', 'passing'));
    await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: http.port,
      checks: [{ http: http.url, ...FAST_CHECK }],
    });
    await passing;
    const changes: ChangeEvent[] = [];
    const unwatch = server.registry.watch('web', (c) => changes.push(c));
    await eventually(() => http.served >= 12);
    unwatch();
    expect(changes).toEqual([]);
    expect((await client.getInstance('web', 'w1')).health).toBe('passing');
  });

  it('removes an instance critical for longer than deregisterCriticalAfter', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    const client = new RegistryClient({ url: server.url });
    const port = await closedPort();
    const expired = nextChange(server, (c) => c.type === 'expired' && c.instance.id === 'gone');
    await client.register({
      service: 'web',
      id: 'gone',
      host: '127.0.0.1',
      port,
      checks: [{ tcp: `127.0.0.1:${port}`, ...FAST_CHECK }],
      deregisterCriticalAfter: '1s',
    });
    const change = await expired;
    expect(change.instance.health).toBe('critical');
    await expect(client.getInstance('web', 'gone')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('hides an instance in maintenance from discovery and restores it', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    await using http = await httpTarget();
    const client = new RegistryClient({ url: server.url });
    const passing = nextChange(server, isHealth('w1', 'passing'));
    await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: http.port,
      checks: [{ http: http.url, ...FAST_CHECK }],
    });
    await client.register({ service: 'web', id: 'w2', host: '127.0.0.1', port: http.port });
    await passing;

    const drained = await client.setMaintenance('web', 'w1', { enable: true, reason: 'deploying v2' });
    expect(drained.maintenance).toEqual({ enabled: true, reason: 'deploying v2' });
    expect((await client.getService('web')).instances.map((i) => i.id)).toEqual(['w2']);
    const all = await client.getService('web', { health: 'any' });
    expect(all.instances.find((i) => i.id === 'w1')).toMatchObject({
      health: 'critical',
      maintenance: { enabled: true },
    });
    // The checks keep running in maintenance, and re-registering does not end it.
    await client.register({
      service: 'web',
      id: 'w1',
      host: '127.0.0.1',
      port: http.port,
      checks: [{ http: http.url, ...FAST_CHECK }],
    });
    expect((await client.getService('web')).instances.map((i) => i.id)).toEqual(['w2']);

    await client.setMaintenance('web', 'w1', { enable: false });
    expect((await client.getService('web')).instances.map((i) => i.id)).toEqual(['w1', 'w2']);
  });
});

describe('self-preservation against a partition', () => {
  it('stops expiring when half the leases lapse at once, evicts nothing, then resumes normal expiry', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    const client = new RegistryClient({ url: server.url });
    const ids = Array.from({ length: 20 }, (_, i) => `i${String(i).padStart(2, '0')}`);
    for (const id of ids) await client.register({ service: 'api', id, host: '127.0.0.1', port: 9000, ttl: '1s' });
    const expiredIds: string[] = [];
    server.registry.watch('api', (c) => {
      if (c.type === 'expired') expiredIds.push(c.instance.id);
    });

    let beating = new Set(ids);
    const loop = { stopped: false };
    const lastBeat = new Map<string, number>();
    const heartbeats = (async () => {
      while (!loop.stopped) {
        await Promise.all(
          [...beating].map(async (id) => {
            await client.heartbeat('api', id);
            lastBeat.set(id, Date.now());
          }),
        );
        await sleep(200);
      }
    })();
    try {
      await sleep(300);
      // The partition: half the fleet's heartbeats stop reaching the registry at once.
      const silent = ids.slice(10);
      beating = new Set(ids.slice(0, 10));
      const health = async (): Promise<{ selfPreservation: { active: boolean; reason?: string }; instances: number }> =>
        (await fetch(`${server.url}/health`)).json() as Promise<{
          selfPreservation: { active: boolean; reason?: string };
          instances: number;
        }>;
      await eventually(async () => (await health()).selfPreservation.active);
      expect((await health()).selfPreservation.reason).toMatch(/^10 of 20 leases lapsed at once/);
      // Wait until every silent lease is past its deregisterAfter (3 × ttl) and a few sweeps have run.
      const latest = Math.max(...silent.map((id) => lastBeat.get(id) ?? 0));
      await sleep(Math.max(0, latest + 3_000 + 500 - Date.now()));
      expect(expiredIds).toEqual([]);
      const answer = await client.getService('api', { health: 'any' });
      expect(answer.instances).toHaveLength(20);
      expect(answer.instances.filter((i: Instance) => i.health === 'critical').map((i) => i.id)).toEqual(silent);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^switchboard_self_preservation 1$/m);

      // Most of them come back: the lapsed leases drop below the threshold and expiry resumes for the rest.
      beating = new Set(ids.slice(0, 17));
      await eventually(async () => !(await health()).selfPreservation.active);
      await eventually(() => expiredIds.length === 3);
      expect(expiredIds.sort()).toEqual(ids.slice(17));
      expect((await health()).instances).toBe(17);
    } finally {
      loop.stopped = true;
      await heartbeats;
    }
  });
});

describe('durability', () => {
  it('keeps check definitions, their states and maintenance across a restart', async () => {
    using dir = tempDir();
    const config = { ...FAST_CONFIG, store: { kind: 'sqlite' as const, dataDir: dir.path } };
    const definition = {
      service: 'db',
      id: 'db1',
      host: '127.0.0.1',
      port: 1,
      checks: [{ tcp: '127.0.0.1:1', interval: '1m' }],
    };
    {
      await using server = await startTestServer(config);
      const client = new RegistryClient({ url: server.url });
      await client.register({ ...definition, deregisterCriticalAfter: '1h' });
      // Nothing listens on port 1: the first probe fails the check.
      await eventually(async () => (await client.getInstance('db', 'db1')).checks?.[0]?.output !== 'not checked yet');
      await client.setMaintenance('db', 'db1', { enable: true, reason: 'migrating' });
    }
    await using server = await startTestServer(config);
    const instance = await new RegistryClient({ url: server.url }).getInstance('db', 'db1');
    expect(instance).toMatchObject({
      deregisterCriticalAfter: '1h',
      maintenance: { enabled: true, reason: 'migrating' },
    });
    expect(instance.checks?.map((c) => [c.id, c.interval, c.status])).toEqual([['tcp:127.0.0.1:1', '1m', 'critical']]);
    expect(instance.checks?.[0]?.output).not.toBe('not checked yet');
  });
});

describe('health API surface', () => {
  it('serves Prometheus metrics and reports selfPreservation in /health', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 9000 });
    const health = (await (await fetch(`${server.url}/health`)).json()) as { selfPreservation: { active: boolean } };
    expect(health.selfPreservation).toEqual({ active: false, overdue: 0, leases: 0 });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    for (const line of [
      'switchboard_self_preservation 0',
      'switchboard_instances 1',
      'switchboard_services 1',
      'switchboard_checks 0',
    ]) {
      expect(text).toContain(`\n${line}\n`);
    }
    expect(text).toMatch(/^# TYPE switchboard_index gauge$/m);
  });

  it('rejects malformed checks with 400 INVALID_ARGUMENT', async () => {
    await using server = await startTestServer(FAST_CONFIG);
    const client = new RegistryClient({ url: server.url });
    const bad: CheckDefinition[][] = [
      [{ http: 'http://127.0.0.1:1/h', tcp: '127.0.0.1:1', interval: '1s' }],
      [{ http: 'http://127.0.0.1:1/h' } as CheckDefinition],
      [{ tcp: '127.0.0.1', interval: '1s' }],
      [{ http: 'http://127.0.0.1:1/h', interval: '1s', timeout: '5s' }],
    ];
    for (const checks of bad) {
      await expect(
        client.register({ service: 'web', id: 'w1', host: '127.0.0.1', port: 1, checks }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
  });
});
