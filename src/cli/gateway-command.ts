/**
 * `switchboard gateway`: the API gateway as its own process (issue #7). It reaches the registry only through the
 * SDK; its settings are the `gateway.*` keys of the configuration, so a config file, the environment and flags set
 * them as they do for `serve --gateway-port`.
 */
import { pino } from 'pino';
import { RegistryError } from '../errors/index.js';
import {
  BALANCE_MODES,
  DEFAULTS,
  ENV,
  GATEWAY_COMMAND_PORT,
  LOG_LEVELS,
  clientSettings,
  loadConfig,
} from '../config/index.js';
import type { Config } from '../config/index.js';
import { createGateway, gatewayOptionsFrom } from '../gateway/index.js';
import type { GatewayOptions } from '../gateway/index.js';
import type { ParsedFlags } from './flags.js';

/** The gateway command's flags, and the configuration flag each one stands for. */
const FLAGS: Readonly<Record<string, string>> = {
  port: 'gateway-port',
  host: 'gateway-host',
  'route-by-name': 'gateway-route-by-name',
  balance: 'gateway-balance',
  'upstream-timeout': 'gateway-upstream-timeout',
  'connect-timeout': 'gateway-connect-timeout',
  'max-connections-per-instance': 'gateway-max-connections-per-instance',
  'ready-timeout': 'gateway-ready-timeout',
  'tls-cert': 'gateway-tls-cert',
  'tls-key': 'gateway-tls-key',
  'jwt-secret': 'jwt-secret',
  'jwt-secret-file': 'jwt-secret-file',
  'jwt-public-key': 'jwt-public-key',
  'jwks-url': 'jwks-url',
  'log-level': 'log-level',
  config: 'config',
};

/** Flags read here rather than by loadConfig. */
const OWN = new Set(['registry', 'token', 'token-file', 'ca', 'cert', 'key', 'help']);

export const GATEWAY_USAGE = `switchboard gateway --registry URL[,URL…] [options]

Runs the API gateway: each request goes to a healthy instance of the service its path belongs to (a service is
routed under its instances' url, e.g. /tickets), found in a local copy of the registry kept current by its watch.
  --registry URL[,URL…]     registry node(s) to follow (env ${ENV.registry}; default http://127.0.0.1:8900)
  --token TOKEN             bearer token for the registry (env ${ENV.token})
  --token-file FILE         the token, read from a file so it stays out of ps (env ${ENV.tokenFile})
  --ca FILE                 PEM CA to trust for an https:// registry (env ${ENV.ca})
  --cert FILE, --key FILE   PEM client certificate and key for the registry (mutual TLS; env ${ENV.cert}, ${ENV.key})
  --tls-cert FILE           serve HTTPS with this PEM certificate (chain) (env ${ENV.gatewayTlsCert})
  --tls-key FILE            PEM private key of --tls-cert (env ${ENV.gatewayTlsKey})
  --port N                  port to listen on (default ${GATEWAY_COMMAND_PORT}; env ${ENV.gatewayPort})
  --host ADDR               address to listen on (default ${DEFAULTS.http.host}; env ${ENV.gatewayHost})
  --route-by-name           also route /{service}/… to every service
  --balance B               ${BALANCE_MODES.join(' | ')}, where metadata gateway.balance is unset
  --upstream-timeout D      how long an instance may take to answer before 504 (default ${DEFAULTS.gateway.upstreamTimeoutMs / 1_000}s)
  --connect-timeout D       how long connecting to an instance may take (default ${DEFAULTS.gateway.connectTimeoutMs / 1_000}s)
  --max-connections-per-instance N
                            connections kept to one instance at most (default ${DEFAULTS.gateway.maxConnectionsPerInstance})
  --ready-timeout D         how long start waits for the registry's snapshot (default ${DEFAULTS.gateway.readyTimeoutMs / 1_000}s)
  --jwt-secret S            role checks: HS256 secret (env ${ENV.jwtSecret})
  --jwt-secret-file FILE    role checks: HS256 secret read from a file (env ${ENV.jwtSecretFile})
  --jwt-public-key FILE     role checks: PEM public key (env ${ENV.jwtPublicKey})
  --jwks-url URL            role checks: JSON Web Key Set (env ${ENV.jwksUrl})
  --log-level L             ${LOG_LEVELS.join(' | ')}
  --config FILE             JSON config file (its gateway.* keys)
Operators: GET /_gateway/routes (the route table), /_gateway/metrics, /_gateway/health.`;

/** Runs the gateway until SIGTERM or SIGINT, then lets requests under way finish and exits. */
export async function gatewayCommand(flags: ParsedFlags): Promise<void> {
  const configFlags: Record<string, string> = {};
  for (const [name, value] of Object.entries(flags.values)) {
    if (OWN.has(name)) continue;
    const mapped = FLAGS[name];
    if (mapped === undefined) {
      throw new RegistryError('INVALID_ARGUMENT', `--${name}: unknown option of switchboard gateway (try --help)`);
    }
    configFlags[mapped] = value;
  }
  let config: Config;
  let options: GatewayOptions;
  try {
    config = loadConfig({ flags: configFlags });
    options = gatewayOptionsFrom(config.gateway, { host: config.http.host, port: GATEWAY_COMMAND_PORT });
  } catch (err) {
    // Name the flags as the operator typed them (--port, not the --gateway-port it stands for).
    if (!(err instanceof RegistryError)) throw err;
    let message = err.message;
    for (const [own, mapped] of Object.entries(FLAGS)) {
      message = message.replaceAll(new RegExp(`--${mapped}(?=[ ,;]|$)`, 'g'), `--${own}`);
    }
    throw new RegistryError(err.code, message, { cause: err });
  }
  const { urls, token, ca, cert, key } = clientSettings(flags.values);
  const logger = pino({ level: config.log.level, base: { service: 'switchboard-gateway' } });
  const gateway = await createGateway({
    ...options,
    registry: urls,
    ...(token === undefined ? {} : { token }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    logger,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`switchboard: gateway shutdown after ${signal} failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
