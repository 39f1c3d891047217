import type { InstanceRecord } from '../store/index.js';
import { formatDuration } from '../wire/index.js';
import type { Health, Instance } from '../wire/index.js';
import { CheckState, checkKey, worst } from './check-state.js';

/** Shared by every instance without checks (most of them), so they cost no array each. */
const NO_CHECKS: readonly CheckState[] = Object.freeze([]);

/**
 * One instance in memory: its durable record plus what the registry knows at run time.
 * `wire` is the answer shape, built on first read after a change and kept until the next one, so reads never
 * rebuild it; instances nobody reads (most of them, in a large registry) never hold one.
 */
export class InstanceState {
  record: InstanceRecord;
  /** Epoch ms of the last heartbeat (or registration, or restore). Not durable. */
  lastHeartbeat: number;
  /** The lease has lapsed (ttl passed without a heartbeat). */
  leaseCritical = false;
  /** Run-time state of the record's checks, in the record's order (issue #5). */
  checks: readonly CheckState[] = NO_CHECKS;
  /** Epoch ms since which the instance has been critical (maintenance aside), for `deregisterCriticalAfter`. */
  criticalSince: number | undefined;
  #wire: Instance | undefined;

  /** `restored`: the record comes from the store at start-up (its checks then start passing, not critical). */
  constructor(record: InstanceRecord, lastHeartbeat: number, restored = false) {
    this.record = record;
    this.lastHeartbeat = lastHeartbeat;
    this.syncChecks(lastHeartbeat, restored);
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

  get key(): string {
    return instanceKey(this.record.service, this.record.id);
  }

  /**
   * The worst of the checks and the lease. A lapsed lease counts as `warning` when the instance has checks: it
   * still answers its probe, so lost heartbeats alone never make it critical (a check that fails does).
   */
  get baseHealth(): Health {
    let health: Health = 'passing';
    for (const check of this.checks) health = worst(health, check.status);
    if (this.leaseCritical) health = worst(health, this.checks.length > 0 ? 'warning' : 'critical');
    return health;
  }

  /** What discovery sees: maintenance takes the instance out of default answers as `critical`. */
  get health(): Health {
    return this.record.maintenance ? 'critical' : this.baseHealth;
  }

  /** The instance has checks and none says it is gone: a lapsed lease alone must not remove it. */
  get answersProbes(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.status !== 'critical');
  }

  /**
   * Rebuilds the check states after the record's checks changed, keeping the state of every check whose
   * definition is unchanged. New checks start critical until their first result, unless `restored`.
   */
  syncChecks(now: number, restored = false): void {
    const specs = this.record.checks ?? [];
    if (specs.length === 0) {
      this.checks = NO_CHECKS;
      return;
    }
    const kept = new Map(this.checks.map((c) => [c.key, c]));
    this.checks = specs.map((spec) => kept.get(checkKey(spec)) ?? new CheckState(spec, { now, restored }));
  }

  /** Epoch ms at which the lease lapses, or undefined for an instance without a ttl. */
  get criticalAt(): number | undefined {
    const { ttlMs } = this.record;
    return ttlMs === undefined ? undefined : this.lastHeartbeat + ttlMs;
  }

  /** Epoch ms at which a lapsed lease removes the instance. */
  get expireAt(): number | undefined {
    const { ttlMs } = this.record;
    if (ttlMs === undefined) return undefined;
    return this.lastHeartbeat + (this.record.deregisterAfterMs ?? 3 * ttlMs);
  }

  /** Drops the answer shape after a change; the next read builds it. */
  refresh(): void {
    this.#wire = undefined;
  }

  /** The answer shape with the live heartbeat time (which changes without a change index). */
  live(): Instance {
    // A fresh build already carries the live heartbeat; only a kept answer needs copying (heartbeats hit this path).
    const live = this.#wire
      ? { ...this.#wire, lastHeartbeat: new Date(this.lastHeartbeat).toISOString() }
      : this.#build();
    if (this.checks.length > 0) live.checks = this.checks.map((c) => c.current());
    return live;
  }

  #build(): Instance {
    const r = this.record;
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
      registeredAt: new Date(r.registeredAt).toISOString(),
      updatedAt: new Date(r.updatedAt).toISOString(),
      lastHeartbeat: new Date(this.lastHeartbeat).toISOString(),
      createIndex: r.createIndex,
      modifyIndex: r.modifyIndex,
    };
    if (r.url !== undefined) wire.url = r.url;
    if (r.zone !== undefined) wire.zone = r.zone;
    if (r.ttlMs !== undefined) wire.ttl = formatDuration(r.ttlMs);
    if (r.deregisterAfterMs !== undefined) wire.deregisterAfter = formatDuration(r.deregisterAfterMs);
    if (this.checks.length > 0) wire.checks = this.checks.map((c) => c.committed());
    if (r.deregisterCriticalAfterMs !== undefined)
      wire.deregisterCriticalAfter = formatDuration(r.deregisterCriticalAfterMs);
    if (r.maintenance) wire.maintenance = { enabled: true, reason: r.maintenance.reason };
    return wire;
  }
}

export function instanceKey(service: string, id: string): string {
  return `${service}\u0000${id}`;
}
