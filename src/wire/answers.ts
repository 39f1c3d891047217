/**
 * What the registry answers, and the small request bodies beside the registration, defined once as TypeBox schemas
 * (issue #11): the TypeScript types are `Static<>` of them, Fastify validates bodies with them and /openapi.json
 * shows them. The registration itself is registration.ts's.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { EndpointSchema, INSTANCE_STATUSES, InstanceStatusSchema, LIMITS } from './registration.js';
import type { InstanceStatus } from './registration.js';

/** The registry's own view of an instance, worst first when combined. */
export const HEALTH_STATES = ['passing', 'warning', 'critical'] as const;
export type Health = (typeof HEALTH_STATES)[number];
const HealthSchema = Type.Union(HEALTH_STATES.map((state) => Type.Literal(state)));

/** What the registry probes: an HTTP(S) URL answered with 2xx, or a TCP port that accepts connections. */
export const CHECK_KINDS = ['http', 'tcp'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

const timestamp = () => Type.String({ format: 'date-time' });

/** A check as an instance answers it: its definition and its last state. */
export const InstanceCheckSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union(CHECK_KINDS.map((kind) => Type.Literal(kind))),
  target: Type.String(),
  interval: Type.String(),
  timeout: Type.String(),
  successBefore: Type.Integer(),
  failuresBefore: Type.Integer(),
  status: HealthSchema,
  output: Type.String({ description: 'the first 4 KiB of the HTTP body, or what went wrong' }),
  updatedAt: Type.String({ format: 'date-time', description: "when the check's status last changed (or was added)" }),
});
export type InstanceCheck = Static<typeof InstanceCheckSchema>;

/** An instance taken out of discovery by an operator, without deregistering it. */
export const MaintenanceSchema = Type.Object({ enabled: Type.Boolean(), reason: Type.String() });
export type Maintenance = Static<typeof MaintenanceSchema>;

/** An instance as the registry answers it. */
export const InstanceSchema = Type.Object({
  id: Type.String(),
  service: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  url: Type.Optional(Type.String()),
  endpoints: Type.Array(EndpointSchema),
  status: InstanceStatusSchema,
  health: HealthSchema,
  tags: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.String()),
  weight: Type.Integer(),
  zone: Type.Optional(Type.String()),
  authorizedRoles: Type.Array(Type.String()),
  ttl: Type.Optional(Type.String()),
  deregisterAfter: Type.Optional(Type.String()),
  checks: Type.Optional(
    Type.Array(InstanceCheckSchema, {
      description: 'present when the instance has active checks; health is the worst of them and the lease',
    }),
  ),
  deregisterCriticalAfter: Type.Optional(Type.String()),
  maintenance: Type.Optional(
    Type.Object(MaintenanceSchema.properties, {
      description: 'present while in maintenance (health is then critical)',
    }),
  ),
  registeredAt: timestamp(),
  updatedAt: timestamp(),
  lastHeartbeat: timestamp(),
  createIndex: Type.Integer(),
  modifyIndex: Type.Integer(),
});
export type Instance = Static<typeof InstanceSchema>;

/** `GET /v1/services/:service` */
export const ServiceAnswerSchema = Type.Object({
  name: Type.String(),
  index: Type.Integer(),
  instances: Type.Array(InstanceSchema),
});
export type ServiceAnswer = Static<typeof ServiceAnswerSchema>;

export const ServiceSummarySchema = Type.Object({
  name: Type.String(),
  instances: Type.Integer(),
  // TypeBox's Static of a Partial Record over literal keys is {}: state the type it checks.
  byStatus: Type.Unsafe<Partial<Record<InstanceStatus, number>>>(
    Type.Partial(Type.Record(InstanceStatusSchema, Type.Integer())),
  ),
});
export type ServiceSummary = Static<typeof ServiceSummarySchema>;

/** `GET /v1/services` */
export const ServiceListSchema = Type.Object({ index: Type.Integer(), services: Type.Array(ServiceSummarySchema) });
export type ServiceList = Static<typeof ServiceListSchema>;

/** `GET /v1/instances` */
export const InstancePageSchema = Type.Object({
  instances: Type.Array(InstanceSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type InstancePage = Static<typeof InstancePageSchema>;

export const CHANGE_TYPES = ['registered', 'updated', 'status', 'health', 'deregistered', 'expired'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** One change to the registry, as the event stream carries it. */
export const ChangeEventSchema = Type.Object({
  type: Type.Union(CHANGE_TYPES.map((type) => Type.Literal(type))),
  index: Type.Integer(),
  service: Type.String(),
  instance: InstanceSchema,
});
export type ChangeEvent = Static<typeof ChangeEventSchema>;

/** `PUT …/status`: the status an instance reports about itself. */
export const StatusBodySchema = Type.Object(
  { status: Type.Union(INSTANCE_STATUSES.map((status) => Type.Literal(status))) },
  { additionalProperties: false },
);
export type StatusBody = Static<typeof StatusBodySchema>;

/** `PUT …/maintenance`: take an instance out of discovery, or put it back. */
export const MaintenanceBodySchema = Type.Object(
  {
    enable: Type.Boolean({ description: 'true takes the instance out of discovery; false puts it back' }),
    reason: Type.Optional(Type.String({ maxLength: LIMITS.reason })),
  },
  { additionalProperties: false },
);
export type MaintenanceBody = Static<typeof MaintenanceBodySchema>;

/** One registry node, as `GET /v1/cluster` lists it. */
const ClusterMemberSchema = Type.Object({
  name: Type.String(),
  url: Type.String({ description: 'where clients and other nodes reach it' }),
  lastSeen: Type.String({ format: 'date-time', description: 'when it last reported' }),
  applied: Type.Integer({ description: 'the index it has applied' }),
  lag: Type.Integer({ description: 'indexes behind the node furthest ahead' }),
  leader: Type.Boolean({ description: 'whether it runs the lease sweep and the active checks' }),
});

/** `GET /v1/cluster`: the registry's nodes and which one leads (a single node lists itself, leading). */
export const ClusterViewSchema = Type.Object({
  self: Type.String({ description: 'the node that answered' }),
  leader: Type.Union([Type.String(), Type.Null()], { description: 'null while no node leads (an election is on)' }),
  nodes: Type.Array(ClusterMemberSchema),
});
export type ClusterView = Static<typeof ClusterViewSchema>;

/** Self-preservation as `GET /health` shows it: times as ISO strings. */
export interface SelfPreservationReport {
  active: boolean;
  reason?: string;
  since?: string;
  endsBy?: string;
  overdue: number;
  leases: number;
}

/** `GET /health`: liveness, the counts, self-preservation and the state of the store. */
export interface HealthAnswer {
  status: 'ok' | 'degraded' | 'unavailable';
  /** Reads may be behind: the node is cut off from its store. */
  stale: boolean;
  index: number;
  instances: number;
  services: number;
  leases: number;
  selfPreservation: SelfPreservationReport;
  store: { kind: string; ok: boolean; location?: string; error?: string; degraded?: true };
}
