import { describe, expect, it } from 'vitest';
import { LOAD_WINDOW_MS, LoadWindow, bucketOf, bucketRange, loadFigures } from './load-window.js';
import type { Upstream } from './upstream.js';

/** Just what loadFigures reads of an upstream. */
function upstream(outstanding = 0): Upstream {
  return { outstanding, load: new LoadWindow() } as unknown as Upstream;
}

describe('LoadWindow', () => {
  it('puts every latency in a bucket whose range holds it', () => {
    for (const ms of [0, 0.01, 0.064, 0.1, 0.5, 1, 3.3, 17, 250, 999, 12_345, 400_000]) {
      const [lower, upper] = bucketRange(bucketOf(ms));
      expect(ms).toBeGreaterThanOrEqual(lower);
      expect(ms).toBeLessThan(upper);
      // Buckets are at most 25 % wide above the first.
      if (ms >= 0.064) expect(upper / lower).toBeLessThanOrEqual(1.25);
    }
    expect(bucketOf(-1)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(bucketOf(1e12));
  });

  it('counts answers per second over the last window, and forgets older ones', () => {
    const u = upstream();
    // 10 answers a second for 20 s.
    for (let t = 0; t < 20_000; t += 100) u.load.record(5, 1_000_000 + t);
    const now = 1_000_000 + 20_000;
    expect(loadFigures([u], now).rps).toBeCloseTo(10, 0);
    expect(u.load.count(now + LOAD_WINDOW_MS)).toBe(0);
    expect(loadFigures([u], now + LOAD_WINDOW_MS)).toEqual({ inflight: 0, rps: 0, p90Ms: null });
  });

  it('slides one second at a time', () => {
    const u = upstream();
    u.load.record(1, 0);
    u.load.record(1, 5_500);
    expect(u.load.count(9_999)).toBe(2);
    expect(u.load.count(10_000)).toBe(1);
    expect(u.load.count(14_999)).toBe(1);
    expect(u.load.count(15_000)).toBe(0);
    // A record long after the last one starts from an empty window.
    u.load.record(1, 100_000);
    expect(u.load.count(100_000)).toBe(1);
  });

  it('gives a service the p90 of all its answers, not an average of its instances', () => {
    const fast = upstream(2);
    const slow = upstream(1);
    for (let i = 0; i < 80; i++) fast.load.record(10, 5_000);
    for (let i = 0; i < 20; i++) slow.load.record(200, 5_000);
    const figures = loadFigures([fast, slow], 5_500);
    expect(figures.inflight).toBe(3);
    // The 90th of 100 answers is among the slow ones: within its bucket (≤ 25 %).
    expect(figures.p90Ms).toBeGreaterThanOrEqual(160);
    expect(figures.p90Ms).toBeLessThanOrEqual(250);
    expect(loadFigures([fast], 5_500).p90Ms).toBeCloseTo(10, -1);
  });
});
