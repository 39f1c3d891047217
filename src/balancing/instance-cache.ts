/**
 * The watch-fed instance cache behind the SDK's `Discovery` and the gateway's route table: a local copy of the
 * instances a watch reports (a snapshot, then one change at a time), by service and id.
 *
 * Invariants:
 * - A snapshot replaces everything the cache knew; a change touches one instance.
 * - A service with no instance left is forgotten.
 * - `eligible(service)` is the instances that may take traffic (see `isEligible`), ordered by id, so that every
 *   balancer over them sees the same order.
 */
import type { ChangeEvent, Instance } from '../wire/index.js';
import { isEligible } from './eligibility.js';

/** What a watch yields (the SDK's `WatchEvent`): a snapshot of every instance watched, or one change. */
export type CacheEvent = ChangeEvent | { type: 'snapshot'; index: number; instances: readonly Instance[] };

/** Called as instances come and go, for state kept beside the cache (the gateway's connection pools). */
export interface InstanceCacheHooks {
  /** `instance` is new, or replaces `previous`. */
  put?: (instance: Instance, previous: Instance | undefined) => void;
  /** `instance` is gone. */
  remove?: (instance: Instance) => void;
}

export class InstanceCache {
  readonly #hooks: InstanceCacheHooks;
  readonly #services = new Map<string, Map<string, Instance>>();
  /** Per service, the eligible instances ordered by id; dropped when the service changes, rebuilt on demand. */
  readonly #eligible = new Map<string, readonly Instance[]>();
  #index = 0;

  constructor(hooks: InstanceCacheHooks = {}) {
    this.#hooks = hooks;
  }

  /** The registry index of the last snapshot or event applied. */
  get index(): number {
    return this.#index;
  }

  /** Every service with at least one instance, with its instances by id. */
  get services(): ReadonlyMap<string, ReadonlyMap<string, Instance>> {
    return this.#services;
  }

  /** Applies one event of the watch. */
  apply(event: CacheEvent): void {
    switch (event.type) {
      case 'snapshot':
        this.#reset(event.instances);
        break;
      case 'deregistered':
      case 'expired':
        this.#remove(event.instance);
        break;
      case 'registered':
      case 'updated':
      case 'status':
      case 'health':
        this.#put(event.instance);
        break;
    }
    if (event.index > this.#index || event.type === 'snapshot') this.#index = event.index;
  }

  /** The instances of `service` that may take traffic, ordered by id. */
  eligible(service: string): readonly Instance[] {
    let list = this.#eligible.get(service);
    if (list === undefined) {
      const instances = this.#services.get(service);
      list = instances ? [...instances.values()].filter(isEligible).sort((a, b) => compare(a.id, b.id)) : [];
      this.#eligible.set(service, list);
    }
    return list;
  }

  #reset(instances: readonly Instance[]): void {
    const seen = new Set<string>();
    for (const instance of instances) {
      this.#put(instance);
      seen.add(`${instance.service}\0${instance.id}`);
    }
    for (const [service, byId] of this.#services) {
      for (const instance of [...byId.values()]) {
        if (!seen.has(`${service}\0${instance.id}`)) this.#remove(instance);
      }
    }
  }

  #put(instance: Instance): void {
    let byId = this.#services.get(instance.service);
    if (!byId) {
      byId = new Map();
      this.#services.set(instance.service, byId);
    }
    const previous = byId.get(instance.id);
    byId.set(instance.id, instance);
    this.#eligible.delete(instance.service);
    this.#hooks.put?.(instance, previous);
  }

  #remove(instance: Pick<Instance, 'service' | 'id'>): void {
    const byId = this.#services.get(instance.service);
    const known = byId?.get(instance.id);
    if (!byId || !known) return;
    byId.delete(instance.id);
    this.#eligible.delete(instance.service);
    if (byId.size === 0) this.#services.delete(instance.service);
    this.#hooks.remove?.(known);
  }
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
