export { RegistryError } from '../errors/index.js';
export type { ErrorCode } from '../errors/index.js';
export {
  ExistingServiceError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
} from './errors.js';
export { RegistryClient } from './registry-client.js';
export { registerSelf } from './register-self.js';
export { Discovery } from './discovery.js';
export type { DiscoveryChange, DiscoveryListener, DiscoveryOptions, DiscoveryStrategy } from './discovery.js';
export type { SnapshotEvent, WatchEvent, WatchOptions, WatchStatus } from './watch.js';
export type { AgentLogger, RegisterSelfOptions, RegistrationAgent } from './register-self.js';
export type {
  Answer,
  GetServiceOptions,
  InstanceInput,
  RegisterOptions,
  RegistryClientOptions,
  RequestOptions,
} from './registry-client.js';
export type {
  ChangeEvent,
  ChangeType,
  CheckDefinition,
  CheckKind,
  Duration,
  Endpoint,
  Health,
  Instance,
  InstanceCheck,
  InstancePage,
  InstanceRegistration,
  InstanceStatus,
  Maintenance,
  ServiceAnswer,
  ServiceList,
  ServiceSummary,
} from '../wire/index.js';
