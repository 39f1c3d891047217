import type { ChangeEvent } from '../wire/index.js';

/**
 * The last changes, oldest first, for watchers that resume from an index: at most `capacity` of them, and at most
 * `maxBytes` of heap as `heapCost` estimates it (issue #14: counted by entries alone, 2,000 updates of one large
 * instance kept 71 MiB). The newest change is always kept, whatever it costs.
 * `since(n)` answers undefined when changes after n may have been dropped, so a resuming client can never
 * silently miss one: it must take a snapshot instead.
 */
export class ChangeLog {
  readonly #ring: (ChangeEvent | undefined)[];
  readonly #costs: number[];
  readonly #maxBytes: number;
  #start = 0;
  #length = 0;
  #bytes = 0;
  /** Every change after this index is in the log (or was made after it was created). */
  #floor: number;

  constructor(limits: { capacity: number; maxBytes?: number }, floor: number) {
    const capacity = Math.max(1, limits.capacity);
    this.#ring = new Array<ChangeEvent | undefined>(capacity);
    this.#costs = new Array<number>(capacity).fill(0);
    this.#maxBytes = limits.maxBytes ?? Infinity;
    this.#floor = floor;
  }

  append(change: ChangeEvent): void {
    const capacity = this.#ring.length;
    if (this.#length === capacity) this.#dropOldest();
    const at = (this.#start + this.#length) % capacity;
    const cost = heapCost(change);
    this.#ring[at] = change;
    this.#costs[at] = cost;
    this.#length += 1;
    this.#bytes += cost;
    while (this.#bytes > this.#maxBytes && this.#length > 1) this.#dropOldest();
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

  /** How many changes are kept. */
  get length(): number {
    return this.#length;
  }

  /** The estimated heap the kept changes hold. */
  get bytes(): number {
    return this.#bytes;
  }

  #dropOldest(): void {
    const at = this.#start;
    this.#floor = (this.#ring[at] as ChangeEvent).index;
    this.#bytes -= this.#costs[at] ?? 0;
    this.#ring[at] = undefined;
    this.#costs[at] = 0;
    this.#start = (at + 1) % this.#ring.length;
    this.#length -= 1;
  }
}

/**
 * About what `value` holds on V8's heap, counting every string and object it reaches as its own (a change's
 * instance may share some with the live record, so this errs high). Calibrated against `process.memoryUsage()`
 * on records of many small fields and of a few long ones: within 10–25% above the heap they were measured to hold.
 */
export function heapCost(value: unknown): number {
  if (typeof value === 'string') return 16 + value.length;
  if (typeof value !== 'object' || value === null) return 8;
  if (Array.isArray(value)) {
    let cost = 16 + 8 * value.length;
    for (const item of value as unknown[]) cost += heapCost(item);
    return cost;
  }
  let cost = 24;
  for (const item of Object.values(value)) cost += 16 + heapCost(item);
  return cost;
}
