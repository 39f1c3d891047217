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

/** What the registry probes: an HTTP(S) URL answered with 2xx, or a TCP port that accepts connections. */
export const CHECK_KINDS = ['http', 'tcp'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** An active health check as registered: exactly one of `http` or `tcp`, and how often to probe it. */
export interface CheckDefinition {
  /** Names the check on the instance (default `"<kind>:<target>"`). */
  id?: string;
  /** A URL such as `http://10.0.0.5:8080/health`: 2xx passing, 429 warning, anything else critical. */
  http?: string;
  /** `host:port` that must accept a TCP connection. */
  tcp?: string;
  interval: Duration;
  /** Hard limit on one probe (default 5 s, never more than the interval). */
  timeout?: Duration;
  /** Consecutive passing results before a failing check turns passing (default 1). */
  successBefore?: number;
  /** Consecutive failures before a passing check turns warning or critical (default 3). */
  failuresBefore?: number;
}

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
  /** Active checks the registry runs against the instance. */
  checks?: CheckDefinition[];
  /** Remove the instance once it has been critical for this long. */
  deregisterCriticalAfter?: Duration;
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
