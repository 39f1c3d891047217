import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { instancesOf, spawnAgent, until, writeDefinition } from '../fixtures/agent.js';
import { spawnRegistry } from '../fixtures/process.js';
import { tempDir } from '../fixtures/server.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

describe('switchboard agent: existing instances', () => {
  it('registers them with a lease it renews, and keeps them registered across a registry restart', async () => {
    using data = tempDir();
    using dir = tempDir();
    const port = await freePort();
    const args = ['--data-dir', data.path, '--port', String(port)];
    let registry = await spawnRegistry(args);
    const client = new RegistryClient({ url: registry.url });
    writeDefinition(dir.path, 'legacy.json', {
      service: 'legacy',
      ttl: '2s',
      fallback: 'sorry',
      tags: ['old'],
      instances: [
        { host: '127.0.0.1', port: 7001, id: 'legacy-a' },
        { host: '127.0.0.1', port: 7002, tags: ['new'], metadata: { owner: 'ops' } },
      ],
    });
    await using agent = await spawnAgent(['--config-dir', dir.path, '--registry', registry.url]);
    try {
      const instances = await until('both registered', async () => {
        const all = await instancesOf(client, 'legacy');
        return all.length === 2 ? all : undefined;
      });
      const byId = new Map(instances.map((instance) => [instance.id, instance]));
      expect(byId.get('legacy-a')).toMatchObject({ port: 7001, tags: ['old'], ttl: '2s' });
      expect(byId.get('legacy-a')?.metadata).toEqual({ 'switchboard.fallback': 'sorry' });
      expect(byId.get('127.0.0.1:7002')).toMatchObject({ tags: ['new'] });
      expect(byId.get('127.0.0.1:7002')?.metadata).toEqual({ owner: 'ops', 'switchboard.fallback': 'sorry' });

      // Three leases later, they are still there: the agent renews them.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const renewed = await instancesOf(client, 'legacy');
      expect(renewed.map((instance) => instance.health)).toEqual(['passing', 'passing']);

      registry.child.kill('SIGKILL');
      await registry.exited;
      registry = await spawnRegistry(args);
      // After the restart and more than a lease, both are registered and healthy again.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const back = await until('both back and passing', async () => {
        const all = await instancesOf(client, 'legacy');
        return all.length === 2 && all.every((instance) => instance.health === 'passing') ? all : undefined;
      });
      expect(back.map((instance) => instance.id).sort()).toEqual(['127.0.0.1:7002', 'legacy-a']);
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      await registry[Symbol.asyncDispose]();
    }
  });
});
