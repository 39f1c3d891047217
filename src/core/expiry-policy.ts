/**
 * When instances lapse and when they go: lease deadlines, `deregisterCriticalAfter` deadlines, and self-preservation.
 * It only decides; the registry writes each decision through the store and applies it from the feed.
 *
 * Self-preservation (after Eureka): when the overdue leases that would expire reach `threshold` of the leases it
 * protects (and at least `minimum` of them), the registry is more likely cut off from them than they all died, so
 * it removes none of them. It ends in one of two ways, whichever comes first:
 * - heartbeats come back, so the overdue share falls below the threshold;
 * - it has lasted `maxMs` while some leases still renew: the expected renewals are then recomputed from the
 *   instances still renewing (Eureka recomputes them every 15 minutes), so those silent for that long are taken
 *   as gone and expire. While no lease renews at all, it never ends by time: a registry cut off from every client
 *   must not evict them all.
 * It protects only leased instances registered before it began: an instance registered since reached the registry
 * during the outage, so its silence is its own, and an instance without a lease (checks only) was never counted.
 * Their `deregisterCriticalAfter` and lease expiry keep working.
 *
 * Ending because heartbeats came back does not remove the instances still silent at once: a partition heals one
 * connection at a time, so the share overdue falls below the threshold while most cut-off instances have not yet
 * renewed, and the next sweep would have removed them all (issue #21 found 18 of 20 removed at a heal). Each one
 * it protected gets its `deregisterAfter` again from the moment it ended, as if it had renewed then: it goes only
 * if it stays silent that long.
 */
import type { InstanceState } from './instance-state.js';
import { LeaseTable } from './lease-table.js';

export interface SelfPreservationOptions {
  /** Fraction of protected leases overdue at once that engages it (default 0.5). */
  threshold: number;
  /** Fewest overdue leases that engage it (default 10). */
  minimum: number;
  /** Longest it lasts while some leases still renew (default 15 minutes). */
  maxMs: number;
}

/** The state of self-preservation and why, for `/health` and the metrics. */
export interface SelfPreservationStatus {
  active: boolean;
  /** Why it is on, or why it last ended; absent before it ever engaged. */
  reason?: string;
  /** Epoch ms it engaged, while active. */
  since?: number;
  /** Epoch ms by which it ends while some leases renew, while active. */
  endsBy?: number;
  /** Protected leases overdue at the last sweep, and the protected leases. */
  overdue: number;
  leases: number;
}

export interface ExpiryDecisions {
  /** Leases that lapsed: to be marked so (critical, or warning when the checks pass). */
  lapse: InstanceState[];
  /** Instances to remove, each with the reason to log. */
  remove: Map<InstanceState, string>;
}

const HEALED = 'heartbeats came back: leases expire again, each still silent one a deregisterAfter from now';

/** Whether self-preservation in `status` (while on) keeps this instance: leased, and registered before it began. */
function protectedBy(status: SelfPreservationStatus, state: InstanceState): boolean {
  const since = status.since;
  return state.record.ttlMs !== undefined && (since === undefined || state.record.registeredAt < since);
}

export class ExpiryPolicy {
  readonly #leases = new LeaseTable<InstanceState>();
  /** Instances critical (maintenance aside) with a `deregisterCriticalAfter`, by when they are to be removed. */
  readonly #criticalDeadlines = new LeaseTable<InstanceState>();
  /** Leased instances seen by the sweep with their heartbeat overdue; a heartbeat or removal takes them out. */
  readonly #overdue = new Set<InstanceState>();
  /** Instances self-preservation protected when it ended as heartbeats came back: removed no sooner than this. */
  readonly #graceUntil = new Map<InstanceState, number>();
  readonly #options: SelfPreservationOptions;
  readonly #sweepIntervalMs: number;
  #status: SelfPreservationStatus = { active: false, overdue: 0, leases: 0 };

  constructor(options: { sweepIntervalMs: number; selfPreservation: SelfPreservationOptions }) {
    this.#sweepIntervalMs = options.sweepIntervalMs;
    this.#options = options.selfPreservation;
  }

  /** Instances whose lease is scheduled. */
  get leaseCount(): number {
    return this.#leases.size;
  }

  get selfPreservation(): SelfPreservationStatus {
    return this.#status;
  }

  /** Schedules an instance after its record changed (or it was added). */
  track(state: InstanceState): void {
    const criticalAt = state.criticalAt;
    if (criticalAt === undefined) {
      this.#leases.delete(state);
      this.#overdue.delete(state);
    } else {
      // A lapsed lease is next due when it expires; the sweep that lapsed it scheduled that already.
      this.#leases.add(state, state.lapsed ? (state.expireAt as number) : criticalAt);
    }
    const removeAt = state.removeCriticalAt;
    if (removeAt === undefined) this.#criticalDeadlines.delete(state);
    else this.#criticalDeadlines.add(state, removeAt);
  }

  /** A heartbeat: the lease runs again from now. */
  touched(state: InstanceState): void {
    this.#overdue.delete(state);
    this.#graceUntil.delete(state);
    const criticalAt = state.criticalAt;
    if (criticalAt !== undefined) this.#leases.add(state, criticalAt);
  }

  forget(state: InstanceState): void {
    this.#leases.delete(state);
    this.#criticalDeadlines.delete(state);
    this.#overdue.delete(state);
    this.#graceUntil.delete(state);
  }

  /**
   * What is due at `now`. `current` tells whether a scheduled instance is still the registry's (not since removed).
   * `instances` lists every instance, read only when self-preservation may engage.
   */
  sweep(
    now: number,
    registry: { current(state: InstanceState): boolean; instances(): Iterable<InstanceState> },
  ): ExpiryDecisions {
    const lapse: InstanceState[] = [];
    const expired: InstanceState[] = [];
    for (const state of this.#leases.popDue(now)) {
      if (!registry.current(state)) continue;
      const criticalAt = state.criticalAt;
      const expireAt = state.expireAt;
      if (criticalAt === undefined || expireAt === undefined) continue;
      if (criticalAt <= now) this.#overdue.add(state);
      if (expireAt <= now) {
        expired.push(state);
      } else if (criticalAt > now) {
        this.#leases.add(state, criticalAt);
      } else {
        if (!state.lapsed) lapse.push(state);
        this.#leases.add(state, expireAt);
      }
    }
    const before = this.#status;
    const preserving = this.#updateSelfPreservation(now, registry.instances());
    if (before.active && !preserving && this.#status.reason === HEALED) {
      for (const state of registry.instances()) {
        if (!protectedBy(before, state) || state.criticalAt === undefined || state.criticalAt > now) continue;
        const ttlMs = state.record.ttlMs as number;
        this.#graceUntil.set(state, now + (state.record.deregisterAfterMs ?? 3 * ttlMs));
      }
    }
    const later = now + this.#sweepIntervalMs;
    const remove = new Map<InstanceState, string>();
    for (const state of expired) {
      const grace = this.#graceUntil.get(state);
      if (grace !== undefined && grace > now) {
        if (!state.lapsed) lapse.push(state);
        this.#leases.add(state, grace);
      } else if ((preserving && this.#protects(state)) || state.answersProbes) {
        // Kept: look again next sweep (its checks may fail, or self-preservation may end).
        if (!state.lapsed) lapse.push(state);
        this.#leases.add(state, later);
      } else {
        remove.set(state, 'lease expired: instance removed');
      }
    }
    for (const state of this.#criticalDeadlines.popDue(now)) {
      const removeAt = state.removeCriticalAt;
      if (!registry.current(state) || removeAt === undefined) continue;
      const grace = this.#graceUntil.get(state);
      if (removeAt > now) this.#criticalDeadlines.add(state, removeAt);
      else if (grace !== undefined && grace > now) this.#criticalDeadlines.add(state, grace);
      else if (preserving && this.#protects(state)) this.#criticalDeadlines.add(state, later);
      else if (!remove.has(state))
        remove.set(state, 'critical for longer than deregisterCriticalAfter: instance removed');
    }
    return { lapse, remove };
  }

  /** Whether self-preservation, while on, keeps this instance. */
  #protects(state: InstanceState): boolean {
    return protectedBy(this.#status, state);
  }

  /** Re-evaluated every sweep; returns whether expiry of protected instances is suspended. */
  #updateSelfPreservation(now: number, instances: Iterable<InstanceState>): boolean {
    const { threshold, minimum, maxMs } = this.#options;
    let overdue = 0;
    for (const state of this.#overdue) if (!state.answersProbes && this.#protects(state)) overdue += 1;
    let leases = 0;
    if (overdue >= minimum || this.#status.active) {
      for (const state of instances) if (this.#protects(state)) leases += 1;
    }
    const tripped = overdue >= minimum && overdue >= threshold * leases;
    const was = this.#status;
    if (!was.active) {
      if (tripped) {
        this.#status = {
          active: true,
          reason: `${overdue} of ${leases} leases lapsed at once (threshold ${threshold}, minimum ${minimum}): the registry is more likely cut off than they all died`,
          since: now,
          endsBy: now + maxMs,
          overdue,
          leases,
        };
      } else {
        this.#status = { ...was, overdue, leases };
      }
      return this.#status.active;
    }
    if (!tripped) {
      this.#status = { active: false, reason: HEALED, overdue, leases };
    } else if (now >= (was.endsBy ?? Infinity) && overdue < leases) {
      this.#status = {
        active: false,
        reason: `lasted ${Math.round(maxMs / 1000)}s while ${leases - overdue} leases kept renewing: expected renewals recomputed from them, the ${overdue} silent ones expire`,
        overdue,
        leases,
      };
    } else {
      this.#status = { ...was, overdue, leases };
    }
    return this.#status.active;
  }
}
