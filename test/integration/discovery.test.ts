import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Discovery, RegistryClient } from '../../src/sdk/index.js';
import type { DiscoveryChange } from '../../src/sdk/index.js';
import { startTestServer, tempDir } from '../fixtures/server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `predicate` holds (polled; generous timeout). */
async function eventually(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

/** Counts how often each instance id comes up in `n` picks. */
async function tally(discovery: Discovery, service: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { id } = await discovery.pick(service);
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

/** An HTTP backend on a free port that answers its name. */
async function backend(name: string): Promise<{ server: Server; port: number } & AsyncDisposable> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    server,
    port,
    [Symbol.asyncDispose]: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const { server, port } = await backend('gone');
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Discovery', () => {
  it('round-robins over the healthy instances only', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const id of ['a', 'b', 'c']) await client.register({ service: 'web', id, host: '127.0.0.1', port: 9000 });
    await client.register({ service: 'web', id: 'down', host: '127.0.0.1', port: 9000, status: 'DOWN' });
    using discovery = new Discovery(client);
    expect((await discovery.all('web')).map((i) => i.id)).toEqual(['a', 'b', 'c']);
    expect(await tally(discovery, 'web', 300)).toEqual({ a: 100, b: 100, c: 100 });
    expect(discovery.stale).toBe(false);
  });

  it('spreads weighted picks by weight, and random picks roughly evenly', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    const weights = { a: 1, b: 2, c: 7 };
    for (const [id, weight] of Object.entries(weights))
      await client.register({ service: 'web', id, host: '127.0.0.1', port: 9000, weight });
    using weighted = new Discovery(client, { strategy: 'weighted' });
    const counts = await tally(weighted, 'web', 2_000);
    for (const [id, weight] of Object.entries(weights)) {
      expect(Math.abs((counts[id] ?? 0) / 2_000 - weight / 10)).toBeLessThan(0.03);
    }
    using random = new Discovery(client, { strategy: 'random' });
    const spread = await tally(random, 'web', 3_000);
    for (const id of Object.keys(weights)) {
      expect(spread[id]).toBeGreaterThan(700);
      expect(spread[id]).toBeLessThan(1_300);
    }
  });

  it('sends least-outstanding picks to the instance with the fewest calls in flight', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const id of ['a', 'b', 'c']) await client.register({ service: 'web', id, host: '127.0.0.1', port: 9000 });
    using discovery = new Discovery(client, { strategy: 'least-outstanding' });
    const first = await discovery.pick('web');
    const second = await discovery.pick('web');
    const third = await discovery.pick('web');
    expect(new Set([first.id, second.id, third.id]).size).toBe(3);
    discovery.release(second);
    // Only `second` is idle now.
    expect((await discovery.pick('web')).id).toBe(second.id);
    for (const instance of [first, second, third]) discovery.release(instance);
    // A wrapped call counts as outstanding until it settles.
    let busy = '';
    let finish = (): void => undefined;
    const slow = discovery.call('web', (instance) => {
      busy = instance.id;
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    await eventually(() => busy !== '', 'the wrapped call started');
    const others = [await discovery.pick('web'), await discovery.pick('web')].map((i) => i.id);
    expect(others).not.toContain(busy);
    finish();
    await slow;
    expect((await discovery.pick('web')).id).toBe(busy);
  });

  it('drops an instance as soon as it is deregistered, and tells its listeners', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const id of ['a', 'b']) await client.register({ service: 'web', id, host: '127.0.0.1', port: 9000 });
    using discovery = new Discovery(client);
    const changes: DiscoveryChange[] = [];
    discovery.on('change', (change) => changes.push(change));
    expect(await discovery.all('web')).toHaveLength(2);
    const started = performance.now();
    await client.deregister('web', 'a');
    await eventually(() => changes.some((c) => c.instances.length === 1), 'the deregistration reached discovery');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect((await discovery.all('web')).map((i) => i.id)).toEqual(['b']);
    for (let i = 0; i < 10; i++) expect((await discovery.pick('web')).id).toBe('b');
    await client.setStatus('web', 'b', 'OUT_OF_SERVICE');
    await eventually(() => changes.at(-1)?.instances.length === 0, 'the status change reached discovery');
    await expect(discovery.pick('web')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('keeps serving the last instances while the registry is stopped, flagged stale, and catches up after', async () => {
    using dir = tempDir();
    const config = { store: { kind: 'sqlite' as const, dataDir: dir.path } };
    const first = await startTestServer(config);
    const client = new RegistryClient({ url: first.url });
    for (const id of ['a', 'b']) await client.register({ service: 'web', id, host: '127.0.0.1', port: 9000 });
    using discovery = new Discovery(client);
    const changes: DiscoveryChange[] = [];
    discovery.on('change', (change) => changes.push(change));
    expect(await discovery.all('web')).toHaveLength(2);
    await first.close();
    await eventually(() => discovery.stale, 'discovery noticed the registry is gone');
    expect(changes.at(-1)).toMatchObject({ service: 'web', stale: true });
    expect((await discovery.all('web')).map((i) => i.id)).toEqual(['a', 'b']);
    expect(['a', 'b']).toContain((await discovery.pick('web')).id);
    // The registry comes back on the same address; discovery reconnects and follows changes again.
    await using second = await startTestServer({ ...config, http: { host: '127.0.0.1', port: first.port } });
    await client.register({ service: 'web', id: 'c', host: '127.0.0.1', port: 9000 });
    await eventually(() => !discovery.stale && changes.at(-1)?.instances.length === 3, 'discovery caught up');
    expect(second.port).toBe(first.port);
  });

  it('fails fast when the registry cannot be reached and nothing is known yet', async () => {
    const client = new RegistryClient({ url: `http://127.0.0.1:${await deadPort()}`, timeoutMs: 2_000 });
    using discovery = new Discovery(client);
    await expect(discovery.pick('web')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(discovery.all('web')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('fetch retries an idempotent request once on another instance and skips the failed one for a while', async () => {
    await using server = await startTestServer();
    await using good = await backend('good');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'a-dead', host: '127.0.0.1', port: await deadPort() });
    await client.register({ service: 'web', id: 'b-good', host: '127.0.0.1', port: good.port });
    using discovery = new Discovery(client, { coolDownMs: 60_000 });
    // Round-robin starts with a-dead: the GET fails there, and is retried on b-good.
    const response = await discovery.fetch('web', '/hello');
    expect(await response.text()).toBe('good');
    // a-dead is cooling down: every pick now goes to b-good.
    const picked = new Set<string>();
    for (let i = 0; i < 6; i++) picked.add((await discovery.pick('web')).id);
    expect([...picked]).toEqual(['b-good']);
  });

  it('fetch does not retry a request that is not idempotent', async () => {
    await using server = await startTestServer();
    await using good = await backend('good');
    const client = new RegistryClient({ url: server.url });
    await client.register({ service: 'web', id: 'a-dead', host: '127.0.0.1', port: await deadPort() });
    await client.register({ service: 'web', id: 'b-good', host: '127.0.0.1', port: good.port });
    using discovery = new Discovery(client);
    await expect(discovery.fetch('web', '/orders', { method: 'POST', body: '{}' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    // The next call skips a-dead.
    const response = await discovery.fetch('web', '/orders', { method: 'POST', body: '{}' });
    expect(await response.text()).toBe('good');
  });

  it('leaves out an instance in maintenance', async () => {
    await using server = await startTestServer();
    const client = new RegistryClient({ url: server.url });
    for (const id of ['a', 'b']) await client.register({ service: 'web', id, host: '127.0.0.1', port: 9000 });
    using discovery = new Discovery(client);
    const changes: DiscoveryChange[] = [];
    discovery.on('change', (change) => changes.push(change));
    expect(await discovery.all('web')).toHaveLength(2);
    await client.setMaintenance('web', 'a', { enable: true, reason: 'draining' });
    await eventually(() => changes.at(-1)?.instances.length === 1, 'maintenance reached discovery');
    expect((await discovery.all('web')).map((i) => i.id)).toEqual(['b']);
  });
});
