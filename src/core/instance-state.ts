import type { InstanceRecord } from '../store/index.js';
import { formatDuration } from '../wire/index.js';
import type { Health, Instance } from '../wire/index.js';

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
  wire: Instance;

  constructor(record: InstanceRecord, lastHeartbeat: number) {
    this.record = record;
    this.lastHeartbeat = lastHeartbeat;
    this.wire = this.#build();
  }

  get key(): string {
    return instanceKey(this.record.service, this.record.id);
  }

  get health(): Health {
    return this.leaseCritical ? 'critical' : 'passing';
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
    return { ...this.wire, lastHeartbeat: new Date(this.lastHeartbeat).toISOString() };
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
    return wire;
  }
}

export function instanceKey(service: string, id: string): string {
  return `${service}\u0000${id}`;
}
