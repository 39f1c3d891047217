import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';

describe('checks options (issue #13)', () => {
  it('allows no other host and no interval under a second by default', () => {
    expect(loadConfig({ env: {}, flags: {} }).checks).toEqual({
      concurrency: 256,
      minIntervalMs: 1_000,
      allowHosts: [],
    });
  });

  it('reads flags and environment variables, flags winning', () => {
    const fromEnv = loadConfig({
      env: { SWITCHBOARD_CHECKS_MIN_INTERVAL: '5s', SWITCHBOARD_CHECKS_ALLOW_HOSTS: '10.0.0.0/8, fd00::/8' },
    });
    expect(fromEnv.checks).toMatchObject({ minIntervalMs: 5_000, allowHosts: ['10.0.0.0/8', 'fd00::/8'] });
    const fromFlags = loadConfig({
      env: { SWITCHBOARD_CHECKS_ALLOW_HOSTS: '10.0.0.0/8' },
      flags: { 'checks-min-interval': '250ms', 'checks-allow-hosts': '192.168.0.0/16,10.1.2.3' },
    });
    expect(fromFlags.checks).toMatchObject({ minIntervalMs: 250, allowHosts: ['192.168.0.0/16', '10.1.2.3'] });
  });

  it('takes a list of ranges from a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify({ checks: { allowHosts: ['172.16.0.0/12'] } }));
      expect(loadConfig({ env: {}, file }).checks.allowHosts).toEqual(['172.16.0.0/12']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad ranges and intervals, naming each source', () => {
    expect(() =>
      loadConfig({
        env: { SWITCHBOARD_CHECKS_ALLOW_HOSTS: '10.0.0.0/8,example.com' },
        flags: { 'checks-min-interval': 'soon' },
      }),
    ).toThrow(/SWITCHBOARD_CHECKS_ALLOW_HOSTS "example\.com" is not an address range.*--checks-min-interval/);
  });
});
