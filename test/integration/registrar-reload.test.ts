import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/sdk/index.js';
import { SERVICE_SCRIPT, alive, instancesOf, spawnAgent, until, writeDefinition } from '../fixtures/agent.js';
import { runCli } from '../fixtures/cli.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

function runDefinition(service: string, options: { min: number; tags?: string[] }): unknown {
  return {
    service,
    ...(options.tags ? { tags: options.tags } : {}),
    fallback: 'sorry',
    run: {
      command: process.execPath,
      args: ['-e', SERVICE_SCRIPT],
      instances: { min: options.min, max: 3 },
      drain: '0s',
      grace: '2s',
    },
  };
}

describe('switchboard agent: reloading definitions', () => {
  it('applies an edited definition without restarting the agent or its processes', async () => {
    await using server = await startTestServer();
    using dir = tempDir();
    const client = new RegistryClient({ url: server.url });
    writeDefinition(dir.path, 'web.json', runDefinition('web', { min: 1, tags: ['blue'] }));
    await using agent = await spawnAgent(['--config-dir', dir.path, '--registry', server.url]);
    const [first] = await until('web-1 registered', async () => {
      const instances = await instancesOf(client, 'web');
      return instances.length === 1 ? instances : undefined;
    });
    expect(first?.tags).toEqual(['blue']);
    expect(first?.metadata).toEqual({ 'switchboard.fallback': 'sorry' });
    const pid = (await agent.status()).services[0]?.instances[0]?.pid as number;

    writeDefinition(dir.path, 'web.json', runDefinition('web', { min: 2, tags: ['green'] }));
    const instances = await until('two green instances', async () => {
      const all = await instancesOf(client, 'web');
      return all.length === 2 && all.every((instance) => instance.tags.includes('green')) ? all : undefined;
    });
    expect(instances.map((instance) => instance.id).sort()).toEqual(['web-1', 'web-2']);
    const status = await agent.status();
    expect(status.services[0]?.instances.find((instance) => instance.id === 'web-1')?.pid).toBe(pid);
    expect(agent.child.exitCode).toBeNull();
  });

  it('reports a broken file, keeps the others (and its last good version) running, and stops a removed one', async () => {
    await using server = await startTestServer();
    using dir = tempDir();
    const client = new RegistryClient({ url: server.url });
    writeDefinition(dir.path, 'web.json', runDefinition('web', { min: 1 }));
    writeDefinition(dir.path, 'api.json', runDefinition('api', { min: 1 }));
    writeFileSync(join(dir.path, 'bad.yaml'), 'service: bad\nrun:\n  command: x\n  instances: {min: 3, max: 1}\n');
    await using agent = await spawnAgent(['--config-dir', dir.path, '--registry', server.url]);
    await until('web and api registered', async () =>
      (await instancesOf(client, 'web')).length === 1 && (await instancesOf(client, 'api')).length === 1
        ? true
        : undefined,
    );
    let status = await agent.status();
    expect(status.errors).toEqual([{ file: 'bad.yaml', error: 'run.instances: min (3) is more than max (1)' }]);
    expect(status.services.map((service) => service.service)).toEqual(['api', 'web']);

    // Break web.json: it keeps running as it was, and says why in the status and in `agent status`.
    writeFileSync(join(dir.path, 'web.json'), '{"service": "web", "run": {"command": 42}, "colour": "red"}');
    status = await until('web.json reported', async () => {
      const now = await agent.status();
      return now.errors.some((error) => error.file === 'web.json') ? now : undefined;
    });
    const webError = status.errors.find((error) => error.file === 'web.json')?.error ?? '';
    expect(webError).toContain('colour: ');
    expect(webError).toContain('run.command: ');
    expect(status.services.find((service) => service.service === 'web')?.fileError).toBe(webError);
    expect(await instancesOf(client, 'web')).toHaveLength(1);
    const printed = await runCli(['agent', 'status', '--status-url', agent.statusUrl]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^SERVICE\s+KIND\s+DESIRED\s+RUNNING\s+REGISTERED/);
    expect(printed.stdout).toMatch(/^web\s+run\s+1\s+1\s+1/m);
    expect(printed.stdout).toContain('file error: web.json: ');
    expect(printed.stdout).toContain('its last good version of web keeps running');

    // Remove api.json: its instance leaves the registry and its process stops.
    const apiPid = status.services.find((service) => service.service === 'api')?.instances[0]?.pid as number;
    rmSync(join(dir.path, 'api.json'));
    await until('api deregistered', async () => ((await instancesOf(client, 'api')).length === 0 ? true : undefined));
    await until('api process gone', () => Promise.resolve(alive(apiPid) ? undefined : true));
    expect((await agent.status()).services.map((service) => service.service)).toEqual(['web']);
    expect(await instancesOf(client, 'web')).toHaveLength(1);
  });
});
