import { describe, expect, it } from 'vitest';
import type { ChangeEvent, ChangeType, Instance } from '../../src/sdk/client.js';
import { appendEvents, changesOf, filterEvents } from './event-log.js';

/** `change('registered', 2, 'web/w1')`: a change to instance w1 of web. */
function change(type: ChangeType, index: number, key: string): ChangeEvent {
  const [service = '', id = ''] = key.split('/');
  return { type, index, service, instance: { id, service } as Instance };
}

describe('the event log', () => {
  it('keeps the newest changes first, bounded, and leaves snapshots out', () => {
    let log = appendEvents([], [{ type: 'snapshot', index: 1, instances: [] }], { at: 1 });
    expect(log).toEqual([]);
    log = appendEvents(log, [change('registered', 2, 'web/w1'), change('registered', 3, 'web/w2')], { at: 2 });
    log = appendEvents(log, [change('deregistered', 4, 'web/w1')], { at: 3, size: 2 });
    expect(log.map(({ event }) => event.index)).toEqual([4, 3]);
    expect(log[0]?.at).toBe(3);
  });

  it('filters by service and type, and picks one instance out', () => {
    const log = appendEvents(
      [],
      [change('registered', 1, 'web/w1'), change('health', 2, 'payments/p1'), change('health', 3, 'web/w1')],
      { at: 0 },
    );
    expect(filterEvents(log, { service: 'WE', type: '' }).map(({ event }) => event.index)).toEqual([3, 1]);
    expect(filterEvents(log, { service: '', type: 'health' }).map(({ event }) => event.index)).toEqual([3, 2]);
    expect(changesOf(log, 'web', 'w1').map(({ event }) => event.type)).toEqual(['health', 'registered']);
  });
});
