import { RegistryError } from '../errors/index.js';

/** An address that starts with a scheme (`http://…`, `wss://…`) is a URL; the legacy protocols accept both kinds. */
export const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Reads an address a legacy client sent as a URL (the seed's serviceAddress, MicroReg's service_host): the URL and
 * its bare host (an IPv6 host without brackets). `field` names the parameter in the refusal.
 */
export function parseAddressUrl(given: string, field: string): { url: URL; host: string } {
  let url: URL;
  try {
    url = new URL(given);
  } catch (err) {
    throw new RegistryError('INVALID_ARGUMENT', `${field} ${JSON.stringify(given)} is not a valid URL`, { cause: err });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new RegistryError('INVALID_ARGUMENT', `${field} ${JSON.stringify(given)} names no host`);
  return { url, host };
}
