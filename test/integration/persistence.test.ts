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

async function call<T>(url: string, method: 'GET' | 'PUT' | 'DELETE', body?: unknown): Promise<{ status: number; body: T }> {
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
 * Fires `count` registrations at once (the client keeps 64 connections busy, so the server sees many writes
 * together) and resolves with the keys that were acknowledged with a 2xx. `onAck` runs as each acknowledgement
 * arrives; the other requests may fail (the server is killed under them).
 */
async function registerMany(url: string, count: number, onAck: (acked: number) => void = () => undefined): Promise<string[]> {
  const agent = new Agent({ connections: 64 });
  const acked: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
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

async function stop(registry: RegistryProcess, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
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
    expect(health).toMatchObject({ index: 33, store: { kind: 'sqlite' } });
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
    const restartedAt = Date.now();
    const read = (): Promise<{ status: number; body: Instance }> => call<Instance>(`${second.url}/v1/services/web/instances/w1`, 'GET');
    // Several sweeps run in the next half second; the instance must come through them all passing.
    for (let i = 0; i < 5; i++) {
      const { status, body } = await read();
      expect(status).toBe(200);
      expect(body.health).toBe('passing');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Its fresh lease still runs: without heartbeats it expires a ttl after the restart.
    let gone = false;
    while (!gone && Date.now() - restartedAt < 10_000) {
      gone = (await read()).status === 404;
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(gone).toBe(true);
    expect(Date.now() - restartedAt).toBeGreaterThanOrEqual(1_900);
  });
});

describe('durability under kill -9', () => {
  it('keeps every registration acknowledged before the process is killed the moment the last ack arrives', async () => {
    using dir = tempDir();
    const total = 2_000;
    const acked = await (async () => {
      await using first = await spawnRegistry(['--data-dir', dir.path, '--log-level', 'warn']);
      const keys = await registerMany(first.url, total, (count) => {
        if (count === total) first.child.kill('SIGKILL');
      });
      expect((await first.exited).signal).toBe('SIGKILL');
      return keys;
    })();
    expect(acked).toHaveLength(total);

    await using second = await spawnRegistry(['--data-dir', dir.path, '--log-level', 'warn']);
    await expectAllPresent(second.url, acked);
  });

  it('keeps every acknowledged registration when killed mid-stream', async () => {
    using dir = tempDir();
    const total = 2_000;
    const acked = await (async () => {
      await using first = await spawnRegistry(['--data-dir', dir.path, '--log-level', 'warn']);
      const keys = await registerMany(first.url, total, (count) => {
        if (count === 300) first.child.kill('SIGKILL');
      });
      expect((await first.exited).signal).toBe('SIGKILL');
      return keys;
    })();
    // Killed with writes in flight and more queued: some were acknowledged, many were not.
    expect(acked.length).toBeGreaterThanOrEqual(300);
    expect(acked.length).toBeLessThan(total);

    await using second = await spawnRegistry(['--data-dir', dir.path, '--log-level', 'warn']);
    await expectAllPresent(second.url, acked);
  });
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

  it('shuts down cleanly on SIGTERM with writes in flight: exit code 0 and every acknowledged write kept', async () => {
    using dir = tempDir();
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const acked = await (async () => {
      await using first = await spawnRegistry(['--data-dir', dir.path, '--log-level', 'warn']);
      const keys = await registerMany(first.url, 2_000, (count) => {
        if (count === 200) first.child.kill('SIGTERM');
      });
      exit = await first.exited;
      return keys;
    })();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(acked.length).toBeGreaterThanOrEqual(200);

    await using second = await spawnRegistry(['--data-dir', dir.path, '--log-level', 'warn']);
    await expectAllPresent(second.url, acked);
  });

  it('takes its options from flags', async () => {
    using dir = tempDir();
    const port = await freePort();
    await using registry = await spawnRegistry(
      ['--host', '127.0.0.1', '--port', String(port), '--data-dir', dir.path, '--store', 'sqlite', '--log-level', 'info'],
      {},
      { defaultFlags: false },
    );
    expect(registry.url).toBe(`http://127.0.0.1:${port}`);
    const { body } = await call<{ store: { kind: string; location: string } }>(`${registry.url}/health`, 'GET');
    expect(body.store).toMatchObject({ kind: 'sqlite', location: join(dir.path, 'registry.db') });
  });

  it('takes its options from SWITCHBOARD_PORT, SWITCHBOARD_DATA_DIR and SWITCHBOARD_STORE, below flags', async () => {
    using dir = tempDir();
    const port = await freePort();
    const env = { SWITCHBOARD_PORT: String(port), SWITCHBOARD_DATA_DIR: dir.path, SWITCHBOARD_STORE: 'sqlite' };
    {
      await using registry = await spawnRegistry([], env, { defaultFlags: false });
      expect(registry.url).toBe(`http://127.0.0.1:${port}`);
      const { body } = await call<{ store: { kind: string; location: string } }>(`${registry.url}/health`, 'GET');
      expect(body.store).toMatchObject({ kind: 'sqlite', location: join(dir.path, 'registry.db') });
    }
    // A flag wins over the environment.
    await using memory = await spawnRegistry(['--store', 'memory', '--port', '0'], env, { defaultFlags: false });
    expect(memory.url).not.toBe(`http://127.0.0.1:${port}`);
    const { body } = await call<{ store: { kind: string } }>(`${memory.url}/health`, 'GET');
    expect(body.store.kind).toBe('memory');
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

  it('refuses an invalid configuration with one line naming every bad option', async () => {
    const result = await runCli(['serve', '--port', 'eighty', '--store', 'postgres'], { SWITCHBOARD_LOG_LEVEL: 'loud' });
    expect(result.code).not.toBe(0);
    const message = result.stderr.trim();
    expect(message.split('\n')).toHaveLength(1);
    for (const part of ['--port', '--store', 'SWITCHBOARD_LOG_LEVEL']) expect(message).toContain(part);
  });
});
