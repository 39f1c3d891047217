import type { CheckKind, Endpoint, InstanceStatus } from '../wire/index.js';

/** An active check as stored: the registration's definition with its defaults filled in. */
export interface CheckSpec {
  id: string;
  kind: CheckKind;
  /** A URL for `http`, `host:port` for `tcp`. */
  target: string;
  intervalMs: number;
  timeoutMs: number;
  successBefore: number;
  failuresBefore: number;
}

/**
 * An instance as the store keeps it: what was registered plus the server's timestamps.
 * Runtime state (lease deadlines, last heartbeat) is deliberately absent: it is not written to disk.
 */
export interface InstanceRecord {
  service: string;
  id: string;
  host: string;
  port: number;
  url?: string;
  endpoints: Endpoint[];
  status: InstanceStatus;
  tags: string[];
  metadata: Record<string, string>;
  weight: number;
  zone?: string;
  authorizedRoles: string[];
  ttlMs?: number;
  deregisterAfterMs?: number;
  /** Active checks; their results are runtime state and are not stored. */
  checks?: CheckSpec[];
  deregisterCriticalAfterMs?: number;
  /** Set while an operator holds the instance out of discovery. */
  maintenance?: { reason: string };
  /** Epoch milliseconds. */
  registeredAt: number;
  updatedAt: number;
  /** Index of the write that created it; 0 in a record not yet written (the store then uses the write's index). */
  createIndex: number;
  /** Index of the write that last changed it; the store sets it. */
  modifyIndex: number;
}

export type Mutation =
  | { readonly op: 'put'; readonly record: InstanceRecord }
  | { readonly op: 'delete'; readonly service: string; readonly id: string };

export interface StoreSnapshot {
  /** The index of the last write the store holds (0 when empty and new). */
  index: number;
  instances: InstanceRecord[];
}

export type StoreKind = 'memory' | 'sqlite' | 'etcd';

export interface StoreHealth {
  kind: StoreKind;
  ok: boolean;
  /** Where the data lives (a file, endpoints), for operators. */
  location?: string;
  /** Why it is not ok. */
  error?: string;
}

/**
 * Durable storage under the registry. The store, not the registry, hands out the change index, so that
 * several registry nodes on one store (etcd) share one index.
 */
export interface Store {
  readonly kind: StoreKind;
  /** Reads every stored instance and the store's current index. */
  load(): Promise<StoreSnapshot>;
  /**
   * Applies one mutation and resolves with the index given to it once the write is durable.
   * Writes from one caller are applied in call order. Deleting a missing key still takes an index.
   */
  write(mutation: Mutation): Promise<number>;
  health(): StoreHealth;
  /** Finishes pending writes, then releases the store. */
  close(): Promise<void>;
}
