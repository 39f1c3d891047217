/**
 * The write deadline every durable store keeps (issue #14): a write the store has not made durable and delivered to
 * its feed within `timeoutMs` is answered `STORE_UNAVAILABLE`, so a stalled disk or an etcd that stopped answering
 * costs a client a 503 instead of a request that never ends.
 *
 * Invariant: a timed-out write was not acknowledged, yet it may still commit later (the transaction was already on its
 * way). Nothing is corrupted then: the registry applies changes only from the store's feed, so a late commit reaches
 * memory like any other change, and the writer, told 503, retries from what it then reads.
 *
 * While a write is past its deadline and unsettled, or the last write to settle was one that timed out, the store is
 * degraded; the next write that completes (a late one included) shows the store works again.
 */
import { RegistryError } from '../errors/index.js';

export class WriteDeadline {
  /** Writes past their deadline that have not settled yet (withdrawn ones never settle, so they do not count). */
  #late = 0;
  /** The last write that timed out has not been followed by one that completed. */
  #timedOut = false;

  constructor(
    readonly timeoutMs: number,
    /** Names the store in the error: "the sqlite store", "etcd". */
    readonly name: string,
  ) {}

  /**
   * Settles as `write` does, or rejects with `STORE_UNAVAILABLE` once the deadline passes. `withdraw`, called then,
   * takes the write back if it has not been sent yet (and says so): a withdrawn write never commits, and its
   * promise must never settle.
   */
  guard<T>(write: Promise<T>, withdraw?: () => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        this.#timedOut = true;
        if (withdraw?.() !== true) this.#late += 1;
        reject(
          new RegistryError(
            'STORE_UNAVAILABLE',
            `${this.name} did not finish the write within ${String(this.timeoutMs)} ms; it was not acknowledged`,
          ),
        );
      }, this.timeoutMs);
      write.then(
        (value) => {
          clearTimeout(timer);
          if (late) this.#late -= 1;
          this.#timedOut = false;
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (late) this.#late -= 1;
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Why the store is degraded, or undefined while its writes complete in time. */
  get degraded(): string | undefined {
    if (this.#late === 0 && !this.#timedOut) return undefined;
    return `writes are not finishing within the store's ${String(this.timeoutMs)} ms deadline`;
  }
}
