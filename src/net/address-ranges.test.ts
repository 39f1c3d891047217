import { describe, expect, it } from 'vitest';
import { AddressRanges, parseAddressRange } from './address-ranges.js';

describe('parseAddressRange', () => {
  it('reads IPv4 and IPv6 CIDRs, and single addresses as one-address ranges', () => {
    expect(parseAddressRange('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseAddressRange(' fd00::/8 ')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' });
    expect(parseAddressRange('192.168.1.7')).toEqual({ address: '192.168.1.7', prefix: 32, family: 'ipv4' });
    expect(parseAddressRange('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
  });

  it.each(['', 'example.com/8', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0/8', '0x7f.1/32'])(
    'refuses %j',
    (text) => {
      expect(() => parseAddressRange(text)).toThrow(/is not an address range/);
    },
  );
});

describe('AddressRanges', () => {
  it('tells addresses inside a range from those outside, IPv4-mapped IPv6 peers included', () => {
    const ranges = new AddressRanges(['10.0.0.0/8', 'fd00::/8', '192.0.2.7'], '--trusted-proxies');
    expect(ranges.has('10.1.2.3')).toBe(true);
    expect(ranges.has('::ffff:10.1.2.3')).toBe(true);
    expect(ranges.has('fd12::1')).toBe(true);
    expect(ranges.has('192.0.2.7')).toBe(true);
    expect(ranges.has('192.0.2.8')).toBe(false);
    expect(ranges.has('11.0.0.1')).toBe(false);
    expect(ranges.has('example.com')).toBe(false);
    expect(ranges.has(undefined)).toBe(false);
    expect(new AddressRanges([], 'x').has('10.0.0.1')).toBe(false);
  });

  it('refuses a bad range, naming where it came from', () => {
    expect(() => new AddressRanges(['10.0.0.0/33'], '--trusted-proxies')).toThrow(
      /^--trusted-proxies: "10\.0\.0\.0\/33"/,
    );
  });
});
