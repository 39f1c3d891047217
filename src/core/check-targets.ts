/**
 * Where an active check may point (issue #13). A check probes its own instance: the host the instance registered,
 * or an address inside the ranges the operator allows (`checks.allowHosts`, e.g. a pod network whose health ports
 * sit on another address). Without this rule a registration makes the registry probe any URL it can reach (a
 * server-side request forgery), tell open ports from closed ones, and publish what it read in the instance's record.
 *
 * Invariants:
 * - A target named by a host name is allowed only when it is the instance's own host: names are never resolved
 *   here (the core does no I/O), and a name that resolves into an allowed range today may not tomorrow.
 * - Hosts are compared as a URL reads them (WHATWG): `http://0x7f.1/` is 127.0.0.1, the same address that the
 *   system resolver makes of `0x7f.1`, so no spelling of an address slips past the comparison.
 */
// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- BlockList and isIP are address arithmetic: no sockets, no DNS, no I/O
import { BlockList, isIP } from 'node:net';
import { RegistryError } from '../errors/index.js';

/** The `checks` slice of the configuration that the core takes (config/ holds the defaults). */
export interface CheckOptions {
  /** The shortest interval a check may ask for. */
  minIntervalMs: number;
  /** Address ranges (CIDRs, or single addresses) a check may target besides its instance's own host. */
  allowHosts: readonly string[];
}

/** One address range: the address, its prefix length, and its family as BlockList names it. */
export interface AddressRange {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Reads `10.0.0.0/8`, `fd00::/8` or a single address (a /32 or /128); refuses anything else. */
export function parseAddressRange(text: string): AddressRange {
  const given = text.trim();
  const slash = given.indexOf('/');
  const address = slash === -1 ? given : given.slice(0, slash);
  const bits = slash === -1 ? undefined : given.slice(slash + 1);
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  if (version === 0 || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))) {
    throw new RegistryError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(text)} is not an address range (use CIDRs such as 10.0.0.0/8 or fd00::/8, or addresses)`,
    );
  }
  return { address, prefix: bits === undefined ? max : Number(bits), family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * A host as a URL reads it: IPv4 addresses in dotted decimal, IPv6 without brackets (compressed), names in lower
 * case. What no URL can hold is kept as given, in lower case.
 */
export function canonicalHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  try {
    const hostname = new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`).hostname;
    return hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return bare.toLowerCase();
  }
}

/** Decides whether a check's target host is its instance's own, or inside an allowed range. */
export class CheckTargets {
  readonly #allowed = new BlockList();

  /** `allowHosts` as in the configuration; a bad range is refused, naming the key. */
  constructor(allowHosts: readonly string[]) {
    for (const text of allowHosts) {
      let range: AddressRange;
      try {
        range = parseAddressRange(text);
      } catch (err) {
        throw new RegistryError('INVALID_ARGUMENT', `checks.allowHosts: ${(err as Error).message}`, { cause: err });
      }
      this.#allowed.addSubnet(range.address, range.prefix, range.family);
    }
  }

  /** Whether a check of an instance registered at `instanceHost` may probe `targetHost`. */
  allows(targetHost: string, instanceHost: string): boolean {
    const target = canonicalHost(targetHost);
    const own = canonicalHost(instanceHost);
    const version = isIP(target);
    if (version === 0) return target === own;
    const family = version === 4 ? 'ipv4' : 'ipv6';
    if (target === own) return true;
    const ownVersion = isIP(own);
    if (ownVersion !== 0) {
      // One address in two spellings (an IPv4-mapped IPv6 address, say) is still the instance's own.
      const self = new BlockList();
      self.addAddress(own, ownVersion === 4 ? 'ipv4' : 'ipv6');
      if (self.check(target, family)) return true;
    }
    return this.#allowed.check(target, family);
  }
}
