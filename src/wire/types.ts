import type { Endpoint, InstanceStatus } from './registration.js';

/** The registry's own view of an instance, worst first when combined. */
export const HEALTH_STATES = ['passing', 'warning', 'critical'] as const;
export type Health = (typeof HEALTH_STATES)[number];

/** Service names: 1–63 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const SERVICE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
/** Instance ids: 1–128 characters, no slash or space, so they sit in a URL path as they are. */
export const INSTANCE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$';

/** What the registry probes: an HTTP(S) URL answered with 2xx, or a TCP port that accepts connections. */
export const CHECK_KINDS = ['http', 'tcp'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** A check as an instance answers it: its definition and its last state. */
export interface InstanceCheck {
  id: string;
  kind: CheckKind;
  target: string;
  interval: string;
  timeout: string;
  successBefore: number;
  failuresBefore: number;
  status: Health;
  /** The first 4 KiB of the HTTP body, or what went wrong. */
  output: string;
  /** When the check's status last changed (or the check was added). */
  updatedAt: string;
}

/** An instance taken out of discovery by an operator, without deregistering it. */
export interface Maintenance {
  enabled: boolean;
  reason: string;
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
  /** Present when the instance has active checks; `health` is the worst of them and the lease. */
  checks?: InstanceCheck[];
  deregisterCriticalAfter?: string;
  /** Present while the instance is in maintenance (it then answers `health: "critical"`). */
  maintenance?: Maintenance;
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
