/**
 * Two registry nodes on one shared store (the memory store stands in for etcd): the roles cluster mode gives the
 * core (issue #12). One node leads and alone decides expiry; heartbeats are shared between nodes in batches, never
 * written; a node that takes over restarts every lease.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceRecord, Store, StoreChange } from '../store/index.js';
import { recordOf } from '../store/store.contract.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { ManualClock } from './clock.js';
import { createRegistry } from './registry.js';
import type { Registry } from './registry.js';
import type { Renewal } from './renewal.js';

const SWEEP_MS = 1_000;
const TTL = '10s';

interface Node {
  registry: Registry;
  /** Batches this node shared. */
  shared: Renewal[][];
}

async function cluster(options: {
  connected: boolean;
}): Promise<{ a: Node; b: Node; clock: ManualClock; tick: (ms: number) => Promise<void> }> {
  const store = heldStore();
  const clock = new ManualClock();
  const nodes: Node[] = [];
  const open = async (leading: boolean): Promise<Node> => {
    const shared: Renewal[][] = [];
    const registry = await createRegistry({
      ...CORE_OPTIONS,
      store,
      clock,
      autoSweep: false,
      leading,
      leases: { ...CORE_OPTIONS.leases, sweepIntervalMs: SWEEP_MS },
      shareRenewals: (batch) => {
        shared.push(batch);
        // What the etcd channel does: every other node gets the batch.
        if (options.connected)
          for (const node of nodes) if (node.registry !== registry) node.registry.applyRenewals(batch);
      },
    });
    const node = { registry, shared };
    nodes.push(node);
    return node;
  };
  const a = await open(true);
  const b = await open(false);
  return {
    a,
    b,
    clock,
    tick: async (ms) => {
      for (let passed = 0; passed < ms; passed += SWEEP_MS) {
        clock.advance(SWEEP_MS);
        await a.registry.sweep();
        await b.registry.sweep();
      }
    },
  };
}

const web = { service: 'web', id: 'w1', host: '10.0.0.1', port: 80, ttl: TTL } as const;

describe('cluster roles', () => {
  it('lets only the leading node lapse and remove instances, and every node sees what it decided', async () => {
    const { a, b, tick } = await cluster({ connected: true });
    await b.registry.register(web);
    b.registry.setLeading(true);
    a.registry.setLeading(false);
    await tick(11_000);
    expect(b.registry.get('web', 'w1').health).toBe('critical');
    expect(a.registry.get('web', 'w1').health).toBe('critical');

    b.registry.setLeading(false);
    await tick(60_000);
    // Nobody leads: nothing is removed, however long the lease has been lapsed.
    expect(a.registry.list('web', { status: 'any', health: 'any' }).instances).toHaveLength(1);
    a.registry.setLeading(true);
    await tick(31_000);
    expect(b.registry.list('web', { status: 'any', health: 'any' }).instances).toHaveLength(0);
  });

  it('keeps an instance alive on the leader with heartbeats the other node took, shared once per sweep', async () => {
    const { a, b, tick } = await cluster({ connected: true });
    await a.registry.register(web);
    for (let i = 0; i < 10; i++) {
      await tick(5_000);
      await b.registry.renew('web', 'w1');
    }
    expect(a.registry.get('web', 'w1').health).toBe('passing');
    // One batch per sweep that followed heartbeats, each naming the instance once.
    expect(b.shared.length).toBeGreaterThanOrEqual(9);
    expect(b.shared.every((batch) => batch.length === 1 && batch[0]?.id === 'w1')).toBe(true);
    expect(b.shared.every((batch) => (batch[0]?.ageMs ?? -1) >= 0)).toBe(true);
  });

  it('lapses the lease on the leader when the heartbeats taken elsewhere are not shared', async () => {
    const { a, b, tick } = await cluster({ connected: false });
    await a.registry.register(web);
    await tick(5_000);
    await b.registry.renew('web', 'w1');
    await tick(6_000);
    // Shared, that heartbeat would have kept it passing until 15s (the test above).
    expect(a.registry.get('web', 'w1').health).toBe('critical');
  });

  it('restarts every lease from now on the node that takes over, so missed renewals evict nothing', async () => {
    const { a, b, clock, tick } = await cluster({ connected: false });
    await a.registry.register(web);
    await a.registry.register({ ...web, id: 'w2' });
    // b follows without hearing renewals (say it was cut off) for longer than the ttl.
    clock.advance(9_000);
    a.registry.setLeading(false);
    b.registry.setLeading(true);
    await tick(9_000);
    expect(b.registry.get('web', 'w1').health).toBe('passing');
    await tick(2_000);
    expect(b.registry.get('web', 'w2').health).toBe('critical');
  });
});

describe('changes that share an index', () => {
  it('applies every one of them', async () => {
    // A store whose feed the test drives: a resync after compaction announces deletes at one index.
    let deliver: (change: StoreChange) => void = () => undefined;
    const record = (id: string, index: number): InstanceRecord =>
      recordOf('web', id, { createIndex: index, modifyIndex: index });
    const store: Store = {
      kind: 'memory',
      load: () => Promise.resolve({ index: 7, instances: [record('w1', 5), record('w2', 6), record('w3', 7)] }),
      write: () => Promise.reject(new Error('read only')),
      watch: (listener) => {
        deliver = listener;
        return () => undefined;
      },
      health: () => ({ kind: 'memory', ok: true }),
      listTokens: () => Promise.resolve([]),
      createToken: () => Promise.reject(new Error('read only')),
      deleteToken: () => Promise.reject(new Error('read only')),
      watchTokens: () => () => undefined,
      close: () => Promise.resolve(),
    };
    const registry = await createRegistry({ ...CORE_OPTIONS, store, autoSweep: false });
    deliver({ index: 9, service: 'web', id: 'w1', record: null });
    deliver({ index: 9, service: 'web', id: 'w2', record: null });
    deliver({ index: 9, service: 'web', id: 'w4', record: record('w4', 9) });
    // A replay of what is already applied changes nothing.
    deliver({ index: 9, service: 'web', id: 'w4', record: record('w4', 9) });
    deliver({ index: 8, service: 'web', id: 'w3', record: null });
    const ids = registry.list('web', { status: 'any', health: 'any' }).instances.map((i) => i.id);
    expect(ids).toEqual(['w3', 'w4']);
    await registry.close();
  });
});
