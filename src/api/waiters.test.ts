import { describe, expect, it } from 'vitest';
import type { ChangeBatchListener } from '../core/index.js';
import type { ChangeEvent } from '../wire/index.js';
import { Waiters } from './waiters.js';
import type { WatchSource } from './waiters.js';

/** A registry stand-in: indexes move when `change` is called, subscribers hear of it on the next turn, and are counted. */
class FakeRegistry implements WatchSource {
  index = 10;
  readonly services = new Map<string, number>([['web', 10]]);
  readonly listeners = new Map<string, Set<ChangeBatchListener>>();

  serviceIndex(service: string): number {
    return this.services.get(service) ?? 0;
  }

  subscribe(service: string | undefined, listener: ChangeBatchListener): () => void {
    const key = service ?? '*';
    const set = this.listeners.get(key) ?? new Set();
    this.listeners.set(key, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  change(service: string): void {
    this.index += 1;
    this.services.set(service, this.index);
    const change = { type: 'updated', index: this.index, service } as ChangeEvent;
    const listeners = [service, '*'].flatMap((key) => [...(this.listeners.get(key) ?? [])]);
    setImmediate(() => {
      for (const listener of listeners) listener([change]);
    });
  }

  listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Waiters', () => {
  it('wakes every waiter of a service through one registry listener, and only on its changes', async () => {
    const registry = new FakeRegistry();
    const waiters = new Waiters(registry);
    let woken = 0;
    for (let i = 0; i < 100; i++) waiters.hold('web', { index: 10, ms: 60_000 }, () => (woken += 1));
    expect(registry.listenerCount()).toBe(1);
    registry.change('api');
    await turn();
    expect(woken).toBe(0);
    registry.change('web');
    expect(woken).toBe(0); // not inside the registry's write path
    await turn();
    expect(woken).toBe(100);
    expect(waiters.size).toBe(0);
    expect(registry.listenerCount()).toBe(0);
  });

  it('answers at once when the index has already passed', () => {
    const waiters = new Waiters(new FakeRegistry());
    let woken = false;
    waiters.hold('web', { index: 9, ms: 60_000 }, () => (woken = true));
    expect(woken).toBe(true);
  });

  it('ends a wait when it runs out, and a cancelled wait never ends', async () => {
    const registry = new FakeRegistry();
    const waiters = new Waiters(registry);
    const ended: string[] = [];
    waiters.hold(undefined, { index: 10, ms: 5 }, () => ended.push('timed'));
    const cancel = waiters.hold(undefined, { index: 10, ms: 5 }, () => ended.push('cancelled'));
    cancel();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ended).toEqual(['timed']);
    expect(registry.listenerCount()).toBe(0);
  });

  it('ends every wait on close, and later ones at once', () => {
    const registry = new FakeRegistry();
    const waiters = new Waiters(registry);
    let woken = 0;
    waiters.hold('web', { index: 10, ms: 60_000 }, () => (woken += 1));
    waiters.hold(undefined, { index: 10, ms: 60_000 }, () => (woken += 1));
    waiters.close();
    expect(woken).toBe(2);
    waiters.hold('web', { index: 10, ms: 60_000 }, () => (woken += 1));
    expect(woken).toBe(3);
    expect(registry.listenerCount()).toBe(0);
  });
});
