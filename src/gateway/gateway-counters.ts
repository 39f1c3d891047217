/**
 * The gateway's counters: plain numbers bumped on the hot path, read by `gateway.metrics()` (the JSON page) and when
 * the Prometheus families below are scraped. Counters only grow; gauges (outstanding, ejected) are read from upstreams.
 */
import { LATENCY_BUCKETS } from '../metrics/index.js';
import type { FastHistogram, HistogramSeries, MetricSpec, Metrics, Sample } from '../metrics/index.js';
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

/** Why an upstream request failed, for the per-service error counter. */
export const UPSTREAM_FAILURES = ['status_5xx', 'timeout', 'refused', 'reset', 'other'] as const;
export type UpstreamFailure = (typeof UPSTREAM_FAILURES)[number];

/** One service's figures (issue #20), bumped on the hot path and read when scraped. */
export interface ServiceCount {
  /** Answers by status class (index 1 is 1xx … 5 is 5xx): the upstreams' and the gateway's own 5xx for the service. */
  readonly statusClasses: number[];
  readonly failures: Record<UpstreamFailure, number>;
  ejections: number;
  /** Time to response headers of the upstreams' answers (absent when no metrics are exported). */
  readonly latency: HistogramSeries | undefined;
}

/**
 * The figures per service. Their number is bounded by the services the gateway routes, which the registry bounds
 * (`--max-instances`); a service that no longer has an instance is forgotten at the next scrape.
 */
export class ServiceCounters {
  readonly #byService = new Map<string, ServiceCount>();
  #latency: FastHistogram | undefined;

  /** Starts timing the answers into `histogram`, labelled by service. */
  measure(histogram: FastHistogram): void {
    this.#latency = histogram;
  }

  of(service: string): ServiceCount {
    let count = this.#byService.get(service);
    if (count === undefined) {
      count = {
        statusClasses: [0, 0, 0, 0, 0, 0],
        failures: { status_5xx: 0, timeout: 0, refused: 0, reset: 0, other: 0 },
        ejections: 0,
        latency: this.#latency?.series(service),
      };
      this.#byService.set(service, count);
    }
    return count;
  }

  entries(): IterableIterator<[string, ServiceCount]> {
    return this.#byService.entries();
  }

  /** Forgets the services `keep` does not name (their counters restart if they come back). */
  prune(keep: ReadonlySet<string>): void {
    for (const service of this.#byService.keys()) {
      if (keep.has(service)) continue;
      this.#byService.delete(service);
      this.#latency?.remove(service);
    }
  }
}

export class GatewayCounters {
  /** Per service (issue #20). */
  readonly services = new ServiceCounters();
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

/**
 * The gateway's families, served at `/_gateway/metrics?format=prometheus`, and at the registry's `GET /metrics` too
 * when the gateway runs inside `serve`.
 */
export function exportGatewayMetrics(
  metrics: Metrics,
  read: () => { metrics: GatewayMetrics; routes: number; stale: boolean },
  services: ServiceCounters,
): void {
  // Counters are read when scraped, as the checker's are: the hot path only bumps plain numbers.
  metrics.counterFrom(
    'switchboard_gateway_requests_total',
    'Requests the gateway received.',
    () => read().metrics.requests,
  );
  metrics.counterFrom(
    {
      name: 'switchboard_gateway_responses_total',
      help: 'Upstream answers relayed, by status class.',
      labels: ['class'],
    },
    () => Object.entries(read().metrics.responses).map(([status, value]) => ({ labels: { class: status }, value })),
  );
  metrics.counterFrom(
    {
      name: 'switchboard_gateway_errors_total',
      help: 'Errors the gateway answered itself, by code.',
      labels: ['code'],
    },
    () => Object.entries(read().metrics.errors).map(([code, value]) => ({ labels: { code }, value })),
  );
  metrics.counterFrom(
    'switchboard_gateway_retries_total',
    'Requests retried on another instance.',
    () => read().metrics.retries,
  );
  metrics.counterFrom('switchboard_gateway_ejections_total', 'Outlier ejections.', () => read().metrics.ejections);
  metrics.counterFrom(
    'switchboard_gateway_upgrades_total',
    'Upgrades (WebSocket) piped through.',
    () => read().metrics.upgrades,
  );
  metrics.counterFrom(
    'switchboard_gateway_fallbacks_total',
    'Requests routed to a fallback service.',
    () => read().metrics.fallbacks,
  );
  metrics.gauge('switchboard_gateway_routes', 'Routes in the gateway table.', () => read().routes);
  metrics.gauge('switchboard_gateway_stale', '1 while the registry cannot be reached.', () => (read().stale ? 1 : 0));
  // Only instances the gateway has sent requests to (as a client library creates a series on its first increment):
  // a series for every instance of a large registry made each scrape 3 MB and 0.5 s of a blocked event loop.
  const perUpstream = (pick: (u: UpstreamMetrics) => number) => () =>
    read()
      .metrics.upstreams.filter((u) => u.requests > 0 || u.outstanding > 0 || u.ejected)
      .map((u) => ({ labels: { service: u.service, instance: u.id }, value: pick(u) }));
  const upstream = (name: string, help: string): MetricSpec => ({ name, help, labels: ['service', 'instance'] });
  metrics.counterFrom(
    upstream('switchboard_gateway_upstream_requests_total', 'Requests sent, per instance.'),
    perUpstream((u) => u.requests),
  );
  metrics.counterFrom(
    upstream('switchboard_gateway_upstream_failures_total', 'Failed requests, per instance.'),
    perUpstream((u) => u.failures),
  );
  metrics.gauge(
    upstream('switchboard_gateway_upstream_outstanding', 'Requests in flight, per instance.'),
    perUpstream((u) => u.outstanding),
  );
  metrics.gauge(
    upstream('switchboard_gateway_upstream_ejected', '1 while an instance is ejected.'),
    perUpstream((u) => (u.ejected ? 1 : 0)),
  );
  // Issue #15: the figures the registrar scales on, per service over the last window (10 s).
  const perService = (pick: (s: ServiceLoad) => number) => () =>
    read().metrics.services.map((s) => ({ labels: { service: s.service }, value: pick(s) }));
  const service = (name: string, help: string): MetricSpec => ({ name, help, labels: ['service'] });
  metrics.gauge(
    service('switchboard_gateway_service_inflight', 'Requests in flight, per service.'),
    perService((s) => s.inflight),
  );
  metrics.gauge(
    service('switchboard_gateway_service_rps', 'Answers per second over the last 10 s, per service.'),
    perService((s) => s.rps),
  );
  metrics.gauge(
    service(
      'switchboard_gateway_service_p90_seconds',
      'p90 time to response headers over the last 10 s, per service (NaN without answers).',
    ),
    perService((s) => (s.p90Ms === null ? NaN : s.p90Ms / 1000)),
  );
  exportServiceCounters(metrics, services, read);
}

/**
 * Issue #20: requests, latency, upstream errors and ejections per service, over the gateway's whole life. `refresh`
 * runs first: its snapshot forgets the services that left.
 */
function exportServiceCounters(metrics: Metrics, services: ServiceCounters, refresh: () => unknown): void {
  services.measure(
    metrics.requestHistogram({
      name: 'switchboard_gateway_service_duration_seconds',
      help: 'Time from sending a request to an upstream to its response headers, per service (the one that answered).',
      labels: ['service'],
      buckets: LATENCY_BUCKETS,
    }),
  );
  const samplesOf = (pick: (service: string, count: ServiceCount) => Sample[]) => () => {
    refresh();
    return [...services.entries()].flatMap(([service, count]) => pick(service, count));
  };
  metrics.counterFrom(
    {
      name: 'switchboard_gateway_service_requests_total',
      help:
        "Answers per service, by status class: the upstreams' answers and the gateway's own 5xx for the service " +
        '(no healthy instance, upstream error or timeout, no free connection).',
      labels: ['service', 'code'],
    },
    samplesOf((service, count) =>
      count.statusClasses.flatMap((value, cls) =>
        cls === 0 || value === 0 ? [] : [{ labels: { service, code: `${cls}xx` }, value }],
      ),
    ),
  );
  metrics.counterFrom(
    {
      name: 'switchboard_gateway_service_upstream_errors_total',
      help: 'Failed upstream requests per service, by kind: status_5xx, timeout, refused (connect), reset, other.',
      labels: ['service', 'kind'],
    },
    samplesOf((service, count) =>
      Object.entries(count.failures).flatMap(([kind, value]) =>
        value === 0 ? [] : [{ labels: { service, kind }, value }],
      ),
    ),
  );
  metrics.counterFrom(
    {
      name: 'switchboard_gateway_service_ejections_total',
      help: 'Outlier ejections per service.',
      labels: ['service'],
    },
    samplesOf((service, count) => [{ labels: { service }, value: count.ejections }]),
  );
}
