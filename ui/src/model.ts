/**
 * The dashboard's view model (issue #16): every instance the user may read, kept up to date by applying the
 * registry's event stream (`client.watch()`), and what each view derives from it. Plain functions over plain data,
 * so the stream's effect on the page is unit-tested without a browser.
 *
 * Invariant: a snapshot replaces every instance known (the registry could not replay the changes missed); a change
 * replaces or removes one instance. A service stays listed, with no instances, once its last instance has gone,
 * so "Hide empty services" has something to hide.
 */
import type { ChangeEvent, Health, Instance, InstanceStatus, WatchEvent } from '../../src/sdk/client.js';

export interface RegistryModel {
  /** The index of the last event applied (0 before the first snapshot). */
  index: number;
  /** Service name → instance id → instance. A service's map is replaced, never mutated, when it changes. */
  services: ReadonlyMap<string, ReadonlyMap<string, Instance>>;
}

export const EMPTY_MODEL: RegistryModel = { index: 0, services: new Map() };

/** Applies a batch of events in order; touched services get one new map each, untouched ones keep theirs. */
export function applyEvents(model: RegistryModel, events: readonly WatchEvent[]): RegistryModel {
  if (events.length === 0) return model;
  let services = new Map(model.services);
  let index = model.index;
  const copied = new Set<string>();
  for (const event of events) {
    if (event.type === 'snapshot') {
      // Known services stay listed (empty) when the snapshot no longer has them.
      const next = new Map<string, ReadonlyMap<string, Instance>>();
      for (const name of services.keys()) next.set(name, new Map());
      for (const instance of event.instances) {
        const byId = next.get(instance.service) as Map<string, Instance> | undefined;
        if (byId) byId.set(instance.id, instance);
        else next.set(instance.service, new Map([[instance.id, instance]]));
      }
      services = next;
      for (const name of next.keys()) copied.add(name);
      index = event.index;
      continue;
    }
    if (event.index <= index) continue;
    index = event.index;
    let byId = services.get(event.service) as Map<string, Instance> | undefined;
    if (!byId || !copied.has(event.service)) {
      byId = new Map(byId);
      services.set(event.service, byId);
      copied.add(event.service);
    }
    if (isRemoval(event)) byId.delete(event.instance.id);
    else byId.set(event.instance.id, event.instance);
  }
  return { index, services };
}

function isRemoval(event: ChangeEvent): boolean {
  switch (event.type) {
    case 'deregistered':
    case 'expired':
      return true;
    case 'registered':
    case 'updated':
    case 'status':
    case 'health':
      return false;
  }
}

/** Adds services the registry listed (`GET /v1/services`) that no instance names yet. */
export function withServiceNames(model: RegistryModel, names: readonly string[]): RegistryModel {
  const missing = names.filter((name) => !model.services.has(name));
  if (missing.length === 0) return model;
  const services = new Map(model.services);
  for (const name of missing) services.set(name, new Map());
  return { ...model, services };
}

/**
 * How the dashboard counts an instance's health: maintenance on its own, before the health it implies (critical),
 * so an operator's choice is not counted as a failure (hashicorp/consul#4158 mixed such counts up).
 */
export type HealthCount = Health | 'maintenance';
export const HEALTH_COUNTS: readonly HealthCount[] = ['passing', 'warning', 'critical', 'maintenance'];

export function healthCountOf(instance: Instance): HealthCount {
  return instance.maintenance?.enabled === true ? 'maintenance' : instance.health;
}

export interface ServiceRow {
  name: string;
  instances: number;
  byStatus: Partial<Record<InstanceStatus, number>>;
  byHealth: Record<HealthCount, number>;
  tags: string[];
}

/** One row per service, by name: counts by status and by health, and the tags its instances carry. */
export function serviceRows(model: RegistryModel): ServiceRow[] {
  const rows: ServiceRow[] = [];
  for (const [name, byId] of model.services) {
    const byStatus: Partial<Record<InstanceStatus, number>> = {};
    const byHealth: Record<HealthCount, number> = { passing: 0, warning: 0, critical: 0, maintenance: 0 };
    const tags = new Set<string>();
    for (const instance of byId.values()) {
      byStatus[instance.status] = (byStatus[instance.status] ?? 0) + 1;
      byHealth[healthCountOf(instance)] += 1;
      for (const tag of instance.tags) tags.add(tag);
    }
    rows.push({ name, instances: byId.size, byStatus, byHealth, tags: [...tags].sort() });
  }
  return rows.sort((a, b) => compareText(a.name, b.name));
}

/** Rows whose name or one of whose tags contains the search text (case-insensitive); empty ones dropped if asked. */
export function filterServices(rows: readonly ServiceRow[], search: string, hideEmpty: boolean): ServiceRow[] {
  const needle = search.trim().toLowerCase();
  return rows.filter(
    (row) =>
      (!hideEmpty || row.instances > 0) &&
      (needle === '' ||
        row.name.toLowerCase().includes(needle) ||
        row.tags.some((tag) => tag.toLowerCase().includes(needle))),
  );
}

export interface InstanceFilter {
  status?: InstanceStatus | '';
  health?: HealthCount | '';
  tag?: string;
  zone?: string;
}

export type SortKey = 'id' | 'address' | 'zone' | 'weight' | 'status' | 'health' | 'lastHeartbeat';
export interface Sort {
  key: SortKey;
  descending: boolean;
}

/** A service's instances that pass the filter, in the chosen order (ties broken by id, so the order is stable). */
export function selectInstances(
  byId: ReadonlyMap<string, Instance> | undefined,
  filter: InstanceFilter,
  sort: Sort,
): Instance[] {
  const tag = filter.tag?.trim() ?? '';
  const zone = filter.zone?.trim() ?? '';
  const selected: Instance[] = [];
  for (const instance of byId?.values() ?? []) {
    if (filter.status && instance.status !== filter.status) continue;
    if (filter.health && healthCountOf(instance) !== filter.health) continue;
    if (tag !== '' && !instance.tags.includes(tag)) continue;
    if (zone !== '' && (instance.zone ?? '') !== zone) continue;
    selected.push(instance);
  }
  const direction = sort.descending ? -1 : 1;
  return selected.sort((a, b) => direction * compareBy(sort.key, a, b) || compareText(a.id, b.id));
}

const HEALTH_ORDER: Record<HealthCount, number> = { passing: 0, warning: 1, critical: 2, maintenance: 3 };

function compareBy(key: SortKey, a: Instance, b: Instance): number {
  switch (key) {
    case 'id':
      return compareText(a.id, b.id);
    case 'address':
      return compareText(a.host, b.host) || a.port - b.port;
    case 'zone':
      return compareText(a.zone ?? '', b.zone ?? '');
    case 'weight':
      return a.weight - b.weight;
    case 'status':
      return compareText(a.status, b.status);
    case 'health':
      return HEALTH_ORDER[healthCountOf(a)] - HEALTH_ORDER[healthCountOf(b)];
    case 'lastHeartbeat':
      return Date.parse(a.lastHeartbeat) - Date.parse(b.lastHeartbeat);
  }
}

const collator = new Intl.Collator('en', { numeric: true });
/** Names in a person's order: case-insensitive-ish, numbers by value (`web-2` before `web-10`). */
export function compareText(a: string, b: string): number {
  return collator.compare(a, b);
}

/** The values a filter can choose from: every tag and zone the service's instances carry. */
export function facetsOf(byId: ReadonlyMap<string, Instance> | undefined): { tags: string[]; zones: string[] } {
  const tags = new Set<string>();
  const zones = new Set<string>();
  for (const instance of byId?.values() ?? []) {
    for (const tag of instance.tags) tags.add(tag);
    if (instance.zone !== undefined) zones.add(instance.zone);
  }
  return { tags: [...tags].sort(compareText), zones: [...zones].sort(compareText) };
}
