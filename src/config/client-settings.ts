/**
 * What the client commands of the CLI (register, deregister, list, …) need: which registry to talk to and with
 * which token. Flags win over the environment, which wins over the default.
 */
import { DEFAULTS } from './config.js';
import { ENV } from './env.js';

export interface ClientSettings {
  /** Registry URLs, tried in turn (the SDK fails over between them). */
  urls: string[];
  token?: string;
}

/** The registry a client reaches when nothing names one: the server's default address. */
const DEFAULT_REGISTRY = `http://${DEFAULTS.http.host}:${DEFAULTS.http.port}`;

/**
 * Resolves the registry URL(s) and token from `--registry` / `--token`, then `SWITCHBOARD_REGISTRY` /
 * `SWITCHBOARD_TOKEN`. Several URLs are comma-separated.
 */
export function clientSettings(
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ClientSettings {
  const registry = nonEmpty(flags['registry']) ?? nonEmpty(env[ENV.registry]) ?? DEFAULT_REGISTRY;
  const urls = registry
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  const token = nonEmpty(flags['token']) ?? nonEmpty(env[ENV.token]);
  return token === undefined ? { urls } : { urls, token };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
