/**
 * Lease deadlines, ordered, with no timer per lease: a binary min-heap swept once per interval.
 *
 * Invariant: a key is in the heap at most once, and its heap deadline is never later than its real next
 * deadline. Renewing a lease therefore costs nothing here: the sweep finds the entry early, asks for the real
 * deadline and pushes it back. That keeps heartbeats O(1) and the sweep O(due · log n).
 */
export class LeaseTable<K> {
  readonly #deadlines: number[] = [];
  readonly #keys: K[] = [];
  readonly #members = new Set<K>();

  get size(): number {
    return this.#members.size;
  }

  has(key: K): boolean {
    return this.#members.has(key);
  }

  /** Schedules `key` at `deadline` unless it is already scheduled (its entry then fires early and is re-read). */
  add(key: K, deadline: number): void {
    if (this.#members.has(key)) return;
    this.#members.add(key);
    this.#deadlines.push(deadline);
    this.#keys.push(key);
    this.#up(this.#keys.length - 1);
  }

  /** Forgets `key`; its heap entry is dropped when it surfaces. */
  delete(key: K): void {
    this.#members.delete(key);
  }

  /** Removes and returns every live key whose deadline is at or before `now`, earliest first. */
  popDue(now: number): K[] {
    const due: K[] = [];
    while (this.#keys.length > 0 && (this.#deadlines[0] ?? Infinity) <= now) {
      const key = this.#pop();
      if (this.#members.delete(key)) due.push(key);
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
