import { LAG_BUCKETS } from '../metrics/index.js';
import type { Metrics } from '../metrics/index.js';
import type { SubscriberTable } from './subscriber-table.js';

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
  const lag = metrics.histogram({
    name: 'switchboard_subscriber_apply_lag_seconds',
    help: 'How long the oldest change a subscriber reports applied had waited since this node applied it.',
    buckets: LAG_BUCKETS,
  });
  return table.onLag((ms) => {
    lag.observe(ms / 1000);
  });
}
