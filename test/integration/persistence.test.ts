/**
 * Durability of issue #2 with real processes: the built CLI's `serve` on a real SQLite store in a temporary data
 * directory, restarted, killed with SIGKILL, stopped with SIGTERM, and configured from flags, environment and file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { Instance, InstancePage } from '../../src/wire/index.js';
import { runCli } from '../fixtures/cli.js';
import { spawnRegistry } from '../fixtures/process.js';
import type { RegistryProcess } from '../fixtures/process.js';
import { tempDir } from '../fixtures/server.js';
import { freePort } from '../fixtures/tickets.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the answer's shape
async function call<T>(
  url: string,
  method: 'GET' | 'PUT' | 'DELETE',
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : JSON_HEADERS,
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Every instance, through the paginated traversal, by `service/id`. */
async function allInstances(url: string): Promise<Map<string, Instance>> {
  const found = new Map<string, Instance>();
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page: { body: InstancePage } = await call<InstancePage>(`${url}/v1/instances?limit=1000${query}`, 'GET');
    for (const instance of page.body.instances) found.set(`${instance.service}/${instance.id}`, instance);
    cursor = page.body.nextCursor;
  } while (cursor !== null);
  return found;
}

const keyOf = (i: number): string => `svc-${i % 20}/i-${i}`;

/**
 * Fires `range.count` registrations (ids from `range.from` up) at once (the client keeps 64 connections busy, so the server sees many writes
 * together) and resolves with the keys that were acknowledged with a 2xx. `onAck` runs as each acknowledgement
 * arrives; the other requests may fail (the server is killed under them).
 */
async function registerMany(
  url: string,
  range: { from: number; count: number },
  onAck: (acked: number) => void = () => undefined,
): Promise<string[]> {
  const agent = new Agent({ connections: 64 });
  const acked: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: range.count }, async (_, n) => {
        const i = range.from + n;
        try {
          const response = await request(`${url}/v1/services/svc-${i % 20}/instances/i-${i}`, {
            method: 'PUT',
            headers: JSON_HEADERS,
            body: JSON.stringify({ host: '10.0.0.1', port: 1_000 + i, tags: [`n${i}`] }),
            dispatcher: agent,
          });
          await response.body.dump();
          if (response.statusCode === 200 || response.statusCode === 201) {
            acked.push(keyOf(i));
            onAck(acked.length);
          }
        } catch {
          // Not acknowledged: the server went away under it.
        }
      }),
    );
  } finally {
    await agent.destroy();
  }
  return acked;
}

/** Asserts that every acknowledged registration is in the restarted registry, with its fields. */
async function expectAllPresent(url: string, acked: string[]): Promise<void> {
  const present = await allInstances(url);
  const missing = acked.filter((key) => !present.has(key));
  expect(missing, `${missing.length} of ${acked.length} acknowledged registrations lost`).toEqual([]);
  for (const key of acked) {
    const i = Number(key.split('/i-')[1]);
    expect(present.get(key)).toMatchObject({ port: 1_000 + i, tags: [`n${i}`] });
  }
}

async function stop(
  registry: RegistryProcess,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  registry.child.kill(signal);
  return registry.exited;
}

describe('persistence across restarts', () => {
  it('restores every instance after a restart, with the same ids and fields, and continues the index upward', async () => {
    using dir = tempDir();
    const before = await (async () => {
      await using first = await spawnRegistry(['--data-dir', dir.path]);
      for (let i = 0; i < 30; i++) {
        const body = {
          host: `10.0.${i % 3}.${i}`,
          port: 8_000 + i,
          url: `/svc${i % 3}`,
          endpoints: [{ type: 'http', url: `http://10.0.0.${i}:8000` }],
          status: i % 7 === 0 ? 'DOWN' : 'UP',
          tags: [`t${i % 2}`, 'all'],
          metadata: { n: String(i), team: 'core' },
          weight: 10 + i,
          zone: `z${i % 2}`,
          authorizedRoles: ['admin'],
          ...(i % 2 === 0 ? { ttl: '1m', deregisterAfter: '10m' } : {}),
        };
        expect((await call(`${first.url}/v1/services/svc-${i % 3}/instances/i-${i}`, 'PUT', body)).status).toBe(201);
      }
      await call(`${first.url}/v1/services/svc-0/instances/i-0`, 'DELETE');
      await call(`${first.url}/v1/services/svc-1/instances/i-1/status`, 'PUT', { status: 'OUT_OF_SERVICE' });
      await call(`${first.url}/v1/services/svc-2/instances/i-2`, 'PUT', { host: 'moved', port: 1 });
      const instances = await allInstances(first.url);
      const { body: health } = await call<{ index: number }>(`${first.url}/health`, 'GET');
      expect(await stop(first, 'SIGTERM')).toEqual({ code: 0, signal: null });
      return { instances, index: health.index };
    })();
    expect(before.instances.size).toBe(29);
    expect(before.index).toBe(33);

    await using second = await spawnRegistry(['--data-dir', dir.path]);
    const after = await allInstances(second.url);
    expect([...after.keys()]).toEqual([...before.instances.keys()]);
    for (const [key, instance] of before.instances) {
      // The heartbeat time is run-time state: a restored instance counts as heard from at the restart.
      expect({ ...after.get(key), lastHeartbeat: '' }, key).toEqual({ ...instance, lastHeartbeat: '' });
    }
    const { body: health } = await call<{ index: number; store: { kind: string } }>(`${second.url}/health`, 'GET');
    // The store is where --data-dir said.
    expect(health).toMatchObject({ index: 33, store: { kind: 'sqlite', location: join(dir.path, 'registry.db') } });
    const next = await call<Instance>(`${second.url}/v1/services/svc-0/instances/late`, 'PUT', { host: 'h', port: 1 });
    expect(next.body.modifyIndex).toBe(34);
  });

  it('gives restored leases a fresh full ttl: an instance whose ttl ran out while the registry was down stays', async () => {
    using dir = tempDir();
    const sweepFast = ['--data-dir', dir.path, '--lease-sweep-interval', '100ms'];
    const registeredAt = await (async () => {
      await using first = await spawnRegistry(sweepFast);
      // deregisterAfter equal to the ttl: a lease counted from before the restart would remove it at once.
      const body = { host: 'h', port: 1, ttl: '2s', deregisterAfter: '2s' };
      expect((await call(`${first.url}/v1/services/web/instances/w1`, 'PUT', body)).status).toBe(201);
      const at = Date.now();
      expect(await stop(first, 'SIGTERM')).toEqual({ code: 0, signal: null });
      return at;
    })();
    // Down for longer than the ttl (and the deregisterAfter).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, registeredAt + 2_300 - Date.now())));

    await using second = await spawnRegistry(sweepFast);
    const read = (): Promise<{ status: number; body: Instance }> =>
      call<Instance>(`${second.url}/v1/services/web/instances/w1`, 'GET');
    // A lease counted from before the restart would be removed by the first sweep, 100 ms after the start. The
    // instance must come through the next half second of sweeps passing.
    const listenedAt = Date.now();
    do {
      const { status, body } = await read();
      expect(status).toBe(200);
      expect(body.health).toBe('passing');
      await new Promise((resolve) => setTimeout(resolve, 50));
    } while (Date.now() - listenedAt < 500);
    // Its fresh lease still runs: without heartbeats it expires a ttl after the restart.
    let gone = false;
    while (!gone && Date.now() - listenedAt < 10_000) {
      gone = (await read()).status === 404;
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(gone).toBe(true);
  });
});

describe('durability', () => {
  // One data directory through three abrupt or hurried stops, each followed by a restart (a process start is the
  // slow part of these tests, so the cases share them).
  it('keeps every acknowledged registration through kill -9 after the last ack, kill -9 mid-stream and SIGTERM mid-stream', async () => {
    using dir = tempDir();
    const args = ['--data-dir', dir.path];
    const total = 2_000;

    // 1. SIGKILL the moment the last of 2,000 concurrent registrations is acknowledged.
    await using first = await spawnRegistry(args);
    const ackedBeforeKill = await registerMany(first.url, { from: 0, count: total }, (count) => {
      if (count === total) first.child.kill('SIGKILL');
    });
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(ackedBeforeKill).toHaveLength(total);

    // 2. Restart: all there. Then SIGKILL mid-stream, with writes in flight and more queued.
    await using second = await spawnRegistry(args);
    await expectAllPresent(second.url, ackedBeforeKill);
    const ackedMidKill = await registerMany(second.url, { from: total, count: total }, (count) => {
      if (count === 300) second.child.kill('SIGKILL');
    });
    expect((await second.exited).signal).toBe('SIGKILL');
    expect(ackedMidKill.length).toBeGreaterThanOrEqual(300);
    expect(ackedMidKill.length).toBeLessThan(total);

    // 3. Restart: every acknowledged one there. Then SIGTERM mid-stream: a clean exit that finishes what it took.
    await using third = await spawnRegistry(args);
    await expectAllPresent(third.url, [...ackedBeforeKill, ...ackedMidKill]);
    const ackedMidTerm = await registerMany(third.url, { from: 2 * total, count: total }, (count) => {
      if (count === 200) third.child.kill('SIGTERM');
    });
    expect(await third.exited).toEqual({ code: 0, signal: null });
    expect(ackedMidTerm.length).toBeGreaterThanOrEqual(200);

    await using fourth = await spawnRegistry(args);
    await expectAllPresent(fourth.url, [...ackedBeforeKill, ...ackedMidKill, ...ackedMidTerm]);
    const { body } = await call<{ index: number }>(`${fourth.url}/health`, 'GET');
    // Indexes continued upward across the crashes: at least one per acknowledged registration.
    expect(body.index).toBeGreaterThanOrEqual(total + ackedMidKill.length + ackedMidTerm.length);
  }, 90_000);
});

describe('serve', () => {
  it('refuses to start on a data directory another running registry holds, with a one-line message', async () => {
    using dir = tempDir();
    await using first = await spawnRegistry(['--data-dir', dir.path]);
    await call(`${first.url}/v1/services/web/instances/w1`, 'PUT', { host: 'h', port: 1 });

    const second = await runCli(['serve', '--port', '0', '--data-dir', dir.path]);
    expect(second.code).not.toBe(0);
    const message = second.stderr.trim();
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^switchboard: data directory .* is locked by another running registry/);
    expect(second.stdout).not.toMatch(/listening/);

    // The first one was not disturbed.
    expect((await call<Instance>(`${first.url}/v1/services/web/instances/w1`, 'GET')).status).toBe(200);
  });

  it('takes its options from a --config file', async () => {
    using dir = tempDir();
    const port = await freePort();
    const file = join(dir.path, 'switchboard.json');
    writeFileSync(file, JSON.stringify({ http: { port }, store: { kind: 'sqlite', dataDir: join(dir.path, 'data') } }));
    await using registry = await spawnRegistry(['--config', file], {}, { defaultFlags: false });
    expect(registry.url).toBe(`http://127.0.0.1:${port}`);
    const { body } = await call<{ store: { kind: string; location: string } }>(`${registry.url}/health`, 'GET');
    expect(body.store).toMatchObject({ kind: 'sqlite', location: join(dir.path, 'data', 'registry.db') });
  });

  it('takes SWITCHBOARD_PORT, SWITCHBOARD_DATA_DIR and SWITCHBOARD_STORE from the environment, over the config file', async () => {
    using dir = tempDir();
    const port = await freePort();
    const file = join(dir.path, 'switchboard.json');
    // Every key the environment sets is set otherwise in the file, so each must come from the environment.
    writeFileSync(
      file,
      JSON.stringify({ http: { port: 1 }, store: { kind: 'memory', dataDir: join(dir.path, 'from-file') } }),
    );
    const env = {
      SWITCHBOARD_PORT: String(port),
      SWITCHBOARD_DATA_DIR: join(dir.path, 'from-env'),
      SWITCHBOARD_STORE: 'sqlite',
    };
    await using registry = await spawnRegistry(['--config', file], env, { defaultFlags: false });
    expect(registry.url).toBe(`http://127.0.0.1:${port}`);
    const { body } = await call<{ store: { kind: string; location: string } }>(`${registry.url}/health`, 'GET');
    expect(body.store).toMatchObject({ kind: 'sqlite', location: join(dir.path, 'from-env', 'registry.db') });
  });
});
