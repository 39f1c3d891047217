/**
 * `switchboard/client`: the REST client, the watch and client-side discovery. It must load in a browser, so nothing
 * reachable from here may import a Node built-in or touch `process` (src/sdk/client.browser.test.ts bundles it for the
 * browser to check); what needs Node's process lives in `switchboard/agent` (./agent.ts).
 */
export {
  ExistingServiceError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RegistryError,
  UnauthenticatedError,
  UnavailableError,
} from '../errors/index.js';
export type { ErrorCode } from '../errors/index.js';
export { RegistryClient } from './registry-client.js';
export { Discovery } from './discovery.js';
export type {
  DiscoveryChange,
  DiscoveryListener,
  DiscoveryOptions,
  DiscoveryStrategy,
  OfferedInstance,
} from './discovery.js';
export { newSubscriberId } from './watch.js';
export type { SnapshotEvent, SubscriberName, WatchEvent, WatchOptions, WatchStatus } from './watch.js';
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
  CreatedToken,
  DrainAnswer,
  DrainSubscriber,
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
  Subscriber,
  SubscriberList,
  TokenCreateBody,
  TokenInfo,
  TokenPolicy,
  TokenSelf,
} from '../wire/index.js';
