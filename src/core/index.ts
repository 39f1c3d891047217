export { Registry, createRegistry } from './registry.js';
export { OUTPUT_LIMIT } from './check-state.js';
export type { CheckResult } from './check-state.js';
export { LeaseTable } from './lease-table.js';
export type { ChangeBatchListener, ChangeListener, ChangeSource } from './change-feed.js';
export { EVERY_INSTANCE, everyInstance } from './instance-index.js';
export type { InstanceFilter } from './instance-index.js';
export type {
  CheckSink,
  RegisterRequest,
  RegistryCommands,
  RegistryQueries,
  ScheduledCheck,
  SweepReport,
} from './registry.js';
export type { Renewal } from './renewal.js';
export { checkInstanceId, checkServiceName } from './validate.js';
