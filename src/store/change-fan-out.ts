import type { StoreChange } from './store.js';

/**
 * The listeners of one of a store's feeds: instance changes, or token changes. A listener that throws is a bug in
 * it: it must not stop the others or the store's commit, so the error is reported on the next turn instead of being
 * thrown here.
 */
export class ChangeFanOut<Change = StoreChange> {
  readonly #listeners = new Set<(change: Change) => void>();

  add(listener: (change: Change) => void): () => void {
    // A wrapper per subscription, so the same function subscribed twice is delivered to twice and stops independently.
    const entry = (change: Change): void => {
      listener(change);
    };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  deliver(change: Change): void {
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
