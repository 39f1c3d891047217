/**
 * A Store on etcd v3, shared by every registry node of a cluster (issue #12). The etcd revision is the index, so an
 * index means the same on every node.
 *
 * Keys under `prefix` (the cluster node may share the prefix: its keys live under `prefix/cluster/`, outside the range
 * from `prefix/head` to `prefix/tombstones/` that this store reads and watches):
 * - `instances/<service>/<id>`: the record's JSON without its indexes; createIndex = create_revision and
 *   modifyIndex = mod_revision.
 * - `tombstones/<service>/<id>`: `{"cause": ...}`, put by the delete's own transaction on a short lease, so that the
 *   watch can tell every node why a key went (the two share one revision, hence one watch response).
 * - `head`: rewritten by every committed write, so that a load knows the index of the last write under the prefix
 *   (the etcd revision moves with every other key of the cluster too).
 *
 * Invariant: the feed delivers changes in revision order, each once. Writes to one key go to etcd in call order,
 * writes to different keys at once (they get revisions in the order etcd commits them), and a write settles only
 * once the store's own
 * prefix watch has delivered the revision it answers. After a compaction outran the watch, the store reads everything
 * again and delivers the differences; then (only then) several deletes may share one index, see `resync`.
 */
import { Range, type IKeyValue, type IRequestOp, type IWatchResponse, type Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { RegistryError } from '../../errors/index.js';
import { ChangeFanOut } from '../change-fan-out.js';
import type {
  DeleteCause,
  InstanceRecord,
  Mutation,
  Store,
  StoreChange,
  StoreHealth,
  StoreSnapshot,
  WriteOutcome,
} from '../store.js';
import type { EtcdConnection } from './etcd-connection.js';

export interface EtcdStoreOptions {
  /** Where this registry's keys live, e.g. `/switchboard/store`; no trailing slash. */
  prefix: string;
  logger?: Logger;
}

/** Well under etcd's 1.5 MiB request limit, which a record must never be the one to hit. */
const MAX_RECORD_BYTES = 512 * 1024;
/** etcd removes a tombstone this long after its delete; every node's watch has read it by then. */
const TOMBSTONE_TTL_S = 600;
/** One tombstone lease serves the deletes of this long: a tombstone lives between 5 and 10 minutes. */
const TOMBSTONE_LEASE_REUSE_MS = 300_000;
/** The first pause before reading etcd again after a failed resync; doubled per failure up to the dial timeout. */
const RESYNC_RETRY_FIRST_MS = 100;
/**
 * Keys per page of a full read. Records are small (a registration's limits keep one under ~110 KB), so a page stays
 * far under the gRPC receive limit the connection sets.
 */
const READ_PAGE = 500;

interface Known {
  readonly revision: number;
  readonly service: string;
  readonly id: string;
}

type StoredRecord = Omit<InstanceRecord, 'createIndex' | 'modifyIndex'>;

const revisionOf = (kv: IKeyValue | undefined): number => (kv ? Number(kv.mod_revision) : 0);
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function unavailable(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  return new RegistryError('UNAVAILABLE', `etcd cannot be reached: ${messageOf(err)}`, { cause: err });
}

function causeOf(value: Buffer): DeleteCause {
  try {
    const { cause } = JSON.parse(value.toString()) as { cause?: unknown };
    return cause === 'expired' ? 'expired' : 'deregistered';
  } catch {
    return 'deregistered';
  }
}

/** Opens the store on `connection` (which it shares and does not close) once it has read what the prefix holds. */
export async function openEtcdStore(connection: EtcdConnection, options: EtcdStoreOptions): Promise<Store> {
  const { client } = connection;
  const { prefix, logger } = options;
  const instancesPrefix = `${prefix}/instances/`;
  const tombstonesPrefix = `${prefix}/tombstones/`;
  const headKey = Buffer.from(`${prefix}/head`);
  const location = connection.endpoints.join(',');
  const feed = new ChangeFanOut();
  const instanceKey = (service: string, id: string): Buffer => Buffer.from(`${instancesPrefix}${service}/${id}`);
  const tombstoneKey = (service: string, id: string): Buffer => Buffer.from(`${tombstonesPrefix}${service}/${id}`);
  // head < instances/ < tombstones/: one range holds the store's keys and nothing else of the prefix.
  const storeRange = { key: headKey, range_end: Range.prefix(tombstonesPrefix).end };
  /**
   * Every key of `[key, rangeEnd)` at one revision (the first page's, or `revision`), read in pages: one answer for
   * 100,000 instances would be tens of MB, past gRPC's message limit.
   */
  async function readPaged(
    key: Buffer,
    rangeEnd: Buffer,
    revision?: number,
  ): Promise<{ revision: number; kvs: IKeyValue[] }> {
    const kvs: IKeyValue[] = [];
    let from = key;
    let at = revision;
    for (;;) {
      const page = await client.kv.range(
        { key: from, range_end: rangeEnd, limit: READ_PAGE, ...(at === undefined ? {} : { revision: at }) },
        callOptions(),
      );
      at ??= Number(page.header.revision);
      kvs.push(...page.kvs);
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) return { revision: at, kvs };
      // The next page starts just after the last key read.
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  const callOptions = (): { deadline: Date } => ({ deadline: connection.deadline() });

  /** What the feed has told listeners, by etcd key: what a resync compares a fresh read with. */
  const known = new Map<string, Known>();
  /** Every change at or below this revision has been delivered (or was in the snapshot the store opened on). */
  let reached = 0;
  /** The index of the last change the feed delivered, or of the last write the store opened on. */
  let lastChange = 0;
  let waiters: { revision: number; resolve: () => void }[] = [];
  /** Bumped whenever a watcher is replaced, so that a replaced watcher's late events are ignored. */
  let generation = 0;
  let watcher: Watcher | undefined;
  /** Why the watch is down, or undefined while it is up. */
  let watchDown: string | undefined;
  /** Why the last write failed to reach etcd; cleared by the next write that does. */
  let writeDown: string | undefined;
  let closed = false;
  const pending = new Set<Promise<unknown>>();
  /** The last write under way to each key, which the next write to that key waits for. */
  const lastWriteOf = new Map<string, Promise<void>>();
  let tombstoneLease: { id: Promise<string>; until: number } | undefined;

  function decode(kv: IKeyValue): InstanceRecord {
    const stored = JSON.parse(kv.value.toString()) as StoredRecord;
    // Object.assign, not a spread: see core/record.ts on hidden classes.
    return Object.assign<StoredRecord, Pick<InstanceRecord, 'createIndex' | 'modifyIndex'>>(stored, {
      createIndex: Number(kv.create_revision),
      modifyIndex: Number(kv.mod_revision),
    });
  }

  function advance(revision: number): void {
    if (revision <= reached) return;
    reached = revision;
    const ready = waiters.filter((w) => w.revision <= reached);
    if (ready.length === 0) return;
    waiters = waiters.filter((w) => w.revision > reached);
    for (const waiter of ready) waiter.resolve();
  }

  /** Resolves once the feed has delivered every change up to `revision`. */
  function delivered(revision: number): Promise<void> {
    if (revision <= reached) return Promise.resolve();
    return new Promise((resolve) => waiters.push({ revision, resolve }));
  }

  function deliver(changes: readonly StoreChange[]): void {
    for (const change of changes) {
      lastChange = Math.max(lastChange, change.index);
      feed.deliver(change);
    }
  }

  function onResponse(res: IWatchResponse): void {
    watchDown = undefined;
    writeDown = undefined;
    if (res.events.length === 0) {
      // A progress notification: etcd sends one only to a watcher that has been sent everything up to it.
      advance(Number(res.header.revision));
      return;
    }
    // A delete and its tombstone share a revision, and etcd never splits a revision over two responses.
    const causes = new Map<string, DeleteCause>();
    for (const event of res.events) {
      const key = event.kv.key.toString();
      if (event.type === 'Put' && key.startsWith(tombstonesPrefix)) {
        causes.set(`${event.kv.mod_revision} ${key.slice(tombstonesPrefix.length)}`, causeOf(event.kv.value));
      }
    }
    const changes: StoreChange[] = [];
    let last = reached;
    for (const event of res.events) {
      const revision = Number(event.kv.mod_revision);
      // A resumed watch starts past what was delivered; this guards against a repeat all the same.
      if (revision <= reached) continue;
      last = Math.max(last, revision);
      const key = event.kv.key.toString();
      if (!key.startsWith(instancesPrefix)) continue;
      if (event.type === 'Put') {
        const record = decode(event.kv);
        known.set(key, { revision, service: record.service, id: record.id });
        changes.push({ index: revision, service: record.service, id: record.id, record });
      } else {
        const was = known.get(key);
        known.delete(key);
        const path = key.slice(instancesPrefix.length);
        const slash = path.indexOf('/');
        const service = was?.service ?? path.slice(0, slash);
        const id = was?.id ?? path.slice(slash + 1);
        const cause = causes.get(`${String(revision)} ${path}`) ?? 'deregistered';
        changes.push({ index: revision, service, id, record: null, cause });
      }
    }
    deliver(changes);
    advance(last);
  }

  function watchFrom(revision: number): void {
    const mine = ++generation;
    const current = client
      .watch()
      .inRange({ start: storeRange.key, end: storeRange.range_end })
      .startRevision(String(revision))
      .watcher();
    watcher = current;
    current.on('data', (res: IWatchResponse) => {
      if (mine === generation) onResponse(res);
    });
    current.on('connected', () => {
      if (mine === generation) watchDown = undefined;
    });
    current.on('disconnected', (err: Error) => {
      if (mine !== generation) return;
      // Once per outage: etcd3 reports every failed reconnection too.
      if (watchDown === undefined)
        logger?.warn({ err: err.message, location }, 'etcd watch lost; resuming when etcd returns');
      watchDown = err.message;
      // etcd3 resumes from the last response's header revision + 1, which a batched catch-up response can be past
      // its events: resume from what was delivered instead, so nothing is skipped or repeated.
      current.request.start_revision = String(reached + 1);
    });
    // etcd cancelled the watch: most often because the revision it had to resume from was compacted.
    current.on('error', (err: Error) => {
      if (mine !== generation) return;
      logger?.warn({ err: err.message, location }, 'etcd watch cancelled; reading the prefix again');
      void resync(err.message);
    });
  }

  function stopWatch(): void {
    generation++;
    const current = watcher;
    watcher = undefined;
    if (current) {
      current.cancel().catch(() => {
        // Cancelling a watch on a lost connection: the connection is gone with it.
      });
    }
  }

  /**
   * Reads the prefix again and delivers what changed since the feed last delivered: puts at their mod_revision,
   * deletes at their tombstone's revision, or, when etcd has removed the tombstone too, at the read's revision (so
   * then several deletes may share one index). Then watches again from the read.
   */
  async function resync(reason: string): Promise<void> {
    stopWatch();
    watchDown = reason;
    let retryMs = RESYNC_RETRY_FIRST_MS;
    let res: { revision: number; kvs: IKeyValue[] } | undefined;
    while (!closed && res === undefined) {
      try {
        res = await readPaged(storeRange.key, storeRange.range_end);
      } catch (err) {
        watchDown = messageOf(err);
        await pause(retryMs);
        retryMs = Math.min(retryMs * 2, connection.dialTimeoutMs);
      }
    }
    if (closed || res === undefined) return;
    const readAt = res.revision;
    const { kvs } = res;
    const tombstones = new Map<string, IKeyValue>();
    const present = new Map<string, IKeyValue>();
    for (const kv of kvs) {
      const key = kv.key.toString();
      if (key.startsWith(tombstonesPrefix)) tombstones.set(key.slice(tombstonesPrefix.length), kv);
      else if (key.startsWith(instancesPrefix)) present.set(key, kv);
    }
    const changes: StoreChange[] = [];
    for (const [key, kv] of present) {
      const revision = revisionOf(kv);
      if (known.get(key)?.revision === revision) continue;
      const record = decode(kv);
      known.set(key, { revision, service: record.service, id: record.id });
      changes.push({ index: revision, service: record.service, id: record.id, record });
    }
    for (const [key, was] of known) {
      if (present.has(key)) continue;
      known.delete(key);
      const tombstone = tombstones.get(key.slice(instancesPrefix.length));
      const fromTombstone = tombstone && revisionOf(tombstone) > was.revision;
      const index = fromTombstone ? revisionOf(tombstone) : readAt;
      const cause = fromTombstone ? causeOf(tombstone.value) : 'deregistered';
      changes.push({ index, service: was.service, id: was.id, record: null, cause });
    }
    changes.sort((a, b) => a.index - b.index);
    deliver(changes);
    watchDown = undefined;
    advance(readAt);
    watchFrom(readAt + 1);
  }

  async function leaseForTombstones(): Promise<string> {
    const now = Date.now();
    if (!tombstoneLease || tombstoneLease.until <= now) {
      const lease = client.lease(TOMBSTONE_TTL_S, { autoKeepAlive: false, ...callOptions() });
      const id = lease.grant();
      tombstoneLease = { id, until: now + TOMBSTONE_LEASE_REUSE_MS };
      // A failed grant must not be reused: the next delete asks for a new lease.
      id.catch(() => {
        if (tombstoneLease?.id === id) tombstoneLease = undefined;
      });
    }
    return tombstoneLease.id;
  }

  /** One etcd transaction: the mutation if its condition holds, else a read of what is in its way. */
  async function commit(mutation: Mutation): Promise<{ committed: boolean; index: number }> {
    const service = mutation.op === 'put' ? mutation.record.service : mutation.service;
    const id = mutation.op === 'put' ? mutation.record.id : mutation.id;
    const key = instanceKey(service, id);
    const tombstone = tombstoneKey(service, id);
    const head: IRequestOp = { request_put: { key: headKey, value: Buffer.alloc(0) } };
    let request;
    if (mutation.op === 'put') {
      const { createIndex: _createIndex, modifyIndex: _modifyIndex, ...stored } = mutation.record;
      const value = Buffer.from(JSON.stringify(stored));
      if (value.length > MAX_RECORD_BYTES) {
        throw new RegistryError(
          'PAYLOAD_TOO_LARGE',
          `instance ${service}/${id} is ${String(value.length)} bytes as stored; the limit is ${String(MAX_RECORD_BYTES)}`,
        );
      }
      request = {
        compare: [
          mutation.ifIndex === 0
            ? { key, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }
            : { key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: mutation.ifIndex },
        ],
        success: [{ request_put: { key, value } }, head],
      };
    } else {
      const lease = await leaseForTombstones();
      request = {
        compare: [
          { key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: mutation.ifIndex },
          // Refuses a delete of a key that does not exist, whose mod_revision is 0.
          { key, target: 'Create' as const, result: 'Greater' as const, create_revision: 0 },
        ],
        success: [
          { request_delete_range: { key } },
          { request_put: { key: tombstone, value: Buffer.from(JSON.stringify({ cause: mutation.cause })), lease } },
          head,
        ],
      };
    }
    const res = await client.kv.txn(
      { ...request, failure: [{ request_range: { key } }, { request_range: { key: tombstone } }] },
      callOptions(),
    );
    writeDown = undefined;
    if (res.succeeded) return { committed: true, index: Number(res.header.revision) };
    // The change in the way: the key's last write, or the delete that removed it.
    const blocker = Math.max(
      revisionOf(res.responses[0]?.response_range.kvs[0]),
      revisionOf(res.responses[1]?.response_range.kvs[0]),
    );
    return { committed: false, index: blocker };
  }

  async function write(mutation: Mutation): Promise<WriteOutcome> {
    if (closed) throw new RegistryError('UNAVAILABLE', 'the etcd store is closed');
    // Writes to one key go out in call order (of two issued together, the first decides); writes to other keys are
    // not queued behind them: one round trip at a time would cap a node at a few hundred registrations a second.
    const key =
      mutation.op === 'put' ? `${mutation.record.service}/${mutation.record.id}` : `${mutation.service}/${mutation.id}`;
    const before = lastWriteOf.get(key);
    const sent = before ? before.then(() => commit(mutation)) : commit(mutation);
    const settled = sent.then(
      () => undefined,
      () => undefined,
    );
    lastWriteOf.set(key, settled);
    void settled.then(() => {
      if (lastWriteOf.get(key) === settled) lastWriteOf.delete(key);
    });
    let outcome;
    try {
      outcome = await sent;
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      writeDown = messageOf(err);
      // The tombstone lease may be what failed (etcd lost it): the next delete asks for a new one.
      if (mutation.op === 'delete') tombstoneLease = undefined;
      throw unavailable(err);
    }
    // Nothing in the way but the key's absence: the feed has already delivered the store's latest change.
    const index = outcome.committed || outcome.index > 0 ? outcome.index : lastChange;
    await deliveredInTime(index);
    return outcome.committed ? { committed: true, index } : { committed: false, index };
  }

  /**
   * Waits for the feed to deliver `index`, at most the dial timeout: a watch cut off from etcd must not hold a write
   * forever. The write may then have committed: like any timeout, UNAVAILABLE leaves the outcome unknown.
   */
  async function deliveredInTime(index: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new RegistryError(
            'UNAVAILABLE',
            `etcd cannot be reached: the change feed has not delivered index ${String(index)} (${watchDown ?? 'watch behind'})`,
          ),
        );
      }, connection.dialTimeoutMs);
    });
    try {
      await Promise.race([delivered(index), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The records and the head, read at one revision. */
  async function read(): Promise<{ revision: number; instances: IKeyValue[]; head: number }> {
    try {
      const range = Range.prefix(instancesPrefix);
      const { revision, kvs } = await readPaged(range.start, range.end);
      const head = await client.kv.range({ key: headKey, revision }, callOptions());
      return { revision, instances: kvs, head: revisionOf(head.kvs[0]) };
    } catch (err) {
      throw unavailable(err);
    }
  }

  async function load(): Promise<StoreSnapshot> {
    const { instances, head } = await read();
    return { index: head, instances: instances.map(decode) };
  }

  // Open on one read: the records the feed starts from, and the revision the watch resumes after.
  const opened = await read();
  for (const kv of opened.instances) {
    const record = decode(kv);
    known.set(kv.key.toString(), { revision: revisionOf(kv), service: record.service, id: record.id });
  }
  lastChange = opened.head;
  reached = opened.revision;
  watchFrom(reached + 1);

  return {
    kind: 'etcd',
    load,
    write(mutation) {
      const result = write(mutation);
      const tracked = result.catch(() => undefined);
      pending.add(tracked);
      void tracked.then(() => pending.delete(tracked));
      return result;
    },
    watch: (listener) => feed.add(listener),
    health(): StoreHealth {
      if (closed) return { kind: 'etcd', ok: false, location, error: 'closed' };
      const error = watchDown ?? writeDown;
      return error === undefined ? { kind: 'etcd', ok: true, location } : { kind: 'etcd', ok: false, location, error };
    },
    async close() {
      closed = true;
      while (pending.size > 0) await Promise.all(pending);
      stopWatch();
    },
  };
}
