/**
 * Every instance in memory, by service and id, with the orders that reads need: services by name, ids within a
 * service, and a cursor over both that survives changes between pages; and which services route each gateway
 * prefix (an instance's `url`), so a prefix keeps one owner (issue #13).
 *
 * Invariant: sorted orders are dropped when a key is added or removed and rebuilt on the next read that needs
 * them, so a burst of registrations costs one sort, not one per registration.
 */
import { RegistryError } from '../errors/index.js';
import { routePrefix } from '../wire/index.js';
import type { Health, Instance, InstancePage, InstanceStatus, ServiceSummary } from '../wire/index.js';
import type { InstanceRecord } from '../store/index.js';
import type { InstanceState } from './instance-state.js';
import type { RegistryQueries } from './registry.js';

/** Which instances a read returns. Omitted fields take the discovery defaults: status UP, health not critical. */
export interface InstanceFilter {
  status?: readonly InstanceStatus[] | 'any';
  health?: readonly Health[] | 'any';
  /** The instance must carry every one of these. */
  tags?: readonly string[];
  zone?: string;
}

/** The filter that keeps every instance, whatever its status and health. */
export const EVERY_INSTANCE: InstanceFilter = { status: 'any', health: 'any' };

/** Every instance of the services `visible` keeps (default: all), service by service, whatever its status and health. */
export function everyInstance(
  queries: Pick<RegistryQueries, 'list' | 'listServices'>,
  visible: (service: string) => boolean = () => true,
): Instance[] {
  const instances: Instance[] = [];
  for (const { name } of queries.listServices().services) {
    if (visible(name)) instances.push(...queries.list(name, EVERY_INSTANCE).instances);
  }
  return instances;
}

const DEFAULT_STATUS: readonly InstanceStatus[] = ['UP'];
const DEFAULT_HEALTH: readonly Health[] = ['passing', 'warning'];
const MAX_PAGE = 1_000;

interface ServiceEntry {
  instances: Map<string, InstanceState>;
  /** Ids in order, for paginated traversal; dropped on add or remove and rebuilt on demand. */
  sortedIds: string[] | undefined;
}

export class InstanceIndex {
  readonly #services = new Map<string, ServiceEntry>();
  /** Gateway prefix → service → how many of its instances carry that prefix. */
  readonly #prefixes = new Map<string, Map<string, number>>();
  #sortedServices: string[] | undefined;
  #count = 0;

  get size(): number {
    return this.#count;
  }

  get serviceCount(): number {
    return this.#services.size;
  }

  /** How many instances `service` has. */
  countOf(service: string): number {
    return this.#services.get(service)?.instances.size ?? 0;
  }

  find(service: string, id: string): InstanceState | undefined {
    return this.#services.get(service)?.instances.get(id);
  }

  add(state: InstanceState): void {
    const { service, id } = state.record;
    let entry = this.#services.get(service);
    if (!entry) {
      entry = { instances: new Map(), sortedIds: undefined };
      this.#services.set(service, entry);
      this.#sortedServices = undefined;
    }
    entry.instances.set(id, state);
    entry.sortedIds = undefined;
    this.#count += 1;
    this.#countPrefix(state.record, 1);
  }

  delete(state: InstanceState): void {
    const { service, id } = state.record;
    const entry = this.#services.get(service);
    if (entry?.instances.get(id) !== state) return;
    entry.instances.delete(id);
    entry.sortedIds = undefined;
    this.#count -= 1;
    this.#countPrefix(state.record, -1);
    if (entry.instances.size === 0) {
      this.#services.delete(service);
      this.#sortedServices = undefined;
    }
  }

  /** Takes the record the store committed for an instance in the index, keeping the prefix owners in line. */
  update(state: InstanceState, record: InstanceRecord): void {
    const before = state.record;
    state.apply(record);
    if (this.find(record.service, record.id) !== state || before.url === record.url) return;
    this.#countPrefix(before, -1);
    this.#countPrefix(record, 1);
  }

  /** The services with an instance (in any status) whose `url` routes `prefix` at the gateway, by name. */
  prefixOwners(prefix: string): string[] {
    const owners = this.#prefixes.get(prefix);
    return owners ? [...owners.keys()].sort(compare) : [];
  }

  #countPrefix(record: InstanceRecord, delta: 1 | -1): void {
    const prefix = routePrefix(record.url);
    if (prefix === undefined) return;
    let owners = this.#prefixes.get(prefix);
    if (!owners) {
      owners = new Map();
      this.#prefixes.set(prefix, owners);
    }
    const count = (owners.get(record.service) ?? 0) + delta;
    if (count > 0) owners.set(record.service, count);
    else owners.delete(record.service);
    if (owners.size === 0) this.#prefixes.delete(prefix);
  }

  *all(): Generator<InstanceState> {
    for (const entry of this.#services.values()) yield* entry.instances.values();
  }

  /** A service's instances that pass the filter, ordered by id. An unknown service has none. */
  list(service: string, filter: InstanceFilter): Instance[] {
    const entry = this.#services.get(service);
    if (!entry) return [];
    const statuses = filter.status ?? DEFAULT_STATUS;
    const healths = filter.health ?? DEFAULT_HEALTH;
    const instances: Instance[] = [];
    for (const id of this.#sortedIdsOf(entry)) {
      const wire = (entry.instances.get(id) as InstanceState).wire;
      if (statuses !== 'any' && !statuses.includes(wire.status)) continue;
      if (healths !== 'any' && !healths.includes(wire.health)) continue;
      if (filter.zone !== undefined && wire.zone !== filter.zone) continue;
      if (filter.tags && !filter.tags.every((t) => wire.tags.includes(t))) continue;
      instances.push(wire);
    }
    return instances;
  }

  /** Every service that has instances, by name, with counts by status. */
  summaries(): ServiceSummary[] {
    const services: ServiceSummary[] = [];
    for (const name of this.#sortedServiceNames()) {
      const entry = this.#services.get(name) as ServiceEntry;
      const byStatus: ServiceSummary['byStatus'] = {};
      for (const state of entry.instances.values()) {
        const status = state.record.status;
        byStatus[status] = (byStatus[status] ?? 0) + 1;
      }
      services.push({ name, instances: entry.instances.size, byStatus });
    }
    return services;
  }

  /**
   * One page of a traversal of every instance, ordered by (service, id). The cursor names the last key
   * returned, so an instance that exists throughout the traversal is visited exactly once, whatever changes.
   */
  page(cursor: string | undefined, limit: number): InstancePage {
    const size = Math.max(1, Math.min(MAX_PAGE, Math.trunc(limit)));
    const after = cursor ? decodeCursor(cursor) : undefined;
    const names = this.#sortedServiceNames();
    const instances: Instance[] = [];
    let last: [string, string] | undefined;
    let more = false;
    let s = after ? lowerBound(names, after[0]) : 0;
    outer: for (; s < names.length; s++) {
      const name = names[s] as string;
      const entry = this.#services.get(name) as ServiceEntry;
      const ids = this.#sortedIdsOf(entry);
      let i = 0;
      if (after?.[0] === name) {
        i = lowerBound(ids, after[1]);
        if (ids[i] === after[1]) i += 1;
      }
      for (; i < ids.length; i++) {
        if (instances.length === size) {
          more = true;
          break outer;
        }
        const id = ids[i] as string;
        instances.push((entry.instances.get(id) as InstanceState).wire);
        last = [name, id];
      }
    }
    return { instances, nextCursor: more && last ? encodeCursor(last) : null };
  }

  #sortedServiceNames(): string[] {
    this.#sortedServices ??= [...this.#services.keys()].sort(compare);
    return this.#sortedServices;
  }

  #sortedIdsOf(entry: ServiceEntry): string[] {
    entry.sortedIds ??= [...entry.instances.keys()].sort(compare);
    return entry.sortedIds;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first position in sorted `list` whose item is not below `item`. */
function lowerBound(list: readonly string[], item: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as string) < item) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function encodeCursor(key: [string, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'string' && typeof key[1] === 'string') {
      return [key[0], key[1]];
    }
  } catch {
    // fall through to the error below
  }
  throw new RegistryError('INVALID_ARGUMENT', 'cursor is not one this registry handed out');
}
