import { describe, expect, it } from 'vitest';
import type { InstanceRecord, Store } from '../store/index.js';
import { recordOf } from '../store/store.contract.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { routePrefix } from '../wire/index.js';
import { createRegistry } from './registry.js';
import type { RegisterRequest, Registry } from './registry.js';

const open = (store: Store = heldStore()): Promise<Registry> =>
  createRegistry({ ...CORE_OPTIONS, store, autoSweep: false });

const instance = (service: string, id: string, url?: string): RegisterRequest => ({
  service,
  id,
  host: '10.0.0.1',
  port: 8080,
  ...(url === undefined ? {} : { url }),
});

describe('routePrefix', () => {
  it('reads a url as the gateway routes it: no query, fragment or trailing slash', () => {
    expect(routePrefix('/admin')).toBe('/admin');
    expect(routePrefix('/admin/')).toBe('/admin');
    expect(routePrefix('/admin//?x=1')).toBe('/admin');
    expect(routePrefix('/admin#top')).toBe('/admin');
    expect(routePrefix('/')).toBe('/');
    expect(routePrefix('//')).toBe('/');
    expect(routePrefix('/admin/x')).toBe('/admin/x');
    expect(routePrefix(undefined)).toBeUndefined();
    expect(routePrefix('admin')).toBeUndefined();
  });
});

describe('gateway prefixes have owners (issue #13)', () => {
  it("refuses PREFIX_TAKEN, naming the owner, when another service's instance routes the prefix", async () => {
    const registry = await open();
    await registry.register(instance('admin', 'a1', '/admin'));
    for (const url of ['/admin', '/admin/', '/admin?x=1']) {
      await expect(registry.register(instance('0pen', 'o1', url))).rejects.toMatchObject({
        code: 'PREFIX_TAKEN',
        message: expect.stringMatching(/^url \/admin is routed to service admin:/) as unknown,
      });
    }
    expect(registry.list('0pen', { status: 'any', health: 'any' }).instances).toEqual([]);
    await registry.close();
  });

  it('lets the owning service add instances and keep re-registering them', async () => {
    const registry = await open();
    await registry.register(instance('admin', 'a1', '/admin'));
    await registry.register(instance('admin', 'a2', '/admin/'));
    await registry.register(instance('admin', 'a1', '/admin'));
    expect(registry.list('admin').instances.map((i) => i.id)).toEqual(['a1', 'a2']);
    await registry.close();
  });

  it('counts an instance in any status, in maintenance, and frees the prefix once the last instance is gone', async () => {
    const registry = await open();
    await registry.register(instance('admin', 'a1', '/admin'));
    await registry.register(instance('admin', 'a2', '/admin'));
    await registry.setStatus('admin', 'a1', 'DOWN');
    await registry.setMaintenance('admin', 'a2', { enable: true, reason: 'drain' });
    await expect(registry.register(instance('0pen', 'o1', '/admin'))).rejects.toMatchObject({ code: 'PREFIX_TAKEN' });
    await registry.deregister('admin', 'a1');
    await expect(registry.register(instance('0pen', 'o1', '/admin'))).rejects.toMatchObject({ code: 'PREFIX_TAKEN' });
    await registry.deregister('admin', 'a2');
    await registry.register(instance('0pen', 'o1', '/admin'));
    await expect(registry.register(instance('admin', 'a1', '/admin'))).rejects.toMatchObject({
      code: 'PREFIX_TAKEN',
      message: expect.stringContaining('service 0pen') as unknown,
    });
    await registry.close();
  });

  it('frees the prefix when the last instance moves to another url, and refuses a move onto a taken one', async () => {
    const registry = await open();
    await registry.register(instance('admin', 'a1', '/admin'));
    await registry.register(instance('tickets', 't1', '/tickets'));
    await expect(registry.register(instance('tickets', 't1', '/admin'))).rejects.toMatchObject({
      code: 'PREFIX_TAKEN',
    });
    expect(registry.get('tickets', 't1').url).toBe('/tickets');
    await registry.register(instance('admin', 'a1', '/console'));
    await registry.register(instance('tickets', 't1', '/admin'));
    await registry.register(instance('other', 'x1', '/tickets'));
    await registry.close();
  });

  it('keeps nested prefixes separate: the longest prefix is a route of its own', async () => {
    const registry = await open();
    await registry.register(instance('tickets', 't1', '/tickets'));
    await registry.register(instance('tickets-admin', 'a1', '/tickets/admin'));
    await registry.register(instance('root', 'r1', '/'));
    await expect(registry.register(instance('other', 'o1', '/tickets/admin/'))).rejects.toMatchObject({
      code: 'PREFIX_TAKEN',
      message: expect.stringContaining('service tickets-admin') as unknown,
    });
    await registry.close();
  });

  it('lets exactly one of two services registering one free prefix at once have it', async () => {
    const store = heldStore();
    const registry = await open(store);
    store.hold();
    const first = registry.register(instance('admin', 'a1', '/admin'));
    const second = registry.register(instance('0pen', 'o1', '/admin'));
    const third = registry.register(instance('admin', 'a2', '/admin'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    await store.releaseAll();
    const results = await Promise.allSettled([first, second, third]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'PREFIX_TAKEN' });
    await registry.close();
  });

  it('keeps instances that already route a prefix two services share (stored before owners were kept)', async () => {
    const store = heldStore();
    for (const service of ['admin', '0pen']) {
      await store.write({ op: 'put', record: record(service, 'x1', '/admin'), ifIndex: 0 });
    }
    const registry = await open(store);
    // Each existing instance re-registers as before; no new instance of either joins the prefix.
    await registry.register(instance('admin', 'x1', '/admin'));
    await registry.register(instance('0pen', 'x1', '/admin'));
    await expect(registry.register(instance('admin', 'x2', '/admin'))).rejects.toMatchObject({
      code: 'PREFIX_TAKEN',
      message: expect.stringContaining('service 0pen') as unknown,
    });
    await registry.deregister('0pen', 'x1');
    await registry.register(instance('admin', 'x2', '/admin'));
    await registry.close();
  });
});

function record(service: string, id: string, url: string): InstanceRecord {
  return recordOf(service, id, { url });
}
