import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import type { Store } from '../store/index.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { ManualClock } from './clock.js';
import { createRegistry } from './registry.js';
import type { RegistryLimits } from './registry.js';

const LIMITS: RegistryLimits = {
  maxInstances: 5,
  maxInstancesPerService: 3,
  maxRecordBytes: 2_048,
  emptyServiceGraceMs: 60_000,
};

async function open(limits: Partial<RegistryLimits> = {}, store: Store = heldStore()) {
  const clock = new ManualClock();
  const registry = await createRegistry({
    ...CORE_OPTIONS,
    store,
    clock,
    autoSweep: false,
    limits: { ...LIMITS, ...limits },
  });
  return { registry, clock };
}

async function refusal(promise: Promise<unknown>): Promise<RegistryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

describe('instance quotas', () => {
  it('refuses a create past the per-service limit, naming it, and lets updates of existing instances through', async () => {
    const { registry } = await open();
    for (const id of ['a', 'b', 'c']) await registry.register({ service: 'web', id, host: 'h', port: 1 });
    const err = await refusal(registry.register({ service: 'web', id: 'd', host: 'h', port: 1 }));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toContain('--max-instances-per-service');
    const updated = await registry.register({ service: 'web', id: 'a', host: 'h', port: 2 });
    expect(updated.instance.port).toBe(2);
    await registry.deregister('web', 'a');
    await registry.register({ service: 'web', id: 'd', host: 'h', port: 1 });
  });

  it('refuses a create past the registry-wide limit', async () => {
    const { registry } = await open();
    for (let i = 0; i < 5; i++) await registry.register({ service: `s${i}`, id: 'x', host: 'h', port: 1 });
    const err = await refusal(registry.register({ service: 'other', id: 'x', host: 'h', port: 1 }));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toContain('--max-instances');
  });

  it('never overshoots when many creates race, even while their writes are held', async () => {
    const store = heldStore();
    const { registry } = await open({ maxInstancesPerService: 100, maxInstances: 7 }, store);
    store.hold();
    const attempts = Array.from({ length: 40 }, (_, i) =>
      registry.register({ service: `s${i % 3}`, id: `i${i}`, host: 'h', port: 1 }),
    );
    // Two registrations of one new id share a slot: one instance comes of both.
    attempts.push(registry.register({ service: 's0', id: 'i0', host: 'h', port: 2 }));
    const settled = Promise.allSettled(attempts);
    await new Promise((resolve) => setImmediate(resolve));
    // Only the creates that got a slot reached the store (i0's two, sharing one); the rest were refused unwritten.
    expect(store.pending).toBe(8);
    await store.releaseAll();
    const results = await settled;
    const refused = results.filter((r) => r.status === 'rejected');
    for (const r of refused) expect((r.reason as RegistryError).code).toBe('RESOURCE_EXHAUSTED');
    expect(registry.health().instances).toBe(7);
  });

  it('refuses a registration whose stored record is larger than the cap', async () => {
    const { registry } = await open();
    const metadata = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v'.repeat(400)]));
    const err = await refusal(registry.register({ service: 'web', id: 'big', host: 'h', port: 1, metadata }));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toContain('--max-record-bytes');
    await registry.register({ service: 'web', id: 'small', host: 'h', port: 1, metadata: { k: 'v' } });
  });
});

describe('pruning empty services', () => {
  it('forgets a service empty and unwatched for the grace period, answering an index that never goes back', async () => {
    const { registry, clock } = await open();
    await registry.register({ service: 'gone', id: 'x', host: 'h', port: 1 });
    await registry.register({ service: 'kept', id: 'x', host: 'h', port: 1 });
    await registry.deregister('gone', 'x');
    const seen = registry.serviceIndex('gone');
    const pruned: string[] = [];
    registry.onServicesPruned((services) => pruned.push(...services));
    expect(registry.trackedServices).toBe(2);
    clock.advance(30_000);
    await registry.sweep();
    expect(registry.trackedServices).toBe(2);
    clock.advance(31_000);
    await registry.sweep();
    expect(pruned).toEqual(['gone']);
    expect(registry.trackedServices).toBe(1);
    expect(registry.serviceIndex('gone')).toBeGreaterThanOrEqual(seen);
    expect(registry.serviceIndex('never-seen')).toBeGreaterThanOrEqual(seen);
    // Back again: its index moves on from there.
    await registry.register({ service: 'gone', id: 'y', host: 'h', port: 1 });
    expect(registry.serviceIndex('gone')).toBeGreaterThan(seen);
  });

  it('keeps a service someone watches, and prunes it once the watch ends', async () => {
    const { registry, clock } = await open();
    await registry.register({ service: 'web', id: 'x', host: 'h', port: 1 });
    await registry.deregister('web', 'x');
    const stop = registry.subscribe('web', () => undefined);
    clock.advance(120_000);
    await registry.sweep();
    expect(registry.trackedServices).toBe(1);
    stop();
    await registry.sweep();
    expect(registry.trackedServices).toBe(0);
  });
});
