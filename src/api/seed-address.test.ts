import { describe, expect, it } from 'vitest';
import type { Instance } from '../wire/index.js';
import { parseSeedAddress, seedAddressOf, seedInstanceId } from './seed-address.js';

describe('parseSeedAddress', () => {
  it('reads host and port from host:port', () => {
    expect(parseSeedAddress('10.0.0.7:3000')).toEqual({ host: '10.0.0.7', port: 3000 });
    expect(parseSeedAddress('users.internal:8080')).toEqual({ host: 'users.internal', port: 8080 });
    expect(parseSeedAddress('[fd00::1]:8443')).toEqual({ host: 'fd00::1', port: 8443 });
  });

  it('reads a URL as host, port (or the scheme default) and an endpoint', () => {
    expect(parseSeedAddress('http://10.0.0.7:3000/tickets')).toEqual({
      host: '10.0.0.7',
      port: 3000,
      endpoint: { type: 'http', url: 'http://10.0.0.7:3000/tickets' },
    });
    expect(parseSeedAddress('https://api.example.com')).toMatchObject({ host: 'api.example.com', port: 443 });
    expect(parseSeedAddress('http://[::1]/x')).toMatchObject({ host: '::1', port: 80 });
  });

  it('takes any other string as a host on port 80', () => {
    expect(parseSeedAddress('orders-service')).toEqual({ host: 'orders-service', port: 80 });
    expect(parseSeedAddress('a b c')).toEqual({ host: 'a b c', port: 80 });
  });

  it('refuses a port out of range and a URL that does not parse', () => {
    expect(() => parseSeedAddress('h:0')).toThrow(/no valid port/);
    expect(() => parseSeedAddress('h:70000')).toThrow(/no valid port/);
    expect(() => parseSeedAddress('http://exa mple.com')).toThrow(/not a valid URL/);
  });
});

describe('seed ids and addresses', () => {
  it('names the same address with the same valid instance id', () => {
    expect(seedInstanceId('10.0.0.7:3000')).toBe(seedInstanceId('10.0.0.7:3000'));
    expect(seedInstanceId('10.0.0.7:3000')).not.toBe(seedInstanceId('10.0.0.7:3001'));
    expect(seedInstanceId('http://x/y z')).toMatch(/^seed-[0-9a-f]{24}$/);
  });

  it('lists an instance by its seed address, else host:port', () => {
    const instance = (host: string, metadata: Record<string, string> = {}): Instance =>
      ({ host, port: 80, metadata }) as unknown as Instance;
    expect(seedAddressOf(instance('10.0.0.1', { 'seed.address': 'http://a' }))).toBe('http://a');
    expect(seedAddressOf(instance('10.0.0.1'))).toBe('10.0.0.1:80');
    expect(seedAddressOf(instance('::1'))).toBe('[::1]:80');
  });
});
