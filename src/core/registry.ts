/**
 * The registry: commands that change instances, queries over them, and the change feed, all over one in-memory view.
 *
 * Invariants (the one write path of ../shared/STYLE.md):
 * - Memory changes only by applying the store's change feed (`#apply`). This node's writes and, with a shared
 *   store, other nodes' writes take the same path.
 * - Every command is one conditional write built from the latest applied record (`#commit`): a write built from a
 *   stale record is refused by the store and rebuilt, so no race loses an acknowledged update or brings back a
 *   deleted instance. A command answers once its change is applied, so a client reads its own write.
 * - What is served is what is stored: health (a lapsed lease, check states, since when critical) lives in the record.
 *   Heartbeats touch memory only, and write something only when they revive a lapsed lease; a restart gives every
 *   lease a fresh full ttl (a registry outage must never evict healthy services), keeping its stored health.
 * - No-op writes are skipped: every index bump wakes watchers.
 * - A gateway prefix (an instance's `url`) belongs to one service (issue #13): a registration that would route a
 *   prefix another service's instances carry is refused with PREFIX_TAKEN. On one node, registrations claiming a
 *   prefix run one at a time, so two services cannot both see it free; across cluster nodes they can still race
 *   (a conditional write on a prefix key in the store would close that).
 */
import { randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type {
  CheckSpec,
  InstanceRecord,
  Mutation,
  Store,
  StoreChange,
  StoreHealth,
  StoredCheck,
  StoredHealth,
  WriteOutcome,
} from '../store/index.js';
import type {
  Instance,
  InstancePage,
  InstanceRegistration,
  InstanceStatus,
  MaintenanceBody,
  SelfPreservationReport,
  ServiceList,
} from '../wire/index.js';
import { ChangeFeed } from './change-feed.js';
import type { ChangeBatchListener, ChangeListener, ChangeSource } from './change-feed.js';
import { NOT_CHECKED_OUTPUT, checkKey, newCheck, storedCheck } from './check-state.js';
import type { CheckResult } from './check-state.js';
import { CheckTargets } from './check-targets.js';
import type { CheckOptions } from './check-targets.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import type { Renewal } from './renewal.js';
import { ExpiryPolicy } from './expiry-policy.js';
import type { SelfPreservationStatus } from './expiry-policy.js';
import { InstanceIndex } from './instance-index.js';
import { InstanceQuota } from './instance-quota.js';
import type { InstanceLimits } from './instance-quota.js';
import { registrationOf, routePrefix } from '../wire/index.js';
import type { InstanceFilter } from './instance-index.js';
import { InstanceState, settleHealth } from './instance-state.js';
import { changeTypeOf, fieldsOf, makeRecord, sameContent, sameFields, withExtras } from './record.js';
import { checkInstanceId, checkReason, checkServiceName, checkStatus, normalizeRegistration } from './validate.js';
import type { CheckRules, RecordFields } from './validate.js';

export interface LeaseOptions {
  /** How often the lease table is swept for lapsed leases. */
  sweepIntervalMs: number;
  /** Self-preservation (see expiry-policy.ts): the fraction of leases lapsed at once that engages it. */
  selfPreservationThreshold: number;
  /** The fewest lapsed leases that engage it. */
  selfPreservationMinimum: number;
  /** How long it lasts at most while some leases still renew. */
  selfPreservationMaxMs: number;
}

export interface RegistryLogger {
  /** What only a debugging operator should see: check output, which may hold whatever the probed URL answered. */
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RegistryOptions {
  store: Store;
  clock?: Clock;
  /** The `leases` slice of the configuration (config/ holds the defaults). */
  leases: LeaseOptions;
  /** The `checks` slice: the shortest check interval, and where checks may point besides their own instance. */
  checks: CheckOptions;
  /** How many recent changes are kept for watchers that resume from an index. */
  changeLogSize: number;
  /** How much heap (bytes, estimated) those changes may hold at most (default: no bound but their count). */
  changeLogBytes?: number;
  /**
   * The `limits` slice (issue #14): instances in all and per service, one record's size, and how long a service
   * stays empty before what is kept about it is pruned. Default: no limits, nothing pruned.
   */
  limits?: RegistryLimits;
  logger?: RegistryLogger;
  /** Start the sweep timer (tests with a manual clock call `sweep()` themselves). */
  autoSweep?: boolean;
  /**
   * Cluster mode (issue #12): receives, once per sweep, the heartbeats this node took since the last one, to share
   * with the other nodes (which hand theirs to `applyRenewals`). A heartbeat is never a store write.
   */
  shareRenewals?: (renewals: Renewal[]) => void;
  /**
   * Whether this node decides expiry from the start. A cluster node starts as a follower and leads only once
   * elected (`setLeading`): exactly one node lapses and removes instances. Default true (a single node leads).
   */
  leading?: boolean;
}

export interface RegistryLimits extends InstanceLimits {
  /** How long a service with no instances and no watchers keeps its index (and what the API caches about it). */
  emptyServiceGraceMs: number;
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

/** What an edit changes (see `edit`). */
export interface InstanceEdit {
  status?: InstanceStatus;
  metadata?: Record<string, string>;
}

export interface RegisterResult {
  instance: Instance;
  created: boolean;
}

export interface ServiceInstances {
  /** The index of the service's last change (a service never seen or pruned since: see change-feed.ts). */
  index: number;
  instances: Instance[];
}

export interface RegistryHealth {
  index: number;
  instances: number;
  services: number;
  leases: number;
  /** Whether expiry is suspended because too many leases lapsed at once, and why it is on or last ended. */
  selfPreservation: SelfPreservationReport;
  store: StoreHealth;
}

/** One active check of one instance, as the checker schedules it. */
/** What one sweep did (issue #20: `onSweep`, for the metrics). */
export interface SweepReport {
  /** Leases this sweep lapsed (instance moved to critical or warning). */
  lapsed: number;
  /** Instances this sweep removed: leases past `deregisterAfter`, or critical past `deregisterCriticalAfter`. */
  expired: number;
  /** Whether self-preservation held expiry back after this sweep. */
  selfPreservation: boolean;
}

export interface ScheduledCheck {
  service: string;
  id: string;
  /** Names the definition; a result for a definition that has since changed is ignored. */
  key: string;
  spec: CheckSpec;
}

/** What changes instances: what the transports call on a client's behalf. */
export interface RegistryCommands {
  register(request: RegisterRequest, options?: RegisterOptions): Promise<RegisterResult>;
  deregister(service: string, id: string): Promise<Instance>;
  renew(service: string, id: string): Promise<Instance>;
  setStatus(service: string, id: string, status: InstanceStatus): Promise<Instance>;
  setMaintenance(service: string, id: string, request: MaintenanceBody): Promise<Instance>;
  edit(service: string, id: string, change: (instance: Instance) => InstanceEdit | undefined): Promise<Instance>;
}

/** What reads instances. */
export interface RegistryQueries {
  get(service: string, id: string): Instance;
  list(service: string, filter?: InstanceFilter): ServiceInstances;
  listServices(): ServiceList;
  page(cursor: string | undefined, limit: number): InstancePage;
  health(): RegistryHealth;
  /** True while the store cannot be reached: reads come from the last view, which may be behind. */
  readonly stale: boolean;
  /** The index of the last change applied. */
  readonly index: number;
}

/** What the prober needs: the checks to run, and where to report results. */
export interface CheckSink {
  listChecks(): ScheduledCheck[];
  checksOf(service: string, id: string): ScheduledCheck[];
  recordCheckResult(check: Omit<ScheduledCheck, 'spec'>, result: CheckResult): Promise<void>;
}

/** Refused writes rebuilt before giving up: only a key rewritten this often by others in between runs out. */
const MAX_ATTEMPTS = 32;
const NOOP_LOGGER: RegistryLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Loads the store and returns a running registry, following the store's change feed.
 * @example
 * const registry = await createRegistry({ store: createMemoryStore() });
 * await registry.register({ service: 'web', host: '10.0.0.5', port: 8080, ttl: '10s' });
 */
export async function createRegistry(options: RegistryOptions): Promise<Registry> {
  return Registry.open(options);
}

export class Registry implements RegistryCommands, RegistryQueries, ChangeSource, CheckSink {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: RegistryLogger;
  readonly #instances = new InstanceIndex();
  readonly #feed: ChangeFeed;
  readonly #expiry: ExpiryPolicy;
  readonly #checkRules: CheckRules;
  readonly #quota: InstanceQuota | undefined;
  /**
   * Services with no instance left, by when they emptied (oldest first): once one has stayed empty, unwatched, for
   * `emptyServiceGraceMs`, the feed forgets its index, and `onServicesPruned` listeners what they keep about it.
   */
  readonly #emptySince = new Map<string, number>();
  readonly #emptyServiceGraceMs: number;
  readonly #prunedListeners = new Set<(services: readonly string[]) => void>();
  readonly #sweepListeners = new Set<(report: SweepReport) => void>();
  /** Registrations under way that route a prefix, by prefix: each waits for the one before (see `register`). */
  readonly #prefixClaims = new Map<string, Promise<unknown>>();
  /** The highest index applied from the store's feed. */
  #applied: number;
  /** Writers waiting for the feed to reach an index, lowest first. */
  #appliedWaiters: { index: number; resolve: () => void }[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  /**
   * Sweep writes (a lapse, an expiry) under way, by instance. A heartbeat or an identical registration writes
   * nothing, so a conditional sweep write built before it would still commit after it was acknowledged: signs of
   * life that arrive meanwhile wait for these, then act on what the store decided.
   */
  readonly #sweepWrites = new Map<InstanceState, Promise<void>>();
  /** Heartbeats taken since the last sweep, when they are shared with other nodes: when each arrived. */
  readonly #renewals: Map<InstanceState, number> | undefined;
  readonly #shareRenewals: ((renewals: Renewal[]) => void) | undefined;
  #leading: boolean;
  #unwatchStore: () => void = () => undefined;
  #sweeping = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** Subscribes to the store's feed, then loads it; changes that arrive meanwhile are applied after the snapshot. */
  static async open(options: RegistryOptions): Promise<Registry> {
    let registry: Registry | undefined;
    const early: StoreChange[] = [];
    const unwatch = options.store.watch((change) => {
      if (registry) registry.#apply(change);
      else early.push(change);
    });
    try {
      const snapshot = await options.store.load();
      registry = new Registry(options, snapshot.index, snapshot.instances);
    } catch (err) {
      unwatch();
      throw err;
    }
    registry.#unwatchStore = unwatch;
    for (const change of early) registry.#apply(change);
    return registry;
  }

  private constructor(options: RegistryOptions, index: number, records: InstanceRecord[]) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#applied = index;
    this.#feed = new ChangeFeed({
      capacity: options.changeLogSize,
      ...(options.changeLogBytes === undefined ? {} : { maxBytes: options.changeLogBytes }),
      index,
      onError: (err) => {
        this.#logger.error({ err }, 'a change listener threw');
      },
    });
    const { leases } = options;
    this.#expiry = new ExpiryPolicy({
      sweepIntervalMs: leases.sweepIntervalMs,
      selfPreservation: {
        threshold: leases.selfPreservationThreshold,
        minimum: Math.max(1, leases.selfPreservationMinimum),
        maxMs: leases.selfPreservationMaxMs,
      },
    });
    this.#checkRules = {
      minIntervalMs: options.checks.minIntervalMs,
      targets: new CheckTargets(options.checks.allowHosts),
    };
    this.#quota = options.limits && new InstanceQuota(options.limits, this.#instances);
    this.#emptyServiceGraceMs = options.limits?.emptyServiceGraceMs ?? Infinity;
    this.#shareRenewals = options.shareRenewals;
    this.#renewals = options.shareRenewals ? new Map() : undefined;
    this.#leading = options.leading ?? true;
    const now = this.#clock.now();
    for (const record of records) {
      const state = new InstanceState(record, now);
      this.#instances.add(state);
      this.#expiry.track(state);
      this.#feed.seed(record.service, record.modifyIndex);
    }
    if (options.autoSweep ?? true) {
      this.#timer = setInterval(() => void this.sweep(), leases.sweepIntervalMs);
      this.#timer.unref();
    }
  }

  // ---- commands -------------------------------------------------------------------------------------------------

  /** Registers an instance, or updates it when the id exists (idempotent: an identical update is a heartbeat). */
  async register(request: RegisterRequest, options: RegisterOptions = {}): Promise<RegisterResult> {
    this.#assertOpen();
    const { service, id: givenId, ...body } = request;
    const id = givenId ?? randomUUID();
    const fields = normalizeRegistration({ service, id }, body, this.#checkRules);
    this.#quota?.checkSize(service, id, fields);
    const prefix = routePrefix(fields.url);
    if (prefix === undefined) return this.#register(fields, options);
    // The service already routes the prefix: no other service can claim it meanwhile, so no turn to wait for (a
    // deploy re-registering a hundred instances of one service keeps its writes in one group commit).
    if (this.#instances.prefixOwners(prefix).includes(service)) return this.#register(fields, options, prefix);
    // Two services registering one free prefix at once must not both see it free: on this node, registrations that
    // route a prefix take turns (the check runs in #commit's build, against what the write before committed).
    const before = this.#prefixClaims.get(prefix);
    const turn = (async () => {
      await before?.catch(() => undefined);
      return this.#register(fields, options, prefix);
    })();
    this.#prefixClaims.set(prefix, turn);
    try {
      return await turn;
    } finally {
      if (this.#prefixClaims.get(prefix) === turn) this.#prefixClaims.delete(prefix);
    }
  }

  async #register(fields: RecordFields, options: RegisterOptions, prefix?: string): Promise<RegisterResult> {
    const { service, id } = fields;
    const existing = this.#instances.find(fields.service, fields.id);
    const sweeping = existing && this.#sweepWrites.get(existing);
    if (sweeping) await sweeping;
    const now = this.#clock.now();
    let created = false;
    // A create holds a slot of the quota from before its write until its instance is applied (instance-quota.ts).
    const hold = { reserved: false };
    const commit = this.#commit(fields.service, fields.id, (current) => {
      if (options.exclusive && current) {
        throw new RegistryError('ALREADY_EXISTS', `service ${service} already has an instance with id ${id}`);
      }
      created = current === undefined;
      if (created && !hold.reserved && this.#quota) {
        this.#quota.reserve(service, id);
        hold.reserved = true;
      }
      const before = current?.record;
      // An instance that already routes the prefix keeps it: only a new claim is refused.
      if (prefix !== undefined && routePrefix(before?.url) !== prefix) this.#assertPrefixFree(prefix, service);
      const unchanged = before !== undefined && sameFields(fieldsOf(before), fields);
      const record = makeRecord(fields, {
        // Maintenance is the operator's, not the instance's: registering again keeps it.
        maintenance: before?.maintenance,
        // A registration is a sign of life: it clears a lapsed lease, and keeps the state of unchanged checks.
        health: registeredHealth(fields.checks, before, now),
        registeredAt: before?.registeredAt ?? now,
        updatedAt: unchanged ? before.updatedAt : now,
        createIndex: before?.createIndex ?? 0,
        modifyIndex: before?.modifyIndex ?? 0,
      });
      return this.#put(current, record, now);
    });
    let result: CommitResult;
    try {
      result = await commit;
    } finally {
      if (hold.reserved) this.#quota?.release(service, id);
    }
    const state = result.state ?? result.detached;
    if (result.state) this.#touch(result.state);
    if (!state)
      throw new RegistryError('NOT_FOUND', `service ${service} has no instance ${id}: deregistered meanwhile`);
    return { instance: state.live(), created };
  }

  /** PREFIX_TAKEN when another service's instances route `prefix` at the gateway (issue #13). */
  #assertPrefixFree(prefix: string, service: string): void {
    const others = this.#instances.prefixOwners(prefix).filter((owner) => owner !== service);
    if (others.length === 0) return;
    const owner = others.length === 1 ? `service ${others[0] ?? ''}` : `services ${others.join(', ')}`;
    throw new RegistryError(
      'PREFIX_TAKEN',
      `url ${prefix} is routed to ${owner}: a gateway prefix belongs to one service, until its last instance is gone`,
    );
  }

  /** Removes an instance; NOT_FOUND when it is not registered. */
  async deregister(service: string, id: string): Promise<Instance> {
    this.#assertOpen();
    let removed: InstanceState | undefined;
    await this.#commit(service, id, (current) => {
      const live = this.#required(current, service, id);
      removed = live;
      return { op: 'delete', service, id, ifIndex: live.record.modifyIndex, cause: 'deregistered' };
    });
    // The feed gave the removed state the delete's index.
    return (removed as InstanceState).wire;
  }

  /** Renews an instance's lease; NOT_FOUND tells the client it must register again. */
  async renew(service: string, id: string): Promise<Instance> {
    this.#assertOpen();
    let state = this.#require(service, id);
    const sweeping = this.#sweepWrites.get(state);
    if (sweeping) {
      await sweeping;
      state = this.#require(service, id);
    }
    this.#touch(state);
    if (!state.lapsed) return state.live();
    const now = this.#clock.now();
    const result = await this.#commit(service, id, (current) => {
      const live = this.#required(current, service, id);
      if (!live.lapsed) return undefined;
      return this.#put(
        live,
        withExtras(live.record, { health: patchHealth(live.record.health, { lapsed: false }) }),
        now,
      );
    });
    const renewed = this.#required(result.state, service, id);
    this.#logger.info({ service, id, health: renewed.health }, 'lease renewed after it lapsed');
    return renewed.live();
  }

  /**
   * Changes an instance's status and metadata as `change` computes them from the instance as it is when the write is
   * made, validated as a registration is: a read-modify-write that cannot lose a write made meanwhile (`change` runs
   * again on the newer instance). Undefined from `change`: nothing to do. Like `setStatus`, it keeps the lease and the
   * checks' state.
   */
  async edit(service: string, id: string, change: (instance: Instance) => InstanceEdit | undefined): Promise<Instance> {
    this.#assertOpen();
    const now = this.#clock.now();
    const result = await this.#commit(service, id, (current) => {
      const live = this.#required(current, service, id);
      const instance = live.toWire();
      const edit = change(instance);
      if (edit === undefined) return undefined;
      const fields = normalizeRegistration({ service, id }, { ...registrationOf(instance), ...edit }, this.#checkRules);
      if (sameFields(fieldsOf(live.record), fields)) return undefined;
      this.#quota?.checkSize(service, id, fields);
      return this.#put(live, makeRecord(fields, { ...extrasOf(live.record), updatedAt: now }), now);
    });
    return this.#answer(result, service, id);
  }

  /** Sets an instance's status (one of the predefined set). */
  async setStatus(service: string, id: string, status: InstanceStatus): Promise<Instance> {
    this.#assertOpen();
    checkStatus(status);
    const now = this.#clock.now();
    const result = await this.#commit(service, id, (current) => {
      const live = this.#required(current, service, id);
      if (live.record.status === status) return undefined;
      return this.#put(
        live,
        makeRecord({ ...fieldsOf(live.record), status }, { ...extrasOf(live.record), updatedAt: now }),
        now,
      );
    });
    return this.#answer(result, service, id);
  }

  /**
   * Takes an instance out of discovery (it answers `health: critical` and keeps its checks and lease) or puts it
   * back. Durable, and kept when the instance registers again.
   */
  async setMaintenance(service: string, id: string, request: MaintenanceBody): Promise<Instance> {
    this.#assertOpen();
    const reason = checkReason(request.reason);
    const now = this.#clock.now();
    const result = await this.#commit(service, id, (current) => {
      const live = this.#required(current, service, id);
      const held = live.record.maintenance;
      if (request.enable ? held?.reason === reason : held === undefined) return undefined;
      return this.#put(
        live,
        withExtras(live.record, { maintenance: request.enable ? { reason } : undefined, updatedAt: now }),
        now,
      );
    });
    if (result.committed) {
      this.#logger.info(
        { service, id, reason },
        request.enable ? 'maintenance on: instance out of discovery' : 'maintenance off',
      );
    }
    return this.#answer(result, service, id);
  }

  // ---- checks ---------------------------------------------------------------------------------------------------

  /** Every active check of every instance (the checker loads them at start). */
  listChecks(): ScheduledCheck[] {
    const out: ScheduledCheck[] = [];
    for (const state of this.#instances.all()) pushChecks(out, state);
    return out;
  }

  /** The active checks of one instance; none when it is not registered. */
  checksOf(service: string, id: string): ScheduledCheck[] {
    const out: ScheduledCheck[] = [];
    const state = this.#instances.find(service, id);
    if (state) pushChecks(out, state);
    return out;
  }

  /**
   * Counts one probe result (the checker calls this). When the check's thresholds say it changes state, the
   * change is written through the store, logged, and announced as a `health` change; any other result touches
   * memory only. Results for checks that no longer exist are ignored.
   */
  async recordCheckResult(check: Omit<ScheduledCheck, 'spec'>, result: CheckResult): Promise<void> {
    if (this.#closed) return;
    const { service, id } = check;
    const state = this.#instances.find(service, id);
    const checkState = state?.checks.find((c) => c.key === check.key);
    if (!state || !checkState) return;
    const now = this.#clock.now();
    const checkId = checkState.spec.id;
    const next = checkState.observe(result, now, storedCheck(state.record.health?.checks?.[checkId]));
    if (next === undefined || checkState.writing) return;
    checkState.writing = true;
    let from: string | undefined;
    try {
      const written = await this.#commit(service, id, (current) => {
        // Gone, or redefined since: the result is for a check that no longer exists.
        if (!current?.checks.includes(checkState)) return undefined;
        const stored = storedCheck(current.record.health?.checks?.[checkId]);
        if (stored.status === next && stored.output !== NOT_CHECKED_OUTPUT) return undefined;
        from = stored.status;
        const checks = {
          ...current.record.health?.checks,
          [checkId]: { status: next, output: checkState.output, updatedAt: now },
        };
        return this.#put(
          current,
          withExtras(current.record, { health: patchHealth(current.record.health, { checks }) }),
          now,
        );
      });
      if (written.committed && written.state) {
        this.#logger.info(
          { service, id, check: checkId, from, to: next, health: written.state.health },
          'check changed state',
        );
        // The output is whatever the probed target answered: never at info, where every log reader sees it (#13).
        this.#logger.debug?.({ service, id, check: checkId, output: checkState.output.slice(0, 256) }, 'check output');
      }
    } finally {
      checkState.writing = false;
    }
  }

  // ---- queries --------------------------------------------------------------------------------------------------

  /** The index of the last change applied. */
  get index(): number {
    return this.#feed.index;
  }

  /** Whether expiry is suspended because too many leases lapsed at once. */
  get selfPreservation(): boolean {
    return this.#expiry.selfPreservation.active;
  }

  /** One instance, with its live heartbeat time. */
  get(service: string, id: string): Instance {
    return this.#require(service, id).live();
  }

  /** A service's instances that pass the filter, ordered by id. An unknown service has none. */
  list(service: string, filter: InstanceFilter = {}): ServiceInstances {
    return { index: this.#feed.serviceIndex(service), instances: this.#instances.list(service, filter) };
  }

  /** Every service that has instances, by name, with counts by status. */
  listServices(): ServiceList {
    return { index: this.#feed.index, services: this.#instances.summaries() };
  }

  /**
   * One page of a traversal of every instance, ordered by (service, id). The cursor names the last key
   * returned, so an instance that exists throughout the traversal is visited exactly once, whatever changes.
   */
  page(cursor: string | undefined, limit: number): InstancePage {
    return this.#instances.page(cursor, limit);
  }

  get stale(): boolean {
    // Degraded (writes too slow) is not cut off: what the feed delivered is still what the store holds.
    const health = this.#store.health();
    return !health.ok && health.degraded !== true;
  }

  health(): RegistryHealth {
    return {
      index: this.#feed.index,
      instances: this.#instances.size,
      services: this.#instances.serviceCount,
      leases: this.#expiry.leaseCount,
      selfPreservation: reportOf(this.#expiry.selfPreservation),
      store: this.#store.health(),
    };
  }

  // ---- change feed ----------------------------------------------------------------------------------------------

  serviceIndex(service: string): number {
    return this.#feed.serviceIndex(service);
  }

  changesSince(index: number, service?: string): ReturnType<ChangeSource['changesSince']> {
    return this.#feed.changesSince(index, service);
  }

  watch(service: string | undefined, listener: ChangeListener): () => void {
    return this.#feed.watch(service, listener);
  }

  subscribe(service: string | undefined, listener: ChangeBatchListener): () => void {
    return this.#feed.subscribe(service, listener);
  }

  // ---- expiry ---------------------------------------------------------------------------------------------------

  /**
   * Moves lapsed leases to `critical` (`warning` when the instance still answers its checks) and removes those past
   * `deregisterAfter`, and instances critical for longer than their `deregisterCriticalAfter`, as the expiry policy
   * decides (expiry-policy.ts, self-preservation included). Runs on a timer; tests with a manual clock call it
   * directly. Overlapping calls do nothing.
   */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#shareTakenRenewals();
    this.#pruneEmptyServices();
    if (!this.#leading) return;
    this.#sweeping = true;
    try {
      const now = this.#clock.now();
      const was = this.#expiry.selfPreservation.active;
      const { lapse, remove } = this.#expiry.sweep(now, {
        current: (state) => this.#instances.find(state.record.service, state.record.id) === state,
        instances: () => this.#instances.all(),
      });
      const status = this.#expiry.selfPreservation;
      if (status.active !== was) {
        const detail = { overdue: status.overdue, leases: status.leases, reason: status.reason };
        if (status.active) this.#logger.warn(detail, 'self-preservation on: expiry of lapsed leases is suspended');
        else this.#logger.info(detail, 'self-preservation off: leases expire again');
      }
      const lapses = lapse.length;
      const results = await Promise.allSettled([
        ...lapse.map((state) => this.#lapse(state, now)),
        ...[...remove].map(([state, why]) => this.#expire(state, { now, why })),
      ]);
      const report: SweepReport = { lapsed: 0, expired: 0, selfPreservation: status.active };
      results.forEach((result, i) => {
        if (result.status === 'rejected')
          this.#logger.error({ err: result.reason as unknown }, 'lease sweep write failed; it will run again');
        else if (result.value) report[i < lapses ? 'lapsed' : 'expired'] += 1;
      });
      this.#tellSweep(report);
    } finally {
      this.#sweeping = false;
    }
  }

  /**
   * Makes this node the one that decides expiry, or stops it (cluster mode: an etcd election decides). A node that
   * takes over restarts every lease from now, as a restarted registry does: renewals it may have missed while it
   * followed must not turn into a mass eviction (issue #12).
   */
  setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    if (!leading) return;
    const now = this.#clock.now();
    for (const state of this.#instances.all()) {
      if (state.record.ttlMs === undefined || state.lapsed || state.lastHeartbeat >= now) continue;
      state.lastHeartbeat = now;
      this.#expiry.touched(state);
    }
  }

  get leading(): boolean {
    return this.#leading;
  }

  /**
   * Heartbeats other nodes took (cluster mode): each lease runs again from when its heartbeat arrived there. An
   * instance this node does not know (yet, or any more) is skipped; a lapsed one is revived by the node that took
   * the heartbeat, through the store.
   */
  applyRenewals(renewals: readonly Renewal[]): void {
    const now = this.#clock.now();
    for (const { service, id, ageMs } of renewals) {
      const state = this.#instances.find(service, id);
      if (!state) continue;
      const at = now - Math.max(0, ageMs);
      if (at <= state.lastHeartbeat) continue;
      state.lastHeartbeat = at;
      this.#expiry.touched(state);
    }
  }

  /** Hands the heartbeats taken since the last sweep to `shareRenewals`, in one batch. */
  #shareTakenRenewals(): void {
    const taken = this.#renewals;
    if (!taken || taken.size === 0) return;
    const now = this.#clock.now();
    const batch: Renewal[] = [];
    for (const [state, at] of taken) {
      batch.push({ service: state.record.service, id: state.record.id, ageMs: now - at });
    }
    taken.clear();
    try {
      this.#shareRenewals?.(batch);
    } catch (err) {
      this.#logger.error({ err }, 'sharing renewals failed');
    }
  }

  // ---- pruning ---------------------------------------------------------------------------------------------------

  /**
   * Calls `listener` with the services whose state was pruned (empty and unwatched for `emptyServiceGraceMs`), so
   * what a transport keeps per service (an answer cache) goes with them. Returns the function that stops it.
   */
  onServicesPruned(listener: (services: readonly string[]) => void): () => void {
    this.#prunedListeners.add(listener);
    return () => this.#prunedListeners.delete(listener);
  }

  /** Calls `listener` after every sweep this node runs as the leader, with what it did. Returns its stop function. */
  onSweep(listener: (report: SweepReport) => void): () => void {
    this.#sweepListeners.add(listener);
    return () => this.#sweepListeners.delete(listener);
  }

  #tellSweep(report: SweepReport): void {
    for (const listener of this.#sweepListeners) {
      try {
        listener(report);
      } catch (err) {
        this.#logger.error({ err }, 'a sweep listener threw');
      }
    }
  }

  /** Listeners following the change feed (issue #20: a gauge). */
  get watchers(): number {
    return this.#feed.watchers;
  }

  /** Services whose index the feed keeps: those with instances, and those emptied within the grace period. */
  get trackedServices(): number {
    return this.#feed.trackedServices;
  }

  /**
   * Forgets the index of every service empty for `emptyServiceGraceMs` with no one watching it (issue #14: the
   * index of every service name ever used was kept for ever). The feed answers such a service with an index at
   * least as high as any it answered before, so no client sees one go backwards (change-feed.ts).
   */
  #pruneEmptyServices(): void {
    if (this.#emptySince.size === 0) return;
    const before = this.#clock.now() - this.#emptyServiceGraceMs;
    const pruned: string[] = [];
    for (const [service, since] of this.#emptySince) {
      // Oldest first: the rest emptied later still.
      if (since > before) break;
      if (this.#instances.countOf(service) > 0) {
        this.#emptySince.delete(service);
      } else if (this.#feed.prune(service)) {
        this.#emptySince.delete(service);
        pruned.push(service);
      }
    }
    if (pruned.length === 0) return;
    for (const listener of this.#prunedListeners) {
      try {
        listener(pruned);
      } catch (err) {
        this.#logger.error({ err }, 'a listener of pruned services threw');
      }
    }
  }

  /** Stops the sweep, waits for writes under way and stops following the store. The store is the caller's to close. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
    this.#unwatchStore();
  }

  /** True when the lapse was committed. */
  async #lapse(state: InstanceState, now: number): Promise<boolean> {
    const { service, id } = state.record;
    const result = await this.#sweepWrite(state, (current) => {
      // A heartbeat since the sweep looked, or a newer instance under the same id: nothing lapsed.
      if (current !== state || current.lapsed || (current.criticalAt ?? Infinity) > now) return undefined;
      return this.#put(
        current,
        withExtras(current.record, { health: patchHealth(current.record.health, { lapsed: true }) }),
        now,
      );
    });
    if (result.committed && result.state) {
      this.#logger.info({ service, id, health: result.state.health }, 'lease lapsed');
    }
    return result.committed;
  }

  /** True when the removal was committed. */
  async #expire(state: InstanceState, how: { now: number; why: string }): Promise<boolean> {
    const { service, id } = state.record;
    const { now } = how;
    const result = await this.#sweepWrite(state, (current) => {
      if (current !== state) return undefined;
      // Re-read at write time: a heartbeat or a passing check since the sweep keeps it.
      const leaseGone = (current.expireAt ?? Infinity) <= now && !current.answersProbes;
      const criticalTooLong = (current.removeCriticalAt ?? Infinity) <= now;
      if (!leaseGone && !criticalTooLong) return undefined;
      return { op: 'delete', service, id, ifIndex: current.record.modifyIndex, cause: 'expired' };
    });
    if (result.committed) this.#logger.info({ service, id }, how.why);
    return result.committed;
  }

  /** Commits a sweep's write on `state`, known to signs of life until it settles (see `#sweepWrites`). */
  async #sweepWrite(
    state: InstanceState,
    build: (current: InstanceState | undefined) => Mutation | undefined,
  ): Promise<CommitResult> {
    const write = this.#commit(state.record.service, state.record.id, build);
    const settled = write.then(
      () => undefined,
      () => undefined,
    );
    this.#sweepWrites.set(state, settled);
    try {
      return await write;
    } finally {
      if (this.#sweepWrites.get(state) === settled) this.#sweepWrites.delete(state);
    }
  }

  // ---- the one write path ---------------------------------------------------------------------------------------

  /**
   * Builds a write from the latest applied record and commits it; a refused write (someone wrote in between) is
   * rebuilt from the record that was in its way. `build` returns undefined when there is nothing to write, and may
   * throw (NOT_FOUND, ALREADY_EXISTS) from what it sees. Resolves once the write is applied.
   */
  async #commit(
    service: string,
    id: string,
    build: (current: InstanceState | undefined) => Mutation | undefined,
  ): Promise<CommitResult> {
    for (let attempt = 1; ; attempt++) {
      const current = this.#instances.find(service, id);
      const mutation = build(current);
      if (mutation === undefined) return { committed: false, state: current };
      const outcome = await this.#write(mutation);
      await this.#appliedThrough(outcome.index);
      if (outcome.committed) {
        const state = this.#instances.find(service, id);
        if (state && state.record.modifyIndex >= outcome.index) return { committed: true, state };
        // Changed again (or removed) by a write applied before this one resumed: answer what this write wrote.
        const detached = detachedState(mutation, outcome.index, this.#clock.now());
        return detached ? { committed: true, state, detached } : { committed: true, state };
      }
      if (attempt === MAX_ATTEMPTS) {
        throw new RegistryError(
          'UNAVAILABLE',
          `instance ${id} of service ${service} changed under ${MAX_ATTEMPTS} attempts to write it; try again`,
        );
      }
    }
  }

  /** A put of `next` over `current`, with its health settled; undefined when it would change nothing. */
  #put(current: InstanceState | undefined, next: InstanceRecord, now: number): Mutation | undefined {
    const health = settleHealth(next, now);
    // Most writes leave health as built: no second copy of the record then.
    const record = JSON.stringify(health) === JSON.stringify(next.health) ? next : withExtras(next, { health });
    if (current && sameContent(current.record, record)) return undefined;
    return { op: 'put', record, ifIndex: current?.record.modifyIndex ?? 0 };
  }

  async #write(mutation: Mutation): Promise<WriteOutcome> {
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

  /** Resolves once the feed has delivered every change up to `index`. */
  #appliedThrough(index: number): Promise<void> | undefined {
    if (this.#applied >= index) return undefined;
    return new Promise((resolve) => {
      this.#appliedWaiters.push({ index, resolve });
      this.#appliedWaiters.sort((a, b) => a.index - b.index);
    });
  }

  /** The only place memory changes after start-up: one committed change from the store's feed. */
  #apply(change: StoreChange): void {
    if (change.index < this.#applied) return;
    const { service, id, record } = change;
    const current = this.#instances.find(service, id);
    // Several changes may share an index (a store's resync after compaction): at the index already applied, only a
    // key not yet at it changes.
    if (change.index === this.#applied && (current?.record.modifyIndex ?? 0) >= change.index) return;
    this.#applied = change.index;
    if (record === null) {
      if (current) {
        this.#instances.delete(current);
        this.#expiry.forget(current);
        if (this.#instances.countOf(service) === 0) this.#emptySince.set(service, this.#clock.now());
        // Removed answers show the index of the delete.
        current.apply(withExtras(current.record, { modifyIndex: change.index }));
        this.#publish(change.cause ?? 'deregistered', current);
      }
    } else if (current) {
      const type = changeTypeOf(current.record, record);
      this.#instances.update(current, record);
      this.#expiry.track(current);
      this.#publish(type, current);
    } else {
      const state = new InstanceState(record, this.#clock.now());
      this.#instances.add(state);
      this.#expiry.track(state);
      this.#quota?.applied(service, id);
      this.#emptySince.delete(service);
      this.#publish('registered', state);
    }
    while (this.#appliedWaiters.length > 0 && (this.#appliedWaiters[0]?.index ?? Infinity) <= this.#applied) {
      this.#appliedWaiters.shift()?.resolve();
    }
  }

  #publish(type: Parameters<ChangeListener>[0]['type'], state: InstanceState): void {
    const { service, modifyIndex } = state.record;
    this.#feed.publish({ type, index: modifyIndex, service, instance: state.toWire() });
  }

  /** A heartbeat (or a registration): the lease runs again from now. Memory only. */
  #touch(state: InstanceState): void {
    state.lastHeartbeat = this.#clock.now();
    this.#expiry.touched(state);
    this.#renewals?.set(state, state.lastHeartbeat);
  }

  #answer(result: CommitResult, service: string, id: string): Instance {
    const state = result.state ?? result.detached;
    return this.#required(state, service, id).live();
  }

  #require(service: string, id: string): InstanceState {
    return this.#required(this.#instances.find(service, id), service, id);
  }

  #required(state: InstanceState | undefined, service: string, id: string): InstanceState {
    if (state) return state;
    checkServiceName(service);
    checkInstanceId(id);
    throw new RegistryError('NOT_FOUND', `service ${service} has no instance ${id}`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new RegistryError('UNAVAILABLE', 'the registry is shutting down');
  }
}

interface CommitResult {
  /** Whether a write was committed (false: there was nothing to write). */
  committed: boolean;
  /** The instance as applied now. */
  state: InstanceState | undefined;
  /** What the write itself wrote, when the instance has changed again since (or been removed). */
  detached?: InstanceState;
}

function detachedState(mutation: Mutation, index: number, now: number): InstanceState | undefined {
  if (mutation.op !== 'put') return undefined;
  const record = withExtras(mutation.record, { modifyIndex: index, createIndex: mutation.record.createIndex || index });
  return new InstanceState(record, now);
}

function extrasOf(record: InstanceRecord): Parameters<typeof makeRecord>[1] {
  return {
    maintenance: record.maintenance,
    health: record.health,
    registeredAt: record.registeredAt,
    updatedAt: record.updatedAt,
    createIndex: record.createIndex,
    modifyIndex: record.modifyIndex,
  };
}

/**
 * The health a registration writes: no lapsed lease (it is a sign of life), the stored state of every check whose
 * definition is unchanged, and "not checked yet" for new or changed checks.
 */
function registeredHealth(
  checks: InstanceRecord['checks'],
  before: InstanceRecord | undefined,
  now: number,
): StoredHealth | undefined {
  const health: StoredHealth = {};
  if (before?.health?.criticalSince !== undefined) health.criticalSince = before.health.criticalSince;
  if (checks) {
    const kept = new Map((before?.checks ?? []).map((spec) => [checkKey(spec), before?.health?.checks?.[spec.id]]));
    const states: Record<string, StoredCheck> = {};
    for (const spec of checks) states[spec.id] = kept.get(checkKey(spec)) ?? newCheck(now);
    health.checks = states;
  }
  return health.checks || health.criticalSince !== undefined ? health : undefined;
}

/** `health` with the lease's lapse or the check states replaced; `settleHealth` then brings `criticalSince` in line. */
function patchHealth(
  health: StoredHealth | undefined,
  patch: { lapsed?: boolean; checks?: Record<string, StoredCheck> },
): StoredHealth {
  const next: StoredHealth = {};
  if (patch.lapsed ?? health?.lapsed) next.lapsed = true;
  const checks = patch.checks ?? health?.checks;
  if (checks) next.checks = checks;
  if (health?.criticalSince !== undefined) next.criticalSince = health.criticalSince;
  return next;
}

function reportOf(status: SelfPreservationStatus): SelfPreservationReport {
  const report: SelfPreservationReport = { active: status.active, overdue: status.overdue, leases: status.leases };
  if (status.reason !== undefined) report.reason = status.reason;
  if (status.since !== undefined) report.since = new Date(status.since).toISOString();
  if (status.endsBy !== undefined) report.endsBy = new Date(status.endsBy).toISOString();
  return report;
}

function pushChecks(out: ScheduledCheck[], state: InstanceState): void {
  const { service, id } = state.record;
  for (const check of state.checks) out.push({ service, id, key: check.key, spec: check.spec });
}
