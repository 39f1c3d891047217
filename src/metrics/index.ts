export { METRICS_CONTENT_TYPE, Metrics } from './metrics.js';
