/**
 * Lease deadlines, ordered, with no timer per lease: a binary min-heap swept once per interval.
 *
 * Invariant: a key is scheduled at most once, and its scheduled deadline is never later than its real next
 * deadline. Renewing a lease (a later deadline) therefore costs nothing here: the sweep finds the entry early, asks
 * for the real deadline and pushes it back. That keeps heartbeats O(1) and the sweep O(due · log n). Moving a key
 * to an earlier deadline (a lapsed lease revived, a shorter ttl) pushes a new entry; the old one is dropped when it
 * surfaces, as are the entries of deleted keys.
 */
export class LeaseTable<K> {
  readonly #deadlines: number[] = [];
  readonly #keys: K[] = [];
  /** Each scheduled key and the deadline of its live heap entry. */
  readonly #scheduled = new Map<K, number>();

  get size(): number {
    return this.#scheduled.size;
  }

  has(key: K): boolean {
    return this.#scheduled.has(key);
  }

  /**
   * Schedules `key` at `deadline`. A key already scheduled no later keeps its entry (which then fires early and is
   * re-read); one scheduled later moves to `deadline`.
   */
  add(key: K, deadline: number): void {
    const scheduled = this.#scheduled.get(key);
    if (scheduled !== undefined && scheduled <= deadline) return;
    this.#scheduled.set(key, deadline);
    this.#deadlines.push(deadline);
    this.#keys.push(key);
    this.#up(this.#keys.length - 1);
  }

  /** Forgets `key`; its heap entry is dropped when it surfaces. */
  delete(key: K): void {
    this.#scheduled.delete(key);
  }

  /** Removes and returns every live key whose deadline is at or before `now`, earliest first. */
  popDue(now: number): K[] {
    const due: K[] = [];
    while (this.#keys.length > 0 && (this.#deadlines[0] ?? Infinity) <= now) {
      const deadline = this.#deadlines[0] as number;
      const key = this.#pop();
      // Only the key's live entry counts: others are left from a delete or a move to an earlier deadline.
      if (this.#scheduled.get(key) === deadline) {
        this.#scheduled.delete(key);
        due.push(key);
      }
    }
    return due;
  }

  /** The earliest deadline in the heap, or undefined when empty. */
  peek(): number | undefined {
    return this.#deadlines[0];
  }

  #pop(): K {
    const key = this.#keys[0] as K;
    const lastKey = this.#keys.pop() as K;
    const lastDeadline = this.#deadlines.pop() as number;
    if (this.#keys.length > 0) {
      this.#keys[0] = lastKey;
      this.#deadlines[0] = lastDeadline;
      this.#down(0);
    }
    return key;
  }

  #up(start: number): void {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.#deadlines[parent] as number) <= (this.#deadlines[i] as number)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(start: number): void {
    const n = this.#keys.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && (this.#deadlines[left] as number) < (this.#deadlines[smallest] as number)) smallest = left;
      if (right < n && (this.#deadlines[right] as number) < (this.#deadlines[smallest] as number)) smallest = right;
      if (smallest === i) return;
      this.#swap(i, smallest);
      i = smallest;
    }
  }

  #swap(a: number, b: number): void {
    const d = this.#deadlines[a] as number;
    this.#deadlines[a] = this.#deadlines[b] as number;
    this.#deadlines[b] = d;
    const k = this.#keys[a] as K;
    this.#keys[a] = this.#keys[b] as K;
    this.#keys[b] = k;
  }
}
