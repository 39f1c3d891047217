/**
 * The registry's quotas on instances (issue #14): how many the whole registry, and one service, may hold, and how
 * large one record may be. Updates of an existing instance always pass; only a registration that would create one
 * is counted.
 *
 * Invariant: concurrent registrations never overshoot a limit. Creates under way hold a reservation from before
 * their write until their instance is applied (or the write fails), and every reservation counts as an instance,
 * so a hundred registrations racing for the last free slot get one slot between them.
 */
import { RegistryError } from '../errors/index.js';

/** The `limits` slice of the configuration, as the core takes it. */
export interface InstanceLimits {
  /** Instances the registry holds at most. */
  maxInstances: number;
  /** Instances one service holds at most. */
  maxInstancesPerService: number;
  /** Bytes one stored registration (its JSON) may take at most. */
  maxRecordBytes: number;
}

/** What the quota counts: the instances applied. */
export interface InstanceCounts {
  readonly size: number;
  countOf(service: string): number;
}

export class InstanceQuota {
  readonly #limits: InstanceLimits;
  readonly #counts: InstanceCounts;
  /** Creates under way: service → id → how many registrations of that key hold it. */
  readonly #pending = new Map<string, Map<string, number>>();
  #pendingTotal = 0;

  constructor(limits: InstanceLimits, counts: InstanceCounts) {
    this.#limits = limits;
    this.#counts = counts;
  }

  /** RESOURCE_EXHAUSTED when the stored registration would be larger than `maxRecordBytes`. */
  checkSize(service: string, id: string, fields: object): void {
    const bytes = Buffer.byteLength(JSON.stringify(fields));
    if (bytes <= this.#limits.maxRecordBytes) return;
    throw new RegistryError(
      'RESOURCE_EXHAUSTED',
      `instance ${id} of service ${service} takes ${bytes} bytes, above the record size cap of ` +
        `${this.#limits.maxRecordBytes} (--max-record-bytes): send fewer or shorter tags, metadata or endpoints`,
    );
  }

  /**
   * Holds a slot for a create of `service`/`id`, or throws RESOURCE_EXHAUSTED naming the limit it would pass.
   * A second registration of a key already held shares its slot (one instance comes of both).
   */
  reserve(service: string, id: string): void {
    let ids = this.#pending.get(service);
    const holders = ids?.get(id) ?? 0;
    if (holders === 0) {
      const { maxInstances, maxInstancesPerService } = this.#limits;
      if (this.#counts.size + this.#pendingTotal >= maxInstances) {
        throw new RegistryError(
          'RESOURCE_EXHAUSTED',
          `the registry holds ${maxInstances} instances, its limit (--max-instances): ` +
            `instance ${id} of service ${service} is not registered`,
        );
      }
      if (this.#counts.countOf(service) + (ids?.size ?? 0) >= maxInstancesPerService) {
        throw new RegistryError(
          'RESOURCE_EXHAUSTED',
          `service ${service} has ${maxInstancesPerService} instances, the limit per service ` +
            `(--max-instances-per-service): instance ${id} is not registered`,
        );
      }
      this.#pendingTotal += 1;
    }
    if (!ids) {
      ids = new Map();
      this.#pending.set(service, ids);
    }
    ids.set(id, holders + 1);
  }

  /** Gives back one hold on `service`/`id` (its registration is over, whatever became of it). */
  release(service: string, id: string): void {
    const ids = this.#pending.get(service);
    const holders = ids?.get(id);
    if (ids === undefined || holders === undefined) return;
    if (holders > 1) ids.set(id, holders - 1);
    else this.#forget(service, id, ids);
  }

  /** The instance `service`/`id` was applied: it counts as an instance now, no longer as a reservation. */
  applied(service: string, id: string): void {
    const ids = this.#pending.get(service);
    if (ids?.has(id)) this.#forget(service, id, ids);
  }

  #forget(service: string, id: string, ids: Map<string, number>): void {
    ids.delete(id);
    this.#pendingTotal -= 1;
    if (ids.size === 0) this.#pending.delete(service);
  }
}
