/**
 * Address ranges as operators write them (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`): the hosts a health check may
 * probe (`--checks-allow-hosts`) and the proxies whose forwarding headers the gateway believes (`--trusted-proxies`).
 * Address arithmetic only: no sockets, no DNS.
 */
import { BlockList, isIP } from 'node:net';
import { RegistryError } from '../errors/index.js';

/** One address range: the address, its prefix length, and its family as BlockList names it. */
interface AddressRange {
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

/** A set of address ranges, asked whether an address falls inside one of them. */
export class AddressRanges {
  readonly #ranges = new BlockList();
  readonly #empty: boolean;

  /** `ranges` as the configuration holds them; a bad one is refused, its message prefixed with `what`. */
  constructor(ranges: readonly string[], what: string) {
    this.#empty = ranges.length === 0;
    for (const text of ranges) {
      let range: AddressRange;
      try {
        range = parseAddressRange(text);
      } catch (err) {
        throw new RegistryError('INVALID_ARGUMENT', `${what}: ${(err as Error).message}`, { cause: err });
      }
      this.#ranges.addSubnet(range.address, range.prefix, range.family);
    }
  }

  /** Whether `address` (an IP address; anything else is in no range) falls inside one of the ranges. */
  has(address: string | undefined): boolean {
    if (this.#empty || address === undefined) return false;
    // A dual-stack socket reports IPv4 peers as `::ffff:10.0.0.1`; ranges name them as IPv4.
    const bare = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const version = isIP(bare);
    return version !== 0 && this.#ranges.check(bare, version === 4 ? 'ipv4' : 'ipv6');
  }
}
