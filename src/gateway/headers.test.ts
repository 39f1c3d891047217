import { describe, expect, it } from 'vitest';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.js';
import { hasDotSegment } from './reverse-proxy.js';

const context = { remoteAddress: '10.1.2.3', proto: 'http', upgrade: false, trusted: false };
const fromProxy = { ...context, trusted: true };

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

describe('forwardRequestHeaders', () => {
  it('drops hop-by-hop headers and those the Connection header names (RFC 9110 §7.6.1)', () => {
    const { headers } = forwardRequestHeaders(
      [
        'Host', 'gw.example',
        'Connection', 'keep-alive, X-Secret-Hop',
        'Keep-Alive', 'timeout=5',
        'TE', 'trailers',
        'Trailer', 'x-checksum',
        'Proxy-Authorization', 'Basic abc',
        'Proxy-Connection', 'keep-alive',
        'Upgrade', 'h2c',
        'X-Secret-Hop', 'drop me',
        'Expect', '100-continue',
        'Accept', 'application/json',
      ], // prettier-ignore
      context,
    );
    const names = pairs(headers).map(([name]) => name.toLowerCase());
    expect(names).toEqual([
      'host',
      'accept',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
      'forwarded',
      'x-request-id',
    ]);
  });

  it('appends the peer to X-Forwarded-For and Forwarded, and keeps what a trusted proxy in front set', () => {
    const forwarded = forwardRequestHeaders(
      [
        'host',
        'api.example',
        'X-Forwarded-For',
        '203.0.113.7',
        'x-forwarded-for',
        '198.51.100.1',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'public.example',
        'Forwarded',
        'for=203.0.113.7;proto=https',
      ],
      fromProxy,
    );
    const headers = Object.fromEntries(pairs(forwarded.headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect(headers['x-forwarded-for']).toBe('203.0.113.7, 198.51.100.1, 10.1.2.3');
    expect(headers['x-forwarded-proto']).toBe('https');
    expect(headers['x-forwarded-host']).toBe('public.example');
    expect(headers['forwarded']).toBe('for=203.0.113.7;proto=https, for="10.1.2.3";host="api.example";proto=http');
    expect(headers['host']).toBe('api.example');
  });

  it('replaces every forwarding header an untrusted peer sent with what the gateway saw (issue #14)', () => {
    const forwarded = forwardRequestHeaders(
      [
        'Host', 'gw.example',
        'X-Forwarded-For', '10.0.0.1',
        'X-Forwarded-Proto', 'https',
        'X-Forwarded-Host', 'admin.internal',
        'Forwarded', 'for=10.0.0.1;proto=https',
      ], // prettier-ignore
      { ...context, remoteAddress: '::1' },
    );
    expect(pairs(forwarded.headers).slice(1, 5)).toEqual([
      ['x-forwarded-for', '::1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'gw.example'],
      ['forwarded', 'for="[::1]";host="gw.example";proto=http'],
    ]);
  });

  it('sets X-Forwarded-Proto and -Host when nothing in front did', () => {
    const forwarded = forwardRequestHeaders(['Host', 'gw.example:8080'], context);
    expect(pairs(forwarded.headers)).toEqual([
      ['Host', 'gw.example:8080'],
      ['x-forwarded-for', '10.1.2.3'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'gw.example:8080'],
      ['forwarded', 'for="10.1.2.3";host="gw.example:8080";proto=http'],
      ['x-request-id', forwarded.requestId],
    ]);
  });

  it('keeps a request id or makes one', () => {
    expect(forwardRequestHeaders(['X-Request-Id', 'abc-123'], context).requestId).toBe('abc-123');
    const made = forwardRequestHeaders([], context).requestId;
    expect(made).toMatch(/^[0-9a-f-]{36}$/);
    expect(forwardRequestHeaders([], context).requestId).not.toBe(made);
  });

  it('does not let a client drop the gateway’s own headers through Connection', () => {
    const forwarded = forwardRequestHeaders(['Connection', 'X-Forwarded-For, X-Request-Id'], context);
    const names = pairs(forwarded.headers).map(([name]) => name);
    expect(names).toEqual(['x-forwarded-for', 'x-forwarded-proto', 'forwarded', 'x-request-id']);
  });

  it('finds the bearer token and whether a body follows', () => {
    expect(forwardRequestHeaders(['Authorization', 'Bearer abc.def.ghi'], context).bearer).toBe('abc.def.ghi');
    expect(forwardRequestHeaders(['authorization', 'bearer  xyz '], context).bearer).toBe('xyz');
    expect(forwardRequestHeaders(['Authorization', 'Basic abc'], context).bearer).toBeUndefined();
    expect(forwardRequestHeaders(['Content-Length', '0'], context).hasBody).toBe(false);
    expect(forwardRequestHeaders(['Content-Length', '12'], context).hasBody).toBe(true);
    expect(forwardRequestHeaders(['Transfer-Encoding', 'chunked'], context).hasBody).toBe(true);
    expect(forwardRequestHeaders([], context).hasBody).toBe(false);
  });

  it('keeps Connection and Upgrade for an upgrade passed through', () => {
    const forwarded = forwardRequestHeaders(
      ['Host', 'gw', 'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k'],
      { ...context, upgrade: true },
    );
    const names = pairs(forwarded.headers).map(([name]) => name);
    expect(names.slice(0, 4)).toEqual(['Host', 'Connection', 'Upgrade', 'Sec-WebSocket-Key']);
  });
});

describe('forwardResponseHeaders', () => {
  const raw = (...flat: string[]): Buffer[] => flat.map((s) => Buffer.from(s, 'latin1'));

  it('drops hop-by-hop response headers and adds the request id', () => {
    const headers = forwardResponseHeaders(
      raw(
        'Content-Type',
        'text/plain',
        'Connection',
        'close, X-Internal',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'X-Internal',
        '1',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
      ),
      'rid-1',
    );
    expect(pairs(headers)).toEqual([
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['x-request-id', 'rid-1'],
    ]);
  });

  it('keeps the upstream’s own request id', () => {
    expect(pairs(forwardResponseHeaders(raw('X-Request-Id', 'upstream'), 'rid-1'))).toEqual([
      ['X-Request-Id', 'upstream'],
    ]);
  });
});

describe('hasDotSegment', () => {
  it('finds dot segments, also percent-encoded, but not dots inside names', () => {
    expect(hasDotSegment('/open/../admin')).toBe(true);
    expect(hasDotSegment('/open/%2e%2E/admin')).toBe(true);
    expect(hasDotSegment('/open/./x')).toBe(true);
    expect(hasDotSegment('/open/..')).toBe(true);
    expect(hasDotSegment('/files/v1.2/.well-known/x')).toBe(false);
    expect(hasDotSegment('/files/a..b')).toBe(false);
    expect(hasDotSegment('/search?q=../x')).toBe(false);
  });

  it('finds those an instance would see once it decodes, splits at encoded separators or drops ;parameters', () => {
    for (const path of [
      '/pub/..;/admin',
      '/pub/..;jsessionid=1/admin',
      '/pub/.;/admin',
      '/pub/..%2Fadmin',
      '/pub/..%2fadmin',
      '/pub/..%5cadmin',
      '/pub/..\\admin',
      '/pub/%2e%2e%2fadmin',
      '/pub/%252e%252e/admin',
      '/pub/x%2F..%2Fadmin',
    ]) {
      expect(hasDotSegment(path), path).toBe(true);
    }
    for (const path of ['/pub/a%2Fb', '/pub/a;b=1/c', '/pub/v1.0;x/y', '/pub/%2e%2ex', '/pub/100%25']) {
      expect(hasDotSegment(path), path).toBe(false);
    }
  });
});
