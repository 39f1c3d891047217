/**
 * Heartbeats received by one registry node, as it shares them with the other nodes of a cluster (issue #12).
 * A heartbeat is never one store write: each node sends the renewals it took since its last sweep in one batch,
 * and every node moves those leases' deadlines as if it had taken the heartbeats itself.
 */
export interface Renewal {
  readonly service: string;
  readonly id: string;
  /** How long before the batch was sent the last heartbeat arrived; a relative age, so nodes' clocks need not agree. */
  readonly ageMs: number;
}
