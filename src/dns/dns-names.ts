/**
 * The names the DNS interface serves under its domain (issue #17), and the synthetic `<hex>.addr.<domain>` names that
 * SRV answers point at. Names compare case-insensitively (RFC 4343): a parsed name is lower-cased, so a resolver that
 * randomises case (DNS 0x20) reaches the same service.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** What a query name asks for. */
export type DnsName =
  /** The domain itself: its SOA. */
  | { kind: 'apex' }
  /** `[<tag>.]<service>.service.<domain>`, or RFC 2782's `_<service>._<tag|tcp>.service.<domain>`. */
  | { kind: 'service'; service: string; tag: string | undefined }
  /** `<hex>.addr.<domain>`: the address spelled in hex (8 digits IPv4, 32 digits IPv6). */
  | { kind: 'address'; family: 4 | 6; address: string }
  /** Under the domain, but nothing this server serves. */
  | { kind: 'unknown' }
  /** Not under the domain at all. */
  | { kind: 'outside' };

/**
 * Reads a query name relative to `domain` (lower case, ending with a dot, as the config normalises it). Service
 * names that contain dots cannot be told apart from `<tag>.<service>`, so DNS reaches only dot-free service names.
 * Consul's spelling with the datacenter (`web.service.dc1.consul.`) reads as without it when `datacenter` is this
 * registry's (the Consul API's `--consul-datacenter`, lower case).
 */
export function parseDnsName(name: string, domain: string, datacenter?: string): DnsName {
  const fqdn = `${name.toLowerCase().replace(/\.$/, '')}.`;
  if (fqdn === domain) return { kind: 'apex' };
  if (!fqdn.endsWith(`.${domain}`)) return { kind: 'outside' };
  const labels = fqdn.slice(0, -domain.length - 1).split('.');
  const kind = labels[labels.length - 2];
  if (datacenter !== undefined && labels[labels.length - 1] === datacenter && (kind === 'service' || kind === 'addr'))
    labels.pop();
  const [first, second] = labels;
  const last = labels[labels.length - 1];
  if (last === 'service' && first !== undefined && first !== '') {
    if (labels.length === 2) return { kind: 'service', service: first, tag: undefined };
    if (labels.length === 3 && second !== undefined && second !== '') {
      if (first.startsWith('_') && second.startsWith('_')) {
        // RFC 2782's protocol label: `_tcp` asks for no tag (as Consul reads it); any other names a tag.
        const tag = second === '_tcp' ? undefined : second.slice(1);
        return first.length > 1 && tag !== '' ? { kind: 'service', service: first.slice(1), tag } : { kind: 'unknown' };
      }
      return { kind: 'service', service: second, tag: first };
    }
  }
  if (labels.length === 2 && last === 'addr' && first !== undefined) {
    const address = addressOfHex(first);
    if (address !== undefined) return address;
  }
  return { kind: 'unknown' };
}

/** The synthetic name an SRV record targets for an instance registered by address: `<hex>.addr.<domain>`. */
export function addressName(address: string, domain: string): string {
  const hex = isIPv4(address)
    ? address
        .split('.')
        .map((octet) => Number(octet).toString(16).padStart(2, '0'))
        .join('')
    : expandIPv6(address).join('');
  return `${hex}.addr.${domain}`;
}

function addressOfHex(hex: string): Extract<DnsName, { kind: 'address' }> | undefined {
  if (!/^[0-9a-f]+$/.test(hex)) return undefined;
  if (hex.length === 8) {
    const octets = hex.match(/../g) ?? [];
    return { kind: 'address', family: 4, address: octets.map((octet) => parseInt(octet, 16)).join('.') };
  }
  if (hex.length === 32) {
    const groups = (hex.match(/.{4}/g) ?? []).map((group) => group.replace(/^0{1,3}/, ''));
    return { kind: 'address', family: 6, address: groups.join(':') };
  }
  return undefined;
}

/** The eight groups of an IPv6 address, each four hex digits (`::` expanded, a dotted IPv4 tail converted). */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, -tail.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const middle = rest === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((group) => group.padStart(4, '0'));
}

/** How an instance's host can be served: an IPv4 or IPv6 address, a host name, or not at all (not a DNS name). */
export function hostKind(host: string): 'ipv4' | 'ipv6' | 'name' | undefined {
  if (isIPv4(host)) return 'ipv4';
  // A zone (`fe80::1%eth0`) means something only on the registry's own host.
  if (isIPv6(host)) return host.includes('%') ? undefined : 'ipv6';
  return HOST_NAME.test(host) ? 'name' : undefined;
}

/** Labels of 1–63 letters, digits, `-` or `_`, 253 characters at most (RFC 1035 §2.3.4, with `_` as in SRV names). */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
