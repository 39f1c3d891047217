export { METRICS_CONTENT_TYPE, FastHistogram, HistogramSeries, Metrics } from './metrics.js';
export type {
  Collect,
  CounterFamily,
  HistogramFamily,
  HistogramSpec,
  Labels,
  MetricSpec,
  MetricsOptions,
  Sample,
} from './metrics.js';
export { BATCH_SIZE_BUCKETS, LAG_BUCKETS, LATENCY_BUCKETS, STORE_LATENCY_BUCKETS } from './buckets.js';
