import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import type { ChangeEvent, ChangeType } from '../wire/index.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { ManualClock } from './clock.js';
import { createRegistry } from './registry.js';
import type { Registry, RegisterRequest } from './registry.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';

const TTL_MS = 10_000;

interface Harness {
  registry: Registry;
  clock: ManualClock;
  store: ReturnType<typeof heldStore>;
  changes: ChangeEvent[];
  /** Moves the clock and runs one sweep. */
  tick(ms: number): Promise<void>;
  types(): ChangeType[];
}

async function harness(options: { store?: ReturnType<typeof heldStore>; clock?: ManualClock } = {}): Promise<Harness> {
  const clock = options.clock ?? new ManualClock();
  const store = options.store ?? heldStore();
  const registry = await createRegistry({
    ...CORE_OPTIONS,
    store,
    clock,
    autoSweep: false,
    leases: { ...CORE_OPTIONS.leases, sweepIntervalMs: 1_000 },
  });
  const changes: ChangeEvent[] = [];
  registry.watch(undefined, (change) => changes.push(change));
  return {
    registry,
    clock,
    store,
    changes,
    tick: async (ms) => {
      clock.advance(ms);
      await registry.sweep();
    },
    types: () => changes.map((c) => c.type),
  };
}

function web(id: string, extra: Partial<RegisterRequest> = {}): RegisterRequest {
  return { service: 'web', id, host: '10.0.0.1', port: 8080, ...extra };
}

/** What discovery answers by default, and what it answers with `?health=any`. */
const discoverable = (registry: Registry, service = 'web'): string[] =>
  registry.list(service).instances.map((i) => i.id);
const present = (registry: Registry, service = 'web'): string[] =>
  registry.list(service, { status: 'any', health: 'any' }).instances.map((i) => i.id);

describe('Registry leases', () => {
  it('turns a leased instance critical once its ttl has passed since the last heartbeat, and not before', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s' }));
    await h.tick(TTL_MS - 1);
    expect(h.registry.get('web', 'w1').health).toBe('passing');
    expect(discoverable(h.registry)).toEqual(['w1']);
    const before = h.registry.index;

    await h.tick(1);
    expect(h.registry.get('web', 'w1').health).toBe('critical');
    expect(discoverable(h.registry)).toEqual([]);
    expect(present(h.registry)).toEqual(['w1']);
    expect(h.types()).toEqual(['registered', 'health']);
    expect(h.changes[1]?.index).toBe(before + 1);
    expect(h.registry.index).toBe(before + 1);
  });

  it('removes a lapsed instance with an expired change after 3 × ttl by default', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s' }));
    await h.tick(TTL_MS);
    await h.tick(2 * TTL_MS - 1);
    expect(present(h.registry)).toEqual(['w1']);
    await h.tick(1);
    expect(present(h.registry)).toEqual([]);
    expect(h.types()).toEqual(['registered', 'health', 'expired']);
    expect(() => h.registry.get('web', 'w1')).toThrow(RegistryError);
    expect((await h.store.records()).size).toBe(0);
  });

  it('removes a lapsed instance after its own deregisterAfter', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: 10, deregisterAfter: '15s' }));
    await h.registry.register(web('w2', { ttl: 10 }));
    await h.tick(15_000 - 1);
    expect(present(h.registry)).toEqual(['w1', 'w2']);
    await h.tick(1);
    expect(present(h.registry)).toEqual(['w2']);
    expect(h.changes.filter((c) => c.type === 'expired').map((c) => c.instance.id)).toEqual(['w1']);
  });

  it('expires an instance whose deregisterAfter equals its ttl without a critical phase', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s', deregisterAfter: '10s' }));
    await h.tick(TTL_MS - 1);
    expect(present(h.registry)).toEqual(['w1']);
    await h.tick(1);
    expect(present(h.registry)).toEqual([]);
    expect(h.types()).toEqual(['registered', 'expired']);
  });

  it('keeps an instance without a ttl however long it stays silent', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    await h.tick(30 * 24 * 3_600_000);
    expect(h.registry.get('web', 'w1').health).toBe('passing');
    expect(h.types()).toEqual(['registered']);
  });

  it('keeps a heartbeating instance passing and writes nothing for its heartbeats', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s' }));
    const index = h.registry.index;
    for (let i = 0; i < 20; i++) {
      await h.tick(TTL_MS - 1);
      const renewed = await h.registry.renew('web', 'w1');
      expect(renewed.lastHeartbeat).toBe(new Date(h.clock.now()).toISOString());
    }
    expect(h.registry.get('web', 'w1').health).toBe('passing');
    expect(h.registry.index).toBe(index);
    expect(h.types()).toEqual(['registered']);
  });

  it('revives a critical instance on a heartbeat with a health change, then lapses it one ttl later', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s' }));
    await h.tick(TTL_MS);
    expect(h.registry.get('web', 'w1').health).toBe('critical');
    await h.tick(1_000);

    const revived = await h.registry.renew('web', 'w1');
    expect(revived.health).toBe('passing');
    expect(discoverable(h.registry)).toEqual(['w1']);
    expect(h.types()).toEqual(['registered', 'health', 'health']);
    expect(h.changes[2]?.instance.health).toBe('passing');
    expect(h.changes[2]?.index).toBe(h.registry.index);

    // The lease runs from the reviving heartbeat: silent again, it lapses after one ttl, not later.
    await h.tick(TTL_MS - 1);
    expect(h.registry.get('web', 'w1').health).toBe('passing');
    await h.tick(1);
    expect(h.registry.get('web', 'w1').health).toBe('critical');
    await h.tick(2 * TTL_MS);
    expect(present(h.registry)).toEqual([]);
  });

  it('lapses on the new, shorter ttl after a re-registration shortens it', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '1h' }));
    await h.tick(1_000);
    await h.registry.register(web('w1', { ttl: '10s' }));
    await h.tick(TTL_MS);
    expect(h.registry.get('web', 'w1').health).toBe('critical');
  });

  it('gives every restored lease a fresh full ttl, however long the registry was down', async () => {
    const store = heldStore();
    const clock = new ManualClock();
    const first = await harness({ store, clock });
    await first.registry.register(web('w1', { ttl: '10s' }));
    await first.registry.register(web('w2'));
    await first.registry.close();

    clock.advance(10 * 60_000); // down for ten minutes: far past the ttl and 3 × ttl
    const second = await harness({ store, clock });
    await second.registry.sweep();
    expect(second.registry.get('web', 'w1').health).toBe('passing');
    expect(second.registry.get('web', 'w1').lastHeartbeat).toBe(new Date(clock.now()).toISOString());
    await second.tick(TTL_MS - 1);
    expect(discoverable(second.registry)).toEqual(['w1', 'w2']);
    await second.tick(1);
    expect(discoverable(second.registry)).toEqual(['w2']);
    expect(second.types()).toEqual(['health']);
  });
});

describe('signs of life racing a sweep write (issue #10)', () => {
  const request: RegisterRequest = { service: 'web', id: 'w1', host: '10.0.0.1', port: 8080, ttl: '10s' };

  it('keeps a lease live when a heartbeat arrives while the sweep is writing its lapse', async () => {
    const h = await harness();
    await h.registry.register(request);
    h.store.hold();
    h.clock.advance(TTL_MS);
    const sweep = h.registry.sweep(); // the lease is due: its lapse is being written
    const renewed = h.registry.renew('web', 'w1');
    await h.store.releaseAll();
    await sweep;
    // The heartbeat waited for the lapse and revived the lease: stored and served live.
    expect((await renewed).health).toBe('passing');
    expect(h.registry.get('web', 'w1').health).toBe('passing');
    expect((await h.store.records()).get('web/w1')?.health).toBeUndefined();
  });

  it('keeps an instance registered again while the sweep is writing its expiry', async () => {
    const h = await harness();
    await h.registry.register(request);
    h.store.hold();
    // No sweep ran meanwhile (a stalled process): past 3 × ttl at once, so the lease expires without a lapse first
    // and an identical registration writes nothing the delete could be refused over.
    h.clock.advance(3 * TTL_MS);
    const sweep = h.registry.sweep(); // its delete is being written
    const registered = h.registry.register(request);
    await h.store.releaseAll();
    await sweep;
    expect(await registered).toMatchObject({ created: true, instance: { health: 'passing' } });
    expect(h.registry.get('web', 'w1').health).toBe('passing');
    expect((await h.store.records()).has('web/w1')).toBe(true);
  });
});

describe('Registry changes', () => {
  it('answers 201-style created on the first registration and an update on the next', async () => {
    const h = await harness();
    const first = await h.registry.register(web('w1'));
    const second = await h.registry.register(web('w1', { port: 8081 }));
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.instance).toMatchObject({ port: 8081, createIndex: 1, modifyIndex: 2 });
    expect(second.instance.registeredAt).toBe(first.instance.registeredAt);
    expect(h.types()).toEqual(['registered', 'updated']);
  });

  it('does not count an identical re-registration as a change', async () => {
    const h = await harness();
    const body = web('w1', { tags: ['b', 'a'], metadata: { z: '1', a: '2' }, ttl: '10s' });
    await h.registry.register(body);
    const index = h.registry.index;
    h.clock.advance(5_000);
    // The same content in another key order and duration spelling is the same registration.
    const again = await h.registry.register(web('w1', { metadata: { a: '2', z: '1' }, tags: ['b', 'a'], ttl: 10 }));
    expect(again.created).toBe(false);
    expect(again.instance.modifyIndex).toBe(index);
    expect(h.registry.index).toBe(index);
    expect(h.registry.serviceIndex('web')).toBe(index);
    expect(h.types()).toEqual(['registered']);
    // It still counts as a sign of life.
    expect(again.instance.lastHeartbeat).toBe(new Date(h.clock.now()).toISOString());
  });

  it('tells an update from a status-only change', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    await h.registry.register(web('w1', { status: 'DOWN' }));
    await h.registry.register(web('w1', { status: 'DOWN', tags: ['canary'] }));
    await h.registry.register(web('w1', { status: 'UP', tags: ['stable'] }));
    await h.registry.setStatus('web', 'w1', 'OUT_OF_SERVICE');
    await h.registry.setStatus('web', 'w1', 'OUT_OF_SERVICE'); // the same status: no change
    await h.registry.deregister('web', 'w1');
    expect(h.types()).toEqual(['registered', 'status', 'updated', 'updated', 'status', 'deregistered']);
    expect(h.changes[4]?.instance.status).toBe('OUT_OF_SERVICE');
  });

  it('advances one global index per change and each service index with its own changes', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    await h.registry.register({ service: 'db', id: 'd1', host: '10.0.0.9', port: 5432, ttl: '10s' });
    await h.registry.register(web('w1', { port: 9090 }));
    await h.registry.setStatus('db', 'd1', 'DOWN');
    await h.tick(TTL_MS);
    await h.registry.renew('db', 'd1');
    await h.registry.deregister('web', 'w1');

    expect(h.changes.map((c) => c.index)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(h.changes.map((c) => `${c.service}:${c.type}`)).toEqual([
      'web:registered',
      'db:registered',
      'web:updated',
      'db:status',
      'db:health',
      'db:health',
      'web:deregistered',
    ]);
    for (const change of h.changes) expect(change.instance.modifyIndex).toBe(change.index);
    expect(h.registry.index).toBe(7);
    expect(h.registry.serviceIndex('db')).toBe(6);
    // An emptied service keeps its index, so a watcher of it sees the removal.
    expect(h.registry.serviceIndex('web')).toBe(7);
    expect(h.registry.list('web')).toEqual({ index: 7, instances: [] });
    expect(h.registry.list('db', { status: 'any' }).index).toBe(6);
    expect(h.registry.serviceIndex('never')).toBe(0);
    expect(h.registry.changesSince(4)?.map((c) => c.index)).toEqual([5, 6, 7]);
    expect(h.registry.changesSince(0, 'db')?.map((c) => c.index)).toEqual([2, 4, 5, 6]);
    expect(h.registry.get('db', 'd1')).toMatchObject({ createIndex: 2, modifyIndex: 6 });
  });

  it('tells service watchers only of their service, in index order', async () => {
    const h = await harness();
    const seen: number[] = [];
    const stop = h.registry.watch('db', (change) => seen.push(change.index));
    await h.registry.register(web('w1'));
    await h.registry.register({ service: 'db', id: 'd1', host: 'h', port: 1 });
    await h.registry.register({ service: 'db', id: 'd2', host: 'h', port: 1 });
    stop();
    await h.registry.register({ service: 'db', id: 'd3', host: 'h', port: 1 });
    expect(seen).toEqual([2, 3]);
  });

  it('keeps the first write as createIndex when two registrations of one new id race', async () => {
    const h = await harness();
    const [a, b] = await Promise.all([
      h.registry.register(web('w1', { port: 1 })),
      h.registry.register(web('w1', { port: 2 })),
    ]);
    expect([a.created, b.created]).toEqual([true, false]);
    expect(h.registry.get('web', 'w1')).toMatchObject({ port: 2, createIndex: 1, modifyIndex: 2 });
    expect((await h.store.records()).get('web/w1')).toMatchObject({ port: 2, createIndex: 1, modifyIndex: 2 });
  });

  it('answers NOT_FOUND for an instance that is not registered', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    const notFound = { code: 'NOT_FOUND' };
    await expect(h.registry.deregister('web', 'w2')).rejects.toMatchObject(notFound);
    await expect(h.registry.renew('web', 'w2')).rejects.toMatchObject(notFound);
    await expect(h.registry.setStatus('api', 'w1', 'DOWN')).rejects.toMatchObject(notFound);
    expect(() => h.registry.get('web', 'w2')).toThrow(expect.objectContaining(notFound) as Error);
    expect(h.registry.index).toBe(1);
  });

  it('refuses changes once closed', async () => {
    const h = await harness();
    await h.registry.close();
    await expect(h.registry.register(web('w1'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('Registry edits (read-modify-write without a lost update)', () => {
  it('computes the change from the instance as it is at the write, keeping a registration made meanwhile', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { metadata: { team: 'a' }, ttl: '10s' }));
    h.store.hold();
    // A registration moving the instance is on its way to the store when the edit is asked for.
    const moved = h.registry.register(web('w1', { port: 9090, metadata: { team: 'a' }, ttl: '10s' }));
    const seen: number[] = [];
    const edited = h.registry.edit('web', 'w1', (instance) => {
      seen.push(instance.port);
      return { status: 'OUT_OF_SERVICE', metadata: { ...instance.metadata, override: 'OUT_OF_SERVICE' } };
    });
    await h.store.releaseAll();
    await moved;
    const answer = await edited;
    // The edit was refused once (built from port 8080) and computed again from the moved instance.
    expect(seen).toEqual([8080, 9090]);
    expect(answer).toMatchObject({
      port: 9090,
      status: 'OUT_OF_SERVICE',
      metadata: { team: 'a', override: 'OUT_OF_SERVICE' },
    });
    const stored = (await h.store.records()).get('web/w1');
    expect(stored).toMatchObject({
      port: 9090,
      status: 'OUT_OF_SERVICE',
      metadata: { team: 'a', override: 'OUT_OF_SERVICE' },
    });
    expect(stored?.ttlMs).toBe(10_000);
  });

  it('validates the edit as a registration, writes nothing for no change, and keeps the lease', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s' }));
    const before = h.registry.get('web', 'w1');
    await expect(h.registry.edit('web', 'w1', () => ({ metadata: { ['k'.repeat(1000)]: 'v' } }))).rejects.toMatchObject(
      { code: 'INVALID_ARGUMENT' },
    );
    const same = await h.registry.edit('web', 'w1', (instance) => ({ metadata: instance.metadata }));
    expect(same.modifyIndex).toBe(before.modifyIndex);
    expect(await h.registry.edit('web', 'w1', () => undefined)).toMatchObject({ modifyIndex: before.modifyIndex });
    h.clock.advance(5_000);
    const edited = await h.registry.edit('web', 'w1', () => ({ status: 'DOWN' }));
    expect(edited.modifyIndex).toBeGreaterThan(before.modifyIndex);
    expect(edited).toMatchObject({ status: 'DOWN', lastHeartbeat: before.lastHeartbeat, ttl: '10s' });
    await expect(h.registry.edit('web', 'nope', () => ({ status: 'UP' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('Registry pagination', () => {
  /** A deterministic PRNG, so a failing interleaving can be replayed. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
      return state / 2 ** 32;
    };
  }

  it('visits every instance that exists throughout exactly once while others come and go between pages', async () => {
    const h = await harness();
    const next = random(7);
    const services = ['b-api', 'd-db', 'f-web', 'h-cache'];
    const live = new Set<string>();
    const register = async (service: string, id: string): Promise<void> => {
      await h.registry.register({ service, id, host: 'h', port: 1 });
      live.add(`${service}/${id}`);
    };
    for (const service of services)
      for (let i = 0; i < 50; i += 1) await register(service, `i${String(i * 2).padStart(3, '0')}`);
    const initial = new Set(live);
    const removed = new Set<string>();

    const visited: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = h.registry.page(cursor, 7);
      visited.push(...page.instances.map((i) => `${i.service}/${i.id}`));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
      // Between pages: remove some instances (seen or not), add others before and after the cursor, new services too.
      for (let k = 0; k < 3; k++) {
        const keys = [...live];
        const victim = keys[Math.floor(next() * keys.length)] as string;
        const [service, id] = victim.split('/') as [string, string];
        await h.registry.deregister(service, id);
        live.delete(victim);
        removed.add(victim);
      }
      const service = ['a-new', ...services, 'z-new'][Math.floor(next() * 6)] as string;
      await register(service, `i${String(Math.floor(next() * 100) * 2 + 1).padStart(3, '0')}`);
    } while (cursor !== undefined);

    expect(pages).toBeGreaterThan(25);
    expect(new Set(visited).size).toBe(visited.length);
    const survivors = [...initial].filter((key) => !removed.has(key));
    expect(survivors.length).toBeGreaterThan(50);
    for (const key of survivors) expect(visited).toContain(key);
    // Pages come in (service, id) order.
    const order = visited.map((key) => key.split('/') as [string, string]);
    for (let i = 1; i < order.length; i++) {
      const [s0, i0] = order[i - 1] as [string, string];
      const [s1, i1] = order[i] as [string, string];
      expect(s0 < s1 || (s0 === s1 && i0 < i1)).toBe(true);
    }
  });

  it('ends with a null cursor and refuses a cursor it did not hand out', async () => {
    const h = await harness();
    for (let i = 0; i < 5; i++) await h.registry.register(web(`w${i}`));
    const first = h.registry.page(undefined, 3);
    expect(first.instances.map((i) => i.id)).toEqual(['w0', 'w1', 'w2']);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = h.registry.page(first.nextCursor as string, 3);
    expect(second).toMatchObject({ nextCursor: null });
    expect(second.instances.map((i) => i.id)).toEqual(['w3', 'w4']);
    expect(h.registry.page(undefined, 5).nextCursor).toBeNull();
    for (const bad of [
      'not-a-cursor',
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('{}').toString('base64url'),
    ]) {
      expect(() => h.registry.page(bad, 3)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error);
    }
  });
});

describe('Registry validation', () => {
  const bad: [string, Partial<RegisterRequest>, RegExp][] = [
    ['an empty service name', { service: '' }, /service name/],
    ['a service name of 64 characters', { service: 'a'.repeat(64) }, /service name/],
    ['a service name starting with a dash', { service: '-web' }, /service name/],
    ['a service name with a slash', { service: 'web/api' }, /service name/],
    ['a service name with a space', { service: 'web api' }, /service name/],
    ['a service name with an umlaut', { service: 'wéb' }, /service name/],
    ['an empty id', { id: '' }, /instance id/],
    ['an id with a slash', { id: 'a/b' }, /instance id/],
    ['an id of 129 characters', { id: 'a'.repeat(129) }, /instance id/],
    ['an id starting with a dot', { id: '.hidden' }, /instance id/],
    ['port 0', { port: 0 }, /port/],
    ['port 65536', { port: 65_536 }, /port/],
    ['a fractional port', { port: 80.5 }, /port/],
    ['a port as a string', { port: '80' as unknown as number }, /port/],
    ['weight 0', { weight: 0 }, /weight/],
    ['weight 1001', { weight: 1_001 }, /weight/],
    ['a fractional weight', { weight: 2.5 }, /weight/],
    ['a ttl under a second', { ttl: '500ms' }, /ttl/],
    ['a ttl over a day', { ttl: '25h' }, /ttl/],
    ['a ttl that is no duration', { ttl: 'soon' }, /ttl/],
    ['a negative ttl', { ttl: -5 }, /ttl/],
    ['deregisterAfter without a ttl', { deregisterAfter: '30s' }, /deregisterAfter/],
    ['deregisterAfter shorter than the ttl', { ttl: '10s', deregisterAfter: '5s' }, /deregisterAfter/],
    ['a url not starting with /', { url: 'tickets' }, /url/],
    ['a url that is a full URL', { url: 'http://x/tickets' }, /url/],
    ['a metadata value that is a number', { metadata: { version: 2 as unknown as string } }, /metadata\.version/],
    ['a metadata value that is null', { metadata: { a: null as unknown as string } }, /metadata\.a/],
    ['metadata that is a list', { metadata: ['a'] as unknown as Record<string, string> }, /metadata/],
    ['a status outside the set', { status: 'RUNNING' as 'UP' }, /status/],
    ['an empty host', { host: '' }, /host/],
    ['tags that are not strings', { tags: [1] as unknown as string[] }, /tags/],
  ];

  it.each(bad)('rejects %s with INVALID_ARGUMENT and writes nothing', async (_what, fields, message) => {
    const h = await harness();
    const attempt = h.registry.register(web('w1', fields));
    await expect(attempt).rejects.toBeInstanceOf(RegistryError);
    await expect(attempt).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(message) as string,
    });
    expect(h.registry.index).toBe(0);
    expect(h.changes).toEqual([]);
  });

  it('accepts the edges of every rule', async () => {
    const h = await harness();
    const { instance } = await h.registry.register({
      service: `A1._-${'x'.repeat(58)}`,
      id: `9:@._-${'y'.repeat(122)}`,
      host: 'h',
      port: 65_535,
      weight: 1_000,
      ttl: 1,
      deregisterAfter: 1,
      url: '/',
      metadata: { empty: '' },
    });
    expect(instance.service).toHaveLength(63);
    expect(instance.id).toHaveLength(128);
    expect(instance).toMatchObject({ port: 65_535, weight: 1_000, ttl: '1s', deregisterAfter: '1s', url: '/' });
    const defaults = await h.registry.register({ service: 'x', id: 'y', host: 'h', port: 1 });
    expect(defaults.instance).toMatchObject({ status: 'UP', weight: 100, tags: [], metadata: {}, health: 'passing' });
    expect(defaults.instance.ttl).toBeUndefined();
  });

  it('rejects a status outside the set on a status change', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    await expect(h.registry.setStatus('web', 'w1', 'up' as 'UP')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(h.registry.get('web', 'w1').status).toBe('UP');
  });

  it('answers invalid names, not NOT_FOUND, when reading with a malformed name', async () => {
    const h = await harness();
    await expect(h.registry.deregister('bad name', 'w1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(h.registry.renew('web', 'a/b')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
