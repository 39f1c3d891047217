/**
 * Serialized answers, kept until the index they were made at moves on. A lookup is answered by copying a string
 * to the socket: the service's answer is serialized once per change, not once per request.
 */
export class AnswerCache {
  readonly #entries = new Map<string, { index: number; bodies: Map<string, string> }>();
  readonly #maxVariants: number;

  constructor(maxVariants = 32) {
    this.#maxVariants = maxVariants;
  }

  /** The body for `variant` of `key` at `index`, made by `build` when not cached. */
  get(at: { key: string; variant: string; index: number }, build: () => string): string {
    const { key, variant, index } = at;
    let entry = this.#entries.get(key);
    if (entry?.index !== index) {
      entry = { index, bodies: new Map() };
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
