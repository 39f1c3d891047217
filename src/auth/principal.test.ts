import { describe, expect, it } from 'vitest';
import { presentedToken } from './credentials.js';
import { Principal } from './principal.js';

const principal = (policy: Partial<Principal['policy']>): Principal =>
  new Principal({ tokenId: 't', name: 't', policy: { read: [], write: [], operator: false, ...policy } });

describe('Principal', () => {
  it('matches services by glob, * standing for any run of characters and nothing else special', () => {
    const p = principal({ read: ['pay*', 'a.b'], write: ['*-dev'] });
    expect(p.can('read', 'payments')).toBe(true);
    expect(p.can('read', 'pay')).toBe(true);
    expect(p.can('read', 'repay')).toBe(false);
    expect(p.can('read', 'a.b')).toBe(true);
    expect(p.can('read', 'axb')).toBe(false);
    expect(p.can('write', 'payments')).toBe(false);
    expect(p.can('write', 'web-dev')).toBe(true);
    // Write implies read.
    expect(p.can('read', 'web-dev')).toBe(true);
  });

  it('holds a right everywhere only with operator or the glob *', () => {
    expect(principal({ read: ['*'] }).holdsEverywhere('read')).toBe(true);
    expect(principal({ read: ['*'] }).holdsEverywhere('write')).toBe(false);
    expect(principal({ write: ['*'] }).holdsEverywhere('read')).toBe(true);
    expect(principal({ read: ['a*'] }).holdsEverywhere('read')).toBe(false);
    expect(principal({ operator: true }).holdsEverywhere('write')).toBe(true);
    expect(principal({}).holdsAnywhere('read')).toBe(false);
    expect(principal({ read: ['x'] }).holdsAnywhere('write')).toBe(false);
  });

  it('decides the same after many services (the remembered decisions are bounded)', () => {
    const p = principal({ write: ['svc-1*'] });
    for (let i = 0; i < 3_000; i++) expect(p.can('write', `svc-${i}`)).toBe(String(i).startsWith('1'));
  });
});

describe('presentedToken', () => {
  it('reads a bearer token, the X-Switchboard-Token header, and basic auth with the token as password', () => {
    expect(presentedToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(presentedToken({ authorization: 'bearer  abc ' })).toBe('abc');
    expect(presentedToken({ 'x-switchboard-token': 'def' })).toBe('def');
    const basic = (userPass: string): string => `Basic ${Buffer.from(userPass).toString('base64')}`;
    expect(presentedToken({ authorization: basic(':ghi') })).toBe('ghi');
    expect(presentedToken({ authorization: basic('user:ghi:j') })).toBe('ghi:j');
    expect(presentedToken({})).toBeUndefined();
    // A scheme it does not know leaves the other header to speak.
    expect(presentedToken({ authorization: 'Digest x', 'x-switchboard-token': 'k' })).toBe('k');
  });
});
