/**
 * The registration body, defined once (issue #11). Its TypeScript types are `Static<>` of these schemas, Fastify
 * validates REST bodies with them (they are JSON Schema), /openapi.json shows them, and the core checks every
 * transport's registrations against them. What one field's schema cannot say (a rule spanning several fields, a
 * duration's range, a parsable URL) is core/validate.ts's.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from './duration.js';

/** Size limits of a registration's fields. */
export const LIMITS = {
  host: 253,
  url: 1_024,
  tags: 64,
  tag: 256,
  metadataKeys: 64,
  metadataKey: 128,
  metadataValue: 512,
  endpoints: 32,
  endpointType: 64,
  roles: 64,
  zone: 128,
  checks: 8,
  checkId: 128,
  reason: 512,
  maxWeight: 1_000,
  maxThreshold: 100,
} as const;

/** A duration string on the wire; numbers are seconds. */

/** What every duration field takes; a refusal quotes it. */
export const DURATION_DESCRIPTION = 'seconds as a number, or a string such as "500ms", "10s", "1m"';

/** A duration field: seconds as a number, or a string with a unit. */
export const durationSchema = (description = DURATION_DESCRIPTION) =>
  Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], { description });

export const EndpointSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: LIMITS.endpointType }),
    url: Type.String({ minLength: 1, maxLength: LIMITS.url }),
  },
  { additionalProperties: false },
);
export type Endpoint = Static<typeof EndpointSchema>;

const threshold = (description: string) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxThreshold, description }));

/**
 * An active health check as registered: exactly one of `http` or `tcp` (issue #5), and how often to probe it.
 * `oneOf` is for JSON Schema validators (REST, OpenAPI); TypeBox does not check it, so the core states the rule too.
 */
const CheckDefinitionSchema = Type.Object(
  {
    id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.checkId,
        description: 'names the check (default "<kind>:<target>")',
      }),
    ),
    http: Type.Optional(
      Type.String({
        pattern: '^https?://',
        maxLength: LIMITS.url,
        description: 'a URL such as http://10.0.0.5:8080/health: 2xx passing, 429 warning, else critical',
      }),
    ),
    tcp: Type.Optional(
      Type.String({
        minLength: 3,
        // A host (the instance's own: issue #13), ':' and a port; a bracketed IPv6 address is shorter.
        maxLength: LIMITS.host + 6,
        description: "host:port that must accept a connection: the instance's host, or an address the registry allows",
      }),
    ),
    interval: durationSchema(),
    timeout: Type.Optional(durationSchema('hard limit on one probe (default 5s, at most the interval)')),
    successBefore: threshold('passes before a failing check passes (default 1)'),
    failuresBefore: threshold('failures before a passing check fails (default 3)'),
  },
  { additionalProperties: false, oneOf: [{ required: ['http'] }, { required: ['tcp'] }] },
);
export type CheckDefinition = Static<typeof CheckDefinitionSchema>;

/** The predefined set of statuses an instance reports about itself. */
export const INSTANCE_STATUSES = ['UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

export const InstanceStatusSchema = Type.Union(INSTANCE_STATUSES.map((status) => Type.Literal(status)));

const names = (description: string) =>
  Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: LIMITS.tag }), { maxItems: LIMITS.tags, description }),
  );

/** What a client sends to register or update an instance: the REST body, and the XML-RPC struct without service/id. */
export const InstanceRegistrationSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: LIMITS.host }),
    port: Type.Integer({ minimum: 1, maximum: 65_535 }),
    url: Type.Optional(
      Type.String({ pattern: '^/', maxLength: LIMITS.url, description: 'a path prefix such as "/tickets"' }),
    ),
    endpoints: Type.Optional(Type.Array(EndpointSchema, { maxItems: LIMITS.endpoints })),
    status: Type.Optional(InstanceStatusSchema),
    tags: names('tags discovery can filter on'),
    metadata: Type.Optional(
      Type.Record(
        // Keys' lengths, as a pattern: TypeBox turns the key schema into patternProperties.
        Type.String({ pattern: `^[\\s\\S]{1,${LIMITS.metadataKey}}$` }),
        Type.String({ maxLength: LIMITS.metadataValue }),
        { maxProperties: LIMITS.metadataKeys, additionalProperties: false },
      ),
    ),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxWeight })),
    zone: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.zone })),
    authorizedRoles: names('roles allowed to call the instance through the gateway'),
    ttl: Type.Optional(durationSchema('lease: between 1s and 24h')),
    deregisterAfter: Type.Optional(durationSchema('remove the instance this long after its lease lapsed')),
    checks: Type.Optional(
      Type.Array(CheckDefinitionSchema, { maxItems: LIMITS.checks, description: 'active checks the registry runs' }),
    ),
    deregisterCriticalAfter: Type.Optional(durationSchema('remove the instance once it has been critical this long')),
  },
  { additionalProperties: false },
);
export type InstanceRegistration = Static<typeof InstanceRegistrationSchema>;

/** The registration's field names, for transports that map their own structs onto it. */
export const REGISTRATION_FIELD_NAMES = Object.keys(
  InstanceRegistrationSchema.properties,
) as readonly (keyof InstanceRegistration)[];
