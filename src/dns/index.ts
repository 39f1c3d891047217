export { DnsMetrics } from './dns-metrics.js';
export { startDnsServer } from './dns-server.js';
export type { DnsServer, DnsServerOptions, DnsSettings } from './dns-server.js';
