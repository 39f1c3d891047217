/**
 * The composition root: config → store → core → transports. Nothing else sees the whole Config.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { buildApi, storeCommitMetrics } from './api/index.js';
import { AccessControl, TokenTable, createBootstrapToken, refuseOpenBind } from './auth/index.js';
import { createChecker } from './checks/index.js';
import { addConsulRoutes } from './consul/index.js';
import type { Config } from './config/index.js';
import { createClusterNode } from './cluster/index.js';
import { DnsMetrics, startDnsServer } from './dns/index.js';
import type { DnsServer } from './dns/index.js';
import type { ClusterNode } from './cluster/index.js';
import { createRegistry, everyInstance } from './core/index.js';
import type { Registry, Renewal } from './core/index.js';
import { RegistryError } from './errors/index.js';
import { addEurekaRoutes } from './eureka/index.js';
import { createGateway, gatewayOptionsFrom } from './gateway/index.js';
import type { Gateway, LocalRouteFeed } from './gateway/index.js';
import { Metrics } from './metrics/index.js';
import type { CommitObserver, Store } from './store/index.js';
import { SubscriberTable, addSubscriberMetrics } from './subscribers/index.js';
import { createMemoryStore } from './store/memory/index.js';
import { openSqliteStore } from './store/sqlite/index.js';
import { connectEtcd, openEtcdStore } from './store/etcd/index.js';
import type { EtcdConnection, EtcdConnectionOptions } from './store/etcd/index.js';
import type { ClusterView } from './wire/index.js';
import { addXmlRpcRoutes } from './xmlrpc/index.js';

export type { Config } from './config/index.js';
export { DEFAULTS, loadConfig } from './config/index.js';
export type { Gateway, GatewayRoutes } from './gateway/index.js';

/** A running registry. */
export interface RunningServer extends AsyncDisposable {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:8900` (`https://…` with `--tls-cert`). */
  readonly url: string;
  readonly port: number;
  /** The registry core, for embedding and tests. */
  readonly registry: Registry;
  /** The API gateway, when `gateway.port` is set (`serve --gateway-port`); its `url` is where clients send requests. */
  readonly gateway: Gateway | undefined;
  /** The port the DNS interface answers on (UDP and TCP, on the HTTP host), when `dns.port` is set (`--dns-port`). */
  readonly dnsPort: number | undefined;
  /** Stops taking requests, finishes those under way and pending writes, then closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** A pino logger to use instead of one made from `config.log`. */
  logger?: Logger;
}

const VERSION = readVersion();

/**
 * Starts the registry: opens the store named by the config, restores every instance and serves the HTTP API.
 * @example
 * const server = await startServer(loadConfig({ flags: { port: '0', store: 'memory' } }));
 * console.log(server.url);
 * await server.close();
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: config.log.level, base: { service: 'switchboard' } });
  refuseOpenBind({ host: config.http.host, ...config.auth });
  // Read before the store opens: a missing certificate fails the start at once, with the flag named.
  const tls = apiTlsFrom(config.http);
  // One Metrics (one prom-client registry) per server, for every component: each adds its families, and the API
  // serves them at /metrics. Made first: the store reports its commits from the start.
  const metrics = new Metrics();
  const backend = await openBackend(config, logger, storeCommitMetrics(metrics, config.store.kind));
  const { store } = backend;
  let registry: Registry | undefined;
  let tokens: TokenTable | undefined;
  // In cluster mode the node joins once it listens (its URL is known then); until it leads it decides no expiry.
  let node: ClusterNode | undefined;
  try {
    registry = await createRegistry({
      store,
      leases: config.leases,
      checks: config.checks,
      changeLogSize: config.watch.changeLogSize,
      changeLogBytes: config.watch.changeLogBytes,
      limits: config.limits,
      logger,
      ...(backend.etcd
        ? { leading: false, shareRenewals: (renewals: Renewal[]) => node?.publishRenewals(renewals) }
        : {}),
    });
    const running = registry;
    tokens = await TokenTable.open(store);
    const access = new AccessControl({ mode: config.auth.mode, anonymousPolicy: config.auth.anonymousPolicy, tokens });
    if (config.auth.mode === 'on') {
      const file = await createBootstrapToken(tokens, config.store.dataDir);
      if (file !== undefined) logger.info({ file }, 'auth is on: the first operator token is in this file (mode 0600)');
    }
    let self: { name: string; url: string } = { name: 'local', url: '' };
    const cluster = (): ClusterView => {
      if (node) return node.view();
      // Not joined yet (etcd cannot be reached): no node is known to lead.
      return backend.etcd ? { self: self.name, leader: null, nodes: [] } : aloneView(self, running.index);
    };
    // Who follows the registry and how far (issue #19), for GET /v1/subscribers and drains.
    const subscribers = new SubscriberTable(running, config.subscribers, { node: () => self.name });
    addSubscriberMetrics(metrics, subscribers);
    const app = buildApi({
      registry,
      logger,
      version: VERSION,
      bodyLimit: config.http.bodyLimitBytes,
      watch: config.watch,
      metrics,
      cluster,
      browser: { listenHost: config.http.host, allowedOrigins: config.http.allowedOrigins },
      access,
      connections: config.http,
      gateway: () => gateway,
      subscribers,
      ...(tls === undefined ? {} : { tls }),
    });
    addXmlRpcRoutes(app, registry, { bodyLimit: config.http.bodyLimitBytes, ...config.xmlrpc, access });
    // Eureka's REST API (issue #18) on the same port, over the same records.
    addEurekaRoutes(app, registry, { bodyLimit: config.http.bodyLimitBytes, ...config.eureka, access });
    // Consul's HTTP API (issue #17) on the same port, over the same records.
    addConsulRoutes(app, registry, {
      access,
      datacenter: config.consul.datacenter,
      cluster,
      version: VERSION,
      bodyLimit: config.http.bodyLimitBytes,
      maxFilterLength: config.consul.maxFilterLength,
    });
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
    const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
    const url = `${tls === undefined ? 'http' : 'https'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    self = { name: config.cluster.nodeName ?? `${hostname()}:${port}`, url: config.cluster.advertiseUrl ?? url };
    logger.info({ url, node: self.name, store: store.health() }, 'switchboard registry listening');
    // The checker probes instances' active checks and reports each result to the core's state machine; in a
    // cluster only the leading node runs it, so each check runs once per interval.
    const checker = createChecker({ registry, concurrency: config.checks.concurrency, logger, metrics });
    let reporting: NodeJS.Timeout | undefined;
    let gateway: Gateway | undefined;
    let dns: DnsServer | undefined;
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        clearInterval(reporting);
        await dns?.close();
        await gateway?.close();
        subscribers.close();
        await app.close();
        await checker.close();
        await node?.close();
        await running.close();
        tokens?.close();
        await store.close();
        await backend.etcd?.close();
        logger.info('switchboard registry stopped');
      })();
      return closing;
    };
    try {
      // Defined with DNS off too, so a dashboard's DNS panels find the (empty) families on every node.
      const dnsMetrics = new DnsMetrics(metrics);
      if (config.dns.port !== null) {
        // DNS carries no credentials: it answers what a caller without a token may read (issue #17). It listens on
        // the HTTP host, which refuseOpenBind has already vetted.
        const { port: dnsPort, ...settings } = config.dns;
        dns = await startDnsServer({
          host: config.http.host,
          port: dnsPort,
          registry,
          reader: access.anonymous,
          settings: { ...settings, datacenter: config.consul.datacenter.toLowerCase() },
          logger,
          metrics: dnsMetrics,
        });
        logger.info({ host: config.http.host, port: dns.port, domain: settings.domain }, 'switchboard DNS listening');
      }
      if (backend.etcd) {
        const etcd = backend.etcd;
        const join = async (): Promise<void> => {
          const joined = await createClusterNode(etcd, {
            prefix: config.etcd.prefix,
            name: self.name,
            advertiseUrl: self.url,
            leaseTtlMs: config.cluster.leaseTtlMs,
            reportIntervalMs: config.cluster.reportIntervalMs,
            // Every node's subscribers count for a drain on any node (issue #19): each publishes its own through etcd.
            subscribers: { source: subscribers, publishIntervalMs: config.subscribers.publishIntervalMs },
            logger,
          });
          if (closing) {
            await joined.close();
            return;
          }
          node = joined;
          joined.onRenewals((renewals) => {
            running.applyRenewals(renewals);
          });
          joined.onSubscribers((progress, from) => {
            if (progress.length === 0) subscribers.dropRemote(from);
            else subscribers.applyRemote(from, progress);
          });
          joined.onLeadership((leading) => {
            logger.info({ node: self.name, leading }, leading ? 'this node leads the cluster' : 'this node follows');
            running.setLeading(leading);
            if (leading) checker.start();
            else checker.stop();
          });
          if (joined.leading()) {
            running.setLeading(true);
            checker.start();
          }
          reporting = setInterval(() => {
            joined.reportApplied(running.index);
          }, config.cluster.reportIntervalMs);
          reporting.unref();
        };
        // A node that cannot join (etcd down as it starts) still serves its view, marked stale, and keeps trying:
        // losing etcd must never take the registry's reads down with it.
        void (async () => {
          for (let pauseMs = 250; !closing; pauseMs = Math.min(pauseMs * 2, config.cluster.leaseTtlMs)) {
            try {
              await join();
              return;
            } catch (err) {
              logger.warn({ err, node: self.name, retryInMs: pauseMs }, 'cannot join the cluster yet');
            }
            await new Promise((resolve) => setTimeout(resolve, pauseMs).unref());
          }
        })();
      } else {
        checker.start();
      }
      if (config.gateway.port !== null) {
        // The gateway (issue #7) takes this registry's changes in process, as they are applied (issue #20: followed
        // over HTTP, it doubled the CPU of every registration).
        gateway = await createGateway({
          ...gatewayOptionsFrom(config.gateway, { host: config.http.host, port: config.gateway.port }),
          local: localGatewayFeed(running, subscribers),
          // Its operator pages take this registry's tokens.
          authorizePage: (req) =>
            Promise.resolve().then(() => {
              access.principalOf(req).requireEverywhere('read');
            }),
          logger,
          metrics,
        });
      }
    } catch (err) {
      await close();
      throw err;
    }
    const dnsPort = dns?.port;
    return { url, port, registry: running, gateway, dnsPort, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await registry?.close();
    tokens?.close();
    await store.close();
    await backend.etcd?.close();
    throw err;
  }
}

/** The store the config names, and in cluster mode the etcd connection the store and the cluster node share. */
async function openBackend(
  config: Config,
  logger: Logger,
  onCommit: CommitObserver,
): Promise<{ store: Store; etcd?: EtcdConnection }> {
  switch (config.store.kind) {
    case 'memory':
      return { store: createMemoryStore({ onCommit }) };
    case 'sqlite':
      return {
        store: await openSqliteStore({
          dataDir: config.store.dataDir,
          writeTimeoutMs: config.store.writeTimeoutMs,
          logger,
          onCommit,
        }),
      };
    case 'etcd': {
      const etcd = connectEtcd(etcdOptionsFrom(config.etcd));
      try {
        const options = { prefix: config.etcd.prefix, logger, writeTimeoutMs: config.store.writeTimeoutMs, onCommit };
        return { store: await openEtcdStore(etcd, options), etcd };
      } catch (err) {
        await etcd.close();
        throw err;
      }
    }
  }
}

/** The contents of the configuration's `http.tls*` files, as the API serves them. */
type ApiTls = NonNullable<Parameters<typeof buildApi>[0]['tls']>;

/** A file the config names (a certificate, a key, a password); the error names the flag, never the content. */
function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The registry's certificate, key and client CA (issue #13), when `--tls-cert` is set (loadConfig pairs it). */
function apiTlsFrom(settings: Config['http']): ApiTls | undefined {
  if (settings.tlsCertFile === null || settings.tlsKeyFile === null) return undefined;
  const tls: ApiTls = { cert: read(settings.tlsCertFile, '--tls-cert'), key: read(settings.tlsKeyFile, '--tls-key') };
  if (settings.tlsClientCaFile !== null) tls.clientCa = read(settings.tlsClientCaFile, '--tls-client-ca');
  return tls;
}

/**
 * The in-serve gateway's view of this registry: every instance, then each change as the registry applies it. The
 * gateway is listed as a subscriber (issue #19) that acknowledges once per turn of the event loop: it is never
 * behind, but a drain still names it among those that have applied the change.
 */
function localGatewayFeed(registry: Registry, subscribers: SubscriberTable): LocalRouteFeed {
  return {
    get stale() {
      return registry.stale;
    },
    follow(onEvent) {
      const who = { id: `gateway-${randomBytes(6).toString('hex')}`, name: 'gateway', watches: undefined };
      const disconnect = subscribers.connect({ ...who, transport: 'in-process' }, registry.index);
      let applied = registry.index;
      let acking = false;
      const ack = (): void => {
        acking = false;
        subscribers.ack(who.id, undefined, applied);
      };
      const stopWatching = registry.watch(undefined, (change) => {
        onEvent(change);
        applied = change.index;
        if (!acking) {
          acking = true;
          setImmediate(ack);
        }
      });
      onEvent({ type: 'snapshot', index: registry.index, instances: everyInstance(registry) });
      return () => {
        stopWatching();
        disconnect();
      };
    },
  };
}

/** Reads the TLS files and the password file the config names: secrets come from files, never from flags. */
function etcdOptionsFrom(settings: Config['etcd']): EtcdConnectionOptions {
  const options: EtcdConnectionOptions = { endpoints: settings.endpoints, dialTimeoutMs: settings.dialTimeoutMs };
  if (settings.caFile !== null || settings.certFile !== null) {
    options.tls = {};
    if (settings.caFile !== null) options.tls.ca = read(settings.caFile, '--etcd-ca');
    if (settings.certFile !== null) options.tls.cert = read(settings.certFile, '--etcd-cert');
    if (settings.keyFile !== null) options.tls.key = read(settings.keyFile, '--etcd-key');
  }
  if (settings.username !== null && settings.passwordFile !== null) {
    const password = read(settings.passwordFile, '--etcd-password-file')
      .toString('utf8')
      .replace(/\r?\n$/, '');
    options.auth = { username: settings.username, password };
  }
  return options;
}

/** `GET /v1/cluster` of a registry that runs alone: itself, leading. */
function aloneView(self: { name: string; url: string }, index: number): ClusterView {
  const node = { ...self, lastSeen: new Date().toISOString(), applied: index, lag: 0, leader: true };
  return { self: self.name, leader: self.name, nodes: [node] };
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
