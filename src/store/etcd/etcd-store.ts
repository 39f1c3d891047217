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
 * - `tokens/<id>`: an access token's record as JSON (issue #13). `tokens/` sorts between `instances/` and
 *   `tombstones/`, so the store's one watch follows tokens too: a token write settles, like an instance write, once
 *   that watch has delivered its revision. Token writes leave `head` alone (it dates instance writes), and the
 *   instance feed, load and resync skip token keys.
 *
 * Invariant: the feed delivers changes in revision order, each once. Writes to one key go to etcd in call order,
 * writes to different keys at once (they get revisions in the order etcd commits them), and a write settles only
 * once the store's own
 * prefix watch has delivered the revision it answers. After a compaction outran the watch, the store reads everything
 * again and delivers the differences; then (only then) several deletes may share one index, see `resync`.
 */
import { Range, type IKeyValue, type IRequestOp, type IWatchResponse, type Watcher } from 'etcd3';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from 'pino';
import { RegistryError } from '../../errors/index.js';
import { ChangeFanOut } from '../change-fan-out.js';
import { WriteDeadline } from '../write-deadline.js';
import type {
  CommitObserver,
  DeleteCause,
  InstanceRecord,
  Mutation,
  Store,
  StoreChange,
  StoreHealth,
  StoreSnapshot,
  TokenChange,
  TokenRecord,
  WriteOutcome,
} from '../store.js';
import { TokenPolicySchema } from '../../wire/index.js';
import type { EtcdConnection } from './etcd-connection.js';

export interface EtcdStoreOptions {
  /** Where this registry's keys live, e.g. `/switchboard/store`; no trailing slash. */
  prefix: string;
  logger?: Logger;
  /**
   * A write not committed and delivered by the store's watch within this long is answered STORE_UNAVAILABLE
   * (default 10 s; issue #14). Each etcd call also gives up after the connection's dial timeout (UNAVAILABLE).
   */
  writeTimeoutMs?: number;
  /** Told of every committed transaction (issue #20). */
  onCommit?: CommitObserver;
}

const DEFAULT_WRITE_TIMEOUT_MS = 10_000;

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

/**
 * What a token key must hold to be believed: anyone with access to etcd can write there, and a bad value must cost a
 * warning, not a crash or a token with a malformed policy.
 */
const TOKEN_RECORD = TypeCompiler.Compile(
  Type.Object({
    id: Type.String({ minLength: 1 }),
    name: Type.String(),
    secretHash: Type.String(),
    policy: TokenPolicySchema,
    createdAt: Type.Number(),
    expiresAt: Type.Optional(Type.Number()),
  }),
);

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
  const { prefix, logger, writeTimeoutMs = DEFAULT_WRITE_TIMEOUT_MS } = options;
  const deadline = new WriteDeadline(writeTimeoutMs, 'etcd');
  const instancesPrefix = `${prefix}/instances/`;
  const tombstonesPrefix = `${prefix}/tombstones/`;
  const tokensPrefix = `${prefix}/tokens/`;
  const headKey = Buffer.from(`${prefix}/head`);
  const location = connection.endpoints.join(',');
  const feed = new ChangeFanOut();
  const instanceKey = (service: string, id: string): Buffer => Buffer.from(`${instancesPrefix}${service}/${id}`);
  const tombstoneKey = (service: string, id: string): Buffer => Buffer.from(`${tombstonesPrefix}${service}/${id}`);
  const tokenKey = (id: string): Buffer => Buffer.from(`${tokensPrefix}${id}`);
  // head < instances/ < tokens/ < tombstones/: one range holds the store's keys and nothing else of the prefix.
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
  /** The mod_revision of every token the token listeners have (or the store opened on), by id. */
  const knownTokens = new Map<string, number>();
  const tokenFeed = new ChangeFanOut<TokenChange>();
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

  /** The record a token key holds, or undefined (with a warning) when it is not a token record for that key. */
  function decodeToken(kv: IKeyValue): TokenRecord | undefined {
    const key = kv.key.toString();
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch {
      value = undefined;
    }
    if (TOKEN_RECORD.Check(value) && key === `${tokensPrefix}${value.id}`) return value;
    logger?.warn({ key, location }, 'skipping a malformed token record in etcd');
    return undefined;
  }

  function deliverTokens(changes: readonly TokenChange[]): void {
    for (const change of changes) tokenFeed.deliver(change);
  }

  /** What a watch event on a token key changes for the token listeners, if anything. */
  function tokenEvent(type: 'Put' | 'Delete', kv: IKeyValue, revision: number): TokenChange | undefined {
    const id = kv.key.toString().slice(tokensPrefix.length);
    const record = type === 'Put' ? decodeToken(kv) : undefined;
    if (record) {
      knownTokens.set(id, revision);
      return { id, record };
    }
    // Deleted, or overwritten with something that is no token: gone, for listeners that had it.
    return knownTokens.delete(id) ? { id, record: null } : undefined;
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
    const tokenChanges: TokenChange[] = [];
    let last = reached;
    for (const event of res.events) {
      const revision = Number(event.kv.mod_revision);
      // A resumed watch starts past what was delivered; this guards against a repeat all the same.
      if (revision <= reached) continue;
      last = Math.max(last, revision);
      const key = event.kv.key.toString();
      if (key.startsWith(tokensPrefix)) {
        const change = tokenEvent(event.type, event.kv, revision);
        if (change) tokenChanges.push(change);
        continue;
      }
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
    deliverTokens(tokenChanges);
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
    const tokenKvs: IKeyValue[] = [];
    for (const kv of kvs) {
      const key = kv.key.toString();
      if (key.startsWith(tombstonesPrefix)) tombstones.set(key.slice(tombstonesPrefix.length), kv);
      else if (key.startsWith(instancesPrefix)) present.set(key, kv);
      else if (key.startsWith(tokensPrefix)) tokenKvs.push(kv);
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
    deliverTokens(tokenDifferences(tokenKvs, readAt));
    watchDown = undefined;
    advance(readAt);
    watchFrom(readAt + 1);
  }

  /**
   * The token changes that bring the listeners from `knownTokens` to the tokens a resync read at `readAt`, in
   * revision order: creates at their revision, deletes (whose revision is lost) at the read's.
   */
  function tokenDifferences(kvs: readonly IKeyValue[], readAt: number): TokenChange[] {
    const differences: { index: number; change: TokenChange }[] = [];
    const present = new Set<string>();
    for (const kv of kvs) {
      const record = decodeToken(kv);
      if (!record) continue;
      const revision = revisionOf(kv);
      present.add(record.id);
      const was = knownTokens.get(record.id);
      if (was === revision) continue;
      // Deleted and created again while the watch was cut off: listeners get both, each a true create or delete.
      if (was !== undefined) differences.push({ index: revision, change: { id: record.id, record: null } });
      knownTokens.set(record.id, revision);
      differences.push({ index: revision, change: { id: record.id, record } });
    }
    for (const id of knownTokens.keys()) {
      if (present.has(id)) continue;
      knownTokens.delete(id);
      differences.push({ index: readAt, change: { id, record: null } });
    }
    // A stable sort: a replaced token's delete stays before its create.
    return differences.sort((a, b) => a.index - b.index).map((d) => d.change);
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
    const sentAt = performance.now();
    const res = await client.kv.txn(
      { ...request, failure: [{ request_range: { key } }, { request_range: { key: tombstone } }] },
      callOptions(),
    );
    writeDown = undefined;
    if (res.succeeded) {
      options.onCommit?.({ mutations: 1, seconds: (performance.now() - sentAt) / 1000 });
      return { committed: true, index: Number(res.header.revision) };
    }
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
    await delivered(index);
    return outcome.committed ? { committed: true, index } : { committed: false, index };
  }

  /**
   * Creates the token unless its key exists. Either way it settles once the watch has delivered the key's revision,
   * so this node's listeners have the token, the new one or the one in the way.
   */
  async function createToken(record: TokenRecord): Promise<boolean> {
    if (closed) throw new RegistryError('UNAVAILABLE', 'the etcd store is closed');
    const key = tokenKey(record.id);
    let res;
    try {
      res = await client.kv.txn(
        {
          compare: [{ key, target: 'Version', result: 'Equal', version: 0 }],
          success: [{ request_put: { key, value: Buffer.from(JSON.stringify(record)) } }],
          failure: [{ request_range: { key } }],
        },
        callOptions(),
      );
    } catch (err) {
      writeDown = messageOf(err);
      throw unavailable(err);
    }
    writeDown = undefined;
    const revision = res.succeeded ? Number(res.header.revision) : revisionOf(res.responses[0]?.response_range.kvs[0]);
    await delivered(revision);
    return res.succeeded;
  }

  /** Deletes the token's key; settles once the watch has delivered the delete. */
  async function deleteToken(id: string): Promise<boolean> {
    if (closed) throw new RegistryError('UNAVAILABLE', 'the etcd store is closed');
    let res;
    try {
      res = await client.kv.deleteRange({ key: tokenKey(id) }, callOptions());
    } catch (err) {
      writeDown = messageOf(err);
      throw unavailable(err);
    }
    writeDown = undefined;
    const deleted = Number(res.deleted) > 0;
    if (deleted) await delivered(Number(res.header.revision));
    return deleted;
  }

  async function listTokens(): Promise<TokenRecord[]> {
    try {
      const range = Range.prefix(tokensPrefix);
      const { kvs } = await readPaged(range.start, range.end);
      return kvs.flatMap((kv) => decodeToken(kv) ?? []);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Counts the write among those close waits for. */
  function track<T>(write: Promise<T>): Promise<T> {
    const tracked = write.catch(() => undefined);
    pending.add(tracked);
    void tracked.then(() => pending.delete(tracked));
    return write;
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
  // The tokens at the same revision: what the token listeners are taken to start from.
  try {
    const range = Range.prefix(tokensPrefix);
    for (const kv of (await readPaged(range.start, range.end, opened.revision)).kvs) {
      const record = decodeToken(kv);
      if (record) knownTokens.set(record.id, revisionOf(kv));
    }
  } catch (err) {
    throw unavailable(err);
  }
  lastChange = opened.head;
  reached = opened.revision;
  watchFrom(reached + 1);

  return {
    kind: 'etcd',
    load,
    // A watch cut off from etcd must not hold a write for ever: past the deadline it is answered STORE_UNAVAILABLE,
    // though it may have committed (the feed then delivers it when the watch catches up).
    write: (mutation) => track(deadline.guard(write(mutation))),
    watch: (listener) => feed.add(listener),
    health(): StoreHealth {
      if (closed) return { kind: 'etcd', ok: false, location, error: 'closed' };
      const error = watchDown ?? writeDown;
      if (error !== undefined) return { kind: 'etcd', ok: false, location, error };
      const degraded = deadline.degraded;
      return degraded === undefined
        ? { kind: 'etcd', ok: true, location }
        : { kind: 'etcd', ok: false, location, error: degraded, degraded: true };
    },
    listTokens,
    createToken: (record) => track(deadline.guard(createToken(record))),
    deleteToken: (id) => track(deadline.guard(deleteToken(id))),
    watchTokens: (listener) => tokenFeed.add(listener),
    async close() {
      closed = true;
      while (pending.size > 0) await Promise.all(pending);
      stopWatch();
    },
  };
}
