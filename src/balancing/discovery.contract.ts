/**
 * The one suite for caching, eligibility and balancing that every consumer of src/balancing/ passes: the SDK's
 * `Discovery` (src/sdk/discovery.test.ts) and the gateway's route table (src/gateway/route-table.test.ts).
 *
 * A consumer's test file calls `describeDiscoveryContract(name, make)`. `make(strategy)` builds a fresh subject that
 * balances with `strategy`, fed by hand with the watch's events; the suite closes it after each test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Instance } from '../wire/index.js';
import type { BalanceStrategy } from './balancer.js';
import type { CacheEvent } from './instance-cache.js';

export type { CacheEvent } from './instance-cache.js';

export interface DiscoverySubject {
  /** Applies one event of the watch, and resolves once the subject has seen it. */
  feed(event: CacheEvent): Promise<void>;
  /** The ids of the instances of `service` that take traffic, ordered by id. */
  eligible(service: string): Promise<string[]>;
  /** The id of one pick for `service`, or undefined when no instance can take it. */
  pick(service: string): Promise<string | undefined>;
  /** Picks an instance and keeps a call on it in flight until `release` is called. */
  hold(service: string): Promise<{ id: string; release: () => void }>;
  close(): Promise<void> | void;
}

export type MakeDiscoverySubject = (strategy: BalanceStrategy) => DiscoverySubject;

let index = 0;

/** An instance of `service` that takes traffic unless `fields` say otherwise. */
export function contractInstance(service: string, id: string, fields: Partial<Instance> = {}): Instance {
  index += 1;
  return {
    id,
    service,
    host: '127.0.0.1',
    port: 10_000 + index,
    endpoints: [],
    status: 'UP',
    health: 'passing',
    tags: [],
    metadata: {},
    weight: 100,
    authorizedRoles: [],
    registeredAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    lastHeartbeat: '2026-01-01T00:00:00.000Z',
    createIndex: index,
    modifyIndex: index,
    ...fields,
  };
}

function snapshot(...instances: Instance[]): CacheEvent {
  index += 1;
  return { type: 'snapshot', index, instances };
}

function change(type: Exclude<CacheEvent['type'], 'snapshot'>, instance: Instance): CacheEvent {
  index += 1;
  return { type, index, service: instance.service, instance };
}

async function picks(subject: DiscoverySubject, service: string, n: number): Promise<string> {
  let out = '';
  for (let i = 0; i < n; i++) out += (await subject.pick(service)) ?? '-';
  return out;
}

export function describeDiscoveryContract(name: string, make: MakeDiscoverySubject): void {
  describe(`Discovery contract: ${name}`, () => {
    const subjects: DiscoverySubject[] = [];
    const subject = (strategy: BalanceStrategy = 'round-robin'): DiscoverySubject => {
      const made = make(strategy);
      subjects.push(made);
      return made;
    };

    afterEach(async () => {
      await Promise.all(
        subjects.splice(0).map(async (s) => {
          await s.close();
        }),
      );
    });

    it('caches the snapshot and follows registrations, changes and removals', async () => {
      const s = subject();
      const a = contractInstance('web', 'a');
      await s.feed(snapshot(a, contractInstance('web', 'b')));
      expect(await s.eligible('web')).toEqual(['a', 'b']);
      await s.feed(change('registered', contractInstance('web', 'c')));
      expect(await s.eligible('web')).toEqual(['a', 'b', 'c']);
      await s.feed(change('status', { ...a, status: 'DOWN' }));
      expect(await s.eligible('web')).toEqual(['b', 'c']);
      await s.feed(change('updated', { ...a, status: 'UP' }));
      expect(await s.eligible('web')).toEqual(['a', 'b', 'c']);
      await s.feed(change('deregistered', contractInstance('web', 'b')));
      await s.feed(change('expired', contractInstance('web', 'c')));
      expect(await s.eligible('web')).toEqual(['a']);
      expect(await picks(s, 'web', 3)).toBe('aaa');
    });

    it('replaces everything it knew on a new snapshot', async () => {
      const s = subject();
      await s.feed(snapshot(contractInstance('web', 'a'), contractInstance('web', 'b')));
      expect(await s.eligible('web')).toEqual(['a', 'b']);
      await s.feed(snapshot(contractInstance('web', 'c')));
      expect(await s.eligible('web')).toEqual(['c']);
      expect(await picks(s, 'web', 2)).toBe('cc');
    });

    it('sends traffic only to instances that are UP, not critical and not in maintenance', async () => {
      const s = subject();
      await s.feed(
        snapshot(
          contractInstance('web', 'up'),
          contractInstance('web', 'warning', { health: 'warning' }),
          contractInstance('web', 'critical', { health: 'critical' }),
          contractInstance('web', 'down', { status: 'DOWN' }),
          contractInstance('web', 'maintenance', { maintenance: { enabled: true, reason: 'upgrade' } }),
        ),
      );
      expect(await s.eligible('web')).toEqual(['up', 'warning']);
      const seen = new Set<string | undefined>();
      for (let i = 0; i < 10; i++) seen.add(await s.pick('web'));
      expect([...seen].sort()).toEqual(['up', 'warning']);
    });

    it('has nothing to pick when no instance is eligible', async () => {
      const s = subject();
      await s.feed(snapshot(contractInstance('web', 'down', { status: 'DOWN' })));
      expect(await s.eligible('web')).toEqual([]);
      expect(await s.pick('web')).toBeUndefined();
    });

    it('round-robin takes each eligible instance in turn, ordered by id', async () => {
      const s = subject('round-robin');
      await s.feed(snapshot(contractInstance('web', 'c'), contractInstance('web', 'a'), contractInstance('web', 'b')));
      expect(await picks(s, 'web', 6)).toBe('abcabc');
    });

    it('weighted spreads picks smoothly in proportion to the weights, and weight 0 takes none', async () => {
      const s = subject('weighted');
      await s.feed(
        snapshot(
          contractInstance('web', 'a', { weight: 5 }),
          contractInstance('web', 'b', { weight: 1 }),
          contractInstance('web', 'c', { weight: 1 }),
          contractInstance('web', 'z', { weight: 0 }),
        ),
      );
      // nginx's smooth weighted round-robin: the heavy instance never takes a long run.
      expect(await picks(s, 'web', 7)).toBe('aabacaa');
      expect(await picks(s, 'web', 7)).toBe('aabacaa');
    });

    it('keeps the weighted rotation across changes that leave the instances and weights as they were', async () => {
      const s = subject('weighted');
      const a = contractInstance('web', 'a', { weight: 3 });
      await s.feed(snapshot(a, contractInstance('web', 'b', { weight: 1 })));
      expect(await picks(s, 'web', 2)).toBe('aa');
      await s.feed(change('health', { ...a, health: 'warning' }));
      expect(await picks(s, 'web', 2)).toBe('ba');
    });

    it('least-outstanding picks the instance with the fewest calls in flight, rotating ties', async () => {
      const s = subject('least-outstanding');
      await s.feed(snapshot(contractInstance('web', 'a'), contractInstance('web', 'b'), contractInstance('web', 'c')));
      const held = [await s.hold('web'), await s.hold('web'), await s.hold('web')];
      expect(held.map((h) => h.id)).toEqual(['a', 'b', 'c']);
      held[1]?.release();
      expect(await picks(s, 'web', 3)).toBe('bbb');
      const second = await s.hold('web');
      expect(second.id).toBe('b');
      held[0]?.release();
      expect(await picks(s, 'web', 2)).toBe('aa');
      for (const h of [held[2], second]) h?.release();
      expect(await picks(s, 'web', 3)).toBe('abc');
    });
  });
}
