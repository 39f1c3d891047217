/**
 * The registry: every instance in memory, every change written to the store first.
 *
 * Invariants:
 * - A change is applied in memory (and announced to watchers) only after the store has made it durable and
 *   given it an index; an answer to a client therefore never shows a change that could still be lost.
 * - Indexes only grow. A write whose index is older than what memory already holds for that instance is dropped.
 * - Heartbeats touch memory only; they write (and announce) something only when they revive a lapsed lease.
 * - No-op writes are skipped: every index bump wakes watchers.
 */
import { randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { CheckSpec, InstanceRecord, Mutation, Store, StoreHealth } from '../store/index.js';
import type {
  ChangeEvent,
  ChangeType,
  Health,
  Instance,
  InstancePage,
  InstanceRegistration,
  InstanceStatus,
  ServiceList,
  ServiceSummary,
} from '../wire/index.js';
import { ChangeLog } from './change-log.js';
import type { CheckResult } from './check-state.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { InstanceState } from './instance-state.js';
import { LeaseTable } from './lease-table.js';
import { withChanges } from './record.js';
import { checkInstanceId, checkReason, checkServiceName, checkStatus, normalizeRegistration } from './validate.js';
import type { RecordFields } from './validate.js';

export interface LeaseOptions {
  /** How often the lease table is swept for lapsed leases. */
  sweepIntervalMs: number;
  /**
   * Self-preservation (issue #5): when the lapsed leases that would expire reach this fraction of all leases
   * (default 0.5) and at least `selfPreservationMinimum` of them (default 10), nothing is expired.
   */
  selfPreservationThreshold?: number;
  selfPreservationMinimum?: number;
}

export interface RegistryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RegistryOptions {
  store: Store;
  clock?: Clock;
  leases?: LeaseOptions;
  /** How many recent changes are kept for watchers that resume from an index. */
  changeLogSize?: number;
  logger?: RegistryLogger;
  /** Start the sweep timer (tests with a manual clock call `sweep()` themselves). */
  autoSweep?: boolean;
}

/** A registration: the REST body plus the service and, optionally, the id. */
export interface RegisterRequest extends InstanceRegistration {
  service: string;
  id?: string;
}

export interface RegisterOptions {
  /** Fail with ALREADY_EXISTS instead of updating an instance that exists. */
  exclusive?: boolean;
}

export interface RegisterResult {
  instance: Instance;
  created: boolean;
}

/** Which instances a read returns. Omitted fields take the discovery defaults: status UP, health not critical. */
export interface InstanceFilter {
  status?: readonly InstanceStatus[] | 'any';
  health?: readonly Health[] | 'any';
  /** The instance must carry every one of these. */
  tags?: readonly string[];
  zone?: string;
}

export interface ServiceInstances {
  /** The index of the service's last change (0 when it never had one since the registry started). */
  index: number;
  instances: Instance[];
}

export interface RegistryHealth {
  index: number;
  instances: number;
  services: number;
  leases: number;
  /** Expiry is suspended: too many leases lapsed at once (the registry is more likely cut off than they all died). */
  selfPreservation: boolean;
  store: StoreHealth;
}

/** One active check of one instance, as the checker schedules it. */
export interface ScheduledCheck {
  service: string;
  id: string;
  /** Names the definition; a result for a definition that has since changed is ignored. */
  key: string;
  spec: CheckSpec;
}

/** `PUT …/maintenance`: take an instance out of discovery without deregistering it, or put it back. */
export interface MaintenanceRequest {
  enable: boolean;
  reason?: string;
}

export type ChangeListener = (change: ChangeEvent) => void;

const DEFAULT_STATUS: readonly InstanceStatus[] = ['UP'];
const DEFAULT_HEALTH: readonly Health[] = ['passing', 'warning'];
const DEFAULT_LEASES: LeaseOptions = { sweepIntervalMs: 1_000 };
const DEFAULT_SELF_PRESERVATION = { threshold: 0.5, minimum: 10 };
const MAX_PAGE = 1_000;
const NOOP_LOGGER: RegistryLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface ServiceEntry {
  instances: Map<string, InstanceState>;
  /** Ids in order, for paginated traversal; dropped on add or remove and rebuilt on demand. */
  sortedIds: string[] | undefined;
}

/**
 * Loads the store and returns a running registry.
 * @example
 * const registry = await createRegistry({ store: createMemoryStore() });
 * await registry.register({ service: 'web', host: '10.0.0.5', port: 8080, ttl: '10s' });
 */
export async function createRegistry(options: RegistryOptions): Promise<Registry> {
  const snapshot = await options.store.load();
  return new Registry(options, snapshot.index, snapshot.instances);
}

export class Registry {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: RegistryLogger;
  readonly #services = new Map<string, ServiceEntry>();
  /** Service name → index of its last change; kept after the service empties, so watchers of it see progress. */
  readonly #serviceIndex = new Map<string, number>();
  #sortedServices: string[] | undefined;
  readonly #leases = new LeaseTable<InstanceState>();
  /** Instances critical (maintenance aside) with a `deregisterCriticalAfter`, by when they are to be removed. */
  readonly #criticalDeadlines = new LeaseTable<InstanceState>();
  /** Leased instances seen by the sweep with their heartbeat overdue; a heartbeat or removal takes them out. */
  readonly #overdue = new Set<InstanceState>();
  readonly #sweepIntervalMs: number;
  readonly #selfPreservationOptions: { threshold: number; minimum: number };
  #selfPreservation = false;
  readonly #log: ChangeLog;
  readonly #listeners = new Set<ChangeListener>();
  readonly #serviceListeners = new Map<string, Set<ChangeListener>>();
  readonly #inFlight = new Set<Promise<unknown>>();
  /** `service\0id` of registrations that create an instance and whose write is not applied yet. */
  readonly #creating = new Set<string>();
  #index: number;
  #count = 0;
  #sweeping = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RegistryOptions, index: number, records: InstanceRecord[]) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#index = index;
    this.#log = new ChangeLog(options.changeLogSize ?? 10_000, index);
    // Every restored lease starts a fresh full ttl: a registry outage must never evict healthy services.
    const now = this.#clock.now();
    for (const record of records) {
      const state = new InstanceState(record, now, true);
      this.#insert(state);
      this.#serviceIndex.set(record.service, Math.max(this.#serviceIndex.get(record.service) ?? 0, record.modifyIndex));
    }
    const leases = options.leases ?? DEFAULT_LEASES;
    this.#sweepIntervalMs = leases.sweepIntervalMs;
    this.#selfPreservationOptions = {
      threshold: leases.selfPreservationThreshold ?? DEFAULT_SELF_PRESERVATION.threshold,
      minimum: Math.max(1, leases.selfPreservationMinimum ?? DEFAULT_SELF_PRESERVATION.minimum),
    };
    if (options.autoSweep ?? true) {
      this.#timer = setInterval(() => void this.sweep(), leases.sweepIntervalMs);
      this.#timer.unref();
    }
  }

  /** The index of the last change applied. */
  get index(): number {
    return this.#index;
  }

  /** Registers an instance, or updates it when the id exists (idempotent: an identical update changes nothing). */
  async register(request: RegisterRequest, options: RegisterOptions = {}): Promise<RegisterResult> {
    this.#assertOpen();
    const { service, id: givenId, ...body } = request;
    const id = givenId ?? randomUUID();
    const fields = normalizeRegistration(service, id, body);
    const existing = this.#find(fields.service, fields.id);
    // Maintenance is the operator's, not the instance's: re-registering keeps it (it stays last, so equal compares).
    if (existing?.record.maintenance) fields.maintenance = existing.record.maintenance;
    const key = `${fields.service}\0${fields.id}`;
    // An id whose creation is still being written counts as existing, so of two concurrent exclusive
    // registrations of one id exactly one succeeds (issue #4).
    if (options.exclusive && (existing || this.#creating.has(key))) {
      throw new RegistryError('ALREADY_EXISTS', `service ${service} already has an instance with id ${id}`);
    }
    const now = this.#clock.now();
    if (existing && sameFields(existing.record, fields)) {
      // Re-registering what is already there is a heartbeat, not a change.
      return { instance: await this.renew(fields.service, fields.id), created: false };
    }
    const record = withChanges(fields, {
      registeredAt: existing?.record.registeredAt ?? now,
      updatedAt: now,
      createIndex: existing?.record.createIndex ?? 0,
      modifyIndex: existing?.record.modifyIndex ?? 0,
    });
    const creating = !existing && !this.#creating.has(key);
    if (creating) this.#creating.add(key);
    let index: number;
    try {
      index = await this.#write({ op: 'put', record });
    } finally {
      if (creating) this.#creating.delete(key);
    }
    const current = this.#find(fields.service, fields.id);
    if (current && current.record.modifyIndex > index) return { instance: current.live(), created: false };
    record.modifyIndex = index;
    // A registration that raced another creating the same id keeps the first write's createIndex, as the store does.
    record.createIndex ||= current?.record.createIndex ?? index;
    let state: InstanceState;
    let type: ChangeType;
    if (current) {
      type = onlyStatusDiffers(current.record, record) ? 'status' : 'updated';
      state = current;
      state.record = record;
      // A registration is a sign of life, and its checks may have changed.
      state.leaseCritical = false;
      state.syncChecks(now);
    } else {
      type = 'registered';
      state = new InstanceState(record, now);
      this.#insert(state);
    }
    this.#touch(state, this.#clock.now());
    state.refresh();
    this.#emit(type, state);
    return { instance: state.live(), created: current === undefined };
  }

  /** Removes an instance; NOT_FOUND when it is not registered. */
  async deregister(service: string, id: string): Promise<Instance> {
    this.#assertOpen();
    const state = this.#require(service, id);
    const index = await this.#write({ op: 'delete', service, id });
    return this.#removeApplied(state, index, 'deregistered');
  }

  /** Renews an instance's lease; NOT_FOUND tells the client it must register again. */
  async renew(service: string, id: string): Promise<Instance> {
    this.#assertOpen();
    const state = this.#require(service, id);
    this.#touch(state, this.#clock.now());
    if (state.leaseCritical) {
      const index = await this.#write({ op: 'put', record: state.record });
      if (this.#find(service, id) === state && state.record.modifyIndex < index) {
        state.leaseCritical = state.criticalAt !== undefined && state.criticalAt <= this.#clock.now();
        this.#applyIndex(state, index);
        this.#logger.info({ service, id, health: state.health }, 'lease renewed after it lapsed');
        this.#emit('health', state);
      }
    }
    return state.live();
  }

  /** Sets an instance's status (one of the predefined set). */
  async setStatus(service: string, id: string, status: InstanceStatus): Promise<Instance> {
    this.#assertOpen();
    checkStatus(status);
    const state = this.#require(service, id);
    if (state.record.status === status) return state.live();
    const record = withChanges(state.record, { status, updatedAt: this.#clock.now() });
    const index = await this.#write({ op: 'put', record });
    if (this.#find(service, id) === state && state.record.modifyIndex < index) {
      state.record = record;
      this.#applyIndex(state, index);
      this.#emit('status', state);
    }
    return state.live();
  }

  /**
   * Takes an instance out of discovery (it answers `health: critical` and keeps its checks and lease) or puts it
   * back. Durable, and kept when the instance registers again.
   */
  async setMaintenance(service: string, id: string, request: MaintenanceRequest): Promise<Instance> {
    this.#assertOpen();
    const reason = checkReason(request.reason);
    const state = this.#require(service, id);
    const { maintenance: current, ...rest } = state.record;
    if (request.enable ? current?.reason === reason : current === undefined) return state.live();
    const updatedAt = this.#clock.now();
    // withChanges, not a spread: records live as long as their instance (see core/record.ts).
    const record = request.enable
      ? withChanges(state.record, { updatedAt, maintenance: { reason } })
      : withChanges(rest, { updatedAt });
    const index = await this.#write({ op: 'put', record });
    if (this.#find(service, id) === state && state.record.modifyIndex < index) {
      state.record = record;
      this.#applyIndex(state, index);
      this.#logger.info(
        { service, id, reason },
        request.enable ? 'maintenance on: instance out of discovery' : 'maintenance off',
      );
      this.#emit('status', state);
    }
    return state.live();
  }

  /** Every active check of every instance (the checker loads them at start). */
  listChecks(): ScheduledCheck[] {
    const out: ScheduledCheck[] = [];
    for (const entry of this.#services.values()) for (const state of entry.instances.values()) pushChecks(out, state);
    return out;
  }

  /** The active checks of one instance; none when it is not registered. */
  checksOf(service: string, id: string): ScheduledCheck[] {
    const out: ScheduledCheck[] = [];
    const state = this.#find(service, id);
    if (state) pushChecks(out, state);
    return out;
  }

  /**
   * Counts one probe result (the checker calls this). When the check's thresholds say it changes state, the
   * change is written through the store to get its own index, logged, and announced as a `health` change;
   * any other result touches memory only. Results for checks that no longer exist are ignored.
   */
  async recordCheckResult(check: Omit<ScheduledCheck, 'spec'>, result: CheckResult): Promise<void> {
    if (this.#closed) return;
    const { service, id } = check;
    const state = this.#find(service, id);
    const checkState = state?.checks.find((c) => c.key === check.key);
    if (!state || !checkState) return;
    const next = checkState.observe(result, this.#clock.now());
    if (next === undefined || checkState.writing) return;
    checkState.writing = true;
    try {
      const index = await this.#write({ op: 'put', record: state.record });
      // A newer write won (or the check is gone): the next result proposes the change again.
      if (this.#find(service, id) !== state || !state.checks.includes(checkState) || state.record.modifyIndex > index)
        return;
      const from = checkState.status;
      checkState.commit(next, this.#clock.now());
      this.#applyIndex(state, index);
      this.#logger.info(
        {
          service,
          id,
          check: checkState.spec.id,
          from,
          to: next,
          health: state.health,
          output: checkState.output.slice(0, 256),
        },
        'check changed state',
      );
      this.#emit('health', state);
    } finally {
      checkState.writing = false;
    }
  }

  /** Whether expiry is suspended because too many leases lapsed at once. */
  get selfPreservation(): boolean {
    return this.#selfPreservation;
  }

  /** One instance, with its live heartbeat time. */
  get(service: string, id: string): Instance {
    return this.#require(service, id).live();
  }

  /** A service's instances that pass the filter, ordered by id. An unknown service has none. */
  list(service: string, filter: InstanceFilter = {}): ServiceInstances {
    const entry = this.#services.get(service);
    const index = this.serviceIndex(service);
    if (!entry) return { index, instances: [] };
    const statuses = filter.status ?? DEFAULT_STATUS;
    const healths = filter.health ?? DEFAULT_HEALTH;
    const instances: Instance[] = [];
    for (const id of this.#sortedIdsOf(entry)) {
      const state = entry.instances.get(id) as InstanceState;
      const wire = state.wire;
      if (statuses !== 'any' && !statuses.includes(wire.status)) continue;
      if (healths !== 'any' && !healths.includes(wire.health)) continue;
      if (filter.zone !== undefined && wire.zone !== filter.zone) continue;
      if (filter.tags && !filter.tags.every((t) => wire.tags.includes(t))) continue;
      instances.push(wire);
    }
    return { index, instances };
  }

  /** Every service that has instances, by name, with counts by status. */
  listServices(): ServiceList {
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
    return { index: this.#index, services };
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

  /** The index of a service's last change, or 0 when it had none since the registry started. */
  serviceIndex(service: string): number {
    return this.#serviceIndex.get(service) ?? 0;
  }

  /** The changes after `index` (for one service, or all); undefined when the change log no longer reaches back. */
  changesSince(index: number, service?: string): ChangeEvent[] | undefined {
    if (index >= this.#index) return [];
    return this.#log.since(index, service);
  }

  /** Calls `listener` for every change (to one service, or to all); returns the function that stops it. */
  watch(service: string | undefined, listener: ChangeListener): () => void {
    if (service === undefined) {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    }
    let set = this.#serviceListeners.get(service);
    if (!set) {
      set = new Set();
      this.#serviceListeners.set(service, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#serviceListeners.get(service) === set) this.#serviceListeners.delete(service);
    };
  }

  health(): RegistryHealth {
    return {
      index: this.#index,
      instances: this.#count,
      services: this.#services.size,
      leases: this.#leases.size,
      selfPreservation: this.#selfPreservation,
      store: this.#store.health(),
    };
  }

  /**
   * Moves lapsed leases to `critical` (`warning` when the instance still answers its checks) and removes those past
   * `deregisterAfter`, and instances critical for longer than their `deregisterCriticalAfter`. Runs on a timer;
   * tests with a manual clock call it directly. Overlapping calls do nothing.
   *
   * Two signals before eviction: a lapsed lease alone never removes an instance whose checks pass. And under
   * self-preservation (too many leases lapsed at once) nothing is removed at all until heartbeats come back.
   */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      const now = this.#clock.now();
      const lapsed: InstanceState[] = [];
      const expired: InstanceState[] = [];
      for (const state of this.#leases.popDue(now)) {
        if (this.#find(state.record.service, state.record.id) !== state) continue;
        const criticalAt = state.criticalAt;
        const expireAt = state.expireAt;
        if (criticalAt === undefined || expireAt === undefined) continue;
        if (criticalAt <= now) this.#overdue.add(state);
        if (expireAt <= now) {
          expired.push(state);
        } else if (!state.leaseCritical && criticalAt > now) {
          this.#leases.add(state, criticalAt);
        } else {
          if (!state.leaseCritical) lapsed.push(state);
          this.#leases.add(state, expireAt);
        }
      }
      const preserving = this.#updateSelfPreservation();
      const later = now + this.#sweepIntervalMs;
      const removing = new Map<InstanceState, string>();
      for (const state of expired) {
        if (preserving || state.answersProbes) {
          // Kept: look again next sweep (its checks may fail, or self-preservation may end).
          if (!state.leaseCritical) lapsed.push(state);
          this.#leases.add(state, later);
        } else {
          removing.set(state, 'lease expired: instance removed');
        }
      }
      for (const state of this.#criticalDeadlines.popDue(now)) {
        const after = state.record.deregisterCriticalAfterMs;
        const since = state.criticalSince;
        if (this.#find(state.record.service, state.record.id) !== state || after === undefined || since === undefined)
          continue;
        if (since + after > now) this.#criticalDeadlines.add(state, since + after);
        else if (preserving) this.#criticalDeadlines.add(state, later);
        else if (!removing.has(state))
          removing.set(state, 'critical for longer than deregisterCriticalAfter: instance removed');
      }
      await Promise.all([
        ...lapsed.map((s) => this.#markLapsed(s)),
        ...[...removing].map(([s, why]) => this.#expire(s, why)),
      ]);
    } catch (err) {
      this.#logger.error({ err }, 'lease sweep failed; it will run again');
    } finally {
      this.#sweeping = false;
    }
  }

  /** Stops the sweep and waits for writes under way. The store is the caller's to close. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
  }

  async #markLapsed(state: InstanceState): Promise<void> {
    const index = await this.#write({ op: 'put', record: state.record });
    if (this.#find(state.record.service, state.record.id) !== state || state.record.modifyIndex > index) return;
    const criticalAt = state.criticalAt;
    state.leaseCritical = criticalAt !== undefined && criticalAt <= this.#clock.now();
    this.#applyIndex(state, index);
    if (state.leaseCritical) {
      this.#logger.info({ service: state.record.service, id: state.record.id, health: state.health }, 'lease lapsed');
      this.#emit('health', state);
    }
  }

  async #expire(state: InstanceState, why: string): Promise<void> {
    const { service, id } = state.record;
    const index = await this.#write({ op: 'delete', service, id });
    this.#removeApplied(state, index, 'expired');
    this.#logger.info({ service, id }, why);
  }

  /**
   * Self-preservation (issue #5, after Eureka): counts the overdue leases that would expire (those whose checks
   * do not vouch for them); when they reach the threshold fraction of all leases and the minimum, the registry
   * is far more likely cut off from them than they are all dead, so it stops removing instances. Logged once
   * on entry and once on exit; re-evaluated every sweep, so it ends when heartbeats come back.
   */
  #updateSelfPreservation(): boolean {
    const { threshold, minimum } = this.#selfPreservationOptions;
    let atRisk = 0;
    for (const state of this.#overdue) if (!state.answersProbes) atRisk += 1;
    let leased = 0;
    if (atRisk >= minimum) {
      for (const entry of this.#services.values()) {
        for (const state of entry.instances.values()) if (state.record.ttlMs !== undefined) leased += 1;
      }
    }
    const on = atRisk >= minimum && atRisk >= threshold * leased;
    if (on !== this.#selfPreservation) {
      this.#selfPreservation = on;
      const detail = { lapsed: atRisk, leases: leased, threshold, minimum };
      if (on) this.#logger.warn(detail, 'self-preservation on: too many leases lapsed at once; expiry is suspended');
      else this.#logger.info(detail, 'self-preservation off: heartbeats are back; leases expire again');
    }
    return on;
  }

  /** Starts or stops the `deregisterCriticalAfter` clock after a change. */
  #noteHealth(state: InstanceState): void {
    if (state.baseHealth !== 'critical') {
      state.criticalSince = undefined;
      this.#criticalDeadlines.delete(state);
      return;
    }
    state.criticalSince ??= this.#clock.now();
    const after = state.record.deregisterCriticalAfterMs;
    if (after !== undefined) this.#criticalDeadlines.add(state, state.criticalSince + after);
  }

  #removeApplied(state: InstanceState, index: number, type: 'deregistered' | 'expired'): Instance {
    const { service, id } = state.record;
    const current = this.#find(service, id);
    if (current && current.record.modifyIndex < index) {
      this.#remove(current);
      current.record = withChanges(current.record, { modifyIndex: index });
      current.refresh();
      this.#emit(type, current);
      return current.wire;
    }
    return state.live();
  }

  async #write(mutation: Mutation): Promise<number> {
    const pending = this.#store.write(mutation);
    this.#inFlight.add(pending);
    try {
      return await pending;
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError('UNAVAILABLE', 'the store did not accept the write', { cause: err });
    } finally {
      this.#inFlight.delete(pending);
    }
  }

  #applyIndex(state: InstanceState, index: number): void {
    state.record = withChanges(state.record, { modifyIndex: index });
    state.refresh();
  }

  #touch(state: InstanceState, now: number): void {
    state.lastHeartbeat = now;
    this.#overdue.delete(state);
    const criticalAt = state.criticalAt;
    if (criticalAt === undefined) this.#leases.delete(state);
    else this.#leases.add(state, criticalAt);
  }

  #emit(type: ChangeType, state: InstanceState): void {
    const index = state.record.modifyIndex;
    const service = state.record.service;
    if (index > this.#index) this.#index = index;
    this.#serviceIndex.set(service, Math.max(this.#serviceIndex.get(service) ?? 0, index));
    if (type !== 'deregistered' && type !== 'expired') this.#noteHealth(state);
    const change: ChangeEvent = { type, index, service, instance: state.toWire() };
    this.#log.append(change);
    const listeners = this.#serviceListeners.get(service);
    if (listeners) for (const listener of listeners) this.#call(listener, change);
    for (const listener of this.#listeners) this.#call(listener, change);
  }

  #call(listener: ChangeListener, change: ChangeEvent): void {
    try {
      listener(change);
    } catch (err) {
      this.#logger.error({ err }, 'a change listener threw');
    }
  }

  #insert(state: InstanceState): void {
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
    const criticalAt = state.criticalAt;
    if (criticalAt !== undefined) this.#leases.add(state, criticalAt);
  }

  #remove(state: InstanceState): void {
    const { service, id } = state.record;
    const entry = this.#services.get(service);
    if (!entry?.instances.delete(id)) return;
    entry.sortedIds = undefined;
    this.#count -= 1;
    this.#leases.delete(state);
    this.#criticalDeadlines.delete(state);
    this.#overdue.delete(state);
    if (entry.instances.size === 0) {
      this.#services.delete(service);
      this.#sortedServices = undefined;
    }
  }

  #find(service: string, id: string): InstanceState | undefined {
    return this.#services.get(service)?.instances.get(id);
  }

  #require(service: string, id: string): InstanceState {
    const state = this.#find(service, id);
    if (state) return state;
    checkServiceName(service);
    checkInstanceId(id);
    throw new RegistryError('NOT_FOUND', `service ${service} has no instance ${id}`);
  }

  #sortedServiceNames(): string[] {
    this.#sortedServices ??= [...this.#services.keys()].sort(compare);
    return this.#sortedServices;
  }

  #sortedIdsOf(entry: ServiceEntry): string[] {
    entry.sortedIds ??= [...entry.instances.keys()].sort(compare);
    return entry.sortedIds;
  }

  #assertOpen(): void {
    if (this.#closed) throw new RegistryError('UNAVAILABLE', 'the registry is shutting down');
  }
}

function pushChecks(out: ScheduledCheck[], state: InstanceState): void {
  const { service, id } = state.record;
  for (const check of state.checks) out.push({ service, id, key: check.key, spec: check.spec });
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

function sameFields(record: InstanceRecord, fields: RecordFields): boolean {
  return contentOf(record) === JSON.stringify(fields);
}

function contentOf(record: InstanceRecord): string {
  const { registeredAt: _r, updatedAt: _u, createIndex: _c, modifyIndex: _m, ...fields } = record;
  return JSON.stringify(fields);
}

function onlyStatusDiffers(before: InstanceRecord, after: InstanceRecord): boolean {
  return before.status !== after.status && contentOf({ ...before, status: after.status }) === contentOf(after);
}
