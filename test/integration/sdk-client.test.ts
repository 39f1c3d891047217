/** The SDK's RegistryClient against a real registry on port 0 (issue #4). */
import { describe, expect, it } from 'vitest';
import {
  ExistingServiceError,
  InvalidArgumentError,
  NotFoundError,
  RegistryClient,
  UnavailableError,
} from '../../src/sdk/index.js';
import { startTestServer } from '../fixtures/server.js';
import { freePort } from '../fixtures/tickets.js';

const tickets = { service: 'tickets', host: '127.0.0.1', port: 3001, url: '/tickets' };

describe('RegistryClient', () => {
  it('registers, reads, renews, sets the status of and deregisters an instance', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const stored = await client.register({
      ...tickets,
      id: 't1',
      endpoints: [{ type: 'http', url: 'http://127.0.0.1:3001/tickets' }],
      authorizedRoles: ['tickets-query'],
      ttl: '30s',
    });
    expect(stored).toMatchObject({
      service: 'tickets',
      id: 't1',
      status: 'UP',
      ttl: '30s',
      authorizedRoles: ['tickets-query'],
    });
    expect(await client.getInstance('tickets', 't1')).toMatchObject({ id: 't1', port: 3001 });
    expect(await client.heartbeat('tickets', 't1')).toMatchObject({ id: 't1', health: 'passing' });
    expect(await client.setStatus('tickets', 't1', 'OUT_OF_SERVICE')).toMatchObject({ status: 'OUT_OF_SERVICE' });
    const answer = await client.getService('tickets', { status: 'any' });
    expect(answer).toMatchObject({ name: 'tickets', instances: [{ id: 't1' }] });
    expect(answer.index).toBeGreaterThan(0);
    expect((await client.getService('tickets')).instances).toEqual([]);
    expect(await client.deregister('tickets', 't1')).toMatchObject({ id: 't1' });
    expect((await client.listServices()).services).toEqual([]);
  });

  it('makes up an id when none is given', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const a = await client.register(tickets);
    const b = await client.register(tickets);
    expect(a.id).not.toBe(b.id);
    expect((await client.getService('tickets')).instances).toHaveLength(2);
  });

  it('refuses an exclusive registration of an id that exists with ExistingServiceError', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await client.register({ ...tickets, id: 't1' }, { exclusive: true });
    const err: unknown = await client
      .register({ ...tickets, id: 't1', port: 3002 }, { exclusive: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExistingServiceError);
    expect(err).toMatchObject({ code: 'ALREADY_EXISTS' });
    // The refused registration changed nothing; a plain one updates.
    expect((await client.getInstance('tickets', 't1')).port).toBe(3001);
    expect((await client.register({ ...tickets, id: 't1', port: 3002 })).port).toBe(3002);
  });

  it('lets exactly one of several racing exclusive registrations of one id win', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((n) => client.register({ ...tickets, id: 'race', port: 3000 + n }, { exclusive: true })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost) expect(r.reason).toBeInstanceOf(ExistingServiceError);
  });

  it('answers NotFoundError for an unknown instance, with the server code', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const call of [
      () => client.deregister('tickets', 'nope'),
      () => client.heartbeat('tickets', 'nope'),
      () => client.setStatus('tickets', 'nope', 'DOWN'),
      () => client.getInstance('tickets', 'nope'),
    ]) {
      const err: unknown = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err).toMatchObject({ code: 'NOT_FOUND', name: 'NotFoundError' });
    }
  });

  it('answers InvalidArgumentError for a registration the registry refuses', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    await expect(client.register({ ...tickets, port: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.register({ ...tickets, service: 'no spaces' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('refuses a registry address that is not an http(s) URL up front', () => {
    expect(() => new RegistryClient({ url: '127.0.0.1:8900' })).toThrow(InvalidArgumentError);
    expect(() => new RegistryClient({ urls: [] })).toThrow(InvalidArgumentError);
  });

  it('fails over to the next registry node when one cannot be reached', async () => {
    await using server = await startTestServer();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const client = new RegistryClient({ urls: [dead, server.url] });
    await client.register({ ...tickets, id: 't1' });
    expect(client.url).toBe(server.url);
    expect((await client.getService('tickets')).instances).toHaveLength(1);
  });

  it('answers UnavailableError when no node can be reached', async () => {
    const client = new RegistryClient({ urls: [`http://127.0.0.1:${await freePort()}`], timeoutMs: 2_000 });
    const err: unknown = await client.listServices().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('walks every instance of every service through the paginated traversal', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const service of ['a', 'b', 'c']) {
      for (let i = 0; i < 4; i++)
        await client.register({ service, id: `${service}${i}`, host: '127.0.0.1', port: 4000 + i });
    }
    const seen: string[] = [];
    for await (const instance of client.instances({ pageSize: 5 })) seen.push(`${instance.service}/${instance.id}`);
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
    expect(seen[0]).toBe('a/a0');
  });
});
