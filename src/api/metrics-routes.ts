import type { FastifyInstance } from 'fastify';
import type { ChangeSource, Registry, RegistryQueries, SweepReport } from '../core/index.js';
import { BATCH_SIZE_BUCKETS, METRICS_CONTENT_TYPE, STORE_LATENCY_BUCKETS } from '../metrics/index.js';
import type { Metrics } from '../metrics/index.js';

/** The registry's view of what `GET /metrics` reads from it. */
export type MetricsSource = RegistryQueries &
  Pick<ChangeSource, 'index'> &
  Partial<Pick<Registry, 'onSweep' | 'watchers' | 'trackedServices'>>;

/**
 * `GET /metrics` in the Prometheus text format (0.0.4). The registry's families are added here; other components
 * (the checker, the gateway, the store through `storeCommitMetrics`) add theirs to the same `Metrics` object, which
 * server.ts makes and hands to each of them.
 */
export function addMetricsRoutes(app: FastifyInstance, registry: MetricsSource, metrics: Metrics): void {
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
  metrics.gauge(
    'switchboard_self_preservation_leases',
    'Leases counted at the last sweep: the base of the threshold (overdue / leases) that engages self-preservation.',
    () => registry.health().selfPreservation.leases,
  );
  metrics.gauge('switchboard_instances', 'Registered instances.', () => registry.health().instances);
  metrics.gauge('switchboard_services', 'Services with at least one instance.', () => registry.health().services);
  metrics.gauge('switchboard_leases', 'Instances with a TTL lease.', () => registry.health().leases);
  metrics.gauge('switchboard_index', 'The index of the last change applied.', () => registry.index);
  metrics.gauge('switchboard_stale', '1 while the store cannot be reached and reads come from the last view.', () =>
    registry.stale ? 1 : 0,
  );
  if (registry.watchers !== undefined) {
    metrics.gauge(
      'switchboard_watchers',
      'Listeners following the change feed in this process (one per service with held reads, one for all event streams, the checker, …).',
      () => registry.watchers ?? 0,
    );
  }
  if (registry.onSweep) addSweepMetrics(metrics, registry.onSweep.bind(registry), app);

  app.get(
    '/metrics',
    { config: { access: 'read-everywhere', summary: 'Metrics in the Prometheus text format (0.0.4)' } },
    async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(await metrics.render()),
  );
}

/** Sweeps, lapses and expiries, counted as the registry reports each sweep (only the leading node sweeps). */
function addSweepMetrics(
  metrics: Metrics,
  onSweep: (listener: (report: SweepReport) => void) => () => void,
  app: FastifyInstance,
): void {
  const sweeps = metrics.counter(
    'switchboard_sweeps_total',
    'Lease sweeps run by this node (the leader, in a cluster), by whether self-preservation held expiry back.',
    ['self_preservation'],
  );
  const lapsed = metrics.counter('switchboard_leases_lapsed_total', 'Leases lapsed: their instance turned critical.');
  const expired = metrics.counter(
    'switchboard_instances_expired_total',
    'Instances removed by a sweep: lease gone past deregisterAfter, or critical past deregisterCriticalAfter.',
  );
  const stop = onSweep((report) => {
    sweeps.inc({ self_preservation: report.selfPreservation ? 'true' : 'false' });
    if (report.lapsed > 0) lapsed.inc(report.lapsed);
    if (report.expired > 0) expired.inc(report.expired);
  });
  app.addHook('onClose', (_instance, done) => {
    stop();
    done();
  });
}

/**
 * The store's families (issue #20), made before the store opens: the returned observer is the store's `onCommit`.
 * `kind` (memory, sqlite, etcd) labels them, so one dashboard serves every backend.
 */
export function storeCommitMetrics(
  metrics: Metrics,
  kind: string,
): (commit: { mutations: number; seconds: number }) => void {
  const duration = metrics
    .histogram({
      name: 'switchboard_store_commit_duration_seconds',
      help: 'Time a store transaction took from being sent to being durable (SQLite: one fsynced batch; etcd: one txn).',
      labels: ['store'],
      buckets: STORE_LATENCY_BUCKETS,
    })
    .labels(kind);
  const size = metrics
    .histogram({
      name: 'switchboard_store_commit_mutations',
      help: 'Mutations per committed store transaction (SQLite groups the writes that arrive during a commit).',
      labels: ['store'],
      buckets: BATCH_SIZE_BUCKETS,
    })
    .labels(kind);
  return ({ mutations, seconds }) => {
    duration.observe(seconds);
    size.observe(mutations);
  };
}
