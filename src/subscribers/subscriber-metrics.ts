import type { Metrics } from '../metrics/index.js';
import type { SubscriberTable } from './subscriber-table.js';

/** Lag buckets in seconds: from a local cache applying at once to a consumer minutes behind. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The subscribers' metric families (issue #19), on the registry's `GET /metrics`. */
export function addSubscriberMetrics(metrics: Metrics, table: SubscriberTable): () => void {
  metrics.gauge(
    'switchboard_subscribers',
    'Subscribers known (this node and, in a cluster, the others).',
    () => table.list().length,
  );
  metrics.gauge(
    'switchboard_subscribers_behind',
    'Live subscribers whose oldest change not yet applied has waited longer than --subscribers-behind.',
    () => table.behind(),
  );
  const lag = metrics.histogram(
    'switchboard_subscriber_apply_lag_seconds',
    'How long the oldest change a subscriber reports applied had waited since this node applied it.',
    LAG_BUCKETS,
  );
  return table.onLag((ms) => {
    lag.observe(ms / 1000);
  });
}
