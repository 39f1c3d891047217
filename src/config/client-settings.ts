/**
 * What the client commands of the CLI (register, deregister, list, …) need: which registry to talk to, with which
 * token, and the TLS files for an https:// registry. Flags win over the environment, which wins over the default.
 */
import { readFileSync } from 'node:fs';
import { RegistryError } from '../errors/index.js';
import { DEFAULTS } from './config.js';
import { ENV } from './env.js';

export interface ClientSettings {
  /** Registry URLs, tried in turn (the SDK fails over between them). */
  urls: string[];
  token?: string;
  /** PEM CA(s) to trust for an https:// registry (besides the system's). */
  ca?: Buffer;
  /** PEM client certificate and key, for a registry that requires one (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
}

/** The flags `clientSettings` reads: every command that talks to a registry takes them. */
export const CLIENT_FLAGS = ['registry', 'token', 'token-file', 'ca', 'cert', 'key'] as const;

/** The registry a client reaches when nothing names one: the server's default address. */
const DEFAULT_REGISTRY = `http://${DEFAULTS.http.host}:${DEFAULTS.http.port}`;

/**
 * Resolves the registry URL(s) and token from `--registry` / `--token` (or `--token-file`), then
 * `SWITCHBOARD_REGISTRY` / `SWITCHBOARD_TOKEN` (or `SWITCHBOARD_TOKEN_FILE`), and reads the PEM files named by
 * `--ca`, `--cert`, `--key` (or `SWITCHBOARD_CA`, `SWITCHBOARD_CERT`, `SWITCHBOARD_KEY`). Several URLs are
 * comma-separated. A file that cannot be read is an INVALID_ARGUMENT naming the flag.
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
  const settings: ClientSettings = { urls };
  const token =
    tokenFrom(flags['token'], flags['token-file'], ['--token', '--token-file']) ??
    tokenFrom(env[ENV.token], env[ENV.tokenFile], [ENV.token, ENV.tokenFile]);
  if (token !== undefined) settings.token = token;
  const ca = nonEmpty(flags['ca']) ?? nonEmpty(env[ENV.ca]);
  const cert = nonEmpty(flags['cert']) ?? nonEmpty(env[ENV.cert]);
  const key = nonEmpty(flags['key']) ?? nonEmpty(env[ENV.key]);
  if ((cert === undefined) !== (key === undefined)) {
    throw new RegistryError('INVALID_ARGUMENT', '--cert and --key go together (a client certificate and its key)');
  }
  if (ca !== undefined) settings.ca = readSecret(ca, '--ca');
  if (cert !== undefined) settings.cert = readSecret(cert, '--cert');
  if (key !== undefined) settings.key = readSecret(key, '--key');
  return settings;
}

/** A token given directly or in a file (whose trailing newline is dropped); both at once is a mistake. */
function tokenFrom(
  direct: string | undefined,
  file: string | undefined,
  [name, fileName]: [string, string],
): string | undefined {
  const given = nonEmpty(direct);
  const path = nonEmpty(file);
  if (given !== undefined && path !== undefined) {
    throw new RegistryError('INVALID_ARGUMENT', `${name} and ${fileName} are alternatives: give one`);
  }
  if (path === undefined) return given;
  const token = readSecret(path, fileName).toString('utf8').trim();
  if (token === '') throw new RegistryError('INVALID_ARGUMENT', `${fileName} ${path} is empty`);
  return token;
}

/** Reads a file the settings name; the error names the file and the flag, never its content. */
function readSecret(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
