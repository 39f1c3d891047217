/**
 * Builds the Config: DEFAULTS < config file < environment < flags. Every bad key is reported in one
 * INVALID_ARGUMENT, and the result is deep-frozen.
 */
import { readFileSync } from 'node:fs';
import { parseAddressRange } from '../net/index.js';
import { RegistryError } from '../errors/index.js';
import { parseDuration, parsePolicySpec } from '../wire/index.js';
import { AUTH_MODES, BALANCE_MODES, DEFAULTS, LOG_LEVELS, STORE_KINDS } from './config.js';
import type { Config } from './config.js';
import { ENV } from './env.js';

interface Option {
  /** Dotted path in Config and in the config file. */
  path: string;
  flag: string;
  env: string;
  parse: (raw: unknown) => unknown;
  help: string;
}

function text(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new Error('must be a non-empty string');
  return raw;
}

function port(raw: unknown): number {
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65_535) throw new Error('must be a port (0–65535)');
  return n;
}

/** Comma-separated http(s) URLs (a config file may give an array). */
function urls(raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) throw new Error('must be URLs separated by commas');
  const out = list.map((item: unknown) => (typeof item === 'string' ? item.trim() : '')).filter((u) => u !== '');
  if (out.length === 0) throw new Error('must name at least one URL');
  for (const u of out) url(u);
  return out;
}

function url(raw: unknown): string {
  const given = text(raw);
  let parsed: URL;
  try {
    parsed = new URL(given);
  } catch {
    throw new Error(`${JSON.stringify(given)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`${given} is not http(s)`);
  return given.replace(/\/+$/, '');
}

function keyPrefix(raw: unknown): string {
  const given = text(raw);
  if (!given.startsWith('/') || given.endsWith('/') || given.length > 256) {
    throw new Error('must start with "/", not end with one, and be at most 256 characters (e.g. /switchboard)');
  }
  return given;
}

/** A Consul datacenter name: letters, digits, '_' and '-', as Consul accepts them. */
function datacenter(raw: unknown): string {
  const given = text(raw);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(given)) throw new Error("must be 1–64 letters, digits, '_' or '-' (e.g. dc1)");
  return given;
}

function oneOf(values: readonly string[]) {
  return (raw: unknown): string => {
    if (typeof raw !== 'string' || !values.includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
    return raw;
  };
}

function duration(raw: unknown): number {
  // Plain seconds ("2") are a duration too, and must pass the same check as "2s".
  const value = typeof raw === 'string' && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error('must be a duration');
  const ms = parseDuration(value, 'value');
  if (ms <= 0) throw new Error('must be above zero');
  return ms;
}

function positiveInteger(raw: unknown): number {
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw new Error('must be a whole number above zero');
  return n;
}

function bool(raw: unknown): boolean {
  if (raw === true || raw === 'true' || raw === '1') return true;
  if (raw === false || raw === 'false' || raw === '0') return false;
  throw new Error('must be true or false');
}

/** Comma-separated address ranges (CIDRs or addresses; a config file may give an array); none is allowed. */
function addressRanges(raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) throw new Error('must be CIDRs separated by commas (e.g. 10.0.0.0/8,fd00::/8)');
  const out = list.map((item: unknown) => (typeof item === 'string' ? item.trim() : '')).filter((r) => r !== '');
  for (const range of out) parseAddressRange(range);
  return out;
}

/** A policy spec (`read:*,write:dev-*`, `operator`, `none`); a config file may give the policy object itself. */
function policy(raw: unknown): unknown {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const given = raw as Record<string, unknown>;
    const globs = (value: unknown): string[] => {
      if (value === undefined) return [];
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
      throw new Error('read and write must be arrays of service globs');
    };
    return parsePolicySpec(
      [
        ...(given['operator'] === true ? ['operator'] : []),
        ...globs(given['read']).map((glob) => `read:${glob}`),
        ...globs(given['write']).map((glob) => `write:${glob}`),
      ].join(','),
    );
  }
  return parsePolicySpec(text(raw));
}

function integerBetween(min: number, max: number) {
  return (raw: unknown): number => {
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new Error(`must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** A DNS domain, compared in lower case and kept with its final dot: `Consul` → `consul.`. */
function dnsDomain(raw: unknown): string {
  const domain = `${text(raw).toLowerCase().replace(/\.$/, '')}.`;
  if (domain.length > 254 || !/^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+$/.test(domain)) {
    throw new Error('must be a DNS domain such as switchboard. or consul.');
  }
  return domain;
}

function fraction(raw: unknown): number {
  const n = typeof raw === 'string' && /^\d*\.?\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !(n > 0 && n <= 1))
    throw new Error('must be a fraction above 0 and at most 1 (e.g. 0.5)');
  return n;
}

export const OPTIONS: readonly Option[] = [
  { path: 'http.host', flag: 'host', env: ENV.host, parse: text, help: 'address to listen on' },
  { path: 'http.port', flag: 'port', env: ENV.port, parse: port, help: 'port to listen on (0: any free port)' },
  {
    path: 'http.bodyLimitBytes',
    flag: 'body-limit',
    env: ENV.bodyLimit,
    parse: positiveInteger,
    help: 'largest request body in bytes, for REST, seed and XML-RPC (default 1 MiB)',
  },
  {
    path: 'http.tlsCertFile',
    flag: 'tls-cert',
    env: ENV.tlsCert,
    parse: text,
    help: 'PEM certificate (chain) file: serve HTTPS (with --tls-key)',
  },
  { path: 'http.tlsKeyFile', flag: 'tls-key', env: ENV.tlsKey, parse: text, help: 'PEM private key of --tls-cert' },
  {
    path: 'http.tlsClientCaFile',
    flag: 'tls-client-ca',
    env: ENV.tlsClientCa,
    parse: text,
    help: 'PEM CA file: require client certificates it signed (mutual TLS; needs --tls-cert)',
  },
  {
    path: 'http.allowedOrigins',
    flag: 'allowed-origins',
    env: ENV.allowedOrigins,
    parse: urls,
    help: 'origins (e.g. https://ops.example) whose web pages may change the registry; other pages are refused',
  },
  {
    path: 'http.headersTimeoutMs',
    flag: 'headers-timeout',
    env: ENV.headersTimeout,
    parse: duration,
    help: "time to receive a request's headers before 408 (default 10s)",
  },
  {
    path: 'http.requestTimeoutMs',
    flag: 'request-timeout',
    env: ENV.requestTimeout,
    parse: duration,
    help: 'time to receive a whole request, body included, before 408 (default 30s; answers may take longer)',
  },
  {
    path: 'http.maxConnections',
    flag: 'max-connections',
    env: ENV.maxConnections,
    parse: positiveInteger,
    help: 'connections held at once, event streams included; more are closed (default 16384)',
  },
  {
    path: 'auth.mode',
    flag: 'auth',
    env: ENV.auth,
    parse: oneOf(AUTH_MODES),
    help: 'on: every request needs a token whose policy allows it (off is allowed on loopback only; default off)',
  },
  {
    path: 'auth.anonymousPolicy',
    flag: 'anonymous-policy',
    env: ENV.anonymousPolicy,
    parse: policy,
    help: 'with --auth on, what requests without a token may do: read:GLOB, write:GLOB, operator, or none (default)',
  },
  {
    path: 'auth.insecureNoAuth',
    flag: 'insecure-no-auth',
    env: ENV.insecureNoAuth,
    parse: bool,
    help: 'run with --auth off on a non-loopback address: anyone who reaches the port may change the registry',
  },
  {
    path: 'xmlrpc.bodyTimeoutMs',
    flag: 'xmlrpc-body-timeout',
    env: ENV.xmlrpcBodyTimeout,
    parse: duration,
    help: 'how long an XML-RPC request body may take to arrive (default 10s)',
  },
  {
    path: 'xmlrpc.maxDepth',
    flag: 'xmlrpc-max-depth',
    env: ENV.xmlrpcMaxDepth,
    parse: positiveInteger,
    help: 'deepest nesting of arrays and structs in an XML-RPC call (default 32)',
  },
  {
    path: 'xmlrpc.maxMulticall',
    flag: 'xmlrpc-max-multicall',
    env: ENV.xmlrpcMaxMulticall,
    parse: positiveInteger,
    help: 'most calls in one system.multicall (default 1000)',
  },
  {
    path: 'xmlrpc.maxAnswerBytes',
    flag: 'xmlrpc-max-answer-bytes',
    env: ENV.xmlrpcMaxAnswerBytes,
    parse: positiveInteger,
    help: 'largest XML-RPC answer in bytes, shared by the calls of a multicall (default 16 MiB)',
  },
  {
    path: 'consul.datacenter',
    flag: 'consul-datacenter',
    env: ENV.consulDatacenter,
    parse: datacenter,
    help: 'the datacenter the Consul API names in its answers (default dc1)',
  },
  {
    path: 'consul.maxFilterLength',
    flag: 'consul-max-filter-length',
    env: ENV.consulMaxFilterLength,
    parse: positiveInteger,
    help: 'longest ?filter= expression the Consul API parses, in characters (default 4096)',
  },
  {
    path: 'eureka.healthChecks',
    flag: 'eureka-health-checks',
    env: ENV.eurekaHealthChecks,
    parse: bool,
    help: "make a Eureka instance's healthCheckUrl an active check the registry runs (default false)",
  },
  {
    path: 'eureka.deltaWindowMs',
    flag: 'eureka-delta-window',
    env: ENV.eurekaDeltaWindow,
    parse: duration,
    help: "how far back Eureka's /apps/delta reaches (default 3m)",
  },
  {
    path: 'store.kind',
    flag: 'store',
    env: ENV.store,
    parse: oneOf(STORE_KINDS),
    help: STORE_KINDS.join(' | '),
  },
  { path: 'store.dataDir', flag: 'data-dir', env: ENV.dataDir, parse: text, help: 'folder of the sqlite store' },
  {
    path: 'store.writeTimeoutMs',
    flag: 'store-write-timeout',
    env: ENV.storeWriteTimeout,
    parse: duration,
    help: 'a write the store has not made durable within this long answers 503 STORE_UNAVAILABLE (default 10s)',
  },
  {
    path: 'etcd.endpoints',
    flag: 'etcd-endpoints',
    env: ENV.etcdEndpoints,
    parse: urls,
    help: 'etcd client URLs, comma-separated (--store etcd)',
  },
  {
    path: 'etcd.prefix',
    flag: 'etcd-prefix',
    env: ENV.etcdPrefix,
    parse: keyPrefix,
    help: 'key prefix shared by the nodes of one registry (default /switchboard)',
  },
  { path: 'etcd.caFile', flag: 'etcd-ca', env: ENV.etcdCa, parse: text, help: "PEM file of etcd's CA (TLS)" },
  { path: 'etcd.certFile', flag: 'etcd-cert', env: ENV.etcdCert, parse: text, help: 'PEM client certificate for etcd' },
  { path: 'etcd.keyFile', flag: 'etcd-key', env: ENV.etcdKey, parse: text, help: 'PEM client key for etcd' },
  { path: 'etcd.username', flag: 'etcd-username', env: ENV.etcdUsername, parse: text, help: 'etcd user' },
  {
    path: 'etcd.passwordFile',
    flag: 'etcd-password-file',
    env: ENV.etcdPasswordFile,
    parse: text,
    help: "file holding the etcd user's password",
  },
  {
    path: 'etcd.dialTimeoutMs',
    flag: 'etcd-dial-timeout',
    env: ENV.etcdDialTimeout,
    parse: duration,
    help: 'how long an etcd request may wait for a connection before the write is refused (default 5s)',
  },
  {
    path: 'cluster.nodeName',
    flag: 'node-name',
    env: ENV.nodeName,
    parse: text,
    help: "this node's name in the cluster (default host name and port)",
  },
  {
    path: 'cluster.advertiseUrl',
    flag: 'advertise-url',
    env: ENV.advertiseUrl,
    parse: url,
    help: 'the URL other nodes and clients reach this node at (default its listening URL)',
  },
  {
    path: 'cluster.leaseTtlMs',
    flag: 'cluster-lease-ttl',
    env: ENV.clusterLeaseTtl,
    parse: duration,
    help: 'how long a silent node keeps its place and its leadership (default 10s; whole seconds)',
  },
  {
    path: 'cluster.reportIntervalMs',
    flag: 'cluster-report-interval',
    env: ENV.clusterReportInterval,
    parse: duration,
    help: 'how often a node reports the index it has applied (default 1s)',
  },
  {
    path: 'leases.sweepIntervalMs',
    flag: 'lease-sweep-interval',
    env: ENV.sweepInterval,
    parse: duration,
    help: 'how often lapsed leases are looked for (e.g. 1s)',
  },
  {
    path: 'leases.selfPreservationThreshold',
    flag: 'self-preservation-threshold',
    env: ENV.selfPreservationThreshold,
    parse: fraction,
    help: 'fraction of leases lapsed at once that suspends expiry (self-preservation; default 0.5)',
  },
  {
    path: 'leases.selfPreservationMinimum',
    flag: 'self-preservation-minimum',
    env: ENV.selfPreservationMinimum,
    parse: positiveInteger,
    help: 'lapsed leases needed at least before self-preservation starts (default 10)',
  },
  {
    path: 'leases.selfPreservationMaxMs',
    flag: 'self-preservation-max',
    env: ENV.selfPreservationMax,
    parse: duration,
    help: 'longest self-preservation lasts while some leases still renew; the silent ones then expire (default 15m)',
  },
  {
    path: 'checks.concurrency',
    flag: 'check-concurrency',
    env: ENV.checkConcurrency,
    parse: positiveInteger,
    help: 'active health-check probes in flight at most (default 256)',
  },
  {
    path: 'checks.minIntervalMs',
    flag: 'checks-min-interval',
    env: ENV.checksMinInterval,
    parse: duration,
    help: 'shortest interval a health check may ask for (default 1s)',
  },
  {
    path: 'checks.allowHosts',
    flag: 'checks-allow-hosts',
    env: ENV.checksAllowHosts,
    parse: addressRanges,
    help: "CIDRs a health check may target besides its instance's own host, comma-separated (default: none)",
  },
  { path: 'log.level', flag: 'log-level', env: ENV.logLevel, parse: oneOf(LOG_LEVELS), help: LOG_LEVELS.join(' | ') },
  {
    path: 'watch.changeLogSize',
    flag: 'watch-change-log-size',
    env: ENV.watchChangeLogSize,
    parse: positiveInteger,
    help: 'changes kept for watchers that resume from an index (older ones get a snapshot)',
  },
  {
    path: 'watch.keepAliveIntervalMs',
    flag: 'watch-keep-alive-interval',
    env: ENV.watchKeepAliveInterval,
    parse: duration,
    help: 'how often an idle event stream gets a comment, so proxies keep it open (e.g. 15s)',
  },
  {
    path: 'watch.streamBufferBytes',
    flag: 'watch-stream-buffer',
    env: ENV.watchStreamBuffer,
    parse: positiveInteger,
    help: 'bytes an event stream may fall behind before it is dropped (the client resumes from its last index)',
  },
  {
    path: 'watch.changeLogBytes',
    flag: 'watch-change-log-bytes',
    env: ENV.watchChangeLogBytes,
    parse: positiveInteger,
    help: 'heap the change log may hold, in bytes; older changes are dropped (default 64 MiB)',
  },
  {
    path: 'watch.snapshotTimeoutMs',
    flag: 'watch-snapshot-timeout',
    env: ENV.watchSnapshotTimeout,
    parse: duration,
    help: "how long an event stream's client may take to read its opening snapshot before it is dropped (default 1m)",
  },
  {
    path: 'limits.maxInstances',
    flag: 'max-instances',
    env: ENV.maxInstances,
    parse: positiveInteger,
    help: 'instances the registry holds at most; a registration that would add one more gets 429 (default 250000)',
  },
  {
    path: 'limits.maxInstancesPerService',
    flag: 'max-instances-per-service',
    env: ENV.maxInstancesPerService,
    parse: positiveInteger,
    help: 'instances one service holds at most; a registration that would add one more gets 429 (default 10000)',
  },
  {
    path: 'limits.maxRecordBytes',
    flag: 'max-record-bytes',
    env: ENV.maxRecordBytes,
    parse: positiveInteger,
    help: 'bytes one stored registration (its JSON) may take; a larger one gets 429 (default 16384)',
  },
  {
    path: 'limits.emptyServiceGraceMs',
    flag: 'empty-service-grace',
    env: ENV.emptyServiceGrace,
    parse: duration,
    help: 'how long a service with no instances and no watchers keeps its index before it is pruned (default 10m)',
  },
  {
    path: 'subscribers.maxTracked',
    flag: 'subscribers-max',
    env: ENV.subscribersMax,
    parse: positiveInteger,
    help: 'subscribers (watchers that name themselves) tracked at most on a node; more are served but not listed (default 10000)',
  },
  {
    path: 'subscribers.liveMs',
    flag: 'subscribers-live',
    env: ENV.subscribersLive,
    parse: duration,
    help: 'how long a subscriber no longer connected still counts as live: a drain waits for it (default 15s)',
  },
  {
    path: 'subscribers.forgetAfterMs',
    flag: 'subscribers-forget-after',
    env: ENV.subscribersForgetAfter,
    parse: duration,
    help: 'how long a subscriber unseen stays listed in GET /v1/subscribers (default 10m)',
  },
  {
    path: 'subscribers.behindMs',
    flag: 'subscribers-behind',
    env: ENV.subscribersBehind,
    parse: duration,
    help: 'a live subscriber whose oldest unapplied change is older than this counts in switchboard_subscribers_behind (default 5s)',
  },
  {
    path: 'subscribers.ackIntervalMs',
    flag: 'subscribers-ack-interval',
    env: ENV.subscribersAckInterval,
    parse: duration,
    help: 'how often event-stream subscribers send their acknowledgements, batched (announced to them; default 250ms)',
  },
  {
    path: 'subscribers.maxDrainWaitMs',
    flag: 'subscribers-max-drain-wait',
    env: ENV.subscribersMaxDrainWait,
    parse: duration,
    help: 'the longest wait a drain may ask for (default 5m)',
  },
  {
    path: 'subscribers.publishIntervalMs',
    flag: 'subscribers-publish-interval',
    env: ENV.subscribersPublishInterval,
    parse: duration,
    help: "cluster mode: how often a node publishes its subscribers' progress through etcd, when it changed (default 250ms)",
  },
  {
    path: 'dns.port',
    flag: 'dns-port',
    env: ENV.dnsPort,
    parse: port,
    help: 'also answer DNS on this port, UDP and TCP, on --host (0: any free port; default: no DNS)',
  },
  {
    path: 'dns.domain',
    flag: 'dns-domain',
    env: ENV.dnsDomain,
    parse: dnsDomain,
    help: 'the DNS domain served: <service>.service.<domain> (default switchboard.; consul. for Consul clients)',
  },
  { path: 'dns.ttlMs', flag: 'dns-ttl', env: ENV.dnsTtl, parse: duration, help: 'TTL of DNS records (default 5s)' },
  {
    path: 'dns.udpMaxBytes',
    flag: 'dns-udp-max-bytes',
    env: ENV.dnsUdpMaxBytes,
    parse: integerBetween(512, 65_535),
    help: "largest UDP answer a client's EDNS0 record may ask for; 512 without one (default 4096)",
  },
  {
    path: 'dns.tcpMaxConnections',
    flag: 'dns-tcp-max-connections',
    env: ENV.dnsTcpMaxConnections,
    parse: positiveInteger,
    help: 'DNS TCP connections held at once; more are closed (default 1024)',
  },
  {
    path: 'dns.tcpIdleTimeoutMs',
    flag: 'dns-tcp-idle-timeout',
    env: ENV.dnsTcpIdleTimeout,
    parse: duration,
    help: 'how long an idle DNS TCP connection stays open (default 10s)',
  },
  {
    path: 'dns.tcpMaxMessageBytes',
    flag: 'dns-tcp-max-message-bytes',
    env: ENV.dnsTcpMaxMessageBytes,
    parse: integerBetween(512, 65_535),
    help: 'longest DNS query over TCP in bytes; a longer one closes the connection (default 4096)',
  },
  {
    path: 'gateway.port',
    flag: 'gateway-port',
    env: ENV.gatewayPort,
    parse: port,
    help: 'also run the API gateway on this port (0: any free port; default: no gateway)',
  },
  {
    path: 'gateway.host',
    flag: 'gateway-host',
    env: ENV.gatewayHost,
    parse: text,
    help: 'gateway address (default: --host)',
  },
  {
    path: 'gateway.routeByName',
    flag: 'gateway-route-by-name',
    env: ENV.gatewayRouteByName,
    parse: bool,
    help: 'gateway also routes /{service}/… to every service',
  },
  {
    path: 'gateway.balance',
    flag: 'gateway-balance',
    env: ENV.gatewayBalance,
    parse: oneOf(BALANCE_MODES),
    help: `gateway balancer where metadata gateway.balance is unset: ${BALANCE_MODES.join(' | ')}`,
  },
  {
    path: 'gateway.upstreamTimeoutMs',
    flag: 'gateway-upstream-timeout',
    env: ENV.gatewayUpstreamTimeout,
    parse: duration,
    help: 'how long an instance may take to answer (and stay silent mid-body) before 504 (e.g. 60s)',
  },
  {
    path: 'gateway.connectTimeoutMs',
    flag: 'gateway-connect-timeout',
    env: ENV.gatewayConnectTimeout,
    parse: duration,
    help: 'how long connecting to an instance may take (default 5s)',
  },
  {
    path: 'gateway.maxConnectionsPerInstance',
    flag: 'gateway-max-connections-per-instance',
    env: ENV.gatewayMaxConnections,
    parse: positiveInteger,
    help: 'connections the gateway keeps to one instance at most; more requests queue (default 256)',
  },
  {
    path: 'gateway.readyTimeoutMs',
    flag: 'gateway-ready-timeout',
    env: ENV.gatewayReadyTimeout,
    parse: duration,
    help: "how long the gateway's start waits for the registry's first snapshot (default 5s)",
  },
  {
    path: 'gateway.headersTimeoutMs',
    flag: 'gateway-headers-timeout',
    env: ENV.gatewayHeadersTimeout,
    parse: duration,
    help: "time to receive a request's headers at the gateway before 408 (default 10s)",
  },
  {
    path: 'gateway.requestTimeoutMs',
    flag: 'gateway-request-timeout',
    env: ENV.gatewayRequestTimeout,
    parse: duration,
    help: 'time to receive a whole request at the gateway, body included, before 408 (default 60s)',
  },
  {
    path: 'gateway.idleTimeoutMs',
    flag: 'gateway-idle-timeout',
    env: ENV.gatewayIdleTimeout,
    parse: duration,
    help: 'how long an idle keep-alive connection to the gateway stays open (default 72s)',
  },
  {
    path: 'gateway.maxConnections',
    flag: 'gateway-max-connections',
    env: ENV.gatewayMaxClientConnections,
    parse: positiveInteger,
    help: 'client connections the gateway holds at once, upgrades included; more are closed (default 16384)',
  },
  {
    path: 'gateway.acquireTimeoutMs',
    flag: 'gateway-acquire-timeout',
    env: ENV.gatewayAcquireTimeout,
    parse: duration,
    help: 'how long a request may wait for a free connection to its instance before 503 UNAVAILABLE (default 10s)',
  },
  {
    path: 'gateway.fallbackRetentionMs',
    flag: 'gateway-fallback-retention',
    env: ENV.gatewayFallbackRetention,
    parse: duration,
    help: 'how long a route whose service has no instance left still answers through its fallback (default 1h)',
  },
  {
    path: 'gateway.trustedProxies',
    flag: 'gateway-trusted-proxies',
    env: ENV.gatewayTrustedProxies,
    parse: addressRanges,
    help: 'CIDRs of proxies in front of the gateway whose X-Forwarded-*/Forwarded headers are kept (default: none)',
  },
  {
    path: 'gateway.tlsCertFile',
    flag: 'gateway-tls-cert',
    env: ENV.gatewayTlsCert,
    parse: text,
    help: 'PEM certificate (chain) file: the gateway serves HTTPS (with --gateway-tls-key)',
  },
  {
    path: 'gateway.tlsKeyFile',
    flag: 'gateway-tls-key',
    env: ENV.gatewayTlsKey,
    parse: text,
    help: 'PEM private key of --gateway-tls-cert',
  },
  {
    path: 'gateway.jwt.secret',
    flag: 'jwt-secret',
    env: ENV.jwtSecret,
    parse: text,
    help: 'HS256 secret of role tokens',
  },
  {
    path: 'gateway.jwt.secretFile',
    flag: 'jwt-secret-file',
    env: ENV.jwtSecretFile,
    parse: text,
    help: 'file holding the HS256 secret of role tokens (keeps it out of ps)',
  },
  {
    path: 'gateway.jwt.publicKeyFile',
    flag: 'jwt-public-key',
    env: ENV.jwtPublicKey,
    parse: text,
    help: 'PEM public key file of role tokens (RSA, EC or Ed25519)',
  },
  {
    path: 'gateway.jwt.jwksUrl',
    flag: 'jwks-url',
    env: ENV.jwksUrl,
    parse: text,
    help: 'JWKS URL of role tokens (https, or http on a loopback address)',
  },
  {
    path: 'gateway.jwt.issuer',
    flag: 'jwt-issuer',
    env: ENV.jwtIssuer,
    parse: text,
    help: 'role tokens must carry this iss (default: not checked)',
  },
  {
    path: 'gateway.jwt.audience',
    flag: 'jwt-audience',
    env: ENV.jwtAudience,
    parse: text,
    help: 'role tokens must carry this aud (default: not checked)',
  },
  {
    path: 'gateway.jwt.clockSkewMs',
    flag: 'jwt-clock-skew',
    env: ENV.jwtClockSkew,
    parse: duration,
    help: "clock difference allowed when checking a role token's exp and nbf (default 30s)",
  },
];

export interface ConfigSources {
  /** Flags already split into name → value (without the leading dashes). */
  flags?: Readonly<Record<string, string | undefined>>;
  env?: Readonly<Record<string, string | undefined>>;
  /** A JSON file shaped like Config (any subset); `--config` / SWITCHBOARD_CONFIG name it too. */
  file?: string;
  /** Values that win over everything else (tests). */
  overrides?: DeepPartial<Config>;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function loadConfig(sources: ConfigSources = {}): Config {
  const flags = sources.flags ?? {};
  const env = sources.env ?? process.env;
  const config = structuredClone(DEFAULTS) as unknown as Record<string, unknown>;
  const problems: string[] = [];

  const filePath = flags['config'] ?? env[ENV.config] ?? sources.file;
  if (filePath !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(filePath, 'utf8'));
    } catch (err) {
      throw new RegistryError('INVALID_ARGUMENT', `config file ${filePath}: ${(err as Error).message}`, { cause: err });
    }
    // A misspelt key would otherwise leave its default in force without a word (issue #11).
    for (const problem of shapeProblems(parsed, DEFAULTS as unknown as Record<string, unknown>, '')) {
      problems.push(`${filePath}: ${problem}`);
    }
    for (const option of OPTIONS) {
      const raw = getPath(parsed, option.path);
      if (raw !== undefined) apply(option, raw, `${filePath}: ${option.path}`);
    }
  }
  for (const option of OPTIONS) {
    const raw = env[option.env];
    if (raw !== undefined && raw !== '') apply(option, raw, option.env);
  }
  for (const option of OPTIONS) {
    const raw = flags[option.flag];
    if (raw !== undefined) apply(option, raw, `--${option.flag}`);
  }
  const known = new Set([...OPTIONS.map((o) => o.flag), 'config']);
  for (const name of Object.keys(flags)) if (!known.has(name)) problems.push(`--${name}: unknown option`);
  if (sources.overrides) merge(config, sources.overrides);
  const { store, etcd } = config as unknown as Pick<Config, 'store' | 'etcd'>;
  if (store.kind === 'etcd' && etcd.endpoints.length === 0) {
    problems.push('--store etcd needs --etcd-endpoints (or SWITCHBOARD_ETCD_ENDPOINTS, or etcd.endpoints in the file)');
  }
  if ((etcd.certFile === null) !== (etcd.keyFile === null)) problems.push('--etcd-cert and --etcd-key go together');
  if ((etcd.username === null) !== (etcd.passwordFile === null)) {
    problems.push('--etcd-username and --etcd-password-file go together');
  }
  const { http, gateway } = config as unknown as Pick<Config, 'http' | 'gateway'>;
  if ((http.tlsCertFile === null) !== (http.tlsKeyFile === null)) problems.push('--tls-cert and --tls-key go together');
  if (http.tlsClientCaFile !== null && http.tlsCertFile === null) {
    problems.push('--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)');
  }
  if ((gateway.tlsCertFile === null) !== (gateway.tlsKeyFile === null)) {
    problems.push('--gateway-tls-cert and --gateway-tls-key go together');
  }
  if (gateway.jwt.secret !== null && gateway.jwt.secretFile !== null) {
    problems.push('--jwt-secret and --jwt-secret-file are alternatives: give one');
  }
  if (problems.length > 0) throw new RegistryError('INVALID_ARGUMENT', `invalid configuration: ${problems.join('; ')}`);
  return deepFreeze(config) as unknown as Config;

  function apply(option: Option, raw: unknown, source: string): void {
    try {
      setPath(config, option.path, option.parse(raw));
    } catch (err) {
      problems.push(`${source} ${(err as Error).message}`);
    }
  }
}

/**
 * What is wrong with a config file's shape, one entry per key: keys Config does not have, and sections that are not
 * objects (`"http": 3`), whose keys could not be read.
 */
function shapeProblems(value: unknown, shape: Record<string, unknown>, prefix: string): string[] {
  if (!isObject(value)) return [`${prefix === '' ? '(the file)' : prefix} must be a JSON object`];
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const known = shape[key];
    if (!Object.hasOwn(shape, key)) problems.push(`${path}: unknown key`);
    else if (isObject(known)) problems.push(...shapeProblems(child, known, path));
  }
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getPath(value: unknown, path: string): unknown {
  let node = value;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys[keys.length - 1] as string] = value;
}

function merge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      target[key] ??= {};
      merge(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else if (value !== undefined) {
      target[key] = value;
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
