/** Environment variables the registry reads; `store.dataDir` is `SWITCHBOARD_DATA_DIR` and `--data-dir`. */
export const ENV = {
  config: 'SWITCHBOARD_CONFIG',
  host: 'SWITCHBOARD_HOST',
  port: 'SWITCHBOARD_PORT',
  store: 'SWITCHBOARD_STORE',
  dataDir: 'SWITCHBOARD_DATA_DIR',
  sweepInterval: 'SWITCHBOARD_LEASE_SWEEP_INTERVAL',
  selfPreservationThreshold: 'SWITCHBOARD_SELF_PRESERVATION_THRESHOLD',
  selfPreservationMinimum: 'SWITCHBOARD_SELF_PRESERVATION_MINIMUM',
  selfPreservationMax: 'SWITCHBOARD_SELF_PRESERVATION_MAX',
  checkConcurrency: 'SWITCHBOARD_CHECK_CONCURRENCY',
  logLevel: 'SWITCHBOARD_LOG_LEVEL',
  /** The CLI's registry URL(s), comma-separated (register, deregister, list, …). */
  registry: 'SWITCHBOARD_REGISTRY',
  /** The CLI's bearer token for the registry. */
  token: 'SWITCHBOARD_TOKEN',
  watchChangeLogSize: 'SWITCHBOARD_WATCH_CHANGE_LOG_SIZE',
  watchKeepAliveInterval: 'SWITCHBOARD_WATCH_KEEP_ALIVE_INTERVAL',
  watchStreamBuffer: 'SWITCHBOARD_WATCH_STREAM_BUFFER',
  gatewayPort: 'SWITCHBOARD_GATEWAY_PORT',
  gatewayHost: 'SWITCHBOARD_GATEWAY_HOST',
  gatewayRouteByName: 'SWITCHBOARD_GATEWAY_ROUTE_BY_NAME',
  gatewayBalance: 'SWITCHBOARD_GATEWAY_BALANCE',
  gatewayUpstreamTimeout: 'SWITCHBOARD_GATEWAY_UPSTREAM_TIMEOUT',
  jwtSecret: 'SWITCHBOARD_JWT_SECRET',
  jwtPublicKey: 'SWITCHBOARD_JWT_PUBLIC_KEY',
  jwksUrl: 'SWITCHBOARD_JWKS_URL',
} as const;
