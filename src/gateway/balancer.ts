/**
 * Load balancers over a route's eligible upstreams. `pick` skips ejected upstreams and the one to avoid (the instance a
 * retry is moving away from), and returns undefined when none is left. Picks allocate nothing.
 */
import type { Upstream } from './upstream.js';

export const BALANCE_STRATEGIES = ['round-robin', 'weighted', 'least-outstanding'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];

export function isBalanceStrategy(value: unknown): value is BalanceStrategy {
  return typeof value === 'string' && (BALANCE_STRATEGIES as readonly string[]).includes(value);
}

export interface Balancer {
  readonly strategy: BalanceStrategy;
  pick(avoid?: Upstream): Upstream | undefined;
}

export function createBalancer(strategy: BalanceStrategy, upstreams: readonly Upstream[]): Balancer {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobin(upstreams);
    case 'weighted':
      return new SmoothWeighted(upstreams);
    case 'least-outstanding':
      return new LeastOutstanding(upstreams);
  }
}

class RoundRobin implements Balancer {
  readonly strategy = 'round-robin';
  #next = 0;
  constructor(readonly upstreams: readonly Upstream[]) {}

  pick(avoid?: Upstream): Upstream | undefined {
    const list = this.upstreams;
    const n = list.length;
    for (let tried = 0; tried < n; tried++) {
      const upstream = list[this.#next] as Upstream;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (!upstream.ejected && upstream !== avoid) return upstream;
    }
    return undefined;
  }
}

/**
 * Smooth weighted round-robin (as nginx does it): every pick adds each candidate's weight to its running total, takes
 * the largest and subtracts the sum of weights from it. Weights 5:1:1 give a b a c a a a, not a a a a a b c, and the
 * sequence repeats exactly every sum-of-weights picks. Weight 0 takes no traffic.
 */
class SmoothWeighted implements Balancer {
  readonly strategy = 'weighted';
  readonly #current: Float64Array;
  readonly #weights: Float64Array;
  constructor(readonly upstreams: readonly Upstream[]) {
    this.#current = new Float64Array(upstreams.length);
    this.#weights = Float64Array.from(upstreams, (u) => Math.max(0, u.instance.weight));
  }

  pick(avoid?: Upstream): Upstream | undefined {
    const list = this.upstreams;
    const current = this.#current;
    const weights = this.#weights;
    let total = 0;
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      const upstream = list[i] as Upstream;
      const weight = weights[i] as number;
      if (weight === 0 || upstream.ejected || upstream === avoid) continue;
      current[i] = (current[i] as number) + weight;
      total += weight;
      if (best === -1 || (current[i] as number) > (current[best] as number)) best = i;
    }
    if (best === -1) return undefined;
    current[best] = (current[best] as number) - total;
    return list[best];
  }
}

/** Fewest requests under way; ties go round-robin so idle instances share a light load. */
class LeastOutstanding implements Balancer {
  readonly strategy = 'least-outstanding';
  #start = 0;
  constructor(readonly upstreams: readonly Upstream[]) {}

  pick(avoid?: Upstream): Upstream | undefined {
    const list = this.upstreams;
    const n = list.length;
    if (n === 0) return undefined;
    const start = this.#start;
    this.#start = start + 1 >= n ? 0 : start + 1;
    let best: Upstream | undefined;
    for (let k = 0; k < n; k++) {
      const upstream = list[(start + k) % n] as Upstream;
      if (upstream.ejected || upstream === avoid) continue;
      if (best === undefined || upstream.outstanding < best.outstanding) best = upstream;
    }
    return best;
  }
}
