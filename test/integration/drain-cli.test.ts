import { describe, expect, it } from 'vitest';
import { RegistryClient, registerSelf } from '../../src/sdk/index.js';
import { runCli } from '../fixtures/cli.js';
import { startTestServer } from '../fixtures/server.js';

describe('switchboard drain and registerSelf (issue #19)', () => {
  it('drains from the CLI: the instance leaves discovery, exit 0 when no subscriber is behind', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'tickets', id: 'tickets-1', host: '127.0.0.1', port: 3001 });
    const result = await runCli(['drain', '--service', 'tickets', '--id', 'tickets-1', '--wait', '2s', '--json'], {
      SWITCHBOARD_REGISTRY: server.url,
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ service: 'tickets', id: 'tickets-1', complete: true });
    expect((await client.getService('tickets')).instances).toEqual([]);
    const missing = await runCli(['drain', '--service', 'tickets', '--id', 'nope'], {
      SWITCHBOARD_REGISTRY: server.url,
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope');
  }, 30_000);

  it('registerSelf drains before it deregisters when stopped', async () => {
    await using server = await startTestServer();
    const seen: string[] = [];
    const unwatch = server.registry.watch('web', (change) => {
      seen.push(
        change.type === 'status' || change.type === 'health'
          ? `${change.type}:${change.instance.maintenance?.reason ?? ''}`
          : change.type,
      );
    });
    const agent = registerSelf({
      registry: server.url,
      service: 'web',
      port: 4100,
      handleSignals: false,
      logger: { info: () => undefined, warn: () => undefined },
    });
    await agent.whenRegistered();
    await agent.stop();
    unwatch();
    expect(seen[0]).toBe('registered');
    expect(seen.slice(1).some((s) => s.endsWith(':draining'))).toBe(true);
    expect(seen[seen.length - 1]).toBe('deregistered');
  }, 30_000);
});
