import { describeDiscoveryContract } from '../balancing/discovery.contract.js';
import type { CacheEvent, DiscoverySubject } from '../balancing/discovery.contract.js';
import type { Instance } from '../wire/index.js';
import { Discovery } from './discovery.js';
import type { RegistryClient } from './registry-client.js';
import type { WatchEvent, WatchOptions } from './watch.js';

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * A registry reduced to its watch: every watch replays the events fed so far (for its service), then waits for more.
 */
class FakeWatchClient {
  readonly #log: CacheEvent[] = [];
  readonly #wakers = new Set<() => void>();

  feed(event: CacheEvent): void {
    this.#log.push(event);
    for (const wake of this.#wakers) wake();
  }

  async *watch(service: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    const signal = options.signal;
    options.onStatus?.({ connected: true, mode: 'events' });
    let at = 0;
    while (signal?.aborted !== true) {
      const event = this.#log[at];
      if (event === undefined) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            this.#wakers.delete(wake);
            resolve();
          };
          this.#wakers.add(wake);
          signal?.addEventListener('abort', wake, { once: true });
        });
        continue;
      }
      at += 1;
      if (event.type === 'snapshot') {
        const instances: Instance[] = event.instances.filter((i) => i.service === service);
        yield { type: 'snapshot', index: event.index, instances };
      } else if (event.service === service) yield event;
    }
  }
}

describeDiscoveryContract('sdk Discovery', (strategy): DiscoverySubject => {
  const client = new FakeWatchClient();
  const discovery = new Discovery(client as unknown as RegistryClient, { strategy });
  return {
    feed: async (event) => {
      client.feed(event);
      await tick();
    },
    eligible: async (service) => (await discovery.all(service)).map((i) => i.id),
    pick: async (service) => {
      try {
        const instance = await discovery.pick(service);
        discovery.release(instance);
        return instance.id;
      } catch {
        return undefined;
      }
    },
    hold: async (service) => {
      const instance = await discovery.pick(service);
      return {
        id: instance.id,
        release: () => {
          discovery.release(instance);
        },
      };
    },
    close: () => {
      discovery.close();
    },
  };
});
