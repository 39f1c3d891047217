export { formatDuration, parseDuration } from './duration.js';
export type { Duration } from './duration.js';
export { INDEX_HEADER } from './headers.js';
export {
  CHANGE_TYPES,
  CHECK_KINDS,
  HEALTH_STATES,
  INSTANCE_ID_PATTERN,
  INSTANCE_STATUSES,
  SERVICE_NAME_PATTERN,
} from './types.js';
export type {
  ChangeEvent,
  ChangeType,
  CheckDefinition,
  CheckKind,
  Endpoint,
  ErrorBody,
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
} from './types.js';
