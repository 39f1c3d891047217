import type { InstanceRecord } from '../store/index.js';
import { formatDuration } from '../wire/index.js';
import type { Health, Instance } from '../wire/index.js';
import { CheckState, checkKey, worst } from './check-state.js';

/**
 * One instance in memory: its durable record plus what the registry knows at run time.
 * `wire` is the answer shape, rebuilt once per change so reads never rebuild it.
 */
export class InstanceState {
  record: InstanceRecord;
  /** Epoch ms of the last heartbeat (or registration, or restore). Not durable. */
  lastHeartbeat: number;
  /** The lease has lapsed (ttl passed without a heartbeat). */
  leaseCritical = false;
  /** Run-time state of the record's checks, in the record's order (issue #5). */
  checks: CheckState[] = [];
  /** Epoch ms since which the instance has been critical (maintenance aside), for `deregisterCriticalAfter`. */
  criticalSince: number | undefined;
  wire: Instance;

  /** `restored`: the record comes from the store at start-up (its checks then start passing, not critical). */
  constructor(record: InstanceRecord, lastHeartbeat: number, restored = false) {
    this.record = record;
    this.lastHeartbeat = lastHeartbeat;
    this.syncChecks(lastHeartbeat, restored);
    this.wire = this.#build();
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
      this.checks = [];
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

  /** Rebuilds the answer shape after a change. */
  refresh(): void {
    this.wire = this.#build();
  }

  /** The answer shape with the live heartbeat time (which changes without a change index). */
  live(): Instance {
    const live = { ...this.wire, lastHeartbeat: new Date(this.lastHeartbeat).toISOString() };
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
    if (r.deregisterCriticalAfterMs !== undefined) wire.deregisterCriticalAfter = formatDuration(r.deregisterCriticalAfterMs);
    if (r.maintenance) wire.maintenance = { enabled: true, reason: r.maintenance.reason };
    return wire;
  }
}

export function instanceKey(service: string, id: string): string {
  return `${service}\u0000${id}`;
}
