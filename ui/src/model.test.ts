import { describe, expect, it } from 'vitest';
import type { ChangeEvent, ChangeType, Instance } from '../../src/sdk/client.js';
import { EMPTY_MODEL, applyEvents, filterServices, selectInstances, serviceRows, withServiceNames } from './model.js';

function instance(service: string, id: string, fields: Partial<Instance> = {}): Instance {
  return {
    id,
    service,
    host: '10.0.0.1',
    port: 8080,
    endpoints: [],
    status: 'UP',
    health: 'passing',
    tags: [],
    metadata: {},
    weight: 1,
    authorizedRoles: [],
    registeredAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    lastHeartbeat: '2025-01-01T00:00:00.000Z',
    createIndex: 1,
    modifyIndex: 1,
    ...fields,
  };
}

function change(type: ChangeType, index: number, target: Instance): ChangeEvent {
  return { type, index, service: target.service, instance: target };
}

describe('the view model fed by the event stream', () => {
  it('starts from the snapshot and applies each change after it', () => {
    let model = applyEvents(EMPTY_MODEL, [
      { type: 'snapshot', index: 5, instances: [instance('web', 'w1'), instance('api', 'a1')] },
    ]);
    expect(model.index).toBe(5);
    model = applyEvents(model, [
      change('registered', 6, instance('web', 'w2')),
      change('health', 7, instance('web', 'w1', { health: 'critical' })),
      change('deregistered', 8, instance('api', 'a1')),
    ]);
    expect(model.index).toBe(8);
    expect([...(model.services.get('web')?.keys() ?? [])].sort()).toEqual(['w1', 'w2']);
    expect(model.services.get('web')?.get('w1')?.health).toBe('critical');
    // The service whose last instance went stays listed, empty.
    expect(model.services.get('api')?.size).toBe(0);
  });

  it('ignores a change it has already applied (index not after the last)', () => {
    const model = applyEvents(EMPTY_MODEL, [{ type: 'snapshot', index: 10, instances: [instance('web', 'w1')] }]);
    const next = applyEvents(model, [change('deregistered', 9, instance('web', 'w1'))]);
    expect(next.services.get('web')?.has('w1')).toBe(true);
  });

  it('lets a new snapshot replace everything known, keeping known services listed', () => {
    let model = applyEvents(EMPTY_MODEL, [
      { type: 'snapshot', index: 1, instances: [instance('web', 'w1'), instance('api', 'a1')] },
    ]);
    model = applyEvents(model, [{ type: 'snapshot', index: 20, instances: [instance('web', 'w9')] }]);
    expect([...(model.services.get('web')?.keys() ?? [])]).toEqual(['w9']);
    expect(model.services.get('api')?.size).toBe(0);
    expect(model.index).toBe(20);
  });

  it('leaves the maps of untouched services as they were, so their views need not re-render', () => {
    const model = applyEvents(EMPTY_MODEL, [
      { type: 'snapshot', index: 1, instances: [instance('web', 'w1'), instance('api', 'a1')] },
    ]);
    const next = applyEvents(model, [change('registered', 2, instance('web', 'w2'))]);
    expect(next.services.get('api')).toBe(model.services.get('api'));
    expect(next.services.get('web')).not.toBe(model.services.get('web'));
    expect(model.services.get('web')?.size).toBe(1);
  });

  it('lists services the registry names that have no instance yet', () => {
    const model = withServiceNames(EMPTY_MODEL, ['idle']);
    expect(serviceRows(model)).toMatchObject([{ name: 'idle', instances: 0 }]);
  });
});

describe('the services view', () => {
  const model = applyEvents(EMPTY_MODEL, [
    {
      type: 'snapshot',
      index: 3,
      instances: [
        instance('web', 'w1', { tags: ['blue'] }),
        instance('web', 'w2', { health: 'warning', status: 'STARTING' }),
        instance('web', 'w3', { health: 'critical', maintenance: { enabled: true, reason: 'upgrade' } }),
        instance('payments', 'p1', { health: 'critical', tags: ['pci'] }),
      ],
    },
  ]);

  it('counts instances by status and by health, maintenance apart from critical', () => {
    const [payments, web] = serviceRows(withServiceNames(model, []));
    expect(payments).toMatchObject({ name: 'payments', instances: 1, byHealth: { critical: 1, maintenance: 0 } });
    expect(web).toMatchObject({
      name: 'web',
      instances: 3,
      byStatus: { UP: 2, STARTING: 1 },
      byHealth: { passing: 1, warning: 1, critical: 0, maintenance: 1 },
      tags: ['blue'],
    });
  });

  it('finds services by name or tag, and hides empty ones when asked', () => {
    const rows = serviceRows(withServiceNames(model, ['idle']));
    expect(filterServices(rows, 'PAY', false).map((row) => row.name)).toEqual(['payments']);
    expect(filterServices(rows, 'blue', false).map((row) => row.name)).toEqual(['web']);
    expect(filterServices(rows, '', true).map((row) => row.name)).toEqual(['payments', 'web']);
    expect(filterServices(rows, '', false).map((row) => row.name)).toEqual(['idle', 'payments', 'web']);
  });
});

describe("a service's instances", () => {
  const byId = new Map(
    [
      instance('web', 'web-10', { weight: 5, zone: 'b', tags: ['v2'] }),
      instance('web', 'web-2', { weight: 1, zone: 'a', health: 'critical' }),
      instance('web', 'web-1', { weight: 5, zone: 'a', tags: ['v2'], status: 'DOWN' }),
    ].map((one) => [one.id, one]),
  );

  it('sorts by a column, ties by id in natural order', () => {
    const ids = (list: Instance[]) => list.map((one) => one.id);
    expect(ids(selectInstances(byId, {}, { key: 'id', descending: false }))).toEqual(['web-1', 'web-2', 'web-10']);
    expect(ids(selectInstances(byId, {}, { key: 'weight', descending: true }))).toEqual(['web-1', 'web-10', 'web-2']);
    expect(ids(selectInstances(byId, {}, { key: 'health', descending: true }))[0]).toBe('web-2');
  });

  it('filters by status, health, tag and zone together', () => {
    const sort = { key: 'id', descending: false } as const;
    expect(selectInstances(byId, { tag: 'v2', zone: 'a' }, sort).map((one) => one.id)).toEqual(['web-1']);
    expect(selectInstances(byId, { status: 'DOWN' }, sort).map((one) => one.id)).toEqual(['web-1']);
    expect(selectInstances(byId, { health: 'critical' }, sort).map((one) => one.id)).toEqual(['web-2']);
    expect(selectInstances(undefined, {}, sort)).toEqual([]);
  });

  it('stays quick with 10,000 instances', () => {
    const many = new Map<string, Instance>();
    for (let i = 0; i < 10_000; i++) many.set(`i-${i}`, instance('big', `i-${i}`, { weight: i % 7 }));
    const started = performance.now();
    let model = applyEvents(EMPTY_MODEL, [{ type: 'snapshot', index: 1, instances: [...many.values()] }]);
    model = applyEvents(model, [change('registered', 2, instance('big', 'new'))]);
    const sorted = selectInstances(model.services.get('big'), {}, { key: 'weight', descending: false });
    expect(sorted).toHaveLength(10_001);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
