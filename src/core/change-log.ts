import type { ChangeEvent } from '../wire/index.js';

/**
 * The last `capacity` changes, oldest first, for watchers that resume from an index.
 * `since(n)` answers undefined when changes after n may have been dropped, so a resuming client can never
 * silently miss one: it must take a snapshot instead.
 */
export class ChangeLog {
  readonly #ring: (ChangeEvent | undefined)[];
  #start = 0;
  #length = 0;
  /** Every change after this index is in the log (or was made after it was created). */
  #floor: number;

  constructor(capacity: number, floor: number) {
    this.#ring = new Array<ChangeEvent | undefined>(Math.max(1, capacity));
    this.#floor = floor;
  }

  append(change: ChangeEvent): void {
    const capacity = this.#ring.length;
    if (this.#length === capacity) {
      this.#floor = (this.#ring[this.#start] as ChangeEvent).index;
      this.#ring[this.#start] = change;
      this.#start = (this.#start + 1) % capacity;
    } else {
      this.#ring[(this.#start + this.#length) % capacity] = change;
      this.#length += 1;
    }
  }

  /** The changes with an index above `index`, in order; undefined when the log no longer reaches back to it. */
  since(index: number, service?: string): ChangeEvent[] | undefined {
    if (index < this.#floor) return undefined;
    const out: ChangeEvent[] = [];
    const capacity = this.#ring.length;
    for (let i = 0; i < this.#length; i++) {
      const change = this.#ring[(this.#start + i) % capacity] as ChangeEvent;
      if (change.index > index && (service === undefined || change.service === service)) out.push(change);
    }
    return out;
  }

  /** The index below which changes are gone. */
  get floor(): number {
    return this.#floor;
  }
}
