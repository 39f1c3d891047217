export { isEligible, inMaintenance } from './eligibility.js';
export { InstanceCache, compare } from './instance-cache.js';
export type { CacheEvent } from './instance-cache.js';
export { BALANCE_STRATEGIES, createBalancer, isBalanceStrategy, keepOrCreateBalancer } from './balancer.js';
export type { BalanceStrategy, Balancer, BalancerAccess, PickStrategy } from './balancer.js';
export { FALLBACK_RETENTION_MS, FallbackMemory, fallbackOf } from './fallback.js';
export type { FallbackMemoryOptions } from './fallback.js';
