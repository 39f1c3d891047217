import { describe, expect, it } from 'vitest';
import { addressName, hostKind, parseDnsName } from './dns-names.js';

const DOMAIN = 'switchboard.';

describe('parseDnsName', () => {
  it('reads service names, with or without a tag, in any case', () => {
    expect(parseDnsName('web.service.switchboard', DOMAIN)).toEqual({
      kind: 'service',
      service: 'web',
      tag: undefined,
    });
    expect(parseDnsName('WEB.Service.SwitchBoard.', DOMAIN)).toEqual({
      kind: 'service',
      service: 'web',
      tag: undefined,
    });
    expect(parseDnsName('primary.db.service.switchboard', DOMAIN)).toEqual({
      kind: 'service',
      service: 'db',
      tag: 'primary',
    });
  });

  it("reads RFC 2782's forms, where _tcp names no tag", () => {
    expect(parseDnsName('_db._tcp.service.switchboard', DOMAIN)).toEqual({
      kind: 'service',
      service: 'db',
      tag: undefined,
    });
    expect(parseDnsName('_db._primary.service.switchboard', DOMAIN)).toEqual({
      kind: 'service',
      service: 'db',
      tag: 'primary',
    });
    expect(parseDnsName('_._tcp.service.switchboard', DOMAIN)).toEqual({ kind: 'unknown' });
  });

  it("reads Consul's names with this registry's datacenter as without it, and no other datacenter", () => {
    const consul = 'consul.';
    expect(parseDnsName('primary.db.service.DC1.consul', consul, 'dc1')).toEqual({
      kind: 'service',
      service: 'db',
      tag: 'primary',
    });
    expect(parseDnsName('0a000001.addr.dc1.consul', consul, 'dc1')).toEqual({
      kind: 'address',
      family: 4,
      address: '10.0.0.1',
    });
    expect(parseDnsName('db.service.dc2.consul', consul, 'dc1')).toEqual({ kind: 'unknown' });
    expect(parseDnsName('db.service.dc1.consul', consul)).toEqual({ kind: 'unknown' });
  });

  it('tells the apex, names outside the domain and unknown names apart', () => {
    expect(parseDnsName('switchboard', DOMAIN)).toEqual({ kind: 'apex' });
    expect(parseDnsName('web.service.example.com', DOMAIN)).toEqual({ kind: 'outside' });
    // A suffix that is not a whole label is outside too.
    expect(parseDnsName('web.service.myswitchboard', DOMAIN)).toEqual({ kind: 'outside' });
    for (const name of [
      'service.switchboard',
      'a.b.c.service.switchboard',
      'web.node.switchboard',
      '.service.switchboard',
    ]) {
      expect(parseDnsName(name, DOMAIN), name).toEqual({ kind: 'unknown' });
    }
  });

  it('reads addresses back from their hex names', () => {
    expect(parseDnsName('0a000001.addr.switchboard', DOMAIN)).toEqual({
      kind: 'address',
      family: 4,
      address: '10.0.0.1',
    });
    expect(parseDnsName('20010db8000000000000000000000007.addr.switchboard', DOMAIN)).toEqual({
      kind: 'address',
      family: 6,
      address: '2001:db8:0:0:0:0:0:7',
    });
    expect(parseDnsName('0a00001.addr.switchboard', DOMAIN)).toEqual({ kind: 'unknown' });
    expect(parseDnsName('0a00000g.addr.switchboard', DOMAIN)).toEqual({ kind: 'unknown' });
  });
});

describe('addressName', () => {
  it('spells IPv4 and IPv6 addresses in hex, IPv6 expanded', () => {
    expect(addressName('10.0.0.1', DOMAIN)).toBe('0a000001.addr.switchboard.');
    expect(addressName('::1', DOMAIN)).toBe('00000000000000000000000000000001.addr.switchboard.');
    expect(addressName('2001:DB8::7', DOMAIN)).toBe('20010db8000000000000000000000007.addr.switchboard.');
    expect(addressName('::ffff:192.168.1.9', DOMAIN)).toBe('00000000000000000000ffffc0a80109.addr.switchboard.');
    expect(addressName('fe80::', DOMAIN)).toBe('fe800000000000000000000000000000.addr.switchboard.');
  });
});

describe('hostKind', () => {
  it('serves addresses and DNS names, and nothing else', () => {
    expect(hostKind('10.0.0.1')).toBe('ipv4');
    expect(hostKind('2001:db8::7')).toBe('ipv6');
    expect(hostKind('fe80::1%eth0')).toBeUndefined();
    expect(hostKind('api-1.example.internal')).toBe('name');
    expect(hostKind('localhost')).toBe('name');
    expect(hostKind('not a name')).toBeUndefined();
    expect(hostKind(`${'a'.repeat(64)}.example`)).toBeUndefined();
    expect(hostKind('-leading.example')).toBeUndefined();
  });
});
