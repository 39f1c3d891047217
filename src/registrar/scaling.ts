/**
 * The registrar's scaling policy (issue #15): from the gateway's load figures (load-source.ts), one step up when the
 * service's metric per instance is above its target, one step down when it is well below, never outside the bounds.
 * The registrar (registrar.ts) calls `Scaler.decide` on an interval with the running count and a fresh sample.
 *
 * Invariants:
 * - Never flapping: at most one step per cooldown (the first one too waits a cooldown after the first sample), and a
 *   step down only when the load spread over one instance fewer would still be below 80 % of the target, so removing
 *   an instance cannot by itself push the service back above the target.
 * - Pure and deterministic: time is `sample.at`, never the clock, so tests replay any load with no waiting.
 * - inflight and rps are shared out over `current`, the instances the registrar runs, not over those the gateway
 *   routes to now: an instance just started and not yet routed to then counts as the capacity it is about to be, so
 *   the next cooldown does not add another for the same load.
 */

/** The load figures a scale rule may follow: in-flight requests per instance, requests per second per instance, p90 latency. */
export const SCALE_METRICS = ['inflight', 'rps', 'p90'] as const;
export type ScaleMetric = (typeof SCALE_METRICS)[number];

export interface ScaleRule {
  metric: ScaleMetric;
  /** The value per instance (p90: milliseconds) the rule keeps the service at. */
  target: number;
  /** Time between two scaling steps of one service, and before the first. */
  cooldownMs: number;
}

/** One reading of a service's load, as the gateway sees it. */
export interface LoadSample {
  service: string;
  /** Instances the gateway could route to when sampled. */
  instances: number;
  inflightPerInstance: number;
  rpsPerInstance: number;
  /** p90 latency over the last window, ms; null when no request was answered in it. */
  p90Ms: number | null;
  /** Epoch ms. */
  at: number;
}

export interface ScaleDecision {
  desired: number;
  /** Why, in words for the log and `switchboard agent status`. */
  reason: string;
}

/** How far under its share of the target the load must fall before one instance is removed. */
const DOWN_MARGIN = 0.8;

/**
 * One service's scaling policy: its rule, its bounds, and when it last stepped.
 * @example
 * const scaler = new Scaler({ metric: 'rps', target: 20, cooldownMs: 30_000 }, { min: 1, max: 4 });
 * const decision = scaler.decide(group.desired, await loadSource.sample('tickets'));
 * if (decision) group.setDesired(decision.desired); // with the reason in the log
 */
export class Scaler {
  readonly #rule: ScaleRule;
  readonly #min: number;
  readonly #max: number;
  /** When the last step was taken; before any, the time of the first sample (the first step waits a cooldown too). */
  #lastStepAt: number | undefined;

  constructor(rule: ScaleRule, bounds: { min: number; max: number }) {
    if (!SCALE_METRICS.includes(rule.metric)) throw new Error(`unknown scale metric ${rule.metric}`);
    if (!(rule.target > 0) || !(rule.cooldownMs >= 0)) {
      throw new Error(`a scale rule needs a positive target and cooldown (got ${rule.target}, ${rule.cooldownMs} ms)`);
    }
    if (!(bounds.min >= 0 && bounds.max >= bounds.min)) {
      throw new Error(`scale bounds need 0 <= min <= max (got ${bounds.min}..${bounds.max})`);
    }
    this.#rule = rule;
    this.#min = bounds.min;
    this.#max = bounds.max;
  }

  /** The next instance count with its reason, or undefined to stay at `current`. At most one step from `current`. */
  decide(current: number, sample: LoadSample): ScaleDecision | undefined {
    const at = sample.at;
    this.#lastStepAt ??= at;
    // Bounds first, load or not: a definition whose bounds changed is brought inside them at once.
    if (current < this.#min)
      return this.#step(at, { desired: current + 1, reason: `below min ${this.#min}: ${current} → ${current + 1}` });
    if (current > this.#max)
      return this.#step(at, { desired: current - 1, reason: `above max ${this.#max}: ${current} → ${current - 1}` });
    if (at - this.#lastStepAt < this.#rule.cooldownMs) return undefined;
    // Nothing routed to: the gateway cannot see the service's load, so it cannot say whether to add or remove one.
    if (sample.instances === 0) return undefined;
    const { name, value, unit } = this.#read(current, sample);
    const { target } = this.#rule;
    const having = `with ${current} instance${current === 1 ? '' : 's'}`;
    if (value !== null && value > target && current < this.#max) {
      const reason = `${name} ${fmt(value)}${unit} > target ${fmt(target)}${unit} ${having}: ${current} → ${current + 1}`;
      return this.#step(at, { desired: current + 1, reason });
    }
    if (current <= this.#min) return undefined;
    if (value === null) {
      // No answer in the window but requests under way: slow, not idle.
      if (sample.inflightPerInstance > 0) return undefined;
      const reason = `no request answered in the gateway's last window (idle) ${having}: ${current} → ${current - 1}`;
      return this.#step(at, { desired: current - 1, reason });
    }
    const floor = (target * (current - 1) * DOWN_MARGIN) / current;
    if (value >= floor) return undefined;
    const reason =
      `${name} ${fmt(value)}${unit} < ${fmt(floor)}${unit} (target ${fmt(target)} × ${current - 1}/${current} × ` +
      `${DOWN_MARGIN}) ${having}: ${current} → ${current - 1}`;
    return this.#step(at, { desired: current - 1, reason });
  }

  #step(at: number, decision: ScaleDecision): ScaleDecision {
    this.#lastStepAt = at;
    return decision;
  }

  /** The rule's metric from the sample: per instance for inflight and rps (over `current`); p90 is null without answers. */
  #read(current: number, sample: LoadSample): { name: string; value: number | null; unit: string } {
    const metric = this.#rule.metric;
    switch (metric) {
      case 'inflight':
        return {
          name: 'in-flight per instance',
          value: perInstance(sample.inflightPerInstance, sample, current),
          unit: '',
        };
      case 'rps':
        return { name: 'rps per instance', value: perInstance(sample.rpsPerInstance, sample, current), unit: '' };
      case 'p90':
        return { name: 'p90 latency', value: sample.p90Ms, unit: ' ms' };
    }
  }
}

/** A per-instance figure over the instances the gateway routes to, shared out over the `current` ones instead. */
function perInstance(value: number, sample: LoadSample, current: number): number {
  return current > 0 ? (value * sample.instances) / current : value * sample.instances;
}

/** At most two decimals, as people write it: 48.2, 20, 0.25. */
function fmt(value: number): string {
  return String(Math.round(value * 100) / 100);
}
