export { URL_SCHEME, parseAddressUrl } from './address-url.js';
export { BLOCKING_WAIT, blockingWaitMs } from './blocking.js';
export { DURATION_PATTERN, formatDuration, parseDuration } from './duration.js';
export type { Duration } from './duration.js';
export { FALLBACK_HEADER, FALLBACK_METADATA_KEY, INDEX_HEADER, STALE_HEADER } from './headers.js';
export {
  DURATION_DESCRIPTION,
  durationSchema,
  EndpointSchema,
  INSTANCE_STATUSES,
  InstanceRegistrationSchema,
  LIMITS,
  REGISTRATION_FIELD_NAMES,
} from './registration.js';
export type { CheckDefinition, Endpoint, InstanceRegistration, InstanceStatus } from './registration.js';
export {
  CHANGE_TYPES,
  CHECK_KINDS,
  ChangeEventSchema,
  ClusterViewSchema,
  HEALTH_STATES,
  InstancePageSchema,
  InstanceSchema,
  MaintenanceBodySchema,
  ServiceAnswerSchema,
  ServiceListSchema,
  StatusBodySchema,
} from './answers.js';
export type {
  ChangeEvent,
  ChangeType,
  ClusterView,
  CheckKind,
  HealthAnswer,
  SelfPreservationReport,
  Health,
  Instance,
  InstanceCheck,
  InstancePage,
  Maintenance,
  MaintenanceBody,
  ServiceAnswer,
  ServiceList,
  ServiceSummary,
  StatusBody,
} from './answers.js';
export { INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN } from './names.js';
export { checkDefinitionOf, registrationOf } from './registration-of.js';
export { routePrefix } from './route-prefix.js';
export {
  CreatedTokenSchema,
  SERVICE_GLOB_PATTERN,
  TOKEN_HEADER,
  TokenCreateBodySchema,
  TokenInfoSchema,
  TokenListSchema,
  TokenPolicySchema,
  TokenSelfSchema,
  formatPolicySpec,
  parsePolicySpec,
  serviceGlobMatcher,
} from './tokens.js';
export type { CreatedToken, TokenCreateBody, TokenInfo, TokenList, TokenPolicy, TokenSelf } from './tokens.js';
export {
  ACK_INTERVAL_HEADER,
  DRAIN_REASON,
  DrainAnswerSchema,
  SUBSCRIBER_HEADER,
  SUBSCRIBER_ID_PATTERN,
  SUBSCRIBER_NAME_HEADER,
  SUBSCRIBER_NAME_MAX,
  SUBSCRIBER_TRANSPORTS,
  SubscriberListSchema,
} from './subscribers.js';
export type { DrainAnswer, DrainSubscriber, Subscriber, SubscriberList, SubscriberTransport } from './subscribers.js';
