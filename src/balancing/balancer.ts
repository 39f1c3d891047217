/**
 * The balancers the SDK's `Discovery` and the gateway share. A balancer is built over a fixed, ordered list of items
 * (the SDK's instances, the gateway's upstreams) and reads what it needs through a `BalancerAccess`. `pick` skips
 * items that are not available (ejected, cooling down) and the one to avoid (the item a retry is moving away from),
 * and returns undefined when none is left. Picks allocate nothing.
 */

/** The strategies a service or a caller may choose. */
export const BALANCE_STRATEGIES = ['round-robin', 'weighted', 'least-outstanding'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];
/** Every strategy `createBalancer` builds: the SDK also offers a uniform random choice. */
export type PickStrategy = BalanceStrategy | 'random';

export function isBalanceStrategy(value: unknown): value is BalanceStrategy {
  return typeof value === 'string' && (BALANCE_STRATEGIES as readonly string[]).includes(value);
}

/** How a balancer reads its items. */
export interface BalancerAccess<T> {
  /** What stays the same for one instance across rebuilds (`avoid` and `keepOrCreateBalancer` compare it). */
  key: (item: T) => unknown;
  /** The instance's weight; 0 (or less) takes no weighted traffic. */
  weight: (item: T) => number;
  /** Calls in flight (least-outstanding). */
  outstanding: (item: T) => number;
  /** False while the item must be skipped (ejected, cooling down). */
  available: (item: T) => boolean;
}

export interface Balancer<T, S extends PickStrategy = PickStrategy> {
  readonly strategy: S;
  pick(avoid?: T): T | undefined;
}

export function createBalancer<T, S extends PickStrategy>(
  strategy: S,
  items: readonly T[],
  access: BalancerAccess<T>,
): Balancer<T, S> {
  const spec = { strategy, items, access };
  switch (strategy) {
    case 'round-robin':
      return new RoundRobin(spec);
    case 'random':
      return new Random(spec);
    case 'weighted':
      return new SmoothWeighted(spec);
    case 'least-outstanding':
      return new LeastOutstanding(spec);
  }
}

/**
 * The balancer `old` when it was built with `strategy` over the same instances with the same weights (so its rotation
 * and weights carry on across changes that do not concern it), now over `items`; else a new one.
 */
export function keepOrCreateBalancer<T, S extends PickStrategy>(
  old: Balancer<T, S> | undefined,
  strategy: S,
  next: { items: readonly T[]; access: BalancerAccess<T> },
): Balancer<T, S> {
  const { items, access } = next;
  if (old instanceof Base && old.strategy === strategy && old.access === access && old.items.length === items.length) {
    const built = old as Base<T, S>;
    let same = true;
    for (let i = 0; i < items.length && same; i++) {
      const item = items[i] as T;
      same = access.key(item) === access.key(built.items[i] as T) && access.weight(item) === built.weights[i];
    }
    if (same) {
      // Same instances in the same order: the state carries on, over their latest records.
      built.items = items;
      return built;
    }
  }
  return createBalancer(strategy, items, access);
}

interface Spec<T, S> {
  strategy: S;
  items: readonly T[];
  access: BalancerAccess<T>;
}

abstract class Base<T, S extends PickStrategy> implements Balancer<T, S> {
  readonly strategy: S;
  items: readonly T[];
  readonly access: BalancerAccess<T>;
  /** The weights the balancer was built with. */
  readonly weights: Float64Array;

  constructor(spec: Spec<T, S>) {
    this.strategy = spec.strategy;
    this.items = spec.items;
    this.access = spec.access;
    this.weights = Float64Array.from(spec.items, (item) => spec.access.weight(item));
  }

  abstract pick(avoid?: T): T | undefined;

  /** May `item` take this pick? */
  protected usable(item: T, avoidKey: unknown): boolean {
    return this.access.available(item) && (avoidKey === undefined || this.access.key(item) !== avoidKey);
  }

  protected keyOf(avoid: T | undefined): unknown {
    return avoid === undefined ? undefined : this.access.key(avoid);
  }

  #cursor = 0;

  /** A rotating position in `items` (for round-robin, and for ties): the current one, then one further. */
  protected advance(): number {
    const at = this.#cursor;
    this.#cursor = at + 1 >= this.items.length ? 0 : at + 1;
    return at;
  }
}

class RoundRobin<T, S extends PickStrategy> extends Base<T, S> {
  pick(avoid?: T): T | undefined {
    const avoidKey = this.keyOf(avoid);
    // Each item at most once, starting where the last pick left off.
    for (let left = this.items.length; left > 0; left--) {
      const item = this.items[this.advance()] as T;
      if (this.usable(item, avoidKey)) return item;
    }
    return undefined;
  }
}

/** Uniform over the usable items. */
class Random<T, S extends PickStrategy> extends Base<T, S> {
  pick(avoid?: T): T | undefined {
    const avoidKey = this.keyOf(avoid);
    const list = this.items;
    let usable = 0;
    for (const item of list) if (this.usable(item, avoidKey)) usable++;
    if (usable === 0) return undefined;
    let left = Math.floor(Math.random() * usable);
    for (const item of list) {
      if (this.usable(item, avoidKey) && left-- === 0) return item;
    }
    return undefined;
  }
}

/**
 * Smooth weighted round-robin (as nginx does it): every pick adds each candidate's weight to its running total, takes
 * the largest and subtracts the sum of weights from it. Weights 5:1:1 give a b a c a a a, not a a a a a b c, and the
 * sequence repeats exactly every sum-of-weights picks. Weight 0 takes no traffic.
 */
class SmoothWeighted<T, S extends PickStrategy> extends Base<T, S> {
  readonly #current = new Float64Array(this.items.length);
  readonly #shares = this.weights.map((weight) => Math.max(0, weight));

  pick(avoid?: T): T | undefined {
    const avoidKey = this.keyOf(avoid);
    const list = this.items;
    const current = this.#current;
    const weights = this.#shares;
    let total = 0;
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      const weight = weights[i] as number;
      if (weight === 0 || !this.usable(list[i] as T, avoidKey)) continue;
      current[i] = (current[i] as number) + weight;
      total += weight;
      if (best === -1 || (current[i] as number) > (current[best] as number)) best = i;
    }
    if (best === -1) return undefined;
    current[best] = (current[best] as number) - total;
    return list[best];
  }
}

/** Fewest calls in flight; ties go round-robin so idle instances share a light load. */
class LeastOutstanding<T, S extends PickStrategy> extends Base<T, S> {
  pick(avoid?: T): T | undefined {
    const list = this.items;
    const n = list.length;
    if (n === 0) return undefined;
    const avoidKey = this.keyOf(avoid);
    const start = this.advance();
    let best: T | undefined;
    let fewest = Infinity;
    for (let k = 0; k < n; k++) {
      const item = list[(start + k) % n] as T;
      if (!this.usable(item, avoidKey)) continue;
      const count = this.access.outstanding(item);
      if (best === undefined || count < fewest) {
        best = item;
        fewest = count;
      }
    }
    return best;
  }
}
