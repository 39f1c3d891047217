import { describe, expect, it } from 'vitest';
import type { ChangeListener } from '../core/index.js';
import { SubscriberTable } from './subscriber-table.js';
import type { SubscriberOptions } from './subscriber-table.js';

const OPTIONS: SubscriberOptions = {
  maxTracked: 2,
  liveMs: 1_000,
  forgetAfterMs: 5_000,
  behindMs: 500,
  ackIntervalMs: 100,
  maxDrainWaitMs: 60_000,
  publishIntervalMs: 100,
};

/** A registry stand-in that applies changes by hand, and a clock the test moves. */
function setup() {
  const clock = { now: 0 };
  const listeners = new Set<ChangeListener>();
  const indexes = new Map<string, number>();
  const source = {
    index: 0,
    serviceIndex: (service: string) => indexes.get(service) ?? 0,
    watch: (_service: string | undefined, listener: ChangeListener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const change = (service: string) => {
    source.index += 1;
    indexes.set(service, source.index);
    const instance = { service, id: 'x' } as never;
    for (const l of listeners) l({ type: 'registered', index: source.index, service, instance });
    return source.index;
  };
  const table = new SubscriberTable(source, OPTIONS, { node: () => 'n1', now: () => clock.now });
  return { clock, change, table };
}

describe('SubscriberTable', () => {
  it('counts a watcher of every service that may read only some for those services, in drains and in lag', async () => {
    const { clock, change, table } = setup();
    // Its stream carries only web*: it is never sent payments' changes, so it could never acknowledge them.
    table.connect({ id: 'tab', name: 'dashboard', watches: undefined, transport: 'events', scope: ['web*'] }, 0);
    change('payments');
    clock.now = 100;
    expect(table.list()[0]).toMatchObject({ lagChanges: 0, lagMs: 0 });
    const payments = await table.drain('payments', 1, 10);
    expect(payments).toMatchObject({ complete: true, behind: [] });
    const web = change('web');
    clock.now = 300;
    expect(table.list()[0]).toMatchObject({ lagChanges: 1, lagMs: 200 });
    const drained = table.drain('web', web, 60_000);
    expect(table.ack('tab', undefined, web)).toBe(true);
    expect(await drained).toMatchObject({ complete: true, caughtUp: [{ id: 'tab' }] });
    // Published to other nodes with its scope, it counts there by the same rule.
    const other = setup();
    other.table.applyRemote('n2', table.progress());
    expect(await other.table.drain('payments', 1, 10)).toMatchObject({ complete: true, caughtUp: [], behind: [] });
    expect(await other.table.drain('web', web + 1, 10)).toMatchObject({ complete: false, behind: [{ id: 'tab' }] });
    table.close();
    other.table.close();
  });

  it('reports lag in changes and in time, and none once the subscriber has applied them', () => {
    const { clock, change, table } = setup();
    const leave = table.connect({ id: 'a', name: 'A', watches: 'web', transport: 'events' }, 0);
    clock.now = 100;
    change('web');
    change('other');
    clock.now = 400;
    change('web');
    clock.now = 1_000;
    expect(table.list()[0]).toMatchObject({ lagChanges: 2, lagMs: 900, applied: 0, connected: true, live: true });
    expect(table.behind()).toBe(1);
    expect(table.ack('a', 'web', 3)).toBe(true);
    expect(table.list()[0]).toMatchObject({ lagChanges: 0, lagMs: 0, applied: 3 });
    // A late acknowledgement never moves it back.
    table.ack('a', 'web', 1);
    expect(table.list()[0]?.applied).toBe(3);
    leave();
    clock.now = 2_100;
    expect(table.list()[0]?.live).toBe(false);
    clock.now = 7_200;
    expect(table.list()).toEqual([]);
  });

  it('keeps at most maxTracked subscribers, making room by forgetting the longest unseen', () => {
    const { clock, table } = setup();
    table.connect({ id: 'a', name: 'A', watches: undefined, transport: 'blocking' }, 0)();
    clock.now = 10;
    table.connect({ id: 'b', name: 'B', watches: undefined, transport: 'blocking' }, 0)();
    clock.now = 20;
    table.connect({ id: 'c', name: 'C', watches: undefined, transport: 'blocking' }, 0);
    expect(table.list().map((s) => s.id)).toEqual(['b', 'c']);
    // Every one connected: a newcomer is not tracked.
    table.connect({ id: 'b', name: 'B', watches: undefined, transport: 'blocking' }, 0);
    table.connect({ id: 'd', name: 'D', watches: undefined, transport: 'blocking' }, 0);
    expect(table.list().map((s) => s.id)).toEqual(['b', 'c']);
    expect(table.ack('d', undefined, 1)).toBe(false);
  });

  it('ends a drain once every live subscriber of the service has applied its index, and not for a gone one', async () => {
    const { clock, change, table } = setup();
    table.connect({ id: 'web-watcher', name: 'W', watches: 'web', transport: 'events' }, 0);
    table.connect({ id: 'everything', name: 'G', watches: undefined, transport: 'events' }, 0);
    table.connect({ id: 'other', name: 'O', watches: 'other', transport: 'events' }, 0);
    const gone = table.connect({ id: 'gone', name: 'X', watches: 'web', transport: 'events' }, 0);
    gone();
    clock.now = 5_000;
    const index = change('web');
    const drain = table.drain('web', index, 30_000);
    table.ack('web-watcher', 'web', index);
    let done = false;
    void drain.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    table.ack('everything', undefined, index);
    const report = await drain;
    expect(report.complete).toBe(true);
    expect(report.caughtUp.map((s) => s.id).sort()).toEqual(['everything', 'web-watcher']);
  });

  it('counts the subscribers other nodes publish, by the rules of local ones, until their node is dropped', async () => {
    const { clock, change, table } = setup();
    const index = change('web');
    table.applyRemote('n2', [
      { id: 'b1', name: 'B', watches: 'web', transport: 'events', connected: true, applied: 0, agoMs: 0 },
      { id: 'b2', name: 'C', watches: 'web', transport: 'blocking', connected: false, applied: 0, agoMs: 600 },
    ]);
    const short = await table.drain('web', index, 0);
    expect(short.behind).toEqual([
      { id: 'b1', name: 'B', node: 'n2', watches: 'web', applied: 0 },
      { id: 'b2', name: 'C', node: 'n2', watches: 'web', applied: 0 },
    ]);
    // A quiet node's connected subscriber keeps counting; its disconnected one stops after liveMs, aged here.
    clock.now = 500;
    expect((await table.drain('web', index, 0)).behind.map((s) => s.id)).toEqual(['b1']);
    clock.now = 60_000;
    expect(table.list().map((s) => [s.id, s.node, s.live])).toEqual([['b1', 'n2', true]]);
    // Its progress wakes a pending drain at once.
    const waiting = table.drain('web', index, 30_000);
    table.applyRemote('n2', [
      { id: 'b1', name: 'B', watches: 'web', transport: 'events', connected: true, applied: index, agoMs: 0 },
    ]);
    expect(await waiting).toMatchObject({ complete: true, caughtUp: [{ id: 'b1', node: 'n2', applied: index }] });
    // A node whose lease ended is dropped: its subscribers no longer count.
    table.applyRemote('n2', [
      { id: 'b1', name: 'B', watches: 'web', transport: 'events', connected: true, applied: 0, agoMs: 0 },
    ]);
    expect((await table.drain('web', index, 0)).complete).toBe(false);
    table.dropRemote('n2');
    expect((await table.drain('web', index, 0)).complete).toBe(true);
    expect(table.list()).toEqual([]);
    table.close();
  });

  it('changes its version when what it would publish may have changed, and only then', () => {
    const { clock, table } = setup();
    const start = table.version;
    const leave = table.connect({ id: 'a', name: 'A', watches: 'web', transport: 'events' }, 0);
    const connected = table.version;
    expect(connected).toBeGreaterThan(start);
    table.list();
    table.applyRemote('n2', []);
    expect(table.version).toBe(connected);
    table.ack('a', 'web', 2);
    expect(table.version).toBeGreaterThan(connected);
    const acked = table.version;
    leave();
    expect(table.version).toBeGreaterThan(acked);
    const left = table.version;
    clock.now = 10_000;
    expect(table.progress()).toEqual([]);
    expect(table.version).toBeGreaterThan(left);
  });
});
