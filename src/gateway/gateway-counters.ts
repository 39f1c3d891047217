/**
 * The gateway's counters: plain numbers bumped on the hot path and read by `gateway.metrics()`, which the registry's
 * metrics endpoint exports with the rest. Counters only grow; gauges (outstanding, ejected) are read from upstreams.
 */

/** Errors the gateway answers itself. */
export const GATEWAY_ERRORS = [
  'NO_ROUTE',
  'NO_HEALTHY_INSTANCE',
  'UPSTREAM_ERROR',
  'UPSTREAM_TIMEOUT',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'INVALID_ARGUMENT',
] as const;
export type GatewayErrorCode = (typeof GATEWAY_ERRORS)[number];

export class GatewayCounters {
  /** Requests received (admin endpoints excluded), upgrades included. */
  requests = 0;
  /** Answers relayed from upstreams, by status class: index 1 is 1xx … 5 is 5xx. */
  readonly statusClasses = [0, 0, 0, 0, 0, 0];
  /** Requests sent again to another instance after a failure before the response started. */
  retries = 0;
  ejections = 0;
  /** WebSocket (and other) upgrades piped through. */
  upgrades = 0;
  readonly errors: Record<GatewayErrorCode, number> = {
    NO_ROUTE: 0,
    NO_HEALTHY_INSTANCE: 0,
    UPSTREAM_ERROR: 0,
    UPSTREAM_TIMEOUT: 0,
    UNAUTHENTICATED: 0,
    PERMISSION_DENIED: 0,
    INVALID_ARGUMENT: 0,
  };
}

export interface UpstreamMetrics {
  service: string;
  id: string;
  address: string;
  requests: number;
  failures: number;
  ejections: number;
  outstanding: number;
  ejected: boolean;
}

/** `gateway.metrics()`: a snapshot of every counter. */
export interface GatewayMetrics {
  requests: number;
  responses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  errors: Record<GatewayErrorCode, number>;
  retries: number;
  ejections: number;
  upgrades: number;
  /** The registry index the route table reflects. */
  index: number;
  upstreams: UpstreamMetrics[];
}
