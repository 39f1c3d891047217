export { Counter, METRICS_CONTENT_TYPE, Metrics } from './metrics.js';
export type { Labels, MetricType, Sample } from './metrics.js';
