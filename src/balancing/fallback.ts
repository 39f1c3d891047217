/**
 * Fallbacks (issue #15): a service names, in its instances' metadata `switchboard.fallback`, the service that answers
 * in its place when none of its instances can take a call (a static "try again later" service, say). The gateway's
 * route table and the SDK's `Discovery` both read it here, so they cannot disagree:
 *
 * - The instance changed last decides, as for the gateway's other per-service settings (`switchboard agent` writes the
 *   same value on every instance of a definition). A value that is not a service name, or names the service itself,
 *   names nothing.
 * - One hop only: a fallback's own fallback is never followed, so there are no chains and no cycles.
 * - A stopped supervised instance is deregistered, so "every instance stopped" usually means the service has no
 *   instance left, and its metadata is gone with them. What the service last said is therefore remembered for
 *   `FALLBACK_RETENTION_MS` after its last instance went, then forgotten. This memory lives in the process only: a
 *   restarted gateway, or a new `Discovery`, knows only what the registry holds.
 */
import { FALLBACK_METADATA_KEY, SERVICE_NAME_PATTERN } from '../wire/index.js';
import type { Instance } from '../wire/index.js';

/** How long a service with no instance left keeps its last-known fallback: one hour. */
export const FALLBACK_RETENTION_MS = 60 * 60_000;

const SERVICE_NAME = new RegExp(SERVICE_NAME_PATTERN);

/** The fallback `service`'s instances name (the one changed last decides), or undefined. */
export function fallbackOf(service: string, instances: Iterable<Instance>): string | undefined {
  let latest: Instance | undefined;
  for (const instance of instances) if (!latest || instance.modifyIndex > latest.modifyIndex) latest = instance;
  const named = latest?.metadata[FALLBACK_METADATA_KEY];
  return named !== undefined && named !== service && SERVICE_NAME.test(named) ? named : undefined;
}

export interface FallbackMemoryOptions {
  /** Default `FALLBACK_RETENTION_MS`. */
  retentionMs?: number;
  /** Epoch ms; default `Date.now`. */
  now?: () => number;
  /** Told of each gone service as its retention runs out and it is forgotten (the gateway drops its routes then). */
  forgotten?: (service: string) => void;
}

/**
 * What each service last said about its fallback (`T`: the name, or more for the gateway), kept while the service has
 * instances and for the retention period after its last one went.
 */
export class FallbackMemory<T> {
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #forgotten: ((service: string) => void) | undefined;
  readonly #known = new Map<string, { value: T; goneAt: number | undefined }>();
  /** The earliest moment a remembered service runs out; Infinity when none is gone. */
  #nextExpiry = Infinity;

  constructor(options: FallbackMemoryOptions = {}) {
    this.#retentionMs = options.retentionMs ?? FALLBACK_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    this.#forgotten = options.forgotten;
  }

  /** The services remembered, gone or not. */
  services(): IterableIterator<string> {
    return this.#known.keys();
  }

  /** `service` has instances: remember `value`, or forget the service when they name no fallback (undefined). */
  seen(service: string, value: T | undefined): void {
    if (value === undefined) this.#known.delete(service);
    else this.#known.set(service, { value, goneAt: undefined });
  }

  /** `service` has no instance left: from now, its memory runs for the retention period (later calls change nothing). */
  gone(service: string): void {
    const known = this.#known.get(service);
    if (known === undefined || known.goneAt !== undefined) return;
    known.goneAt = this.#now();
    this.#nextExpiry = Math.min(this.#nextExpiry, known.goneAt + this.#retentionMs);
  }

  forget(service: string): void {
    this.#known.delete(service);
  }

  /** What `service` last said, unless it has been gone for longer than the retention period. */
  get(service: string): T | undefined {
    if (this.expired) this.#sweep();
    return this.#known.get(service)?.value;
  }

  /** The services that have gone and are still remembered, with what they last said. */
  retained(): [string, T][] {
    if (this.expired) this.#sweep();
    const out: [string, T][] = [];
    for (const [service, known] of this.#known) if (known.goneAt !== undefined) out.push([service, known.value]);
    return out;
  }

  /** True once some gone service has run out (cheap enough for a hot path: no clock read while none is gone). */
  get expired(): boolean {
    return this.#nextExpiry !== Infinity && this.#now() >= this.#nextExpiry;
  }

  #sweep(): void {
    const now = this.#now();
    let next = Infinity;
    for (const [service, known] of this.#known) {
      if (known.goneAt === undefined) continue;
      const until = known.goneAt + this.#retentionMs;
      if (until <= now) {
        this.#known.delete(service);
        this.#forgotten?.(service);
      } else next = Math.min(next, until);
    }
    this.#nextExpiry = next;
  }
}
