import { describe, expect, it } from 'vitest';
import type { DrainAnswer, Subscriber } from '../../src/sdk/client.js';
import { hrefOf, parseRoute } from './routes.js';
import {
  countLabel,
  drainSummary,
  durationLabel,
  isBehind,
  lagChangesLabel,
  livenessLabel,
  sortByLag,
  subscribersOf,
  watchesLabel,
} from './subscribers.js';

function subscriber(overrides: Partial<Subscriber> & Pick<Subscriber, 'id'>): Subscriber {
  return {
    name: overrides.id,
    watches: 'web',
    transport: 'events',
    node: 'node-1',
    connected: true,
    live: true,
    applied: 10,
    lagChanges: 0,
    lagMs: 0,
    lastSeen: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('the subscribers view', () => {
  it('puts the worst lag first: longest wait, then most changes, then unknown progress, then live, then by name', () => {
    const list = [
      subscriber({ id: 'fine-b', name: 'b' }),
      subscriber({ id: 'many', lagChanges: 9, lagMs: 300 }),
      subscriber({ id: 'old', lagChanges: 1, lagMs: 4_000 }),
      subscriber({ id: 'fine-a', name: 'a' }),
      subscriber({ id: 'gone', name: 'a', live: false, connected: false }),
      subscriber({ id: 'fewer', lagChanges: 2, lagMs: 300 }),
      subscriber({ id: 'unknown', applied: null }),
      subscriber({ id: 'fine-10', name: 'web-10' }),
      subscriber({ id: 'fine-2', name: 'web-2' }),
    ];
    expect(sortByLag(list).map((s) => s.id)).toEqual([
      'old',
      'many',
      'fewer',
      'unknown',
      'fine-a',
      'fine-b',
      'fine-2',
      'fine-10',
      'gone',
    ]);
    // The list given is left as it was.
    expect(list[0]?.id).toBe('fine-b');
  });

  it('keeps, for a service, its subscribers and those of every service: those a drain of it waits for', () => {
    const list = [
      subscriber({ id: 'web-watch' }),
      subscriber({ id: 'api-watch', watches: 'api' }),
      subscriber({ id: 'gateway', watches: null }),
    ];
    expect(subscribersOf(list, 'web').map((s) => s.id)).toEqual(['web-watch', 'gateway']);
    expect(subscribersOf(list, 'payments').map((s) => s.id)).toEqual(['gateway']);
    expect(subscribersOf(list, undefined)).toHaveLength(3);
  });

  it('words what each watches, its lag and whether it counts for drains', () => {
    expect(watchesLabel(null)).toBe('every service');
    expect(watchesLabel('web')).toBe('web');
    expect(lagChangesLabel(subscriber({ id: 'a' }))).toBe('caught up');
    expect(lagChangesLabel(subscriber({ id: 'a', lagChanges: 1 }))).toBe('1 change');
    expect(lagChangesLabel(subscriber({ id: 'a', lagChanges: 12 }))).toBe('12 changes');
    expect(isBehind(subscriber({ id: 'a' }))).toBe(false);
    expect(isBehind(subscriber({ id: 'a', lagChanges: 1 }))).toBe(true);
    expect(livenessLabel({ connected: true, live: true })).toBe('live: connected');
    expect(livenessLabel({ connected: false, live: true })).toBe('live: seen recently');
    expect(livenessLabel({ connected: false, live: false })).toBe('gone');
    expect(countLabel(1)).toBe('1 subscriber');
    expect(countLabel(0)).toBe('0 subscribers');
  });

  it('tells a lag in time in a short unit, never rounding up past what was measured', () => {
    expect(durationLabel(0)).toBe('0 ms');
    expect(durationLabel(850)).toBe('850 ms');
    expect(durationLabel(1_299)).toBe('1.2 s');
    expect(durationLabel(9_999)).toBe('9.9 s');
    expect(durationLabel(45_000)).toBe('45 s');
    expect(durationLabel(180_000)).toBe('3 min');
    expect(durationLabel(7_200_000)).toBe('2 h');
  });

  it('is addressed as #/subscribers, or #/subscribers/<service> for one service', () => {
    expect(parseRoute('#/subscribers')).toEqual({ view: 'subscribers' });
    expect(parseRoute('#/subscribers/pay%2Fments')).toEqual({ view: 'subscribers', service: 'pay/ments' });
    expect(hrefOf({ view: 'subscribers' })).toBe('#/subscribers');
    expect(hrefOf({ view: 'subscribers', service: 'pay/ments' })).toBe('#/subscribers/pay%2Fments');
  });

  it('sums a drain up: complete, nothing to wait for, or who was still behind when the wait ran out', () => {
    const one = { id: 'gw', name: 'gateway', node: 'n1', watches: null, applied: 7 };
    const drain: DrainAnswer = {
      service: 'web',
      id: 'web-1',
      index: 7,
      complete: true,
      waitedMs: 420,
      caughtUp: [one],
      behind: [],
    };
    expect(drainSummary(drain)).toBe('Every live subscriber of web applied index 7 (1 subscriber, after 420 ms).');
    expect(drainSummary({ ...drain, caughtUp: [] })).toBe('No live subscriber follows web: nothing to wait for.');
    expect(drainSummary({ ...drain, complete: false, waitedMs: 30_000, behind: [{ ...one, applied: 6 }, one] })).toBe(
      'The wait ran out after 30 s: 2 subscribers had not applied index 7, and may still send requests to web-1.',
    );
  });
});
