/**
 * The shared balancers (src/balancing/) over a route's eligible upstreams: an upstream is skipped while it is ejected,
 * and `outstanding` counts the requests under way on it.
 */
import { createBalancer as createSharedBalancer, keepOrCreateBalancer } from '../balancing/index.js';
import type { BalanceStrategy, Balancer as SharedBalancer, BalancerAccess } from '../balancing/index.js';
import type { Upstream } from './upstream.js';

export type { BalanceStrategy } from '../balancing/index.js';

export type Balancer = SharedBalancer<Upstream, BalanceStrategy>;

/** An upstream is the same instance for as long as it lives: a new address gets a new upstream. */
const UPSTREAMS: BalancerAccess<Upstream> = {
  key: (upstream) => upstream,
  weight: (upstream) => upstream.instance.weight,
  outstanding: (upstream) => upstream.outstanding,
  available: (upstream) => !upstream.ejected,
};

export function createBalancer(strategy: BalanceStrategy, upstreams: readonly Upstream[]): Balancer {
  return createSharedBalancer(strategy, upstreams, UPSTREAMS);
}

/** `old` while its upstreams and their weights are as they were (its rotation carries on), else a new balancer. */
export function keepBalancer(
  old: Balancer | undefined,
  strategy: BalanceStrategy,
  upstreams: readonly Upstream[],
): Balancer {
  return keepOrCreateBalancer(old, strategy, { items: upstreams, access: UPSTREAMS });
}
