/**
 * registerSelf in-process against a real registry on port 0 (issue #4). Signals are left alone here
 * (`handleSignals: false`); self-registration.test.ts covers them with real child processes.
 */
import { describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, NotFoundError, RegistryClient, registerSelf } from '../../src/sdk/index.js';
import type { AgentLogger, RegisterSelfOptions } from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';
import { freePort } from '../fixtures/tickets.js';

function recordingLogger(): AgentLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
  };
}

function options(registry: string | RegistryClient, extra: Partial<RegisterSelfOptions> = {}): RegisterSelfOptions {
  return {
    registry,
    service: 'tickets',
    host: '127.0.0.1',
    port: 3001,
    url: '/tickets',
    ttl: '1s',
    handleSignals: false,
    logger: recordingLogger(),
    ...extra,
  };
}

const eventually = { timeout: 10_000, interval: 50 };

describe('registerSelf', () => {
  it('registers UP at once under <host>:<port> and resolves whenRegistered with the stored instance', async () => {
    await using server = await startTestServer();
    await using agent = registerSelf(options(server.url));
    expect(agent.id).toBe('127.0.0.1:3001');
    const instance = await agent.whenRegistered();
    expect(instance).toMatchObject({
      service: 'tickets',
      id: '127.0.0.1:3001',
      status: 'UP',
      url: '/tickets',
      ttl: '1s',
    });
    expect(agent.registered).toBe(true);
  });

  it('registers STARTING with ready: false, and UP once ready() resolves', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await using agent = registerSelf(options(server.url, { ready: false, ttl: '30s' }));
    expect((await agent.whenRegistered()).status).toBe('STARTING');
    expect((await client.getService('tickets')).instances).toEqual([]);
    await agent.ready();
    expect((await client.getInstance('tickets', agent.id)).status).toBe('UP');
    await agent.ready(); // already UP: resolves at once
  });

  it('registers again when a heartbeat answers 404', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const logger = recordingLogger();
    await using agent = registerSelf(options(server.url, { logger }));
    const first = await agent.whenRegistered();
    await client.deregister('tickets', agent.id);
    const again = await vi.waitFor(() => client.getInstance('tickets', agent.id), eventually);
    expect(again.createIndex).toBeGreaterThan(first.createIndex);
    expect(logger.lines.join('\n')).toContain('no longer knows tickets/127.0.0.1:3001');
  });

  it('deregisters on stop(), and a second stop() is harmless', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const agent = registerSelf(options(server.url));
    await agent.whenRegistered();
    await agent.stop();
    await agent.stop();
    expect(agent.registered).toBe(false);
    await expect(client.getInstance('tickets', agent.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('registers once the registry comes up, and stop() before that neither hangs nor throws', async () => {
    const port = await freePort();
    const logger = recordingLogger();
    const agent = registerSelf(options(`http://127.0.0.1:${port}`, { logger }));
    await vi.waitFor(() => {
      expect(logger.lines.join('\n')).toContain('cannot reach the registry');
    }, eventually);
    await using server = await startTestServer({ http: { host: '127.0.0.1', port } });
    const instance = await agent.whenRegistered();
    expect(instance.id).toBe('127.0.0.1:3001');
    await agent.stop();
    expect((await new RegistryClient({ url: server.url }).getService('tickets')).instances).toEqual([]);

    const orphan = registerSelf(options(`http://127.0.0.1:${await freePort()}`, { stopTimeout: '300ms' }));
    await orphan.stop();
    await expect(orphan.whenRegistered()).rejects.toThrow('stopped before it could register');
  });

  it('gives up, without throwing at the service, when the registry refuses the registration', async () => {
    await using server = await startTestServer();
    const logger = recordingLogger();
    await using agent = registerSelf(options(server.url, { logger, metadata: { note: 'x'.repeat(10_000) } }));
    await expect(agent.whenRegistered()).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(logger.lines.join('\n')).toContain('the agent gives up');
  });

  it('works with a client that fails over between several registry nodes', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ urls: [`http://127.0.0.1:${await freePort()}`, server.url] });
    await using agent = registerSelf(options(client, { id: 'tickets-a' }));
    expect((await agent.whenRegistered()).id).toBe('tickets-a');
  });

  it('throws InvalidArgumentError at once for options that can never work', () => {
    const url = 'http://127.0.0.1:8900';
    expect(() => registerSelf(options(url, { port: 0 }))).toThrow(InvalidArgumentError);
    expect(() => registerSelf(options(url, { service: 'no spaces' }))).toThrow(InvalidArgumentError);
    expect(() => registerSelf(options(url, { ttl: '500ms' }))).toThrow(InvalidArgumentError);
    expect(() => registerSelf(options(url, { ttl: 'soon' }))).toThrow(InvalidArgumentError);
    expect(() => registerSelf(options(url, { id: '/bad' }))).toThrow(InvalidArgumentError);
    expect(() => registerSelf(options('localhost:8900'))).toThrow(InvalidArgumentError);
  });
});
