/** JSON schemas of the REST API v1: Fastify validates with them, and /openapi.json is built from them. */
import { ErrorBodySchema } from '../errors/index.js';
import {
  durationSchema,
  HEALTH_STATES,
  INSTANCE_ID_PATTERN,
  INSTANCE_STATUSES,
  InstancePageSchema,
  InstanceRegistrationSchema,
  InstanceSchema,
  MaintenanceBodySchema,
  SERVICE_NAME_PATTERN,
  ServiceAnswerSchema,
  ServiceListSchema,
  StatusBodySchema,
} from '../wire/index.js';

export const serviceParams = {
  type: 'object',
  required: ['service'],
  properties: { service: { type: 'string', pattern: SERVICE_NAME_PATTERN, description: 'service name' } },
} as const;

export const instanceParams = {
  type: 'object',
  required: ['service', 'id'],
  properties: {
    service: { type: 'string', pattern: SERVICE_NAME_PATTERN },
    id: { type: 'string', pattern: INSTANCE_ID_PATTERN },
  },
} as const;

/** The registration body, as wire/ defines it for every transport. */
export const registrationBody = InstanceRegistrationSchema;

export const maintenanceBody = MaintenanceBodySchema;

export const registrationQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    exclusive: {
      type: 'boolean',
      description: 'refuse (409 ALREADY_EXISTS) instead of updating an instance that exists',
    },
  },
} as const;

export const statusBody = StatusBodySchema;

/** The parameters of a blocking query, accepted by every read that can wait for a change. */
export const blockingQueryProperties = {
  index: { type: 'integer', minimum: 0, description: 'blocking query: answer once the index passes this one' },
  wait: durationSchema('how long a blocking query may wait (default 5m, at most 10m, plus up to 1/16 jitter)'),
} as const;

export const blockingQuery = {
  type: 'object',
  additionalProperties: false,
  properties: blockingQueryProperties,
} as const;

/** `GET /v1/events`: the stream of changes. */
export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    service: {
      type: 'string',
      pattern: SERVICE_NAME_PATTERN,
      description: 'only this service (default: every service)',
    },
    since: {
      type: 'integer',
      minimum: 0,
      description: 'replay the changes after this index (default: start with a snapshot)',
    },
  },
} as const;

export const serviceQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      type: 'array',
      items: { type: 'string', enum: [...INSTANCE_STATUSES, 'any'] },
      description: 'repeatable; any of them (default UP; "any" for all)',
    },
    health: {
      type: 'array',
      items: { type: 'string', enum: [...HEALTH_STATES, 'any'] },
      description: 'repeatable; any of them (default passing and warning; "any" for all)',
    },
    tag: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'repeatable; must carry all' },
    zone: { type: 'string', minLength: 1 },
    ...blockingQueryProperties,
  },
} as const;

export const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'string', maxLength: 2048 },
  },
} as const;

// Answers, as wire/ defines them: the OpenAPI document shows these (responses are not validated).
export const instanceSchema = InstanceSchema;
export const errorSchema = ErrorBodySchema;
export const serviceAnswerSchema = ServiceAnswerSchema;
export const serviceListSchema = ServiceListSchema;
export const instancePageSchema = InstancePageSchema;
