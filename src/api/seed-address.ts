/**
 * Addresses as the seed Express registry's clients send them (`POST /register {serviceName, serviceAddress}`): any
 * string, kept verbatim; host, port and URL are read from it where it has them.
 */
import { createHash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import { LIMITS, URL_SCHEME, parseAddressUrl } from '../wire/index.js';
import type { Endpoint, Instance } from '../wire/index.js';

/** Metadata key holding the address verbatim, as `GET /services` answers it. */
export const SEED_ADDRESS_KEY = 'seed.address';
/** The longest address kept: it is kept as a metadata value. */
export const MAX_ADDRESS_LENGTH = LIMITS.metadataValue;

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'https:': 443, 'wss:': 443, 'http:': 80, 'ws:': 80 };
const HOST_PORT = /^(?:\[([^\]]+)\]|([^:\s/]+)):(\d{1,5})$/;

export interface ParsedAddress {
  host: string;
  port: number;
  endpoint?: Endpoint;
}

/**
 * `10.0.0.5:8080` and `[::1]:8080` give host and port; a URL gives host, port (or its scheme's default) and an
 * endpoint of its scheme's type; anything else is taken as a host on port 80.
 */
export function parseSeedAddress(address: string): ParsedAddress {
  if (URL_SCHEME.test(address)) {
    const { url, host } = parseAddressUrl(address, 'serviceAddress');
    const port = url.port === '' ? (DEFAULT_PORTS[url.protocol] ?? 80) : Number(url.port);
    return { host, port, endpoint: { type: url.protocol.slice(0, -1), url: address } };
  }
  const match = HOST_PORT.exec(address);
  if (match) {
    const port = Number(match[3]);
    if (port < 1 || port > 65_535) {
      throw new RegistryError('INVALID_ARGUMENT', `serviceAddress ${JSON.stringify(address)} has no valid port`);
    }
    return { host: match[1] ?? match[2] ?? address, port };
  }
  return { host: address, port: 80 };
}

/** The instance id an address registers under: the same address always names the same instance. */
export function seedInstanceId(address: string): string {
  return `seed-${createHash('sha256').update(address).digest('hex').slice(0, 24)}`;
}

/** An instance's address as `GET /services` lists it: as registered through the seed routes, else `host:port`. */
export function seedAddressOf(instance: Instance): string {
  const registered = instance.metadata[SEED_ADDRESS_KEY];
  if (registered !== undefined) return registered;
  return instance.host.includes(':') ? `[${instance.host}]:${instance.port}` : `${instance.host}:${instance.port}`;
}
