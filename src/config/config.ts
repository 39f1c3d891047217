/** The closed sets of the configuration, declared once: the types, validation and `--help` derive from them. */
export const STORE_KINDS = ['sqlite', 'memory', 'etcd'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** The gateway's balancers, as the shared balancing code names them. */
export { BALANCE_STRATEGIES as BALANCE_MODES } from '../balancing/index.js';
export type StoreKindOption = (typeof STORE_KINDS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
import type { BalanceStrategy } from '../balancing/index.js';
export type GatewayBalanceOption = BalanceStrategy;

/** Everything the server can be told. Only server.ts and cli/ see all of it; components get their slice. */
export interface Config {
  /**
   * `bodyLimitBytes`: the largest request body any transport (REST, seed, XML-RPC) accepts. With a certificate and key
   * (PEM files) the port serves HTTPS; with a client CA too, it requires client certificates it signed (mutual TLS).
   */
  http: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    tlsCertFile: string | null;
    tlsKeyFile: string | null;
    tlsClientCaFile: string | null;
    /** Origins whose web pages may change the registry (a page's write carries its Origin; others are refused). */
    allowedOrigins: string[];
  };
  /** XML-RPC: how long a request body may take to arrive, the deepest nesting of a call, the most calls in a multicall. */
  xmlrpc: { bodyTimeoutMs: number; maxDepth: number; maxMulticall: number };
  store: { kind: StoreKindOption; dataDir: string };
  /**
   * The etcd cluster under `--store etcd` (issue #12): client URLs, the key prefix every node of one registry shares,
   * TLS files, and a user whose password is read from a file (never a flag: `ps` would show it).
   */
  etcd: {
    endpoints: string[];
    prefix: string;
    caFile: string | null;
    certFile: string | null;
    keyFile: string | null;
    username: string | null;
    passwordFile: string | null;
    dialTimeoutMs: number;
  };
  /**
   * This node in a cluster: its name (default host name and port), the URL other nodes and clients reach it at
   * (default its listening URL), the lease that keeps its presence and leadership, and how often it reports.
   */
  cluster: { nodeName: string | null; advertiseUrl: string | null; leaseTtlMs: number; reportIntervalMs: number };
  /**
   * Lease sweep; self-preservation suspends expiry when this fraction (and this many) of the leases lapse at once,
   * for at most `selfPreservationMaxMs` while some leases still renew.
   */
  leases: {
    sweepIntervalMs: number;
    selfPreservationThreshold: number;
    selfPreservationMinimum: number;
    selfPreservationMaxMs: number;
  };
  /**
   * Active health checks: probes in flight at most; the shortest interval a check may ask for; address ranges
   * (CIDRs) a check may target besides its own instance's host (issue #13: none by default).
   */
  checks: { concurrency: number; minIntervalMs: number; allowHosts: string[] };
  log: { level: LogLevel };
  /** Watches: the change log that resuming watchers replay, and the event stream's keep-alive and buffer bound. */
  watch: { changeLogSize: number; keepAliveIntervalMs: number; streamBufferBytes: number };
  /**
   * The API gateway: run inside `serve` when `port` is set (null: none), and read by the `gateway` command too.
   * `host` null listens on `http.host`; `jwt` holds at most one key source for role checks.
   */
  gateway: {
    port: number | null;
    host: string | null;
    routeByName: boolean;
    balance: GatewayBalanceOption;
    upstreamTimeoutMs: number;
    /** How long connecting to an instance may take (never above the upstream timeout). */
    connectTimeoutMs: number;
    /** Connections kept to one instance at most; more requests queue. */
    maxConnectionsPerInstance: number;
    /** How long startup waits for the registry's first snapshot before listening anyway. */
    readyTimeoutMs: number;
    /** PEM certificate and key: the gateway serves HTTPS (null: HTTP). */
    tlsCertFile: string | null;
    tlsKeyFile: string | null;
    /** `secretFile`: a file holding the HS256 secret, so it stays out of `ps` (an alternative to `secret`). */
    jwt: { secret: string | null; secretFile: string | null; publicKeyFile: string | null; jwksUrl: string | null };
  };
}

/** Where `switchboard gateway` listens when `gateway.port` is not set (`serve` runs no gateway then). */
export const GATEWAY_COMMAND_PORT = 8080;

export const DEFAULTS: Config = {
  http: {
    host: '127.0.0.1',
    port: 8900,
    bodyLimitBytes: 1024 * 1024,
    tlsCertFile: null,
    tlsKeyFile: null,
    tlsClientCaFile: null,
    allowedOrigins: [],
  },
  xmlrpc: { bodyTimeoutMs: 10_000, maxDepth: 32, maxMulticall: 1_000 },
  store: { kind: 'sqlite', dataDir: 'data' },
  etcd: {
    endpoints: [],
    prefix: '/switchboard',
    caFile: null,
    certFile: null,
    keyFile: null,
    username: null,
    passwordFile: null,
    dialTimeoutMs: 5_000,
  },
  cluster: { nodeName: null, advertiseUrl: null, leaseTtlMs: 10_000, reportIntervalMs: 1_000 },
  leases: {
    sweepIntervalMs: 1_000,
    selfPreservationThreshold: 0.5,
    selfPreservationMinimum: 10,
    selfPreservationMaxMs: 15 * 60_000,
  },
  checks: { concurrency: 256, minIntervalMs: 1_000, allowHosts: [] },
  log: { level: 'info' },
  watch: { changeLogSize: 10_000, keepAliveIntervalMs: 15_000, streamBufferBytes: 1024 * 1024 },
  gateway: {
    port: null,
    host: null,
    routeByName: false,
    balance: 'round-robin',
    upstreamTimeoutMs: 60_000,
    connectTimeoutMs: 5_000,
    maxConnectionsPerInstance: 256,
    readyTimeoutMs: 5_000,
    tlsCertFile: null,
    tlsKeyFile: null,
    jwt: { secret: null, secretFile: null, publicKeyFile: null, jwksUrl: null },
  },
};
