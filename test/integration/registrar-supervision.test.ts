import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { SERVICE_SCRIPT, alive, instancesOf, spawnAgent, until, writeDefinition } from '../fixtures/agent.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

/** A supervised service whose check the registry runs every second and fails on the first miss. */
function webDefinition(min: number, max = 3): unknown {
  return {
    service: 'web',
    url: '/web',
    ttl: '5s',
    check: { http: 'http://${HOST}:${PORT}/health', interval: '1s', failuresBefore: 1 },
    run: {
      command: process.execPath,
      args: ['-e', SERVICE_SCRIPT],
      instances: { min, max },
      drain: '0s',
      grace: '2s',
    },
  };
}

describe('switchboard agent: supervision', () => {
  it('starts min processes, registers them once ready, and restarts and re-registers one killed with -9', async () => {
    await using server = await startTestServer();
    using dir = tempDir();
    const client = new RegistryClient({ url: server.url });
    writeDefinition(dir.path, 'web.json', webDefinition(2));
    await using agent = await spawnAgent(['--config-dir', dir.path, '--registry', server.url]);

    const first = await until('two registered instances', async () => {
      const instances = await instancesOf(client, 'web');
      return instances.length === 2 ? instances : undefined;
    });
    expect(first.map((instance) => instance.id).sort()).toEqual(['web-1', 'web-2']);
    expect(first.every((instance) => instance.url === '/web' && instance.checks?.length === 1)).toBe(true);
    const status = await agent.status();
    const web = status.services.find((service) => service.service === 'web');
    expect(web).toMatchObject({ kind: 'run', desired: 2, running: 2, registered: 2 });
    const victim = web?.instances.find((instance) => instance.id === 'web-1');
    const victimPid = victim?.pid as number;
    const victimPort = victim?.port as number;
    expect(first.find((instance) => instance.id === 'web-1')?.port).toBe(victimPort);

    process.kill(victimPid, 'SIGKILL');
    const killedAt = Date.now();
    // The registry must drop the dead process within its check's interval plus its threshold (1 s + 1 miss).
    let listedDeadUntil = killedAt;
    const restarted = await until('web-1 restarted and registered', async () => {
      const instances = await instancesOf(client, 'web');
      const one = instances.find((instance) => instance.id === 'web-1');
      if (one?.port === victimPort) listedDeadUntil = Date.now();
      return one && one.port !== victimPort ? one : undefined;
    });
    expect(listedDeadUntil - killedAt).toBeLessThan(2_000);
    expect(restarted.status).toBe('UP');
    const after = await agent.status();
    const webAfter = after.services.find((service) => service.service === 'web');
    expect(webAfter?.lastRestart).toMatchObject({ instance: 'web-1', reason: 'killed by SIGKILL' });
    expect(webAfter?.instances.find((instance) => instance.id === 'web-1')?.pid).not.toBe(victimPid);
    expect(alive(victimPid)).toBe(false);
  });

  it('deregisters everything and leaves no process behind when the agent gets SIGTERM', async () => {
    await using server = await startTestServer();
    using dir = tempDir();
    const client = new RegistryClient({ url: server.url });
    writeDefinition(dir.path, 'web.json', webDefinition(2));
    writeDefinition(dir.path, 'legacy.yaml', { service: 'legacy', instances: [{ host: '127.0.0.1', port: 7001 }] });
    await using agent = await spawnAgent(['--config-dir', dir.path, '--registry', server.url]);
    await until('web and legacy registered', async () =>
      (await instancesOf(client, 'web')).length === 2 && (await instancesOf(client, 'legacy')).length === 1
        ? true
        : undefined,
    );
    const pids = (await agent.status()).services.flatMap((service) =>
      service.instances.flatMap((instance) => (instance.pid === undefined ? [] : [instance.pid])),
    );
    expect(pids).toHaveLength(2);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(await instancesOf(client, 'web')).toEqual([]);
    expect(await instancesOf(client, 'legacy')).toEqual([]);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(agent.output()).toContain('web-1: stopped');
  });
});
