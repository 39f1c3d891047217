/** JSON schemas of the REST API v1: Fastify validates with them, and /openapi.json is built from them. */
import {
  CHECK_KINDS,
  durationSchema,
  EndpointSchema,
  HEALTH_STATES,
  INSTANCE_ID_PATTERN,
  INSTANCE_STATUSES,
  InstanceRegistrationSchema,
  LIMITS,
  SERVICE_NAME_PATTERN,
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

const instanceCheck = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: CHECK_KINDS },
    target: { type: 'string' },
    interval: { type: 'string' },
    timeout: { type: 'string' },
    successBefore: { type: 'integer' },
    failuresBefore: { type: 'integer' },
    status: { type: 'string', enum: HEALTH_STATES },
    output: { type: 'string', description: 'the first 4 KiB of the HTTP body, or what went wrong' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** The registration body, as wire/ defines it for every transport. */
export const registrationBody = InstanceRegistrationSchema;

export const maintenanceBody = {
  type: 'object',
  required: ['enable'],
  additionalProperties: false,
  properties: {
    enable: { type: 'boolean', description: 'true takes the instance out of discovery; false puts it back' },
    reason: { type: 'string', maxLength: LIMITS.reason },
  },
} as const;

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

export const statusBody = {
  type: 'object',
  required: ['status'],
  additionalProperties: false,
  properties: { status: { type: 'string', enum: INSTANCE_STATUSES } },
} as const;

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

export const instanceSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'service', 'host', 'port', 'status', 'health', 'modifyIndex'],
  properties: {
    id: { type: 'string' },
    service: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'integer' },
    url: { type: 'string' },
    endpoints: { type: 'array', items: EndpointSchema },
    status: { type: 'string', enum: INSTANCE_STATUSES },
    health: { type: 'string', enum: HEALTH_STATES },
    tags: { type: 'array', items: { type: 'string' } },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    weight: { type: 'integer' },
    zone: { type: 'string' },
    authorizedRoles: { type: 'array', items: { type: 'string' } },
    ttl: { type: 'string' },
    deregisterAfter: { type: 'string' },
    checks: { type: 'array', items: instanceCheck },
    deregisterCriticalAfter: { type: 'string' },
    maintenance: {
      type: 'object',
      description: 'present while in maintenance (health is then critical)',
      properties: { enabled: { type: 'boolean' }, reason: { type: 'string' } },
    },
    registeredAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    lastHeartbeat: { type: 'string', format: 'date-time' },
    createIndex: { type: 'integer' },
    modifyIndex: { type: 'integer' },
  },
} as const;

export const errorSchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const;

export const serviceAnswerSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    index: { type: 'integer' },
    instances: { type: 'array', items: instanceSchema },
  },
} as const;

export const serviceListSchema = {
  type: 'object',
  properties: {
    index: { type: 'integer' },
    services: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          instances: { type: 'integer' },
          byStatus: { type: 'object', additionalProperties: { type: 'integer' } },
        },
      },
    },
  },
} as const;

export const instancePageSchema = {
  type: 'object',
  properties: {
    instances: { type: 'array', items: instanceSchema },
    nextCursor: { type: ['string', 'null'] },
  },
} as const;
