import { describe, expect, it } from 'vitest';
import { contractInstance } from './discovery.contract.js';
import { FallbackMemory, fallbackOf } from './fallback.js';

describe('fallbackOf', () => {
  const named = (id: string, fallback: string, modifyIndex: number) =>
    contractInstance('tickets', id, { metadata: { 'switchboard.fallback': fallback }, modifyIndex });

  it('takes the fallback the instance changed last names', () => {
    expect(fallbackOf('tickets', [named('a', 'sorry', 5), named('b', 'closed', 9), named('c', 'other', 7)])).toBe(
      'closed',
    );
    expect(fallbackOf('tickets', [contractInstance('tickets', 'a')])).toBeUndefined();
    expect(fallbackOf('tickets', [])).toBeUndefined();
  });

  it('ignores the service itself and values that are no service name', () => {
    expect(fallbackOf('tickets', [named('a', 'tickets', 1)])).toBeUndefined();
    expect(fallbackOf('tickets', [named('a', '../admin', 1)])).toBeUndefined();
    expect(fallbackOf('tickets', [named('a', '', 1)])).toBeUndefined();
  });
});

describe('FallbackMemory', () => {
  it('remembers a gone service for the retention period from when it went, then forgets it', () => {
    const clock = { now: 0 };
    const memory = new FallbackMemory<string>({ retentionMs: 100, now: () => clock.now });
    memory.seen('tickets', 'sorry');
    expect(memory.retained()).toEqual([]);
    clock.now = 50;
    memory.gone('tickets');
    clock.now = 120;
    memory.gone('tickets');
    expect(memory.expired).toBe(false);
    expect(memory.get('tickets')).toBe('sorry');
    expect(memory.retained()).toEqual([['tickets', 'sorry']]);
    clock.now = 150;
    expect(memory.expired).toBe(true);
    expect(memory.get('tickets')).toBeUndefined();
    expect(memory.expired).toBe(false);
  });

  it('starts over when the service comes back, and forgets one whose instances name no fallback', () => {
    const clock = { now: 0 };
    const memory = new FallbackMemory<string>({ retentionMs: 100, now: () => clock.now });
    memory.seen('tickets', 'sorry');
    memory.gone('tickets');
    memory.seen('tickets', 'sorry');
    clock.now = 500;
    expect(memory.get('tickets')).toBe('sorry');
    memory.seen('tickets', undefined);
    expect(memory.get('tickets')).toBeUndefined();
    memory.gone('unknown');
    expect(memory.retained()).toEqual([]);
  });
});
