/**
 * Which instances may receive traffic: the one rule the SDK's `Discovery` and the gateway's route table both apply.
 */
import type { Instance } from '../wire/index.js';

/** Status UP, health not critical, and not in maintenance (a registry may not report maintenance at all). */
export function isEligible(instance: Instance): boolean {
  return instance.status === 'UP' && instance.health !== 'critical' && !inMaintenance(instance);
}

export function inMaintenance(instance: Instance): boolean {
  return instance.maintenance?.enabled === true;
}
