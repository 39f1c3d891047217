/** The closed sets of the configuration, declared once: the types, validation and `--help` derive from them. */
export const STORE_KINDS = ['sqlite', 'memory', 'etcd'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** The gateway's balancers, as the shared balancing code names them. */
export { BALANCE_STRATEGIES as BALANCE_MODES } from '../balancing/index.js';
export type StoreKindOption = (typeof STORE_KINDS)[number];
/** Access control's modes, as the auth module names them. */
export { AUTH_MODES } from '../auth/index.js';
import type { AuthMode as AuthModeOption } from '../auth/index.js';
import type { TokenPolicy } from '../wire/index.js';
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
    /** Time to receive a request's headers, and the whole request (issue #14); answering may take longer. */
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    /** Connections held at once (event streams and blocking queries included); more are closed as they arrive. */
    maxConnections: number;
  };
  /**
   * Access control (issue #13). `mode` on: a request gets its token's policy, or `anonymousPolicy` without a token
   * (a policy spec: `read:GLOB`, `write:GLOB`, `operator`, comma-separated, or `none`). Off (the default) is allowed on
   * a loopback address only, unless `insecureNoAuth` says the operator really means it.
   */
  auth: { mode: AuthModeOption; anonymousPolicy: TokenPolicy; insecureNoAuth: boolean };
  /**
   * XML-RPC: how long a request body may take to arrive, the deepest nesting of a call, the most calls in a multicall,
   * and the largest answer in bytes, which the calls of a multicall share (issue #14).
   */
  xmlrpc: { bodyTimeoutMs: number; maxDepth: number; maxMulticall: number; maxAnswerBytes: number };
  /**
   * Consul's HTTP API (issue #17): the datacenter its answers name (Prometheus labels targets `__meta_consul_dc`), and
   * the longest `?filter=` expression it parses, in characters.
   */
  consul: { datacenter: string; maxFilterLength: number };
  /**
   * Eureka's REST API (issue #18): whether an instance's `healthCheckUrl` becomes an active check the registry runs,
   * and how far back `/apps/delta` reaches (Eureka's server keeps 3 minutes of recent changes).
   */
  eureka: { healthChecks: boolean; deltaWindowMs: number };
  /**
   * `writeTimeoutMs`: a write the store has not made durable within it is answered 503 STORE_UNAVAILABLE and `/health`
   * says degraded until writes complete again (issue #14).
   */
  store: { kind: StoreKindOption; dataDir: string; writeTimeoutMs: number };
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
  /**
   * Watches: the change log that resuming watchers replay (bounded in entries and in bytes of heap), the event
   * stream's keep-alive, how far a stream may fall behind, and how long a client may take to read its opening snapshot.
   */
  watch: {
    changeLogSize: number;
    changeLogBytes: number;
    keepAliveIntervalMs: number;
    streamBufferBytes: number;
    snapshotTimeoutMs: number;
  };
  /**
   * Quotas (issue #14): instances in the whole registry and in one service, bytes of one stored registration, and how
   * long a service stays empty (with no one watching it) before what is kept about it is pruned.
   */
  limits: { maxInstances: number; maxInstancesPerService: number; maxRecordBytes: number; emptyServiceGraceMs: number };
  /**
   * Subscribers (issue #19): how many are tracked at most, how long one unseen still counts as live (a drain waits for
   * it) and stays listed, the lag above which it counts as behind, how often it acknowledges, and the longest drain.
   */
  subscribers: {
    maxTracked: number;
    liveMs: number;
    forgetAfterMs: number;
    behindMs: number;
    ackIntervalMs: number;
    maxDrainWaitMs: number;
    /** Cluster mode: how often a node publishes its subscribers' progress through etcd (only when it changed). */
    publishIntervalMs: number;
  };
  /**
   * The DNS interface (issue #17), on `http.host` over UDP and TCP when `port` is set (null: none). `domain` is lower
   * case and ends with a dot; `ttlMs` is the records' TTL (whole seconds on the wire). A UDP answer holds 512 bytes, or
   * what the client's EDNS0 record offers up to `udpMaxBytes`; TCP connections are bounded in number, idle time and
   * query size.
   */
  dns: {
    port: number | null;
    domain: string;
    ttlMs: number;
    udpMaxBytes: number;
    tcpMaxConnections: number;
    tcpIdleTimeoutMs: number;
    tcpMaxMessageBytes: number;
  };
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
    /**
     * The gateway's own server (issue #14), as `http.*` for the registry: time to receive a request's headers, and the
     * whole request; how long an idle keep-alive connection stays open; connections held at once.
     */
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    maxConnections: number;
    /** How long a request may wait for a free connection to its instance before 503 (issue #14). */
    acquireTimeoutMs: number;
    /** How long a route whose service has no instance left still answers through its fallback (issue #15). */
    fallbackRetentionMs: number;
    /** Peers (CIDRs) whose forwarding headers are appended to; from anyone else they are replaced (issue #14). */
    trustedProxies: string[];
    /** PEM certificate and key: the gateway serves HTTPS (null: HTTP). */
    tlsCertFile: string | null;
    tlsKeyFile: string | null;
    /**
     * `secretFile`: a file holding the HS256 secret, so it stays out of `ps` (an alternative to `secret`). `issuer` and
     * `audience`, when set, must match the token's `iss` and `aud`; `exp` is required, checked with `clockSkewMs`.
     */
    jwt: {
      secret: string | null;
      secretFile: string | null;
      publicKeyFile: string | null;
      jwksUrl: string | null;
      issuer: string | null;
      audience: string | null;
      clockSkewMs: number;
    };
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
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    maxConnections: 16_384,
  },
  auth: { mode: 'off', anonymousPolicy: { read: [], write: [], operator: false }, insecureNoAuth: false },
  xmlrpc: { bodyTimeoutMs: 10_000, maxDepth: 32, maxMulticall: 1_000, maxAnswerBytes: 16 * 1024 * 1024 },
  consul: { datacenter: 'dc1', maxFilterLength: 4_096 },
  eureka: { healthChecks: false, deltaWindowMs: 3 * 60_000 },
  store: { kind: 'sqlite', dataDir: 'data', writeTimeoutMs: 10_000 },
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
  watch: {
    changeLogSize: 10_000,
    changeLogBytes: 64 * 1024 * 1024,
    keepAliveIntervalMs: 15_000,
    streamBufferBytes: 1024 * 1024,
    snapshotTimeoutMs: 60_000,
  },
  limits: {
    maxInstances: 250_000,
    maxInstancesPerService: 10_000,
    maxRecordBytes: 16 * 1024,
    emptyServiceGraceMs: 10 * 60_000,
  },
  subscribers: {
    maxTracked: 10_000,
    liveMs: 15_000,
    forgetAfterMs: 10 * 60_000,
    behindMs: 5_000,
    ackIntervalMs: 250,
    maxDrainWaitMs: 5 * 60_000,
    publishIntervalMs: 250,
  },
  dns: {
    port: null,
    domain: 'switchboard.',
    // Short: a client that caches an answer keeps sending traffic to an instance that has gone this long.
    ttlMs: 5_000,
    udpMaxBytes: 4_096,
    tcpMaxConnections: 1_024,
    tcpIdleTimeoutMs: 10_000,
    tcpMaxMessageBytes: 4_096,
  },
  gateway: {
    port: null,
    host: null,
    routeByName: false,
    balance: 'round-robin',
    upstreamTimeoutMs: 60_000,
    connectTimeoutMs: 5_000,
    maxConnectionsPerInstance: 256,
    readyTimeoutMs: 5_000,
    headersTimeoutMs: 10_000,
    // Uploads through the gateway may be larger than the registry's own 1 MiB bodies.
    requestTimeoutMs: 60_000,
    // A little longer than common load balancers' 60 s, so they close idle connections first.
    idleTimeoutMs: 72_000,
    maxConnections: 16_384,
    acquireTimeoutMs: 10_000,
    fallbackRetentionMs: 60 * 60_000,
    trustedProxies: [],
    tlsCertFile: null,
    tlsKeyFile: null,
    jwt: {
      secret: null,
      secretFile: null,
      publicKeyFile: null,
      jwksUrl: null,
      issuer: null,
      audience: null,
      clockSkewMs: 30_000,
    },
  },
};
