import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './config.js';
import { loadConfig } from './load-config.js';

describe('gateway options', () => {
  it('runs no gateway inside serve by default', () => {
    expect(DEFAULTS.gateway.port).toBeNull();
    expect(loadConfig({ env: {}, flags: {} }).gateway.port).toBeNull();
  });

  it('reads flags and environment variables, flags winning', () => {
    const config = loadConfig({
      env: {
        SWITCHBOARD_GATEWAY_PORT: '9000',
        SWITCHBOARD_JWT_SECRET: 's3cret',
        SWITCHBOARD_GATEWAY_ROUTE_BY_NAME: 'true',
      },
      flags: {
        'gateway-port': '8080',
        'gateway-host': '0.0.0.0',
        'gateway-balance': 'least-outstanding',
        'gateway-upstream-timeout': '5s',
        'gateway-max-connections-per-instance': '16',
        'jwks-url': 'https://idp.example/jwks.json',
        'gateway-trusted-proxies': '10.0.0.0/8',
        'gateway-request-timeout': '2m',
        'jwt-issuer': 'https://idp.example',
      },
    });
    expect(config.gateway).toEqual({
      ...DEFAULTS.gateway,
      port: 8080,
      host: '0.0.0.0',
      routeByName: true,
      balance: 'least-outstanding',
      upstreamTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      maxConnectionsPerInstance: 16,
      readyTimeoutMs: 5_000,
      tlsCertFile: null,
      tlsKeyFile: null,
      trustedProxies: ['10.0.0.0/8'],
      requestTimeoutMs: 120_000,
      jwt: {
        ...DEFAULTS.gateway.jwt,
        secret: 's3cret',
        jwksUrl: 'https://idp.example/jwks.json',
        issuer: 'https://idp.example',
      },
    });
  });

  it('reports every bad value at once', () => {
    expect(() =>
      loadConfig({
        env: {},
        flags: { 'gateway-port': '70000', 'gateway-balance': 'random', 'gateway-route-by-name': 'maybe' },
      }),
    ).toThrow(/--gateway-port.*--gateway-route-by-name.*--gateway-balance/);
  });
});
