/**
 * `switchboard gateway`: the API gateway as its own process (issue #7). It reaches the registry only through the
 * SDK; its settings are the `gateway.*` keys of the configuration, so a config file, the environment and flags set
 * them as they do for `serve --gateway-port`.
 *
 * Its operator pages (/_gateway/routes, /_gateway/metrics, also in Prometheus' text format with `?format=prometheus`)
 * show every service, so they take a registry token with read on every service (issue #13). The registry alone knows
 * its tokens: the gateway asks it who a token is (`GET /v1/tokens/self`) and remembers the answer for a few seconds,
 * so a scrape costs no round trip.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { Principal, presentedToken } from '../auth/index.js';
import { RegistryError } from '../errors/index.js';
import {
  BALANCE_MODES,
  CLIENT_FLAGS,
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
import { RegistryClient } from '../sdk/index.js';
import type { RegistryClientOptions } from '../sdk/index.js';
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
  'headers-timeout': 'gateway-headers-timeout',
  'request-timeout': 'gateway-request-timeout',
  'idle-timeout': 'gateway-idle-timeout',
  'max-connections': 'gateway-max-connections',
  'acquire-timeout': 'gateway-acquire-timeout',
  'fallback-retention': 'gateway-fallback-retention',
  'trusted-proxies': 'gateway-trusted-proxies',
  'tls-cert': 'gateway-tls-cert',
  'tls-key': 'gateway-tls-key',
  'jwt-secret': 'jwt-secret',
  'jwt-secret-file': 'jwt-secret-file',
  'jwt-public-key': 'jwt-public-key',
  'jwks-url': 'jwks-url',
  'jwt-issuer': 'jwt-issuer',
  'jwt-audience': 'jwt-audience',
  'jwt-clock-skew': 'jwt-clock-skew',
  'log-level': 'log-level',
  config: 'config',
};

/** Flags read here rather than by loadConfig. */
const OWN = new Set<string>([...CLIENT_FLAGS, 'help']);

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
  --acquire-timeout D       how long a request waits for a free connection to its instance before 503
                            (default ${DEFAULTS.gateway.acquireTimeoutMs / 1_000}s)
  --fallback-retention D    how long a route with no instance left answers through its fallback
                            (default ${DEFAULTS.gateway.fallbackRetentionMs / 60_000}m)
  --headers-timeout D       time to receive a request's headers before 408 (default ${DEFAULTS.gateway.headersTimeoutMs / 1_000}s)
  --request-timeout D       time to receive a whole request, body included, before 408 (default ${DEFAULTS.gateway.requestTimeoutMs / 1_000}s)
  --idle-timeout D          how long an idle keep-alive connection stays open (default ${DEFAULTS.gateway.idleTimeoutMs / 1_000}s)
  --max-connections N       client connections held at once; more are closed (default ${DEFAULTS.gateway.maxConnections})
  --trusted-proxies CIDR,…  proxies in front whose X-Forwarded-*/Forwarded headers are appended to; from anyone
                            else they are replaced (default: none)
  --jwt-secret S            role checks: HS256 secret, at least 32 bytes (env ${ENV.jwtSecret})
  --jwt-secret-file FILE    role checks: HS256 secret read from a file (env ${ENV.jwtSecretFile})
  --jwt-public-key FILE     role checks: PEM public key (env ${ENV.jwtPublicKey})
  --jwks-url URL            role checks: JSON Web Key Set, https (or http on loopback) (env ${ENV.jwksUrl})
  --jwt-issuer ISS          role tokens must carry this iss (env ${ENV.jwtIssuer})
  --jwt-audience AUD        role tokens must carry this aud (env ${ENV.jwtAudience})
  --jwt-clock-skew D        clock difference allowed on exp and nbf, which is required (default ${DEFAULTS.gateway.jwt.clockSkewMs / 1_000}s)
  --log-level L             ${LOG_LEVELS.join(' | ')}
  --config FILE             JSON config file (its gateway.* keys)
Operators: GET /_gateway/routes (the route table) and /_gateway/metrics (JSON; ?format=prometheus for Prometheus'
text format, process metrics included) take a registry token with read on every service (read:* or operator;
Authorization: Bearer TOKEN or X-Switchboard-Token), /_gateway/health is public.`;

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
    authorizePage: registryPageAuthorizer({
      client: {
        urls,
        ...(ca === undefined ? {} : { ca }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
      },
    }),
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

export interface PageAuthorizerOptions {
  /** How to reach the registry (URLs, TLS). No token: each lookup sends the token of the request it is about. */
  client: Omit<RegistryClientOptions, 'token'>;
  /** How long the registry's answer about a token is remembered; a revoked token works at most this much longer. */
  cacheMs?: number;
  /** Tokens remembered at most; the oldest answer is forgotten first. */
  maxEntries?: number;
}

const PAGE_CACHE_MS = 10_000;
const PAGE_CACHE_ENTRIES = 1_024;
/** A lookup waits at most this long per registry node: an operator's scrape should fail fast, not hang. */
const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * The gateway's `authorizePage` for a remote registry: admits a request whose token (or, without one, the
 * registry's anonymous policy) holds read on every service. Answers are remembered for `cacheMs` under the token's
 * SHA-256 (never the token itself), so repeated scrapes cost a map lookup. Rejects with UNAUTHENTICATED or
 * PERMISSION_DENIED, and with UNAVAILABLE when the registry cannot be asked (a failure is not remembered).
 */
export function registryPageAuthorizer(options: PageAuthorizerOptions): (req: IncomingMessage) => Promise<void> {
  const cacheMs = options.cacheMs ?? PAGE_CACHE_MS;
  const maxEntries = Math.max(1, options.maxEntries ?? PAGE_CACHE_ENTRIES);
  // Map order is insertion order: the first key is the oldest answer.
  const remembered = new Map<string, { until: number; principal: Promise<Principal> }>();
  const lookUp = async (token: string | undefined): Promise<Principal> => {
    const client = new RegistryClient({
      timeoutMs: LOOKUP_TIMEOUT_MS,
      ...options.client,
      ...(token === undefined ? {} : { token }),
    });
    try {
      const self = await client.whoami();
      return new Principal({
        tokenId: self.id,
        name: self.name,
        policy: self.policy,
        ...(self.expiresAt === undefined ? {} : { expiresAt: Date.parse(self.expiresAt) }),
      });
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'UNAUTHENTICATED') throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new RegistryError('UNAVAILABLE', `cannot check the token: the registry did not say who it is (${reason})`, {
        cause: err,
      });
    }
  };
  return async (req) => {
    const token = presentedToken(req.headers);
    // Anonymous requests share one entry: the registry's anonymous policy.
    const key = token === undefined ? '' : createHash('sha256').update(token).digest('hex');
    const now = Date.now();
    let entry = remembered.get(key);
    if (entry === undefined || entry.until <= now) {
      remembered.delete(key);
      if (remembered.size >= maxEntries) remembered.delete(remembered.keys().next().value as string);
      const principal = lookUp(token);
      const fresh = { until: now + cacheMs, principal };
      entry = fresh;
      remembered.set(key, fresh);
      principal.then(
        (found) => {
          // A token that expires sooner is remembered until then only.
          if (found.expiresAt !== undefined) fresh.until = Math.min(fresh.until, found.expiresAt);
        },
        (err: unknown) => {
          // The registry's "not a valid token" is an answer; failing to reach it is not, so ask again next time.
          const answered = err instanceof RegistryError && err.code === 'UNAUTHENTICATED';
          if (!answered && remembered.get(key) === fresh) remembered.delete(key);
        },
      );
    }
    const principal = await entry.principal;
    if (principal.expiresAt !== undefined && Date.now() >= principal.expiresAt) {
      throw new RegistryError('UNAUTHENTICATED', `token "${principal.name}" has expired`);
    }
    principal.requireEverywhere('read');
  };
}
