import type { ChangeFeedListener, StoreChange } from './store.js';

/**
 * The listeners of one store's change feed. A listener that throws is a bug in it: it must not stop the others or
 * the store's commit, so the error is reported on the next turn instead of being thrown here.
 */
export class ChangeFanOut {
  readonly #listeners = new Set<ChangeFeedListener>();

  add(listener: ChangeFeedListener): () => void {
    // A wrapper per subscription, so the same function subscribed twice is delivered to twice and stops independently.
    const entry: ChangeFeedListener = (change) => {
      listener(change);
    };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  deliver(change: StoreChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
