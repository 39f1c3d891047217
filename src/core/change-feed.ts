/**
 * What changed, for everyone who follows the registry: the registry-wide and per-service indexes, the recent
 * changes for watchers that resume from an index, and subscriptions to one service or to all.
 *
 * Invariants:
 * - Indexes only grow. A service's index stays after the service empties, so its watchers see progress; once the
 *   registry prunes an empty, unwatched service (issue #14), the service answers `#prunedFloor`, the highest index
 *   any pruned service had, so what a client is answered about a service never goes back either.
 * - A `subscribe` listener is called on a later turn of the event loop with every change since its last call, in
 *   index order: a burst of changes costs one call, and the registry's apply path never waits for a consumer.
 *   A `watch` listener is called synchronously, for consumers that must see each change as it is applied.
 * - A listener that throws is logged and does not stop the others.
 */
import type { ChangeEvent } from '../wire/index.js';
import { ChangeLog } from './change-log.js';

export type ChangeListener = (change: ChangeEvent) => void;
export type ChangeBatchListener = (changes: readonly ChangeEvent[]) => void;

interface Subscription {
  readonly listener: ChangeBatchListener;
  pending: ChangeEvent[];
  scheduled: boolean;
  active: boolean;
}

/** What a consumer of changes (blocking queries, event streams, the checker) needs of the registry. */
export interface ChangeSource {
  /** The index of the last change applied. */
  readonly index: number;
  /**
   * The index of a service's last change; for a service with none since the registry started, or pruned since,
   * the highest index of the services pruned so far (0 until one is).
   */
  serviceIndex(service: string): number;
  /** The changes after `index` (for one service, or all); undefined when the log no longer reaches back. */
  changesSince(index: number, service?: string): ChangeEvent[] | undefined;
  /** Calls `listener` for every change (to one service, or to all) as it is applied; returns the function that stops it. */
  watch(service: string | undefined, listener: ChangeListener): () => void;
  /** Calls `listener` on a later turn with the changes since its last call; returns the function that stops it. */
  subscribe(service: string | undefined, listener: ChangeBatchListener): () => void;
}

export class ChangeFeed implements ChangeSource {
  readonly #log: ChangeLog;
  readonly #serviceIndex = new Map<string, number>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #serviceListeners = new Map<string, Set<ChangeListener>>();
  readonly #onError: (err: unknown) => void;
  #index: number;
  /** What a service not in `#serviceIndex` answers: at least every index a pruned service answered. */
  #prunedFloor = 0;

  constructor(options: { capacity: number; maxBytes?: number; index: number; onError: (err: unknown) => void }) {
    this.#index = options.index;
    this.#log = new ChangeLog(
      { capacity: options.capacity, ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }) },
      options.index,
    );
    this.#onError = options.onError;
  }

  get index(): number {
    return this.#index;
  }

  serviceIndex(service: string): number {
    return this.#serviceIndex.get(service) ?? this.#prunedFloor;
  }

  /** How many services' indexes are kept. */
  get trackedServices(): number {
    return this.#serviceIndex.size;
  }

  /** Listeners following the feed (watches and subscriptions: event streams, the checker, SDK-style followers). */
  get watchers(): number {
    let count = this.#listeners.size;
    for (const set of this.#serviceListeners.values()) count += set.size;
    return count;
  }

  /**
   * Forgets `service`'s index (the registry calls this for a service empty for a while); false, keeping it, while
   * someone watches the service. From then on it answers the pruned floor, which is at least its index.
   */
  prune(service: string): boolean {
    if (this.#serviceListeners.has(service)) return false;
    const index = this.#serviceIndex.get(service);
    if (index === undefined) return true;
    if (index > this.#prunedFloor) this.#prunedFloor = index;
    this.#serviceIndex.delete(service);
    return true;
  }

  /** Records that `service` holds state as of `index` (instances loaded at start-up). */
  seed(service: string, index: number): void {
    if (index > (this.#serviceIndex.get(service) ?? 0)) this.#serviceIndex.set(service, index);
  }

  changesSince(index: number, service?: string): ChangeEvent[] | undefined {
    if (index >= this.#index) return [];
    return this.#log.since(index, service);
  }

  /** Announces a change the registry has applied. */
  publish(change: ChangeEvent): void {
    const { index, service } = change;
    if (index > this.#index) this.#index = index;
    this.seed(service, index);
    this.#log.append(change);
    const listeners = this.#serviceListeners.get(service);
    if (listeners) for (const listener of listeners) this.#call(listener, change);
    for (const listener of this.#listeners) this.#call(listener, change);
  }

  watch(service: string | undefined, listener: ChangeListener): () => void {
    if (service === undefined) {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    }
    let set = this.#serviceListeners.get(service);
    if (!set) {
      set = new Set();
      this.#serviceListeners.set(service, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#serviceListeners.get(service) === set) this.#serviceListeners.delete(service);
    };
  }

  subscribe(service: string | undefined, listener: ChangeBatchListener): () => void {
    const subscription: Subscription = { listener, pending: [], scheduled: false, active: true };
    const stop = this.watch(service, (change) => {
      subscription.pending.push(change);
      if (subscription.scheduled) return;
      subscription.scheduled = true;
      setImmediate(() => {
        subscription.scheduled = false;
        const batch = subscription.pending;
        subscription.pending = [];
        if (!subscription.active || batch.length === 0) return;
        try {
          listener(batch);
        } catch (err) {
          this.#onError(err);
        }
      });
    });
    return () => {
      subscription.active = false;
      subscription.pending = [];
      stop();
    };
  }

  #call(listener: ChangeListener, change: ChangeEvent): void {
    try {
      listener(change);
    } catch (err) {
      this.#onError(err);
    }
  }
}
