export { ManualClock, systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { Registry, createRegistry } from './registry.js';
export type {
  ChangeListener,
  InstanceFilter,
  LeaseOptions,
  RegisterOptions,
  RegisterRequest,
  RegisterResult,
  RegistryHealth,
  RegistryLogger,
  RegistryOptions,
  ServiceInstances,
} from './registry.js';
export { checkInstanceId, checkServiceName, checkStatus, isInstanceStatus } from './validate.js';
