export { SubscriberTable } from './subscriber-table.js';
export type { DrainReport, SubscriberIdentity, SubscriberOptions, SubscriberProgress } from './subscriber-table.js';
export { addSubscriberMetrics } from './subscriber-metrics.js';
