export { Registry, createRegistry } from './registry.js';
export { OUTPUT_LIMIT } from './check-state.js';
export type { CheckResult } from './check-state.js';
export { LeaseTable } from './lease-table.js';
export type {
  ChangeListener,
  InstanceFilter,
  MaintenanceRequest,
  RegisterRequest,
  ScheduledCheck,
} from './registry.js';
export { checkInstanceId, checkServiceName } from './validate.js';
