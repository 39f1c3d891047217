import { describe, expect, it } from 'vitest';
import type { ChangeEvent, Instance } from '../wire/index.js';
import { ChangeLog, heapCost } from './change-log.js';

function change(index: number, service = 'web'): ChangeEvent {
  return { type: 'updated', index, service, instance: { id: `i${index}`, service } as Instance };
}

const indexes = (changes: ChangeEvent[] | undefined): number[] | undefined => changes?.map((c) => c.index);

describe('ChangeLog', () => {
  it('answers the changes after an index, in order, for every service or for one', () => {
    const log = new ChangeLog({ capacity: 100 }, 0);
    for (let i = 1; i <= 6; i++) log.append(change(i, i % 2 ? 'odd' : 'even'));
    expect(indexes(log.since(0))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(indexes(log.since(3))).toEqual([4, 5, 6]);
    expect(indexes(log.since(6))).toEqual([]);
    expect(indexes(log.since(2, 'odd'))).toEqual([3, 5]);
    expect(indexes(log.since(0, 'none'))).toEqual([]);
  });

  it('answers an empty list from its starting index, and undefined before it', () => {
    const log = new ChangeLog({ capacity: 10 }, 40);
    expect(log.since(40)).toEqual([]);
    expect(log.since(39)).toBeUndefined();
    log.append(change(41));
    expect(indexes(log.since(40))).toEqual([41]);
  });

  it('drops the oldest change when full and answers undefined for an index it no longer reaches', () => {
    const log = new ChangeLog({ capacity: 3 }, 0);
    for (let i = 1; i <= 5; i++) log.append(change(i));
    // Changes 1 and 2 are gone: a watcher at 0 or 1 would miss one, so it must take a snapshot instead.
    expect(log.floor).toBe(2);
    expect(log.since(0)).toBeUndefined();
    expect(log.since(1)).toBeUndefined();
    expect(indexes(log.since(2))).toEqual([3, 4, 5]);
    expect(indexes(log.since(4))).toEqual([5]);
  });

  it('keeps working around the ring many times over', () => {
    const log = new ChangeLog({ capacity: 7 }, 0);
    for (let i = 1; i <= 1_000; i++) log.append(change(i));
    expect(log.floor).toBe(993);
    expect(indexes(log.since(993))).toEqual([994, 995, 996, 997, 998, 999, 1_000]);
    expect(log.since(992)).toBeUndefined();
  });

  it('holds at least one change whatever capacity it is given', () => {
    const log = new ChangeLog({ capacity: 0 }, 0);
    log.append(change(1));
    expect(indexes(log.since(0))).toEqual([1]);
    log.append(change(2));
    expect(log.since(0)).toBeUndefined();
    expect(indexes(log.since(1))).toEqual([2]);
  });

  it('drops the oldest changes once they hold more than its byte bound, keeping the newest whatever it costs', () => {
    const big = (index: number): ChangeEvent => ({
      ...change(index),
      instance: { id: `i${index}`, service: 'web', metadata: { blob: 'x'.repeat(10_000) } } as unknown as Instance,
    });
    const cost = heapCost(big(1));
    const log = new ChangeLog({ capacity: 1_000, maxBytes: cost * 3 + cost / 2 }, 0);
    for (let i = 1; i <= 100; i++) log.append(big(i));
    expect(log.length).toBe(3);
    expect(log.bytes).toBeLessThanOrEqual(cost * 3 + cost / 2);
    expect(log.floor).toBe(97);
    expect(log.since(96)).toBeUndefined();
    expect(indexes(log.since(97))).toEqual([98, 99, 100]);
    const tiny = new ChangeLog({ capacity: 10, maxBytes: 1 }, 0);
    tiny.append(big(1));
    tiny.append(big(2));
    expect(indexes(tiny.since(1))).toEqual([2]);
  });

  it('estimates what a change holds on the heap from its strings and objects', () => {
    expect(heapCost('x'.repeat(1_000))).toBeGreaterThan(1_000);
    expect(heapCost({ a: 'x'.repeat(1_000), b: ['y'.repeat(500)] })).toBeGreaterThan(1_500);
    expect(heapCost(null)).toBeLessThan(16);
  });
});
