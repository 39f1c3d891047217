import { describe, expect, it } from 'vitest';
import type { CheckDefinition } from '../wire/index.js';
import { CORE_OPTIONS } from '../../test/fixtures/core-options.js';
import { heldStore } from '../../test/fixtures/held-store.js';
import { CheckTargets } from './check-targets.js';
import { createRegistry } from './registry.js';
import type { Registry } from './registry.js';

describe('CheckTargets', () => {
  const none = new CheckTargets([]);

  it("allows the instance's own host, however an address or a name is spelt", () => {
    expect(none.allows('10.0.0.5', '10.0.0.5')).toBe(true);
    expect(none.allows('Web-1.Example.COM', 'web-1.example.com')).toBe(true);
    expect(none.allows('[0:0:0:0:0:0:0:1]', '::1')).toBe(true);
    expect(none.allows('::ffff:10.0.0.5', '10.0.0.5')).toBe(true);
    // The resolver reads 0x7f.1 as 127.0.0.1, and so does the comparison.
    expect(none.allows('0x7f.1', '127.0.0.1')).toBe(true);
  });

  it('refuses any other host by default: addresses, names, and other spellings of other addresses', () => {
    expect(none.allows('169.254.169.254', '10.0.0.5')).toBe(false);
    expect(none.allows('127.0.0.1', '10.0.0.5')).toBe(false);
    expect(none.allows('0x7f.1', '10.0.0.5')).toBe(false);
    expect(none.allows('2130706433', '10.0.0.5')).toBe(false);
    expect(none.allows('localhost', '127.0.0.1')).toBe(false);
    expect(none.allows('db.internal', 'web.internal')).toBe(false);
    expect(none.allows('10.0.0.5', 'web.internal')).toBe(false);
  });

  it('allows addresses inside the configured ranges, IPv4 and IPv6, and never a name', () => {
    const targets = new CheckTargets(['10.1.0.0/16', 'fd00:1::/32', '192.168.5.5']);
    expect(targets.allows('10.1.200.3', '10.0.0.5')).toBe(true);
    expect(targets.allows('10.2.0.1', '10.0.0.5')).toBe(false);
    expect(targets.allows('fd00:1:2::9', 'web.internal')).toBe(true);
    expect(targets.allows('fd00:2::9', 'web.internal')).toBe(false);
    expect(targets.allows('192.168.5.5', '10.0.0.5')).toBe(true);
    expect(targets.allows('192.168.5.6', '10.0.0.5')).toBe(false);
    // A name is never resolved: it passes only as the instance's own host, whatever the ranges.
    expect(new CheckTargets(['0.0.0.0/0', '::/0']).allows('metadata.internal', '10.0.0.5')).toBe(false);
  });

  it('refuses a bad range, naming the configuration key', () => {
    expect(() => new CheckTargets(['10.0.0.0/8', 'nowhere'])).toThrow(/^checks\.allowHosts: "nowhere" is not/);
  });
});

describe('registration checks (issue #13)', () => {
  const open = (checks: Partial<typeof CORE_OPTIONS.checks> = {}): Promise<Registry> =>
    createRegistry({
      ...CORE_OPTIONS,
      checks: { ...CORE_OPTIONS.checks, ...checks },
      store: heldStore(),
      autoSweep: false,
    });
  const register = (registry: Registry, host: string, checks: CheckDefinition[]) =>
    registry.register({ service: 'web', id: 'w1', host, port: 8080, checks });

  it("refuses a check on another host with INVALID_ARGUMENT naming the field and the instance's host", async () => {
    const registry = await open();
    await expect(
      register(registry, '10.0.0.5', [
        { http: 'http://10.0.0.5:8080/health', interval: '10s' },
        { http: 'http://169.254.169.254/latest/meta-data/', interval: '10s' },
      ]),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /^checks\[1\]\.http: targets "169\.254\.169\.254", not the instance's host "10\.0\.0\.5"/,
      ) as unknown,
    });
    await expect(register(registry, '10.0.0.5', [{ tcp: '10.0.0.6:22', interval: '10s' }])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^checks\[0\]\.tcp: targets "10\.0\.0\.6"/) as unknown,
    });
    // userinfo is not the host: the URL's host is what the probe connects to.
    await expect(
      register(registry, '10.0.0.5', [{ http: 'http://10.0.0.5@10.0.0.6/', interval: '10s' }]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await registry.close();
  });

  it("accepts checks on the instance's own host, by address or name, and on allowed ranges", async () => {
    const registry = await open({ allowHosts: ['10.9.0.0/16'] });
    await register(registry, '10.0.0.5', [
      { http: 'http://10.0.0.5:8080/health', interval: '10s' },
      { tcp: '10.0.0.5:5432', interval: '10s' },
      { tcp: '10.9.3.4:9000', interval: '10s' },
    ]);
    await register(registry, 'web-1.internal', [
      { http: 'https://WEB-1.internal/health', interval: '10s' },
      { tcp: 'web-1.internal:5432', interval: '10s' },
    ]);
    expect(registry.get('web', 'w1').checks).toHaveLength(2);
    await registry.close();
  });

  it('refuses intervals under the configured minimum, which defaults to one second', async () => {
    const strict = await open();
    await expect(
      register(strict, '10.0.0.5', [{ http: 'http://10.0.0.5/h', interval: '999ms' }]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'checks[0].interval: must be between 1s and 24h' });
    await register(strict, '10.0.0.5', [{ http: 'http://10.0.0.5/h', interval: '1s' }]);
    await strict.close();

    const fast = await open({ minIntervalMs: 200 });
    await register(fast, '10.0.0.5', [{ http: 'http://10.0.0.5/h', interval: '200ms' }]);
    await expect(register(fast, '10.0.0.5', [{ http: 'http://10.0.0.5/h', interval: '100ms' }])).rejects.toMatchObject({
      message: 'checks[0].interval: must be between 200ms and 24h',
    });
    await fast.close();
  });

  it('refuses more than 8 checks per instance', async () => {
    const registry = await open();
    const checks = Array.from({ length: 9 }, (_, i) => ({ id: `c${i}`, tcp: '10.0.0.5:80', interval: '10s' }));
    await expect(register(registry, '10.0.0.5', checks)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await register(registry, '10.0.0.5', checks.slice(0, 8));
    await registry.close();
  });

  it('refuses to start on a bad range', async () => {
    await expect(open({ allowHosts: ['10.0.0.0/40'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
