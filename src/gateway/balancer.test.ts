import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Instance } from '../wire/index.js';
import { createBalancer } from './balancer.js';
import { DEFAULT_OUTLIER, Upstream } from './upstream.js';

const upstreams: Upstream[] = [];

function upstream(id: string, weight = 100): Upstream {
  const instance = { id, service: 'web', host: '127.0.0.1', port: 1, weight } as Instance;
  const u = new Upstream(instance, { upstreamTimeoutMs: 1_000, connectTimeoutMs: 1_000, maxConnections: 1 });
  upstreams.push(u);
  return u;
}

function picks(balancer: { pick(avoid?: Upstream): Upstream | undefined }, n: number): string {
  return Array.from({ length: n }, () => balancer.pick()?.instance.id ?? '-').join('');
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(upstreams.splice(0).map((u) => u.destroy()));
});

describe('balancers', () => {
  it('round-robin takes each instance in turn and skips ejected ones', () => {
    const [a, b, c] = [upstream('a'), upstream('b'), upstream('c')];
    const balancer = createBalancer('round-robin', [a, b, c]);
    expect(picks(balancer, 6)).toBe('abcabc');
    b.ejected = true;
    expect(picks(balancer, 4)).toBe('acac');
    a.ejected = c.ejected = true;
    expect(balancer.pick()).toBeUndefined();
  });

  it('never picks the instance a retry moves away from', () => {
    const [a, b] = [upstream('a'), upstream('b')];
    for (const strategy of ['round-robin', 'weighted', 'least-outstanding'] as const) {
      const balancer = createBalancer(strategy, [a, b]);
      for (let i = 0; i < 5; i++) expect(balancer.pick(a)).toBe(b);
      expect(createBalancer(strategy, [a]).pick(a)).toBeUndefined();
    }
  });

  it('weighted spreads picks smoothly in proportion to the weights', () => {
    const balancer = createBalancer('weighted', [upstream('a', 5), upstream('b', 1), upstream('c', 1)]);
    // nginx's smooth weighted round-robin: the heavy instance never takes a long run.
    expect(picks(balancer, 7)).toBe('aabacaa');
    expect(picks(balancer, 7)).toBe('aabacaa');
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 700; i++) counts[balancer.pick()?.instance.id as 'a' | 'b' | 'c'] += 1;
    expect(counts).toEqual({ a: 500, b: 100, c: 100 });
  });

  it('weighted gives no traffic to weight 0 and reshares around ejected instances', () => {
    const [a, b, c] = [upstream('a', 3), upstream('b', 1), upstream('c', 0)];
    const balancer = createBalancer('weighted', [a, b, c]);
    expect(picks(balancer, 8).split('').sort().join('')).toBe('aaaaaabb');
    a.ejected = true;
    expect(picks(balancer, 3)).toBe('bbb');
  });

  it('least-outstanding picks the instance with the fewest requests under way, rotating ties', () => {
    const [a, b, c] = [upstream('a'), upstream('b'), upstream('c')];
    const balancer = createBalancer('least-outstanding', [a, b, c]);
    expect(picks(balancer, 3)).toBe('abc');
    a.outstanding = 2;
    b.outstanding = 1;
    c.outstanding = 3;
    expect(picks(balancer, 3)).toBe('bbb');
    b.ejected = true;
    expect(balancer.pick()?.instance.id).toBe('a');
  });
});

describe('outlier ejection', () => {
  it('ejects after consecutive failures for a cool-down that doubles while the instance keeps failing', () => {
    vi.useFakeTimers();
    const u = upstream('a');
    const outlier = { ...DEFAULT_OUTLIER, consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 3_000 };
    expect(u.failed(outlier, 0)).toBeUndefined();
    expect(u.failed(outlier, 0)).toBeUndefined();
    expect(u.failed(outlier, 0)?.cooldownMs).toBe(1_000);
    expect(u.ejected).toBe(true);
    vi.advanceTimersByTime(999);
    expect(u.ejected).toBe(true);
    vi.advanceTimersByTime(1);
    expect(u.ejected).toBe(false);
    for (let i = 0; i < 2; i++) u.failed(outlier, 0);
    expect(u.failed(outlier, 0)?.cooldownMs).toBe(2_000);
    vi.advanceTimersByTime(2_000);
    for (let i = 0; i < 2; i++) u.failed(outlier, 0);
    expect(u.failed(outlier, 0)?.cooldownMs).toBe(3_000);
    expect(u.totalEjections).toBe(3);
  });

  it('forgets failures after a success', () => {
    vi.useFakeTimers();
    const u = upstream('a');
    const outlier = { consecutiveFailures: 2, baseEjectionMs: 1_000, maxEjectionMs: 10_000 };
    u.failed(outlier, 0);
    u.succeeded();
    expect(u.failed(outlier, 0)).toBeUndefined();
    expect(u.failed(outlier, 0)?.cooldownMs).toBe(1_000);
    vi.advanceTimersByTime(1_000);
    u.succeeded();
    u.failed(outlier, 0);
    // The ejection streak ended with the success: the next cool-down starts from the base again.
    expect(u.failed(outlier, 0)?.cooldownMs).toBe(1_000);
  });
});
