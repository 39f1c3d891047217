import type { Duration } from './duration.js';

/** The predefined set of statuses an instance reports about itself. */
export const INSTANCE_STATUSES = ['UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/** The registry's own view of an instance, worst first when combined. */
export const HEALTH_STATES = ['passing', 'warning', 'critical'] as const;
export type Health = (typeof HEALTH_STATES)[number];

/** Service names: 1–63 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const SERVICE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
/** Instance ids: 1–128 characters, no slash or space, so they sit in a URL path as they are. */
export const INSTANCE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$';

export interface Endpoint {
  type: string;
  url: string;
}

/** What a client sends to register or update an instance (the REST body). */
export interface InstanceRegistration {
  host: string;
  port: number;
  url?: string;
  endpoints?: Endpoint[];
  status?: InstanceStatus;
  tags?: string[];
  metadata?: Record<string, string>;
  weight?: number;
  zone?: string;
  authorizedRoles?: string[];
  ttl?: Duration;
  deregisterAfter?: Duration;
}

/** An instance as the registry answers it. */
export interface Instance {
  id: string;
  service: string;
  host: string;
  port: number;
  url?: string;
  endpoints: Endpoint[];
  status: InstanceStatus;
  health: Health;
  tags: string[];
  metadata: Record<string, string>;
  weight: number;
  zone?: string;
  authorizedRoles: string[];
  ttl?: string;
  deregisterAfter?: string;
  registeredAt: string;
  updatedAt: string;
  lastHeartbeat: string;
  createIndex: number;
  modifyIndex: number;
}

/** `GET /v1/services/:service` */
export interface ServiceAnswer {
  name: string;
  index: number;
  instances: Instance[];
}

export interface ServiceSummary {
  name: string;
  instances: number;
  byStatus: Partial<Record<InstanceStatus, number>>;
}

/** `GET /v1/services` */
export interface ServiceList {
  index: number;
  services: ServiceSummary[];
}

/** `GET /v1/instances` */
export interface InstancePage {
  instances: Instance[];
  nextCursor: string | null;
}

export const CHANGE_TYPES = ['registered', 'updated', 'status', 'health', 'deregistered', 'expired'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** One change to the registry, as the event stream carries it. */
export interface ChangeEvent {
  type: ChangeType;
  index: number;
  service: string;
  instance: Instance;
}

/** The error body of every REST error. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}
