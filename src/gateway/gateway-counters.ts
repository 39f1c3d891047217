/**
 * The gateway's counters: plain numbers bumped on the hot path and read by `gateway.metrics()`, which the registry's
 * metrics endpoint exports with the rest. Counters only grow; gauges (outstanding, ejected) are read from upstreams.
 */
import type { Metrics } from '../metrics/index.js';
import type { ServiceLoad } from './load-window.js';

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
  /** Requests sent to a route's fallback service because its own had no instance to take them (issue #15). */
  fallbacks = 0;
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
  /** Requests routed to a fallback service (issue #15). */
  fallbacks: number;
  /** The registry index the route table reflects. */
  index: number;
  upstreams: UpstreamMetrics[];
  /** Per service over the last window: in flight, answers per second, p90 time to headers (issue #15). */
  services: ServiceLoad[];
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
  metrics.gauge(
    'switchboard_gateway_fallbacks_total',
    'Requests routed to a fallback service.',
    () => read().metrics.fallbacks,
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
  // Issue #15: the figures the registrar scales on, per service over the last window (10 s).
  const perService = (pick: (s: ServiceLoad) => number) => () =>
    read().metrics.services.map((s) => ({ labels: { service: s.service }, value: pick(s) }));
  metrics.gauge(
    'switchboard_gateway_service_inflight',
    'Requests in flight, per service.',
    perService((s) => s.inflight),
  );
  metrics.gauge(
    'switchboard_gateway_service_rps',
    'Answers per second over the last 10 s, per service.',
    perService((s) => s.rps),
  );
  metrics.gauge(
    'switchboard_gateway_service_p90_seconds',
    'p90 time to response headers over the last 10 s, per service (NaN without answers).',
    perService((s) => (s.p90Ms === null ? NaN : s.p90Ms / 1000)),
  );
}
