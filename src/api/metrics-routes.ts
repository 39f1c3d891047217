import type { FastifyInstance } from 'fastify';
import type { ChangeSource, RegistryQueries } from '../core/index.js';
import { METRICS_CONTENT_TYPE } from '../metrics/index.js';
import type { Metrics } from '../metrics/index.js';

/**
 * `GET /metrics` in the Prometheus text format. The registry's gauges are added here; other components (the
 * checker, the gateway) add theirs to the same `Metrics` object, which server.ts hands to each of them.
 */
export function addMetricsRoutes(
  app: FastifyInstance,
  registry: RegistryQueries & Pick<ChangeSource, 'index'>,
  metrics: Metrics,
): void {
  metrics.gauge(
    'switchboard_self_preservation',
    '1 while expiry is suspended because too many leases lapsed at once.',
    () => (registry.health().selfPreservation.active ? 1 : 0),
  );
  metrics.gauge(
    'switchboard_self_preservation_overdue_leases',
    'Leases overdue at the last sweep among those self-preservation protects.',
    () => registry.health().selfPreservation.overdue,
  );
  metrics.gauge('switchboard_instances', 'Registered instances.', () => registry.health().instances);
  metrics.gauge('switchboard_services', 'Services with at least one instance.', () => registry.health().services);
  metrics.gauge('switchboard_leases', 'Instances with a TTL lease.', () => registry.health().leases);
  metrics.gauge('switchboard_index', 'The index of the last change applied.', () => registry.index);

  app.get(
    '/metrics',
    { config: { access: 'read-everywhere', summary: 'Metrics in the Prometheus text format (0.0.4)' } },
    (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(metrics.render()),
  );
}
