export { ManualClock, systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { Registry, createRegistry } from './registry.js';
export { OUTPUT_LIMIT } from './check-state.js';
export type { CheckResult } from './check-state.js';
export { LeaseTable } from './lease-table.js';
export type {
  ChangeListener,
  InstanceFilter,
  LeaseOptions,
  MaintenanceRequest,
  RegisterOptions,
  RegisterRequest,
  RegisterResult,
  RegistryHealth,
  RegistryLogger,
  RegistryOptions,
  ScheduledCheck,
  ServiceInstances,
} from './registry.js';
export { checkInstanceId, checkServiceName, checkStatus, isInstanceStatus } from './validate.js';
