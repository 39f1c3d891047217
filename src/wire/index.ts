export { BLOCKING_WAIT, blockingWaitMs } from './blocking.js';
export { DURATION_PATTERN, formatDuration, parseDuration } from './duration.js';
export type { Duration } from './duration.js';
export { INDEX_HEADER } from './headers.js';
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
export { CHANGE_TYPES, CHECK_KINDS, HEALTH_STATES, INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN } from './types.js';
export type {
  ChangeEvent,
  ChangeType,
  CheckKind,
  ErrorBody,
  Health,
  Instance,
  InstanceCheck,
  InstancePage,
  Maintenance,
  ServiceAnswer,
  ServiceList,
  ServiceSummary,
} from './types.js';
