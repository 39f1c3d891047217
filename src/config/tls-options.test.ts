import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import { clientSettings } from './client-settings.js';
import { loadConfig } from './load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-tls-config-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function failure(run: () => unknown): RegistryError {
  try {
    run();
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('TLS settings of serve and the gateway (issue #13)', () => {
  it('reads the certificate, key and client CA from flags, the environment and the file', () => {
    const flags = loadConfig({
      env: {},
      flags: { 'tls-cert': 'c.pem', 'tls-key': 'k.pem', 'tls-client-ca': 'ca.pem' },
    });
    expect(flags.http).toMatchObject({ tlsCertFile: 'c.pem', tlsKeyFile: 'k.pem', tlsClientCaFile: 'ca.pem' });
    const env = loadConfig({
      env: { SWITCHBOARD_GATEWAY_TLS_CERT: 'g.pem', SWITCHBOARD_GATEWAY_TLS_KEY: 'gk.pem' },
    });
    expect(env.gateway).toMatchObject({ tlsCertFile: 'g.pem', tlsKeyFile: 'gk.pem' });
    const fromFile = loadConfig({
      env: {},
      file: file('config.json', JSON.stringify({ gateway: { jwt: { secretFile: '/run/secret' } } })),
    });
    expect(fromFile.gateway.jwt.secretFile).toBe('/run/secret');
    expect(loadConfig({ env: {} }).http).toMatchObject({ tlsCertFile: null, tlsKeyFile: null, tlsClientCaFile: null });
  });

  it('refuses a certificate without its key (and the reverse), a client CA without TLS, and both JWT secrets', () => {
    const error = failure(() =>
      loadConfig({
        env: { SWITCHBOARD_TLS_KEY: 'k.pem', SWITCHBOARD_JWT_SECRET: 's', SWITCHBOARD_JWT_SECRET_FILE: 'f' },
        flags: { 'tls-client-ca': 'ca.pem', 'gateway-tls-cert': 'g.pem' },
      }),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('--tls-cert and --tls-key go together');
    expect(error.message).toContain('--gateway-tls-cert and --gateway-tls-key go together');
    expect(error.message).toContain('--jwt-secret and --jwt-secret-file are alternatives');
    expect(failure(() => loadConfig({ env: {}, flags: { 'tls-client-ca': 'ca.pem' } })).message).toContain(
      '--tls-client-ca needs --tls-cert',
    );
  });
});

describe('clientSettings: TLS files and token files', () => {
  it('reads the CA, client certificate and key, flags before the environment', () => {
    const ca = file('ca.pem', 'CA');
    const cert = file('cert.pem', 'CERT');
    const key = file('key.pem', 'KEY');
    const settings = clientSettings(
      { registry: 'https://r:8900', ca },
      { SWITCHBOARD_CA: '/nowhere', SWITCHBOARD_CERT: cert, SWITCHBOARD_KEY: key },
    );
    expect(settings.urls).toEqual(['https://r:8900']);
    expect(settings.ca?.toString()).toBe('CA');
    expect(settings.cert?.toString()).toBe('CERT');
    expect(settings.key?.toString()).toBe('KEY');
  });

  it('names the flag and the file when one cannot be read, and pairs --cert with --key', () => {
    expect(failure(() => clientSettings({ ca: join(dir, 'missing.pem') }, {})).message).toMatch(
      /^--ca .*missing\.pem: ENOENT/,
    );
    expect(failure(() => clientSettings({ cert: file('c2.pem', 'C') }, {})).message).toContain(
      '--cert and --key go together',
    );
  });

  it('reads a token from a file without its newline, and refuses a token given both ways', () => {
    const tokenFile = file('token', 'the-token\n');
    expect(clientSettings({ 'token-file': tokenFile }, {}).token).toBe('the-token');
    expect(clientSettings({}, { SWITCHBOARD_TOKEN_FILE: tokenFile }).token).toBe('the-token');
    expect(clientSettings({ token: 'flag' }, { SWITCHBOARD_TOKEN_FILE: tokenFile }).token).toBe('flag');
    const both = failure(() => clientSettings({ token: 'x', 'token-file': tokenFile }, {}));
    expect(both.message).toBe('--token and --token-file are alternatives: give one');
    expect(
      failure(() => clientSettings({}, { SWITCHBOARD_TOKEN: 'x', SWITCHBOARD_TOKEN_FILE: tokenFile })).message,
    ).toBe('SWITCHBOARD_TOKEN and SWITCHBOARD_TOKEN_FILE are alternatives: give one');
    expect(failure(() => clientSettings({ 'token-file': file('empty', '\n') }, {})).message).toMatch(/is empty$/);
  });
});
