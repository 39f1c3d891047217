export type StoreKindOption = 'sqlite' | 'memory';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Everything the server can be told. Only server.ts and cli/ see all of it; components get their slice. */
export interface Config {
  http: { host: string; port: number };
  store: { kind: StoreKindOption; dataDir: string };
  leases: { sweepIntervalMs: number };
  log: { level: LogLevel };
}

export const DEFAULTS: Config = {
  http: { host: '127.0.0.1', port: 8900 },
  store: { kind: 'sqlite', dataDir: 'data' },
  leases: { sweepIntervalMs: 1_000 },
  log: { level: 'info' },
};
