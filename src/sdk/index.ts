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
export type { Answer, GetServiceOptions, InstanceInput, RegistryClientOptions, RequestOptions } from './registry-client.js';
export type {
  ChangeEvent,
  ChangeType,
  Duration,
  Endpoint,
  Health,
  Instance,
  InstancePage,
  InstanceRegistration,
  InstanceStatus,
  ServiceAnswer,
  ServiceList,
  ServiceSummary,
} from '../wire/index.js';
