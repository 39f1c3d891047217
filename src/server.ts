/**
 * The composition root: config → store → core → transports. Nothing else sees the whole Config.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { buildApi } from './api/index.js';
import { createChecker } from './checks/index.js';
import type { Config } from './config/index.js';
import { createRegistry } from './core/index.js';
import type { Registry } from './core/index.js';
import { createGateway, gatewayOptionsFrom } from './gateway/index.js';
import type { Gateway } from './gateway/index.js';
import { Metrics } from './metrics/index.js';
import type { Store } from './store/index.js';
import { createMemoryStore } from './store/memory/index.js';
import { openSqliteStore } from './store/sqlite/index.js';
import { addXmlRpcRoutes } from './xmlrpc/index.js';

export type { Config } from './config/index.js';
export { DEFAULTS, loadConfig } from './config/index.js';
export type { Gateway, GatewayRoutes } from './gateway/index.js';

/** A running registry. */
export interface RunningServer extends AsyncDisposable {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:8900`. */
  readonly url: string;
  readonly port: number;
  /** The registry core, for embedding and tests. */
  readonly registry: Registry;
  /** The API gateway, when `gateway.port` is set (`serve --gateway-port`); its `url` is where clients send requests. */
  readonly gateway: Gateway | undefined;
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
  const store = await openStore(config);
  let registry: Registry | undefined;
  try {
    registry = await createRegistry({
      store,
      leases: config.leases,
      changeLogSize: config.watch.changeLogSize,
      logger,
    });
    // One Metrics for every component: each adds its families, and the API serves them at /metrics.
    const metrics = new Metrics();
    const app = buildApi({
      registry,
      logger,
      version: VERSION,
      bodyLimit: config.http.bodyLimitBytes,
      watch: config.watch,
      metrics,
    });
    addXmlRpcRoutes(app, registry, { bodyLimit: config.http.bodyLimitBytes, ...config.xmlrpc });
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
    const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    logger.info({ url, store: store.health() }, 'switchboard registry listening');
    const running = registry;
    // The checker probes instances' active checks and reports each result to the core's state machine.
    const checker = createChecker({ registry, concurrency: config.checks.concurrency, logger, metrics });
    checker.start();
    let gateway: Gateway | undefined;
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        await gateway?.close();
        await app.close();
        await checker.close();
        await running.close();
        await store.close();
        logger.info('switchboard registry stopped');
      })();
      return closing;
    };
    if (config.gateway.port !== null) {
      // The gateway (issue #7) follows this registry through the SDK's watch, as it would a remote one.
      try {
        gateway = await createGateway({
          ...gatewayOptionsFrom(config.gateway, { host: config.http.host, port: config.gateway.port }),
          registry: url,
          logger,
          metrics,
        });
      } catch (err) {
        await close();
        throw err;
      }
    }
    return { url, port, registry: running, gateway, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await registry?.close();
    await store.close();
    throw err;
  }
}

async function openStore(config: Config): Promise<Store> {
  switch (config.store.kind) {
    case 'memory':
      return createMemoryStore();
    case 'sqlite':
      return openSqliteStore({ dataDir: config.store.dataDir });
  }
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
