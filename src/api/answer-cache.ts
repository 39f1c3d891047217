/**
 * Serialized answers, kept until the index they were made at moves on. A lookup is answered by copying a string
 * to the socket: the service's answer is serialized once per change, not once per request.
 *
 * Bounded (issue #14): at most `maxVariants` bodies per key, and at most `maxKeys` keys, the one made longest ago
 * going first; the registry also has the entries of services it prunes dropped (`delete`).
 */
/** The key of a service's answers: one service read serves many filters (variants) from it. */
export function serviceKey(service: string): string {
  return `s:${service}`;
}

export class AnswerCache {
  readonly #entries = new Map<string, { index: number; bodies: Map<string, string> }>();
  readonly #maxVariants: number;
  readonly #maxKeys: number;

  constructor(limits: { maxVariants?: number; maxKeys?: number } = {}) {
    this.#maxVariants = limits.maxVariants ?? 32;
    this.#maxKeys = limits.maxKeys ?? 10_000;
  }

  /** How many keys are cached. */
  get size(): number {
    return this.#entries.size;
  }

  /** The body for `variant` of `key` at `index`, made by `build` when not cached. */
  get(at: { key: string; variant: string; index: number }, build: () => string): string {
    const { key, variant, index } = at;
    let entry = this.#entries.get(key);
    if (entry?.index !== index) {
      entry = { index, bodies: new Map() };
      // Re-inserted, so the Map's order is the order entries were last made in: the oldest is evicted first.
      this.#entries.delete(key);
      if (this.#entries.size >= this.#maxKeys) {
        const oldest = this.#entries.keys().next();
        if (oldest.done !== true) this.#entries.delete(oldest.value);
      }
      this.#entries.set(key, entry);
    }
    let body = entry.bodies.get(variant);
    if (body === undefined) {
      if (entry.bodies.size >= this.#maxVariants) entry.bodies.clear();
      body = build();
      entry.bodies.set(variant, body);
    }
    return body;
  }

  /** Drops what is kept for `key` (a service that no longer exists). */
  delete(key: string): void {
    this.#entries.delete(key);
  }
}
