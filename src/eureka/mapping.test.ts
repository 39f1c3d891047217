import { describe, expect, it } from 'vitest';
import { wireInstance } from '../../test/fixtures/instances.js';
import type { Instance } from '../wire/index.js';
import { eurekaInstanceOf, eurekaStatusOf, reconcileHashCode, registrationFromEureka } from './mapping.js';

const NOW = '2026-01-01T00:00:00.000Z';

function instanceOf(fields: Partial<Instance> = {}): Instance {
  return wireInstance({ id: 'w1', registeredAt: NOW, updatedAt: NOW, lastHeartbeat: NOW, ...fields });
}

const body = (instance: Record<string, unknown>): unknown => ({
  instance: { hostName: 'h', ipAddr: '10.0.0.2', app: 'WEB', dataCenterInfo: { name: 'MyOwn' }, port: 80, ...instance },
});

describe('the Eureka mapping', () => {
  it('counts instances by status, statuses by name, as Eureka reconciles', () => {
    expect(reconcileHashCode([])).toBe('');
    expect(reconcileHashCode(['UP', 'DOWN', 'UP', 'UP'].map((status) => ({ status: status as 'UP' })))).toBe(
      'DOWN_1_UP_3_',
    );
  });

  it('reads port as a number, a string, or an object whose @enabled is a boolean or a string', () => {
    for (const port of [8080, '8080', { $: 8080, '@enabled': true }, { $: '8080', '@enabled': 'true' }]) {
      expect(registrationFromEureka('web', body({ port }), { healthChecks: false }).port).toBe(8080);
    }
    const disabled = registrationFromEureka('web', body({ port: { $: 8080, '@enabled': false } }), {
      healthChecks: false,
    });
    expect(disabled.metadata).toMatchObject({ 'eureka.portEnabled': 'false' });
    expect(() =>
      registrationFromEureka('web', body({ port: { $: 1, '@enabled': 'maybe' } }), { healthChecks: false }),
    ).toThrow(/@enabled/);
  });

  it('takes the id from instanceId, else hostName, and an unknown status as UNKNOWN', () => {
    expect(registrationFromEureka('WEB', body({}), { healthChecks: false })).toMatchObject({
      service: 'web',
      id: 'h',
      status: 'UP',
    });
    expect(
      registrationFromEureka('web', body({ instanceId: 'i-1', status: 'weird' }), { healthChecks: false }),
    ).toMatchObject({
      id: 'i-1',
      status: 'UNKNOWN',
    });
  });

  it('expires the lease after durationInSecs, not after the renewal interval, and answers the interval back', () => {
    const request = registrationFromEureka(
      'WEB',
      body({ leaseInfo: { renewalIntervalInSecs: 10, durationInSecs: 40 } }),
      { healthChecks: false },
    );
    expect(request).toMatchObject({ ttl: 40, deregisterAfter: 80 });
    const metadata = request.metadata ?? {};
    const answered = eurekaInstanceOf(instanceOf({ ttl: '40s', deregisterAfter: '80s', metadata }));
    expect(answered.leaseInfo).toMatchObject({ renewalIntervalInSecs: 10, durationInSecs: 40 });
    const defaults = registrationFromEureka('WEB', body({}), { healthChecks: false });
    expect(defaults).toMatchObject({ ttl: 90, deregisterAfter: 180 });
    expect(Object.keys(defaults.metadata ?? {})).not.toContain('eureka.renewalIntervalInSecs');
  });

  it('keeps an override and the fields Eureka cannot say when an instance registers again', () => {
    const previous = instanceOf({
      tags: ['blue'],
      weight: 5,
      metadata: { 'eureka.overriddenStatus': 'OUT_OF_SERVICE' },
    });
    const request = registrationFromEureka('web', body({ status: 'UP' }), {
      healthChecks: false,
      previous: () => previous,
    });
    expect(request).toMatchObject({ status: 'OUT_OF_SERVICE', tags: ['blue'], weight: 5 });
    expect(request.metadata).toMatchObject({ 'eureka.overriddenStatus': 'OUT_OF_SERVICE' });
  });

  it('answers a REST v1 instance with Eureka defaults, DOWN when critical unless out of service', () => {
    const answered = eurekaInstanceOf(instanceOf({ service: 'Web', ttl: '10s' }));
    expect(answered).toMatchObject({
      app: 'WEB',
      ipAddr: '10.0.0.1',
      vipAddress: 'Web',
      homePageUrl: 'http://10.0.0.1:80/',
      leaseInfo: { renewalIntervalInSecs: 3, durationInSecs: 10 },
      overriddenStatus: 'UNKNOWN',
    });
    expect(eurekaInstanceOf(instanceOf({ host: '::1' })).healthCheckUrl).toBe('http://[::1]:80/healthcheck');
    expect(eurekaStatusOf({ status: 'UP', health: 'critical' })).toBe('DOWN');
    expect(eurekaStatusOf({ status: 'OUT_OF_SERVICE', health: 'critical' })).toBe('OUT_OF_SERVICE');
  });
});
