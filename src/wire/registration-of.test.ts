import { describe, expect, it } from 'vitest';
import { wireInstance } from '../../test/fixtures/instances.js';
import { registrationOf } from './registration-of.js';

const NOW = '2026-01-01T00:00:00.000Z';

describe('registrationOf', () => {
  it('gives every field of an answered instance in the registration form, checks as definitions', () => {
    const instance = wireInstance({
      id: 'w1',
      registeredAt: NOW,
      updatedAt: NOW,
      lastHeartbeat: NOW,
      url: '/web',
      ttl: '10s',
      deregisterAfter: '1m',
      tags: ['v1'],
      metadata: { team: 'a' },
      checks: [
        {
          id: 'c',
          kind: 'http',
          target: 'http://10.0.0.1/health',
          interval: '5s',
          timeout: '1s',
          successBefore: 1,
          failuresBefore: 3,
          status: 'passing',
          output: '',
          updatedAt: NOW,
        },
      ],
    });
    const registration = registrationOf(instance);
    expect(registration).toMatchObject({
      host: instance.host,
      port: instance.port,
      url: '/web',
      ttl: '10s',
      deregisterAfter: '1m',
      tags: ['v1'],
      metadata: { team: 'a' },
      checks: [{ id: 'c', http: 'http://10.0.0.1/health', interval: '5s', timeout: '1s', failuresBefore: 3 }],
    });
    // Nothing of the answer's own (health, timestamps, indexes) is a registration field.
    expect(Object.keys(registration)).not.toContain('health');
    expect(Object.keys(registration)).not.toContain('createIndex');
  });
});
