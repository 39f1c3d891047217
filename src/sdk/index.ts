/**
 * The package root (`switchboard`, see package.json "exports") and the SDK folder's index for the rest of the
 * project: the browser-safe client of ./client.ts plus the Node-only agent of ./agent.ts. Browser code imports
 * `switchboard/client`, which leaves the agent out.
 */
export {
  Discovery,
  ExistingServiceError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RegistryClient,
  RegistryError,
  UnauthenticatedError,
  UnavailableError,
} from './client.js';
export type {
  Answer,
  ChangeEvent,
  ChangeType,
  CheckDefinition,
  CheckKind,
  CreatedToken,
  DiscoveryChange,
  DiscoveryListener,
  DiscoveryOptions,
  DiscoveryStrategy,
  OfferedInstance,
  Duration,
  Endpoint,
  ErrorCode,
  GetServiceOptions,
  Health,
  Instance,
  InstanceCheck,
  InstanceInput,
  InstancePage,
  InstanceRegistration,
  InstanceStatus,
  Maintenance,
  RegisterOptions,
  RegistryClientOptions,
  RequestOptions,
  ServiceAnswer,
  ServiceList,
  ServiceSummary,
  SnapshotEvent,
  TokenCreateBody,
  TokenInfo,
  TokenPolicy,
  TokenSelf,
  WatchEvent,
  WatchOptions,
  WatchStatus,
} from './client.js';
export { registerSelf } from './agent.js';
export type { AgentLogger, RegisterSelfOptions, RegistrationAgent } from './agent.js';
