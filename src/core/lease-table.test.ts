import { describe, expect, it } from 'vitest';
import { LeaseTable } from './lease-table.js';

/** A small deterministic PRNG, so a failing order can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('LeaseTable', () => {
  it('returns nothing before a deadline and the key at and after it', () => {
    const table = new LeaseTable<string>();
    table.add('a', 1_000);
    expect(table.popDue(999)).toEqual([]);
    expect(table.has('a')).toBe(true);
    expect(table.popDue(1_000)).toEqual(['a']);
    expect(table.has('a')).toBe(false);
    expect(table.size).toBe(0);
    expect(table.popDue(5_000)).toEqual([]);
  });

  it('returns every due key earliest first, and only those', () => {
    const table = new LeaseTable<string>();
    table.add('c', 300);
    table.add('a', 100);
    table.add('d', 400);
    table.add('b', 200);
    expect(table.peek()).toBe(100);
    expect(table.popDue(250)).toEqual(['a', 'b']);
    expect(table.size).toBe(2);
    expect(table.peek()).toBe(300);
    expect(table.popDue(1_000)).toEqual(['c', 'd']);
    expect(table.peek()).toBeUndefined();
  });

  it('keeps a key once: adding it again later leaves its earlier deadline, which fires early to be re-read', () => {
    const table = new LeaseTable<string>();
    table.add('a', 100);
    table.add('a', 500);
    expect(table.size).toBe(1);
    expect(table.popDue(100)).toEqual(['a']);
    // It fired once and is gone: the later add made no second entry.
    expect(table.popDue(500)).toEqual([]);
  });

  it('moves a key to an earlier deadline, and fires it once', () => {
    const table = new LeaseTable<string>();
    table.add('a', 500);
    table.add('b', 300);
    table.add('a', 100);
    expect(table.size).toBe(2);
    expect(table.peek()).toBe(100);
    expect(table.popDue(100)).toEqual(['a']);
    expect(table.popDue(1_000)).toEqual(['b']);
    expect(table.size).toBe(0);
  });

  it('never returns a deleted key, and schedules it afresh when added again', () => {
    const table = new LeaseTable<string>();
    table.add('a', 100);
    table.add('b', 200);
    table.delete('a');
    expect(table.size).toBe(1);
    expect(table.has('a')).toBe(false);
    expect(table.popDue(150)).toEqual([]);
    table.add('a', 300);
    expect(table.popDue(250)).toEqual(['b']);
    expect(table.popDue(300)).toEqual(['a']);
    expect(table.size).toBe(0);
  });

  it('orders many random deadlines exactly as a sort would, swept in steps', () => {
    const next = random(42);
    const table = new LeaseTable<number>();
    const deadlines = new Map<number, number>();
    for (let key = 0; key < 5_000; key++) {
      const deadline = Math.floor(next() * 100_000);
      deadlines.set(key, deadline);
      table.add(key, deadline);
    }
    // Delete a tenth of them, as deregistrations would.
    for (let key = 0; key < 5_000; key += 10) {
      table.delete(key);
      deadlines.delete(key);
    }
    const swept: number[] = [];
    for (let now = 0; now <= 100_000; now += 997) {
      const due = table.popDue(now);
      for (const key of due) expect(deadlines.get(key)).toBeLessThanOrEqual(now);
      swept.push(...due);
    }
    swept.push(...table.popDue(Infinity));
    const expected = [...deadlines].sort(([ka, a], [kb, b]) => a - b || ka - kb).map(([key]) => key);
    expect(swept).toHaveLength(expected.length);
    expect(new Set(swept)).toEqual(new Set(expected));
    // Earliest first: the deadlines of the swept keys never go down.
    const order = swept.map((key) => deadlines.get(key) as number);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(table.size).toBe(0);
  });
});
