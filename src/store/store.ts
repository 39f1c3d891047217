import type { CheckKind, Endpoint, Health, InstanceStatus, TokenPolicy } from '../wire/index.js';

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

/** The committed state of one active check: what the instance's health is built from. */
export interface StoredCheck {
  status: Health;
  /** The probe's output when the check last changed state. */
  output: string;
  /** Epoch ms of the last change of state (or of when the check was added). */
  updatedAt: number;
}

/**
 * The health the registry has decided for an instance, stored with it so that a restart (or another node) serves
 * the same health. Heartbeat times are not here: they change too often to write, and a restart gives every lease a
 * fresh ttl.
 */
export interface StoredHealth {
  /** The lease lapsed (ttl passed without a heartbeat) and no heartbeat has revived it since. */
  lapsed?: true;
  /** By check id; a check missing here has not been decided since it was (re)defined, see `InstanceState`. */
  checks?: Record<string, StoredCheck>;
  /** Epoch ms since which the instance has been critical (maintenance aside), for `deregisterCriticalAfter`. */
  criticalSince?: number;
}

/** An instance as the store keeps it: what was registered, the health decided for it, and the server's timestamps. */
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
  checks?: CheckSpec[];
  deregisterCriticalAfterMs?: number;
  /** Set while an operator holds the instance out of discovery. */
  maintenance?: { reason: string };
  health?: StoredHealth;
  /** Epoch milliseconds. */
  registeredAt: number;
  updatedAt: number;
  /** Index of the write that created the key (the store sets it on a create). */
  createIndex: number;
  /** Index of the write that last changed it (the store sets it). */
  modifyIndex: number;
}

/** Why a key was deleted, carried to every consumer of the change feed. */
export type DeleteCause = 'deregistered' | 'expired';

/**
 * One conditional write, Consul's check-and-set: `ifIndex` is the `modifyIndex` the writer built from, 0 for "the key
 * must not exist". A write built from a stale record is refused, so the writer rebuilds from the latest one. A delete
 * of a key that does not exist is refused too: it would change nothing (Consul's delete with `cas=0` does nothing).
 */
export type Mutation =
  | { readonly op: 'put'; readonly record: InstanceRecord; readonly ifIndex: number }
  | {
      readonly op: 'delete';
      readonly service: string;
      readonly id: string;
      readonly ifIndex: number;
      readonly cause: DeleteCause;
    };

/**
 * What became of a write. `index` is the write's own index when it was committed; when it was refused, it is an index
 * the store had reached when it refused it: once the feed has delivered every change up to it, the writer sees what
 * was in the way.
 */
export type WriteOutcome =
  { readonly committed: true; readonly index: number } | { readonly committed: false; readonly index: number };

/** One committed change, as the feed delivers it: the key's new record, or null once deleted. */
export interface StoreChange {
  readonly index: number;
  readonly service: string;
  readonly id: string;
  readonly record: InstanceRecord | null;
  /** For a delete, when the writer said why (a store shared by nodes may not carry it: 'deregistered' is then assumed). */
  readonly cause?: DeleteCause;
}

export type ChangeFeedListener = (change: StoreChange) => void;

/**
 * Told of every transaction a store commits (issue #20: the metrics): how many mutations it held (SQLite commits
 * a batch, etcd and memory one at a time) and how long it took, in seconds, from being sent to being durable.
 */
export type CommitObserver = (commit: { mutations: number; seconds: number }) => void;

export interface StoreSnapshot {
  /** The index of the last write the store holds (0 when empty and new). */
  index: number;
  instances: InstanceRecord[];
}

export type StoreKind = 'memory' | 'sqlite' | 'etcd';

/**
 * An access token as stored (issue #13). The secret itself is never stored, only its SHA-256, so a copy of the
 * database or of etcd's keys grants nothing.
 */
export interface TokenRecord {
  /** Public: names the token in lists and revocations. */
  id: string;
  name: string;
  /** Hex SHA-256 of the secret. */
  secretHash: string;
  policy: TokenPolicy;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms after which the token no longer authenticates; absent: until revoked. */
  expiresAt?: number;
}

/** A token created (its record) or deleted (null), as `watchTokens` delivers it. */
export interface TokenChange {
  readonly id: string;
  readonly record: TokenRecord | null;
}

export interface StoreHealth {
  kind: StoreKind;
  ok: boolean;
  /** Where the data lives (a file, endpoints), for operators. */
  location?: string;
  /** Why it is not ok. */
  error?: string;
  /**
   * Set (with `ok` false) while writes reach the store but miss its write deadline (issue #14: a stalled disk, an etcd
   * too slow); cleared once a write completes again. Absent when the store is not ok for another reason.
   */
  degraded?: true;
}

/**
 * Durable storage under the registry, which may be shared by several registry nodes (etcd).
 *
 * Invariants every backend keeps (the contract suite in store.contract.ts checks them):
 * - The store hands out the index: increasing, not necessarily dense (an etcd revision is it). Changes the feed
 *   delivers have increasing indexes, except after a resync (etcd's history compacted while its watch was cut off):
 *   deletes whose revision is lost then share the re-read's index. The registry applies such ties key by key.
 * - Every write is conditional (`Mutation.ifIndex`); a refused write changes nothing.
 * - `watch` delivers every committed change once, in index order, to each listener; a write's promise settles only
 *   after its change has been delivered, so a writer that applies the feed reads its own write when it resumes.
 */
export interface Store {
  readonly kind: StoreKind;
  /** Reads every stored instance and the store's current index. */
  load(): Promise<StoreSnapshot>;
  /**
   * Commits `mutation` if its precondition holds; resolves once the write is durable and delivered to the feed. A
   * durable store rejects with `STORE_UNAVAILABLE` a write it has not finished within its write deadline: that write
   * was not acknowledged, but may still commit, and then reaches the feed like any other (see write-deadline.ts).
   */
  write(mutation: Mutation): Promise<WriteOutcome>;
  /**
   * Delivers the changes committed after this call to `listener`, in index order. A change may also be one the
   * snapshot of a `load()` started after this call already holds: consumers skip indexes they have applied.
   * Returns the function that stops it.
   */
  watch(listener: ChangeFeedListener): () => void;
  health(): StoreHealth;
  /** Every stored token. */
  listTokens(): Promise<TokenRecord[]>;
  /**
   * Stores a new token; resolves false, writing nothing, when a token with its id exists (so two nodes that both
   * create the bootstrap token cannot overwrite each other). Settles once `watchTokens` listeners have the change.
   */
  createToken(record: TokenRecord): Promise<boolean>;
  /** Deletes a token; resolves false when there was none. Settles once `watchTokens` listeners have the change. */
  deleteToken(id: string): Promise<boolean>;
  /**
   * Delivers the tokens created and deleted after this call, by this node or any other sharing the store, in the
   * order they were committed. Returns the function that stops it.
   */
  watchTokens(listener: (change: TokenChange) => void): () => void;
  /** Finishes pending writes, then releases the store. */
  close(): Promise<void>;
}
