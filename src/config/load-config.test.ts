import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RegistryError } from '../errors/index.js';
import { DEFAULTS } from './config.js';
import type { Config } from './config.js';
import { ENV } from './env.js';
import { OPTIONS, loadConfig } from './load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function configFile(content: unknown): string {
  files += 1;
  const path = join(dir, `config-${files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The error loadConfig throws for these sources. */
function failure(sources: Parameters<typeof loadConfig>[0]): RegistryError {
  try {
    loadConfig(sources);
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('loadConfig', () => {
  it('answers the defaults when nothing is set, in a copy', () => {
    const config = loadConfig({ env: {} });
    expect(config).toEqual(DEFAULTS);
    expect(config).not.toBe(DEFAULTS);
    expect(config.http).not.toBe(DEFAULTS.http);
  });

  it('layers DEFAULTS < file < env < flags, key by key', () => {
    const file = configFile({
      http: { host: '10.0.0.1', port: 1_001 },
      store: { kind: 'memory', dataDir: '/from/file' },
    });
    const env = { [ENV.port]: '2002', [ENV.dataDir]: '/from/env' };
    const flags = { port: '3003' };
    const config = loadConfig({ file, env, flags });
    expect(config.http).toEqual({ ...DEFAULTS.http, host: '10.0.0.1', port: 3_003 });
    expect(config.store).toEqual({ ...DEFAULTS.store, kind: 'memory', dataDir: '/from/env' });
    expect(config.log.level).toBe(DEFAULTS.log.level);

    expect(loadConfig({ file, env }).http.port).toBe(2_002);
    expect(loadConfig({ file, env: {} }).http.port).toBe(1_001);
    expect(loadConfig({ env, flags: { 'data-dir': '/from/flag' } }).store.dataDir).toBe('/from/flag');
  });

  it('reads every option from its flag and its environment variable', () => {
    const flags: Record<string, string> = {};
    const env: Record<string, string> = {};
    const values: Record<string, [string, unknown]> = {
      'http.host': ['0.0.0.0', '0.0.0.0'],
      'http.port': ['1234', 1_234],
      'store.kind': ['memory', 'memory'],
      'store.dataDir': ['/srv/registry', '/srv/registry'],
      'store.writeTimeoutMs': ['2s', 2_000],
      'leases.sweepIntervalMs': ['250ms', 250],
      'log.level': ['debug', 'debug'],
    };
    for (const option of OPTIONS) {
      const value = values[option.path];
      if (value === undefined) continue;
      flags[option.flag] = value[0];
      env[option.env] = value[0];
    }
    for (const config of [loadConfig({ flags, env: {} }), loadConfig({ env })]) {
      expect(config.http).toEqual({ ...DEFAULTS.http, host: '0.0.0.0', port: 1_234 });
      expect(config.store).toEqual({ kind: 'memory', dataDir: '/srv/registry', writeTimeoutMs: 2_000 });
      expect(config.leases.sweepIntervalMs).toBe(250);
      expect(config.log.level).toBe('debug');
    }
    expect(Object.keys(values).every((path) => OPTIONS.some((o) => o.path === path))).toBe(true);
  });

  it('uses the issue’s environment names', () => {
    const config = loadConfig({
      env: { SWITCHBOARD_PORT: '8901', SWITCHBOARD_DATA_DIR: '/var/lib/switchboard', SWITCHBOARD_STORE: 'memory' },
    });
    expect(config.http.port).toBe(8_901);
    expect(config.store).toEqual({ ...DEFAULTS.store, kind: 'memory', dataDir: '/var/lib/switchboard' });
  });

  it('finds the config file from --config, then SWITCHBOARD_CONFIG, then the file option', () => {
    const fromFlag = configFile({ http: { port: 1 } });
    const fromEnv = configFile({ http: { port: 2 } });
    const fromOption = configFile({ http: { port: 3 } });
    expect(
      loadConfig({ flags: { config: fromFlag }, env: { [ENV.config]: fromEnv }, file: fromOption }).http.port,
    ).toBe(1);
    expect(loadConfig({ env: { [ENV.config]: fromEnv }, file: fromOption }).http.port).toBe(2);
    expect(loadConfig({ env: {}, file: fromOption }).http.port).toBe(3);
  });

  it('ignores empty environment variables', () => {
    expect(loadConfig({ env: { [ENV.port]: '', [ENV.store]: '' } }).http.port).toBe(DEFAULTS.http.port);
  });

  it('reports every bad key, from every source, in one INVALID_ARGUMENT', () => {
    const file = configFile({ http: { port: 'eighty' }, log: { level: 'loud' } });
    const error = failure({
      file,
      env: { [ENV.store]: 'postgres', [ENV.sweepInterval]: 'often' },
      flags: { host: '', bogus: 'x' },
    });
    expect(error.code).toBe('INVALID_ARGUMENT');
    for (const part of [
      `${file}: http.port`,
      `${file}: log.level`,
      ENV.store,
      ENV.sweepInterval,
      '--host',
      '--bogus: unknown option',
    ]) {
      expect(error.message).toContain(part);
    }
  });

  it.each([
    ['a port above 65535', { port: '65536' }],
    ['a negative port', { port: '-1' }],
    ['a store kind outside the set', { store: 'etcd3' }],
    ['a zero sweep interval', { 'lease-sweep-interval': '0' }],
    ['a log level outside the set', { 'log-level': 'verbose' }],
  ])('refuses %s', (_what, flags) => {
    expect(failure({ flags, env: {} }).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses unknown config-file keys, naming every one in one INVALID_ARGUMENT', () => {
    const file = configFile({
      http: { port: 1, prot: 2 },
      stores: { kind: 'memory' },
      gateway: { jwt: { secrets: 'x' }, balance: 'weighted' },
      log: { level: 'loud' },
    });
    const error = failure({ env: {}, file });
    expect(error.code).toBe('INVALID_ARGUMENT');
    for (const part of [
      `${file}: http.prot: unknown key`,
      `${file}: stores: unknown key`,
      `${file}: gateway.jwt.secrets: unknown key`,
      `${file}: log.level`,
    ]) {
      expect(error.message).toContain(part);
    }
    expect(error.message).not.toContain('http.port');
    expect(error.message).not.toContain('gateway.balance');
  });

  it('refuses a config-file section that is not an object', () => {
    const file = configFile({ http: 8080, gateway: { jwt: 'secret' } });
    const error = failure({ env: {}, file });
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(`${file}: http must be a JSON object`);
    expect(error.message).toContain(`${file}: gateway.jwt must be a JSON object`);
    expect(failure({ env: {}, file: configFile([1]) }).message).toContain('(the file) must be a JSON object');
  });

  it('knows every key an option reads from the file', () => {
    const file = configFile({ gateway: { jwt: { jwksUrl: 'https://idp/jwks' } }, watch: { changeLogSize: 5 } });
    const config = loadConfig({ env: {}, file });
    expect(config.gateway.jwt.jwksUrl).toBe('https://idp/jwks');
    expect(config.watch.changeLogSize).toBe(5);
  });

  it('reads the body limit shared by every transport', () => {
    expect(DEFAULTS.http.bodyLimitBytes).toBe(1024 * 1024);
    expect(loadConfig({ env: { [ENV.bodyLimit]: '2048' } }).http.bodyLimitBytes).toBe(2_048);
    expect(loadConfig({ env: {}, flags: { 'body-limit': '4096' } }).http.bodyLimitBytes).toBe(4_096);
    expect(failure({ env: {}, flags: { 'body-limit': '0' } }).message).toContain('--body-limit');
  });

  it('names a config file it cannot read or parse', () => {
    const missing = join(dir, 'missing.json');
    expect(failure({ env: {}, file: missing }).message).toContain(missing);
    const broken = configFile('{ "http": ');
    expect(failure({ env: {}, file: broken })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(broken) as string,
    });
  });

  it('answers a deeply frozen object and leaves DEFAULTS untouched', () => {
    const config = loadConfig({ env: {}, flags: { port: '1' }, overrides: { store: { kind: 'memory' } } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(Object.isFrozen(config.gateway.jwt)).toBe(true);
    expect(() => {
      (config.http as { port: number }).port = 2;
    }).toThrow(TypeError);
    expect(() => {
      (config as { log: Config['log'] }).log = { level: 'silent' };
    }).toThrow(TypeError);
    expect(config.http.port).toBe(1);
    expect(DEFAULTS.http.port).toBe(8_900);
    expect(DEFAULTS.store.kind).toBe('sqlite');
    expect(Object.isFrozen(DEFAULTS.http)).toBe(false);
  });

  it('lets overrides win over every source', () => {
    const config = loadConfig({ env: { [ENV.port]: '2' }, flags: { port: '3' }, overrides: { http: { port: 0 } } });
    expect(config.http).toEqual({ ...DEFAULTS.http, port: 0 });
  });
});
