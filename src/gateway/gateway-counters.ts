/**
 * The gateway's counters: plain numbers bumped on the hot path and read by `gateway.metrics()`, which the registry's
 * metrics endpoint exports with the rest. Counters only grow; gauges (outstanding, ejected) are read from upstreams.
 */
import type { Metrics } from '../metrics/index.js';

/** Errors the gateway answers itself. */
export const GATEWAY_ERRORS = [
  'NO_ROUTE',
  'NO_HEALTHY_INSTANCE',
  'UPSTREAM_ERROR',
  'UPSTREAM_TIMEOUT',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'INVALID_ARGUMENT',
  // Issue #14: a request too slow to arrive, and one that waited too long for a connection to its instance.
  'REQUEST_TIMEOUT',
  'UNAVAILABLE',
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
    REQUEST_TIMEOUT: 0,
    UNAVAILABLE: 0,
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

/** The gateway's families on the registry's `GET /metrics` (when it runs inside `serve`). */
export function exportGatewayMetrics(
  metrics: Metrics,
  read: () => { metrics: GatewayMetrics; routes: number; stale: boolean },
): void {
  // Counters are read when scraped, as the checker's are: the hot path only bumps plain numbers.
  metrics.gauge('switchboard_gateway_requests_total', 'Requests the gateway received.', () => read().metrics.requests);
  metrics.gauge('switchboard_gateway_responses_total', 'Upstream answers relayed, by status class.', () =>
    Object.entries(read().metrics.responses).map(([status, value]) => ({ labels: { class: status }, value })),
  );
  metrics.gauge('switchboard_gateway_errors_total', 'Errors the gateway answered itself, by code.', () =>
    Object.entries(read().metrics.errors).map(([code, value]) => ({ labels: { code }, value })),
  );
  metrics.gauge(
    'switchboard_gateway_retries_total',
    'Requests retried on another instance.',
    () => read().metrics.retries,
  );
  metrics.gauge('switchboard_gateway_ejections_total', 'Outlier ejections.', () => read().metrics.ejections);
  metrics.gauge(
    'switchboard_gateway_upgrades_total',
    'Upgrades (WebSocket) piped through.',
    () => read().metrics.upgrades,
  );
  metrics.gauge('switchboard_gateway_routes', 'Routes in the gateway table.', () => read().routes);
  metrics.gauge('switchboard_gateway_stale', '1 while the registry cannot be reached.', () => (read().stale ? 1 : 0));
  const perUpstream = (pick: (u: UpstreamMetrics) => number) => () =>
    read().metrics.upstreams.map((u) => ({ labels: { service: u.service, instance: u.id }, value: pick(u) }));
  metrics.gauge(
    'switchboard_gateway_upstream_requests_total',
    'Requests sent, per instance.',
    perUpstream((u) => u.requests),
  );
  metrics.gauge(
    'switchboard_gateway_upstream_failures_total',
    'Failed requests, per instance.',
    perUpstream((u) => u.failures),
  );
  metrics.gauge(
    'switchboard_gateway_upstream_outstanding',
    'Requests in flight, per instance.',
    perUpstream((u) => u.outstanding),
  );
  metrics.gauge(
    'switchboard_gateway_upstream_ejected',
    '1 while an instance is ejected.',
    perUpstream((u) => (u.ejected ? 1 : 0)),
  );
}
