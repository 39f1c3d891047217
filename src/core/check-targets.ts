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
import { AddressRanges } from '../net/index.js';

/** The `checks` slice of the configuration that the core takes (config/ holds the defaults). */
export interface CheckOptions {
  /** The shortest interval a check may ask for. */
  minIntervalMs: number;
  /** Address ranges (CIDRs, or single addresses) a check may target besides its instance's own host. */
  allowHosts: readonly string[];
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
  readonly #allowed: AddressRanges;

  /** `allowHosts` as in the configuration; a bad range is refused, naming the key. */
  constructor(allowHosts: readonly string[]) {
    this.#allowed = new AddressRanges(allowHosts, 'checks.allowHosts');
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
    return this.#allowed.has(target);
  }
}
