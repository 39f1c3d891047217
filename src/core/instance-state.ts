import type { InstanceRecord, StoredHealth } from '../store/index.js';
import { formatDuration } from '../wire/index.js';
import type { Health, Instance, InstanceCheck } from '../wire/index.js';
import { CheckState, checkKey, checkToWire, storedCheck, worst } from './check-state.js';

/** Shared by every instance without checks (most of them), so they cost no array each. */
const NO_CHECKS: readonly CheckState[] = Object.freeze([]);

/**
 * The worst of the record's checks and its lease. A lapsed lease counts as `warning` when the instance has checks: it
 * still answers its probe, so lost heartbeats alone never make it critical (a check that fails does).
 */
export function baseHealthOf(record: InstanceRecord): Health {
  let health: Health = 'passing';
  const stored = record.health;
  if (record.checks)
    for (const spec of record.checks) health = worst(health, storedCheck(stored?.checks?.[spec.id]).status);
  if (stored?.lapsed) health = worst(health, record.checks ? 'warning' : 'critical');
  return health;
}

/**
 * `health` with `criticalSince` brought in line with what it says: set (to `now`, or kept) while the instance is
 * critical, absent otherwise. Undefined when nothing is left to store.
 */
export function settleHealth(record: InstanceRecord, now: number): StoredHealth | undefined {
  const health: StoredHealth = {};
  const stored = record.health;
  if (stored?.lapsed) health.lapsed = true;
  if (stored?.checks && record.checks) health.checks = stored.checks;
  if (baseHealthOf(record) === 'critical') health.criticalSince = stored?.criticalSince ?? now;
  return health.lapsed || health.checks || health.criticalSince !== undefined ? health : undefined;
}

/**
 * One instance in memory: its record as last applied from the store, plus what only this process knows (the last
 * heartbeat, check result counters). Everything an answer shows but the heartbeat time and a check's latest output
 * comes from the record, so what is served is what is stored.
 * `wire` is the answer shape, built on first read after a change and kept until the next one, so reads never
 * rebuild it; instances nobody reads (most of them, in a large registry) never hold one.
 */
export class InstanceState {
  #record: InstanceRecord;
  /** Epoch ms of the last heartbeat (or registration, or restore). Not durable: a restart gives a fresh full ttl. */
  lastHeartbeat: number;
  /** Run-time side of the record's checks, in the record's order (issue #5). */
  checks: readonly CheckState[] = NO_CHECKS;
  #wire: Instance | undefined;

  constructor(record: InstanceRecord, lastHeartbeat: number) {
    this.#record = record;
    this.lastHeartbeat = lastHeartbeat;
    this.#syncChecks();
  }

  get record(): InstanceRecord {
    return this.#record;
  }

  /** Takes the record the store committed; check counters survive for every check whose definition is unchanged. */
  apply(record: InstanceRecord): void {
    this.#record = record;
    this.#wire = undefined;
    this.#syncChecks();
  }

  /** The answer shape as of the last change. */
  get wire(): Instance {
    this.#wire ??= this.#build();
    return this.#wire;
  }

  /** A new answer shape, not kept (change events carry one; the instance itself keeps none until read). */
  toWire(): Instance {
    return this.#wire ?? this.#build();
  }

  get baseHealth(): Health {
    return baseHealthOf(this.#record);
  }

  /** What discovery sees: maintenance takes the instance out of default answers as `critical`. */
  get health(): Health {
    return this.#record.maintenance ? 'critical' : this.baseHealth;
  }

  get lapsed(): boolean {
    return this.#record.health?.lapsed === true;
  }

  /** The instance has checks and none says it is gone: a lapsed lease alone must not remove it. */
  get answersProbes(): boolean {
    const { checks, health } = this.#record;
    return !!checks?.every((spec) => storedCheck(health?.checks?.[spec.id]).status !== 'critical');
  }

  /** Epoch ms at which the lease lapses, or undefined for an instance without a ttl. */
  get criticalAt(): number | undefined {
    const { ttlMs } = this.#record;
    return ttlMs === undefined ? undefined : this.lastHeartbeat + ttlMs;
  }

  /** Epoch ms at which a lapsed lease removes the instance. */
  get expireAt(): number | undefined {
    const { ttlMs } = this.#record;
    if (ttlMs === undefined) return undefined;
    return this.lastHeartbeat + (this.#record.deregisterAfterMs ?? 3 * ttlMs);
  }

  /** Epoch ms at which `deregisterCriticalAfter` removes the instance, while it is critical. */
  get removeCriticalAt(): number | undefined {
    const { deregisterCriticalAfterMs: after, health } = this.#record;
    const since = health?.criticalSince;
    return after === undefined || since === undefined ? undefined : since + after;
  }

  /** The answer shape with the live heartbeat time and check outputs (which change without a change index). */
  live(): Instance {
    // A fresh build already carries the live heartbeat; only a kept answer needs copying (heartbeats hit this path).
    const live = this.#wire ? { ...this.#wire, lastHeartbeat: isoTime(this.lastHeartbeat) } : this.#build();
    if (this.checks.length > 0) live.checks = this.#checksToWire(true);
    return live;
  }

  #syncChecks(): void {
    const specs = this.#record.checks;
    if (!specs) {
      this.checks = NO_CHECKS;
      return;
    }
    const kept = new Map(this.checks.map((c) => [c.key, c]));
    const stored = this.#record.health?.checks;
    this.checks = specs.map((spec) => kept.get(checkKey(spec)) ?? new CheckState(spec, stored?.[spec.id]));
  }

  #checksToWire(latest: boolean): InstanceCheck[] {
    const stored = this.#record.health?.checks;
    return this.checks.map((c) => {
      const state = storedCheck(stored?.[c.spec.id]);
      return latest ? checkToWire(c.spec, state, c.output) : checkToWire(c.spec, state);
    });
  }

  #build(): Instance {
    const r = this.#record;
    const wire: Instance = {
      id: r.id,
      service: r.service,
      host: r.host,
      port: r.port,
      endpoints: r.endpoints,
      status: r.status,
      health: this.health,
      tags: r.tags,
      metadata: r.metadata,
      weight: r.weight,
      authorizedRoles: r.authorizedRoles,
      registeredAt: isoTime(r.registeredAt),
      updatedAt: isoTime(r.updatedAt),
      lastHeartbeat: isoTime(this.lastHeartbeat),
      createIndex: r.createIndex,
      modifyIndex: r.modifyIndex,
    };
    if (r.url !== undefined) wire.url = r.url;
    if (r.zone !== undefined) wire.zone = r.zone;
    if (r.ttlMs !== undefined) wire.ttl = formatDuration(r.ttlMs);
    if (r.deregisterAfterMs !== undefined) wire.deregisterAfter = formatDuration(r.deregisterAfterMs);
    if (this.checks.length > 0) wire.checks = this.#checksToWire(false);
    if (r.deregisterCriticalAfterMs !== undefined)
      wire.deregisterCriticalAfter = formatDuration(r.deregisterCriticalAfterMs);
    if (r.maintenance) wire.maintenance = { enabled: true, reason: r.maintenance.reason };
    return wire;
  }
}

/**
 * Epoch ms as an ISO 8601 string. The last one is kept: a registration's answer states the same moment up to six
 * times (three fields, in its change event and its answer), and heartbeats in one millisecond share theirs.
 */
let lastTime = { ms: Number.NaN, iso: '' };
function isoTime(ms: number): string {
  if (ms !== lastTime.ms) lastTime = { ms, iso: new Date(ms).toISOString() };
  return lastTime.iso;
}
