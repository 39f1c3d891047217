/** Environment variables the registry reads; `store.dataDir` is `SWITCHBOARD_DATA_DIR` and `--data-dir`. */
export const ENV = {
  config: 'SWITCHBOARD_CONFIG',
  host: 'SWITCHBOARD_HOST',
  port: 'SWITCHBOARD_PORT',
  store: 'SWITCHBOARD_STORE',
  dataDir: 'SWITCHBOARD_DATA_DIR',
  sweepInterval: 'SWITCHBOARD_LEASE_SWEEP_INTERVAL',
  logLevel: 'SWITCHBOARD_LOG_LEVEL',
} as const;
