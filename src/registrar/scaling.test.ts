import { describe, expect, it } from 'vitest';
import { Scaler } from './scaling.js';
import type { LoadSample, ScaleMetric } from './scaling.js';

const COOLDOWN = 10_000;

/** A sample of `instances` routed instances at time `at`, each figure per instance. */
function sample(at: number, figures: Partial<Omit<LoadSample, 'service' | 'at'>> = {}): LoadSample {
  return {
    service: 'web',
    instances: 1,
    inflightPerInstance: 0,
    rpsPerInstance: 0,
    p90Ms: null,
    ...figures,
    at,
  };
}

/** A scaler that saw its first sample at time 0 (so its first step may come at COOLDOWN). */
function scaler(metric: ScaleMetric, target: number, bounds = { min: 1, max: 4 }): Scaler {
  const s = new Scaler({ metric, target, cooldownMs: COOLDOWN }, bounds);
  expect(s.decide(bounds.min, sample(0, { instances: bounds.min }))).toBeUndefined();
  return s;
}

/** Feeds one sample a second and applies each decision, as the registrar does; returns the counts and step times. */
function replay(
  s: Scaler,
  run: { start: number; seconds: number },
  load: (t: number, current: number) => Partial<Omit<LoadSample, 'service' | 'at'>>,
): { counts: number[]; steps: number[] } {
  let current = run.start;
  const counts: number[] = [];
  const steps: number[] = [];
  for (let t = 0; t <= run.seconds; t++) {
    const decision = s.decide(current, sample(t * 1000, load(t, current)));
    if (decision) {
      expect(Math.abs(decision.desired - current)).toBe(1);
      current = decision.desired;
      steps.push(t * 1000);
    }
    counts.push(current);
  }
  return { counts, steps };
}

describe('Scaler', () => {
  it('adds one instance when rps per instance is above the target, and says why', () => {
    const s = scaler('rps', 20);
    expect(s.decide(2, sample(0, { instances: 2, rpsPerInstance: 48.2 }))).toBeUndefined();
    expect(s.decide(2, sample(COOLDOWN, { instances: 2, rpsPerInstance: 48.2 }))).toEqual({
      desired: 3,
      reason: 'rps per instance 48.2 > target 20 with 2 instances: 2 → 3',
    });
  });

  it('waits a cooldown after its first sample before the first step', () => {
    const s = new Scaler({ metric: 'inflight', target: 2, cooldownMs: COOLDOWN }, { min: 1, max: 4 });
    const busy = { instances: 1, inflightPerInstance: 10 };
    expect(s.decide(1, sample(5_000, busy))).toBeUndefined();
    expect(s.decide(1, sample(5_000 + COOLDOWN - 1, busy))).toBeUndefined();
    expect(s.decide(1, sample(5_000 + COOLDOWN, busy))?.desired).toBe(2);
  });

  it('takes at most one step per cooldown under a sustained load, up to max', () => {
    const s = scaler('inflight', 2);
    // A load of 40 in flight, whatever the count: always above target.
    const { counts, steps } = replay(s, { start: 1, seconds: 60 }, (_t, current) => ({
      instances: current,
      inflightPerInstance: 40 / current,
    }));
    expect(counts.at(-1)).toBe(4);
    expect(steps).toEqual([10_000, 20_000, 30_000]);
  });

  it('falls back to min one step per cooldown once the load stops', () => {
    const s = scaler('rps', 20);
    const { counts, steps } = replay(s, { start: 4, seconds: 60 }, (_t, current) => ({
      instances: current,
      rpsPerInstance: 0,
      p90Ms: 3,
    }));
    expect(counts.at(-1)).toBe(1);
    expect(steps).toEqual([10_000, 20_000, 30_000]);
  });

  it('does not flap when the load sits between the thresholds', () => {
    const s = scaler('rps', 20);
    // 30 rps over 2 instances: 15 each, under the target; over one it would be 30, so it stays at 2.
    const { steps } = replay(s, { start: 2, seconds: 120 }, (_t, current) => ({
      instances: current,
      rpsPerInstance: 30 / current,
    }));
    expect(steps).toEqual([]);
  });

  it('steps down only when one instance fewer would stay under 80 % of the target', () => {
    const s = scaler('rps', 20);
    const at = COOLDOWN;
    // 3 instances, target 20: the threshold is 20 × 2/3 × 0.8 ≈ 10.67 per instance.
    expect(s.decide(3, sample(at, { instances: 3, rpsPerInstance: 11 }))).toBeUndefined();
    expect(s.decide(3, sample(at, { instances: 3, rpsPerInstance: 10 }))).toEqual({
      desired: 2,
      reason: 'rps per instance 10 < 10.67 (target 20 × 2/3 × 0.8) with 3 instances: 3 → 2',
    });
  });

  it('steps once per cooldown under a load that swings above and below the target', () => {
    const s = scaler('rps', 20);
    // 100 rps for 5 s, then 0 for 5 s, and again: samples swing every few seconds, steps stay a cooldown apart.
    const { steps } = replay(s, { start: 2, seconds: 300 }, (t, current) => ({
      instances: current,
      rpsPerInstance: Math.floor(t / 5) % 2 === 0 ? 100 / current : 0,
    }));
    expect(steps.length).toBeGreaterThan(2);
    for (let i = 1; i < steps.length; i++)
      expect((steps[i] as number) - (steps[i - 1] as number)).toBeGreaterThanOrEqual(COOLDOWN);
  });

  it('shares the load out over the instances it runs, not only those already routed to', () => {
    const s = scaler('inflight', 5);
    // 3 running, one not yet routed to: 12 in flight over 2 routed = 6 each, but 4 each once the third takes traffic.
    expect(s.decide(3, sample(COOLDOWN, { instances: 2, inflightPerInstance: 6 }))).toBeUndefined();
  });

  it('scales on p90 latency, and reads no answers in the window as idle', () => {
    const s = scaler('p90', 200);
    expect(s.decide(2, sample(COOLDOWN, { instances: 2, p90Ms: 230 }))).toEqual({
      desired: 3,
      reason: 'p90 latency 230 ms > target 200 ms with 2 instances: 2 → 3',
    });
    expect(s.decide(3, sample(2 * COOLDOWN, { instances: 3, p90Ms: 120 }))).toBeUndefined();
    expect(s.decide(3, sample(2 * COOLDOWN, { instances: 3, p90Ms: null }))).toEqual({
      desired: 2,
      reason: "no request answered in the gateway's last window (idle) with 3 instances: 3 → 2",
    });
  });

  it('does not take requests still under way for idleness', () => {
    const s = scaler('p90', 200);
    expect(s.decide(3, sample(COOLDOWN, { instances: 3, p90Ms: null, inflightPerInstance: 2 }))).toBeUndefined();
  });

  it('stays inside its bounds: never above max, never below min', () => {
    const s = scaler('inflight', 2, { min: 2, max: 3 });
    expect(s.decide(3, sample(COOLDOWN, { instances: 3, inflightPerInstance: 50 }))).toBeUndefined();
    expect(s.decide(2, sample(2 * COOLDOWN, { instances: 2, inflightPerInstance: 0 }))).toBeUndefined();
  });

  it('brings a count outside the bounds inside them at once, without load', () => {
    const s = new Scaler({ metric: 'rps', target: 20, cooldownMs: COOLDOWN }, { min: 2, max: 3 });
    expect(s.decide(1, sample(0, { instances: 1 }))).toEqual({ desired: 2, reason: 'below min 2: 1 → 2' });
    expect(s.decide(5, sample(1, { instances: 5 }))).toEqual({ desired: 4, reason: 'above max 3: 5 → 4' });
  });

  it('decides nothing while no instance takes traffic', () => {
    const s = scaler('rps', 20);
    expect(s.decide(3, sample(COOLDOWN, { instances: 0 }))).toBeUndefined();
  });

  it('refuses a rule it cannot follow', () => {
    expect(() => new Scaler({ metric: 'rps', target: 0, cooldownMs: 1 }, { min: 1, max: 2 })).toThrow(/target/);
    expect(() => new Scaler({ metric: 'rps', target: 1, cooldownMs: 1 }, { min: 3, max: 2 })).toThrow(/bounds/);
    expect(() => new Scaler({ metric: 'cpu' as ScaleMetric, target: 1, cooldownMs: 1 }, { min: 1, max: 2 })).toThrow(
      /metric/,
    );
  });
});
