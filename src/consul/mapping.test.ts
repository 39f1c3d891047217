import { describe, expect, it } from 'vitest';
import type { Instance } from '../wire/index.js';
import { wireInstance } from '../../test/fixtures/instances.js';
import { aggregatedStatus, checksOf, parseGoDuration, registrationOf } from './mapping.js';

const NOW = Date.parse('2026-01-01T00:00:10Z');

function instance(overrides: Partial<Instance> = {}): Instance {
  return wireInstance({ lastHeartbeat: '2026-01-01T00:00:09Z', createIndex: 3, modifyIndex: 4, ...overrides });
}

describe('parseGoDuration', () => {
  it.each([
    ['10s', 10_000],
    ['120000ms', 120_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['250us', 0],
    ['0', 0],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseGoDuration(text, 'wait')).toBe(ms);
  });

  it.each(['', '10', 's', '10x', '1m 30s', '-5s'])('refuses %j', (text) => {
    expect(() => parseGoDuration(text, 'wait')).toThrow(/wait: .* is not a duration/);
  });
});

describe('registrationOf', () => {
  it('reads PascalCase, camelCase and snake_case keys alike, but never rewrites Meta keys', () => {
    const given = registrationOf(
      {
        NAME: 'web',
        Id: 'w1',
        port: 80,
        META: { Some_Key: 'v' },
        check: { TTL: '5s', Deregister_Critical_Service_After: '1m' },
      },
      '10.9.9.9',
    );
    expect(given).toEqual({
      service: 'web',
      id: 'w1',
      body: { host: '10.9.9.9', port: 80, metadata: { Some_Key: 'v' }, ttl: '5000ms', deregisterAfter: '60000ms' },
    });
  });

  it('numbers unnamed active checks by their place and keeps a TTL check as the lease', () => {
    const { body } = registrationOf(
      {
        Name: 'web',
        Port: 80,
        Checks: [
          { TCP: '10.0.0.1:80', Interval: '10s' },
          { TTL: '30s', Status: 'warning' },
          { CheckID: 'mine', HTTP: 'http://10.0.0.1/', Interval: '5s' },
        ],
      },
      '10.0.0.1',
    );
    expect(body.checks?.map((check) => check.id)).toEqual(['service:web:1', 'mine']);
    expect(body).toMatchObject({ ttl: '30000ms', status: 'UNKNOWN', deregisterAfter: '720h' });
  });
});

describe('checksOf and aggregatedStatus', () => {
  it('reports the status as the service check, and maintenance above everything', () => {
    expect(checksOf(instance(), NOW).map((c) => [c.CheckID, c.Status])).toEqual([['service:web-1', 'passing']]);
    expect(aggregatedStatus(checksOf(instance({ status: 'STARTING' }), NOW))).toBe('warning');
    expect(aggregatedStatus(checksOf(instance({ status: 'OUT_OF_SERVICE' }), NOW))).toBe('critical');
    const maintained = checksOf(instance({ health: 'critical', maintenance: { enabled: true, reason: 'r' } }), NOW);
    expect(maintained.at(-1)).toMatchObject({ CheckID: '_service_maintenance:web-1', Notes: 'r', Status: 'critical' });
    expect(aggregatedStatus(maintained)).toBe('maintenance');
  });

  it('tells a lapsed lease from the health the core combined', () => {
    // No checks: critical health can only be the lease.
    const lapsed = checksOf(instance({ ttl: '5s', health: 'critical' }), NOW)[0];
    expect(lapsed).toMatchObject({ Status: 'critical', Type: 'ttl' });
    expect(lapsed?.Output).toMatch(/TTL expired/);
    // Beside passing checks, a lapsed lease is the warning.
    const check = {
      id: 'c',
      kind: 'http' as const,
      target: 'http://10.0.0.1/',
      interval: '10s',
      timeout: '5s',
      successBefore: 1,
      failuresBefore: 3,
      status: 'passing' as const,
      output: 'ok',
      updatedAt: '2026-01-01T00:00:00Z',
    };
    expect(checksOf(instance({ ttl: '5s', health: 'warning', checks: [check] }), NOW)[0]?.Status).toBe('critical');
    expect(checksOf(instance({ ttl: '5s', health: 'passing', checks: [check] }), NOW)[0]?.Status).toBe('passing');
    // In maintenance the health says nothing of the lease: the heartbeat does (9 s ago, a 5 s lease).
    const maintained = instance({
      ttl: '5s',
      health: 'critical',
      maintenance: { enabled: true, reason: '' },
      lastHeartbeat: '2026-01-01T00:00:01Z',
    });
    expect(checksOf(maintained, NOW)[0]?.Status).toBe('critical');
    expect(checksOf({ ...maintained, ttl: '1m' }, NOW)[0]?.Status).toBe('passing');
  });
});
