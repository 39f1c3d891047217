import { describe, expect, it } from 'vitest';
import { RECONNECT_GRACE_MS, ago, liveLabel, nextLiveness } from './live.js';
import { parseRoute, hrefOf } from './routes.js';
import { rowWindow } from './window.js';

describe('the live indicator', () => {
  it('says live, then reconnecting, then stale since the first drop', () => {
    let liveness = nextLiveness({ state: 'connecting' }, true, 0);
    expect(liveLabel(liveness, 0)).toBe('Live');
    liveness = nextLiveness(liveness, false, 1_000);
    liveness = nextLiveness(liveness, false, 2_000);
    expect(liveness).toEqual({ state: 'down', since: 1_000 });
    expect(liveLabel(liveness, 2_000)).toMatch(/^Reconnecting/);
    expect(liveLabel(liveness, 1_000 + RECONNECT_GRACE_MS)).toMatch(/^Stale since /);
    expect(liveLabel(nextLiveness(liveness, true, 9_000), 9_000)).toBe('Live');
  });

  it('tells how long ago in a short unit', () => {
    expect(ago('1970-01-01T00:00:00.000Z', 5_000)).toBe('5 s');
    expect(ago('1970-01-01T00:00:00.000Z', 600_000)).toBe('10 min');
  });
});

describe('the virtual list', () => {
  it('renders the rows in view and a few around them, with spacers for the rest', () => {
    const window = rowWindow({ count: 10_000, rowHeight: 40, scrollTop: 40_000, height: 400 });
    expect(window.first).toBe(990);
    expect(window.end).toBe(1_020);
    expect(window.before).toBe(990 * 40);
    expect(window.after).toBe((10_000 - 1_020) * 40);
    expect(rowWindow({ count: 3, rowHeight: 40, scrollTop: 0, height: 400 })).toEqual({
      first: 0,
      end: 3,
      before: 0,
      after: 0,
    });
  });
});

describe('the routes', () => {
  it('reads back every route it writes, names with odd characters included', () => {
    for (const route of [
      { view: 'services' },
      { view: 'service', service: 'web.v2' },
      { view: 'instance', service: 'web', id: 'a/b c' },
      { view: 'events' },
      { view: 'registry' },
      { view: 'gateway' },
    ] as const) {
      expect(parseRoute(hrefOf(route))).toEqual(route);
    }
    expect(parseRoute('')).toEqual({ view: 'services' });
  });
});
