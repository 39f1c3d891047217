import { describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import type { ChangeEvent, Health } from '../wire/index.js';
import type { CheckResult } from './check-state.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { ManualClock } from './clock.js';
import { createRegistry } from './registry.js';
import type { Registry, RegisterRequest, RegistryLogger } from './registry.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';

const SWEEP_MS = 1_000;

interface Harness {
  registry: Registry;
  clock: ManualClock;
  changes: ChangeEvent[];
  logs: string[];
  /** Moves the clock and runs one sweep. */
  tick(ms: number): Promise<void>;
  /** Reports one result for every check of an instance. */
  report(service: string, id: string, result: CheckResult): Promise<void>;
  healthOf(service: string, id: string): Health;
}

async function harness(
  leases: { selfPreservationThreshold?: number; selfPreservationMinimum?: number; selfPreservationMaxMs?: number } = {},
): Promise<Harness> {
  const clock = new ManualClock();
  const logs: string[] = [];
  const logger: RegistryLogger = {
    info: (_o, msg) => logs.push(msg),
    warn: (_o, msg) => logs.push(msg),
    error: (_o, msg) => logs.push(msg),
  };
  const registry = await createRegistry({
    ...CORE_OPTIONS,
    store: heldStore(),
    clock,
    autoSweep: false,
    logger,
    leases: { ...CORE_OPTIONS.leases, sweepIntervalMs: SWEEP_MS, ...leases },
  });
  const changes: ChangeEvent[] = [];
  registry.watch(undefined, (c) => changes.push(c));
  return {
    registry,
    clock,
    changes,
    logs,
    tick: async (ms) => {
      clock.advance(ms);
      await registry.sweep();
    },
    report: async (service, id, result) => {
      for (const check of registry.checksOf(service, id)) await registry.recordCheckResult(check, result);
    },
    healthOf: (service, id) => registry.get(service, id).health,
  };
}

const pass: CheckResult = { status: 'passing', output: 'ok' };
const fail: CheckResult = { status: 'critical', output: 'connect ECONNREFUSED' };
const httpCheck = { http: 'http://127.0.0.1:9/health', interval: '1s' };

function web(id: string, extra: Partial<RegisterRequest> = {}): RegisterRequest {
  return { service: 'web', id, host: '127.0.0.1', port: 9000, ...extra };
}

function discoverable(registry: Registry): string[] {
  return registry.list('web').instances.map((i) => i.id);
}

describe('active checks in the registry', () => {
  it('hides a new instance with checks until its first passing result', async () => {
    const h = await harness();
    const { instance } = await h.registry.register(web('w1', { checks: [httpCheck] }));
    expect(instance.health).toBe('critical');
    expect(instance.checks?.[0]).toMatchObject({
      id: 'http:http://127.0.0.1:9/health',
      kind: 'http',
      status: 'critical',
    });
    expect(discoverable(h.registry)).toEqual([]);
    await h.report('web', 'w1', pass);
    expect(h.healthOf('web', 'w1')).toBe('passing');
    expect(discoverable(h.registry)).toEqual(['w1']);
  });

  it('gives each check state change its own index and announces it as a health change', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { checks: [httpCheck] }));
    await h.report('web', 'w1', pass);
    const afterPass = h.registry.index;
    for (let i = 0; i < 2; i++) await h.report('web', 'w1', fail);
    expect(h.registry.index).toBe(afterPass); // below the threshold: nothing written
    await h.report('web', 'w1', fail);
    expect(h.registry.index).toBe(afterPass + 1);
    const health = h.changes.filter((c) => c.type === 'health');
    expect(health.map((c) => c.instance.health)).toEqual(['passing', 'critical']);
    expect(new Set(health.map((c) => c.index)).size).toBe(2);
    expect(health[1]?.instance.checks?.[0]?.output).toBe('connect ECONNREFUSED');
    expect(h.logs.filter((l) => l === 'check changed state')).toHaveLength(2);
  });

  it('answers the worst of several checks', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { checks: [httpCheck, { tcp: '127.0.0.1:9', interval: '1s' }] }));
    const [first, second] = h.registry.checksOf('web', 'w1');
    if (!first || !second) throw new Error('two checks expected');
    await h.registry.recordCheckResult(first, pass);
    expect(h.healthOf('web', 'w1')).toBe('critical'); // the tcp check has not answered yet
    await h.registry.recordCheckResult(second, { status: 'warning', output: 'busy' });
    expect(h.healthOf('web', 'w1')).toBe('warning');
    expect(discoverable(h.registry)).toEqual(['w1']);
  });

  it('keeps check state across a re-registration that leaves the check unchanged, and resets a changed one', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { checks: [httpCheck], tags: ['a'] }));
    await h.report('web', 'w1', pass);
    await h.registry.register(web('w1', { checks: [httpCheck], tags: ['b'] }));
    expect(h.healthOf('web', 'w1')).toBe('passing');
    const old = h.registry.checksOf('web', 'w1')[0];
    await h.registry.register(web('w1', { checks: [{ ...httpCheck, interval: '2s' }], tags: ['b'] }));
    expect(h.healthOf('web', 'w1')).toBe('critical');
    // A result for the old definition no longer counts.
    if (old) await h.registry.recordCheckResult(old, pass);
    expect(h.healthOf('web', 'w1')).toBe('critical');
  });

  it('serves the stored check states after a restart: what is served is what is stored', async () => {
    const store = heldStore();
    const first = await createRegistry({ ...CORE_OPTIONS, store, autoSweep: false });
    await first.register(web('w1', { checks: [httpCheck] }));
    await first.register(web('w2', { checks: [httpCheck] }));
    for (const check of first.checksOf('web', 'w1')) await first.recordCheckResult(check, pass);
    await first.close();
    const second = await createRegistry({ ...CORE_OPTIONS, store, autoSweep: false });
    expect(second.get('web', 'w1')).toMatchObject({ health: 'passing', checks: [{ status: 'passing', output: 'ok' }] });
    // Never checked: still hidden after the restart, and its first result still applies at once.
    expect(second.get('web', 'w2')).toMatchObject({ health: 'critical', checks: [{ output: 'not checked yet' }] });
    for (const check of second.checksOf('web', 'w2')) await second.recordCheckResult(check, pass);
    expect(second.get('web', 'w2').health).toBe('passing');
    expect(second.listChecks()).toHaveLength(2);
  });

  it('rejects malformed checks with INVALID_ARGUMENT', async () => {
    const h = await harness();
    const bad = [
      [{ interval: '1s' }],
      [{ http: 'ftp://x/health', interval: '1s' }],
      [{ tcp: 'no-port', interval: '1s' }],
      [{ http: 'http://a/h', interval: '10ms' }],
      [{ http: 'http://a/h', interval: '1s', timeout: '2s' }],
      [{ http: 'http://a/h', interval: '1s', failuresBefore: 0 }],
      [httpCheck, httpCheck],
    ];
    for (const checks of bad) {
      await expect(h.registry.register(web('w1', { checks }))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(h.registry.register(web('w1', { deregisterCriticalAfter: '1m' }))).rejects.toBeInstanceOf(
      RegistryError,
    );
  });
});

describe('two signals before eviction', () => {
  it('turns an instance whose lease lapsed but whose check passes warning, still discoverable, and never expires it', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s', checks: [httpCheck] }));
    await h.report('web', 'w1', pass);
    await h.tick(11_000);
    expect(h.healthOf('web', 'w1')).toBe('warning');
    expect(discoverable(h.registry)).toEqual(['w1']);
    await h.tick(30_000); // well past deregisterAfter (3 × ttl)
    await h.tick(SWEEP_MS);
    expect(h.healthOf('web', 'w1')).toBe('warning');
    expect(h.changes.some((c) => c.type === 'expired')).toBe(false);
  });

  it('expires it once its check fails too', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s', checks: [httpCheck] }));
    await h.report('web', 'w1', pass);
    await h.tick(31_000);
    expect(h.healthOf('web', 'w1')).toBe('warning');
    for (let i = 0; i < 3; i++) await h.report('web', 'w1', fail);
    expect(h.healthOf('web', 'w1')).toBe('critical');
    await h.tick(SWEEP_MS);
    expect(() => h.registry.get('web', 'w1')).toThrow(RegistryError);
    expect(h.changes.at(-1)?.type).toBe('expired');
  });

  it('still expires a lapsed lease without checks', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s' }));
    await h.tick(11_000);
    expect(h.healthOf('web', 'w1')).toBe('critical');
    await h.tick(20_000);
    expect(h.registry.list('web', { health: 'any' }).instances).toEqual([]);
  });

  it('turns passing again when heartbeats come back', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s', checks: [httpCheck] }));
    await h.report('web', 'w1', pass);
    await h.tick(11_000);
    expect(h.healthOf('web', 'w1')).toBe('warning');
    await h.registry.renew('web', 'w1');
    expect(h.healthOf('web', 'w1')).toBe('passing');
  });
});

describe('deregisterCriticalAfter', () => {
  it('removes an instance critical for that long, and not before', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { checks: [httpCheck], deregisterCriticalAfter: '30s' }));
    await h.report('web', 'w1', pass);
    for (let i = 0; i < 3; i++) await h.report('web', 'w1', fail);
    await h.tick(29_000);
    expect(h.healthOf('web', 'w1')).toBe('critical');
    await h.tick(2_000);
    expect(() => h.registry.get('web', 'w1')).toThrow(RegistryError);
    expect(h.changes.at(-1)).toMatchObject({ type: 'expired', service: 'web' });
  });

  it('keeps counting from when the instance turned critical across a registry restart', async () => {
    const store = heldStore();
    const clock = new ManualClock();
    const first = await createRegistry({ ...CORE_OPTIONS, store, clock, autoSweep: false });
    await first.register(web('w1', { checks: [httpCheck], deregisterCriticalAfter: '30s' }));
    for (const check of first.checksOf('web', 'w1')) await first.recordCheckResult(check, pass);
    for (let i = 0; i < 3; i++)
      for (const check of first.checksOf('web', 'w1')) await first.recordCheckResult(check, fail);
    clock.advance(20_000);
    await first.close();
    const second = await createRegistry({ ...CORE_OPTIONS, store, clock, autoSweep: false });
    clock.advance(11_000);
    await second.sweep();
    expect(() => second.get('web', 'w1')).toThrow(RegistryError);
  });

  it('restarts the clock when the instance recovers in between', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { checks: [httpCheck], deregisterCriticalAfter: '30s' }));
    await h.report('web', 'w1', fail); // first result: critical at once
    await h.tick(20_000);
    await h.report('web', 'w1', pass);
    for (let i = 0; i < 3; i++) await h.report('web', 'w1', fail);
    await h.tick(20_000);
    expect(h.healthOf('web', 'w1')).toBe('critical');
    await h.tick(11_000);
    expect(() => h.registry.get('web', 'w1')).toThrow(RegistryError);
  });

  it('applies to a lapsed lease too', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { ttl: '10s', deregisterAfter: '1h', deregisterCriticalAfter: '5s' }));
    await h.tick(11_000);
    expect(h.healthOf('web', 'w1')).toBe('critical');
    await h.tick(6_000);
    expect(() => h.registry.get('web', 'w1')).toThrow(RegistryError);
  });
});

describe('maintenance', () => {
  it('hides an instance from default answers without deregistering it, and restores it', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    const drained = await h.registry.setMaintenance('web', 'w1', { enable: true, reason: 'deploy' });
    expect(drained).toMatchObject({ health: 'critical', maintenance: { enabled: true, reason: 'deploy' } });
    expect(discoverable(h.registry)).toEqual([]);
    expect(h.registry.list('web', { health: 'any' }).instances.map((i) => i.id)).toEqual(['w1']);
    expect(h.changes.at(-1)?.type).toBe('status');
    const back = await h.registry.setMaintenance('web', 'w1', { enable: false });
    expect(back.maintenance).toBeUndefined();
    expect(discoverable(h.registry)).toEqual(['w1']);
  });

  it('survives a re-registration and skips no-op requests', async () => {
    const h = await harness();
    await h.registry.register(web('w1'));
    await h.registry.setMaintenance('web', 'w1', { enable: true, reason: 'deploy' });
    const index = h.registry.index;
    await h.registry.setMaintenance('web', 'w1', { enable: true, reason: 'deploy' });
    await h.registry.register(web('w1'));
    expect(h.registry.index).toBe(index);
    await h.registry.register(web('w1', { tags: ['new'] }));
    expect(h.registry.get('web', 'w1').maintenance).toEqual({ enabled: true, reason: 'deploy' });
  });

  it('does not count as critical for deregisterCriticalAfter', async () => {
    const h = await harness();
    await h.registry.register(web('w1', { checks: [httpCheck], deregisterCriticalAfter: '5s' }));
    await h.report('web', 'w1', pass);
    await h.registry.setMaintenance('web', 'w1', { enable: true });
    await h.tick(60_000);
    expect(h.registry.get('web', 'w1').health).toBe('critical');
  });

  it('answers NOT_FOUND for an unknown instance', async () => {
    const h = await harness();
    await expect(h.registry.setMaintenance('web', 'nope', { enable: true })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('self-preservation', () => {
  async function fleet(h: Harness, n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, (_, i) => `w${String(i).padStart(2, '0')}`);
    for (const id of ids) await h.registry.register(web(id, { ttl: '10s' }));
    return ids;
  }

  async function heartbeat(h: Harness, ids: string[]): Promise<void> {
    for (const id of ids) await h.registry.renew('web', id);
  }

  it('stops expiring when half the leases lapse at once, and resumes when heartbeats come back', async () => {
    const h = await harness();
    const ids = await fleet(h, 20);
    const alive = ids.slice(0, 10);
    const silent = ids.slice(10);
    // Half the fleet stops heartbeating (a partition); the rest keeps going.
    for (let t = 0; t < 60; t += 5) {
      await heartbeat(h, alive);
      await h.tick(5_000);
    }
    expect(h.registry.selfPreservation).toBe(true);
    expect(h.registry.health().selfPreservation).toMatchObject({ active: true, overdue: 10, leases: 20 });
    expect(h.registry.list('web', { health: 'any' }).instances).toHaveLength(20);
    expect(h.changes.some((c) => c.type === 'expired')).toBe(false);
    expect(h.logs.filter((l) => l.startsWith('self-preservation on'))).toHaveLength(1);
    // Most of the silent ones come back: below the threshold, expiry resumes for the rest, each a deregisterAfter
    // (30 s for a 10 s ttl) from the moment self-preservation ended.
    await heartbeat(h, [...alive, ...silent.slice(0, 7)]);
    await h.tick(SWEEP_MS);
    await h.tick(SWEEP_MS);
    expect(h.registry.selfPreservation).toBe(false);
    expect(h.logs.filter((l) => l.startsWith('self-preservation off'))).toHaveLength(1);
    expect(h.registry.list('web', { health: 'any' }).instances).toHaveLength(20);
    for (let t = 0; t < 30; t += 5) {
      await heartbeat(h, [...alive, ...silent.slice(0, 7)]);
      await h.tick(5_000);
    }
    const left = h.registry.list('web', { health: 'any' }).instances.map((i) => i.id);
    expect(left).toEqual([...alive, ...silent.slice(0, 7)]);
    expect(
      h.changes
        .filter((c) => c.type === 'expired')
        .map((c) => c.instance.id)
        .sort(),
    ).toEqual(silent.slice(7));
  });

  it('removes none of the cut-off instances when a partition heals one connection at a time (issue #21)', async () => {
    const h = await harness();
    const ids = await fleet(h, 20);
    const alive = ids.slice(0, 10);
    const cut = ids.slice(10);
    for (let t = 0; t < 60; t += 5) {
      await heartbeat(h, alive);
      await h.tick(5_000);
    }
    expect(h.registry.selfPreservation).toBe(true);
    // The first cut-off instance gets through: the share overdue falls below the threshold and it ends.
    await heartbeat(h, [...alive, cut[0] as string]);
    await h.tick(SWEEP_MS);
    expect(h.registry.selfPreservation).toBe(false);
    // The others reconnect over the next seconds, within their deregisterAfter: none was removed meanwhile.
    for (let i = 1; i < cut.length; i++) {
      await heartbeat(h, [...alive, ...cut.slice(0, i + 1)]);
      await h.tick(2_000);
    }
    expect(h.registry.list('web', { health: 'any' }).instances).toHaveLength(20);
    expect(h.changes.some((c) => c.type === 'expired')).toBe(false);
    expect(h.registry.list('web').instances).toHaveLength(20);
  });

  it('expires normally when fewer leases lapse than the minimum', async () => {
    const h = await harness();
    const ids = await fleet(h, 8);
    await heartbeat(h, ids.slice(0, 4));
    await h.tick(31_000);
    await h.tick(SWEEP_MS);
    expect(h.registry.selfPreservation).toBe(false);
    expect(h.changes.filter((c) => c.type === 'expired').length).toBeGreaterThan(0);
  });

  it('expires normally when the lapsed leases are below the threshold fraction', async () => {
    const h = await harness({ selfPreservationMinimum: 2, selfPreservationThreshold: 0.8 });
    const ids = await fleet(h, 10);
    for (let t = 0; t < 40; t += 5) {
      await heartbeat(h, ids.slice(0, 5));
      await h.tick(5_000);
    }
    expect(h.registry.selfPreservation).toBe(false);
    expect(h.registry.list('web', { health: 'any' }).instances).toHaveLength(5);
  });

  it('suspends deregisterCriticalAfter removals too', async () => {
    const h = await harness({ selfPreservationMinimum: 2 });
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids)
      await h.registry.register(web(id, { ttl: '10s', deregisterAfter: '1h', deregisterCriticalAfter: '5s' }));
    for (let t = 0; t < 30; t += 5) {
      await heartbeat(h, ['a', 'b']);
      await h.tick(5_000);
    }
    expect(h.registry.selfPreservation).toBe(true);
    expect(h.registry.list('web', { health: 'any' }).instances).toHaveLength(4);
  });
});

describe('self-preservation that ends (issue #10)', () => {
  const MAX_MS = 15 * 60_000;

  it('engages when half the fleet goes silent, and removes the dead within its bound while the rest renews', async () => {
    const h = await harness({ selfPreservationMaxMs: MAX_MS });
    const ids = Array.from({ length: 20 }, (_, i) => `w${String(i).padStart(2, '0')}`);
    for (const id of ids) await h.registry.register(web(id, { ttl: '10s' }));
    const alive = ids.slice(0, 10);
    const dead = ids.slice(10);
    let engagedAt: number | undefined;
    let removedAt: number | undefined;
    let newcomerGoneAt: number | undefined;
    const start = h.clock.now();
    // A simulated day, in 5 s steps: the live half renews every step, the dead half never again.
    for (let t = 0; t < 24 * 3_600_000; t += 5_000) {
      for (const id of alive) await h.registry.renew('web', id);
      await h.tick(5_000);
      if (engagedAt === undefined && h.registry.selfPreservation) {
        engagedAt = h.clock.now();
        expect(h.registry.health().selfPreservation).toMatchObject({ active: true, overdue: 10, leases: 20 });
        // A newcomer registered during the outage, dead at once: its silence is its own, and it is removed.
        await h.registry.register(
          web('newcomer', { ttl: '10s', deregisterAfter: '1h', deregisterCriticalAfter: '2s' }),
        );
      }
      if (engagedAt !== undefined && newcomerGoneAt === undefined && !present(h.registry).includes('newcomer')) {
        newcomerGoneAt = h.clock.now();
      }
      if (engagedAt !== undefined && removedAt === undefined && dead.every((id) => !present(h.registry).includes(id))) {
        removedAt = h.clock.now();
      }
    }
    expect(engagedAt).toBeDefined();
    expect((engagedAt as number) - start).toBeLessThanOrEqual(30_000);
    // Nothing was evicted while it held, and the dead went once it had lasted its bound (plus a step).
    expect(removedAt).toBeDefined();
    expect((removedAt as number) - (engagedAt as number)).toBeGreaterThanOrEqual(MAX_MS);
    expect((removedAt as number) - (engagedAt as number)).toBeLessThanOrEqual(MAX_MS + 5_000);
    expect(newcomerGoneAt).toBeDefined();
    expect((newcomerGoneAt as number) - (engagedAt as number)).toBeLessThan(60_000);
    expect(present(h.registry)).toEqual(alive);
    expect(h.registry.selfPreservation).toBe(false);
    expect(h.registry.health().selfPreservation.reason).toMatch(/kept renewing/);
    expect(h.logs.filter((l) => l.startsWith('self-preservation on'))).toHaveLength(1);
  });

  it('never ends by time while no lease renews at all: a registry cut off from everyone evicts no one', async () => {
    const h = await harness({ selfPreservationMaxMs: MAX_MS });
    const ids = Array.from({ length: 12 }, (_, i) => `w${String(i).padStart(2, '0')}`);
    for (const id of ids) await h.registry.register(web(id, { ttl: '10s' }));
    for (let t = 0; t < 6 * 3_600_000; t += 60_000) await h.tick(60_000);
    expect(h.registry.selfPreservation).toBe(true);
    expect(present(h.registry)).toEqual(ids);
    // Heartbeats come back: every instance is back without registering again.
    for (const id of ids) await h.registry.renew('web', id);
    await h.tick(1_000);
    expect(h.registry.selfPreservation).toBe(false);
    expect(discoverable(h.registry)).toEqual(ids);
  });

  it('keeps deregisterCriticalAfter working for instances without a lease while it holds', async () => {
    const h = await harness({ selfPreservationMinimum: 2 });
    for (const id of ['a', 'b', 'c', 'd']) await h.registry.register(web(id, { ttl: '10s', deregisterAfter: '1h' }));
    await h.registry.register(web('probed', { checks: [httpCheck], deregisterCriticalAfter: '5s' }));
    for (let t = 0; t < 30; t += 5) {
      for (const id of ['a', 'b']) await h.registry.renew('web', id);
      await h.tick(5_000);
    }
    expect(h.registry.selfPreservation).toBe(true);
    expect(present(h.registry)).toEqual(['a', 'b', 'c', 'd']);
  });
});

function present(registry: Registry): string[] {
  return registry.list('web', { status: 'any', health: 'any' }).instances.map((i) => i.id);
}
